"""Clip-parallel scoring: the per-clip work of ``evaluate``, in batches any backend can run.

A batch is a list of clip ids; :func:`run_batch` opens the GT folder and the
predictions itself (so a worker on another machine needs only the two paths on
shared storage), scores each clip and returns plain dicts.  The parent process
puts the results together in clip order, so a record does not depend on the
backend, the worker count or the batch size.  A worker holds one clip's GT and
prediction at a time: its memory does not grow with the number of clips.
"""

from __future__ import annotations

import time

MAX_BATCH = 32          # clips per job: fewer GT/prediction opens vs. finer load balance
JOBS_PER_WORKER = 4     # batches per worker when there are enough clips
# Clips larger than this (T*H*W) are not read ahead: two of them would double a worker's memory.
PREFETCH_MAX_PIXEL_FRAMES = 4_000_000


def batches(clip_ids: list[str], n_jobs: int) -> list[list[str]]:
    """Clip ids cut into consecutive batches: about JOBS_PER_WORKER per worker, at most MAX_BATCH."""
    if not clip_ids:
        return []
    size = -(-len(clip_ids) // max(1, n_jobs * JOBS_PER_WORKER))
    size = max(1, min(MAX_BATCH, size))
    return [clip_ids[i:i + size] for i in range(0, len(clip_ids), size)]


def load_clip(source, reader, bench, cid: str) -> dict:
    """Everything scoring one clip needs, read and checked: {"clip", "pred", "gt", "tasks",
    "keep", "qc_excluded", "shape"}.  All of a clip's I/O happens here."""
    from facebench.io.predictions import ClipShape, load_prediction, tasks_of

    from .qc_filter import drop_frames, kept_frames
    from .scoring import gt_fields

    info = reader.clip_info(cid)
    shape = ClipShape(int(info["T"]), int(info["H"]), int(info["W"]), int(info.get("N", 0)))
    pred = load_prediction(source, cid, shape)
    tasks = sorted(tasks_of(pred) & set(bench.tasks))
    clip = reader.clip(cid, fields=gt_fields(tasks))
    keep = kept_frames(reader, cid, bench.exclude_qc, shape.T)
    excluded = 0
    if keep is not None:
        pred, clip = drop_frames(pred, clip, keep)
        excluded = int((~keep).sum())
    return {"clip": cid, "pred": pred, "gt": clip, "tasks": tasks, "keep": keep, "qc_excluded": excluded,
            "shape": shape}


def score_clips(source, reader, bench, clip_ids, timing: dict | None = None, prefetch: bool = True):
    """Yield one result per clip of ``clip_ids`` (all present in ``source``):
    {"clip", "scores": {task: {metric}}, "counts": {task: {...}}, "tasks": [...],
     "flags": [alignment flags], "qc_excluded": frames}.

    With ``prefetch`` the next clip is read in a second thread while this one is scored
    (file reads, inflating and JPEG decoding release the GIL), so reading and scoring
    overlap; at most two clips are in memory, and only clips of up to
    ``PREFETCH_MAX_PIXEL_FRAMES`` are read ahead (a long clip is read when its turn comes).
    ``timing`` (optional) accumulates "read_s" and "score_s": CPU seconds of the reading
    thread (decode-pool threads not included) and of the scoring thread.
    """
    from .scoring import score_clip

    timing = {} if timing is None else timing

    def load(cid):
        t0 = time.thread_time()
        loaded = load_clip(source, reader, bench, cid)
        timing["read_s"] = timing.get("read_s", 0.0) + time.thread_time() - t0
        return loaded

    pool = None
    if prefetch and len(clip_ids) > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facebench-prefetch")
    try:
        pending = pool.submit(load, clip_ids[0]) if pool is not None and clip_ids else None
        for i, cid in enumerate(clip_ids):
            loaded = pending.result() if pending is not None else load(cid)
            more = pool is not None and i + 1 < len(clip_ids) and _small(reader, clip_ids[i + 1])
            pending = pool.submit(load, clip_ids[i + 1]) if more else None
            t1 = time.thread_time()
            flags: list = []
            shape = loaded["shape"]
            scores, counts = score_clip(loaded["pred"], loaded["gt"], loaded["tasks"], bench, reader.scale,
                                        shape.W, shape.H, flags=flags, kept=loaded["keep"])
            timing["score_s"] = timing.get("score_s", 0.0) + time.thread_time() - t1
            yield {"clip": cid, "scores": scores, "counts": counts, "tasks": loaded["tasks"], "flags": flags,
                   "qc_excluded": loaded["qc_excluded"]}
            del loaded
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _small(reader, cid: str) -> bool:
    info = reader.clip_info(cid)
    return int(info["T"]) * int(info["H"]) * int(info["W"]) <= PREFETCH_MAX_PIXEL_FRAMES


def worst_clips(reader, bench, lacking: dict[str, list[str]]):
    """Yield (clip id, {task: worst scores}) for each clip and the tasks it lacks."""
    from .scoring import gt_fields, worst_clip

    for cid, tasks in lacking.items():
        clip = reader.clip(cid, fields=gt_fields(tasks))
        yield cid, worst_clip(clip, tasks, bench, reader.scale)


def run_batch(preds, gt_dir, benchmark: str, clip_ids: list[str] | None = None,
              lacking: dict[str, list[str]] | None = None) -> dict:
    """One job: score ``clip_ids`` (or, with ``lacking``, give those clips their worst values).

    Opens its own GT reader and predictions source.  Returns {"results": [...],
    "read_s", "score_s" (CPU seconds of the process that ran it), "max_rss_mib" (that
    process's peak resident memory so far)}.
    """
    from facebench.benchmarks import get_benchmark
    from facebench.io.prediction_source import open_predictions
    from facebench.io.shards import GTReader

    bench = get_benchmark(benchmark)
    timing: dict = {"read_s": 0.0, "score_s": 0.0}
    with GTReader(gt_dir) as reader:
        if lacking is not None:
            results = list(worst_clips(reader, bench, lacking))
        else:
            with open_predictions(preds) as source:
                results = list(score_clips(source, reader, bench, clip_ids, timing))
    return {"results": results, **timing, "max_rss_mib": peak_rss_mib()}


def peak_rss_mib() -> float:
    """Peak resident memory of this process, MiB (0 where the platform does not say).

    Linux: ``VmHWM`` of /proc/self/status, the high-water mark of this program's own memory.
    ``ru_maxrss`` is only the fallback: Linux carries it over an exec, so a process started
    by fork + exec from a large parent (a worker pool's, a benchmark's) reports the parent's
    size.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024.0  # kB
    except OSError:  # not on Linux
        pass
    try:
        import resource
    except ImportError:  # not on POSIX
        return 0.0
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak) / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)
