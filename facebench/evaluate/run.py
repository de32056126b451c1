"""``evaluate``: score a predictions folder (or .zip) against a GT folder (SPEC §5-§7)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError, ValidationError


def resolve(preds_meta_benchmark=None, gt=None, benchmark=None):
    """(Benchmark, GTReader) from --benchmark, else meta.json, else the GT manifest.

    The GT folder defaults to ``$FACEBENCH_HOME/gt/{benchmark}``.
    """
    from facebench.benchmarks import get_benchmark
    from facebench.io.shards import GTReader
    from facebench.settings import get_settings

    name = benchmark or preds_meta_benchmark
    if gt is None:
        if name is None:
            raise FacebenchError("cannot tell the benchmark: pass --benchmark or --gt")
        gt = get_settings().gt_dir(name)
        if not Path(gt).is_dir():
            raise FacebenchError(f"no GT for benchmark {name!r} at {gt}: run `facebench prepare` "
                                 "or pass --gt")
    reader = GTReader(gt)
    name = name or reader.benchmark
    if name is None:
        raise FacebenchError(f"{gt}: the GT names no benchmark; pass --benchmark")
    bench = get_benchmark(name)
    if reader.benchmark is not None and reader.benchmark != bench.name:
        raise FacebenchError(f"{gt} holds GT for benchmark {reader.benchmark!r}, not {bench.name!r}")
    return bench, reader


def evaluate(preds, gt=None, benchmark=None, out=None, allow_missing=False, progress=True,
             backend: str = "loky", workers: int = 1, scheduler=None) -> dict:
    """Score every GT clip; returns the results record (and writes it to ``out``).

    Args:
        preds: predictions folder or .zip (SPEC §5).
        gt: GT folder; default ``$FACEBENCH_HOME/gt/{benchmark}``.
        benchmark: benchmark name; default from meta.json, else the GT manifest.
        out: path of the results JSON to write, or None.
        allow_missing: score missing clips (and tasks missing from some clips) as the
            worst value instead of failing; coverage is reported in ``counts``.
        progress: show a progress bar.
        backend, workers, scheduler: where clips are scored (see :mod:`facebench.parallel`):
            ``loky`` with 1 worker scores in this process; more workers, ``dask`` or ``ray``
            score batches of clips in parallel (GT and predictions on storage every worker
            reads).  The record is the same whatever they are.
    """
    from facebench.io.landmark_gt import is_landmark_gt

    if gt is not None and is_landmark_gt(gt) or gt is None and _photo_benchmark(benchmark):
        from .landmarks import evaluate_landmarks  # real photos with human 2D labels

        return evaluate_landmarks(preds, gt if gt is not None else _default_gt(benchmark), benchmark, out,
                                  allow_missing, progress)
    record, _ = evaluate_timed(preds, gt, benchmark, out, allow_missing, progress, backend, workers,
                               scheduler)
    return record


def _photo_benchmark(name) -> bool:
    from facebench.benchmarks import get_benchmark

    return name is not None and get_benchmark(name).dataset == "real-landmarks"


def _default_gt(name):
    from facebench.settings import get_settings

    return get_settings().gt_dir(name)


def match_clips(gt_ids, present: set, allow_missing: bool, noun: str = "clip") -> list:
    """The GT ids without a prediction file; a prediction matching no GT id, or (unless
    ``allow_missing``) a missing one, is a one-line ValidationError.  ``noun``: clip or photo."""
    missing = [c for c in gt_ids if c not in present]
    extra = sorted(present - set(gt_ids))
    if extra:
        raise ValidationError(f"{len(extra)} prediction files match no GT {noun} (first: {extra[0]}.npz)")
    if missing and not allow_missing:
        raise ValidationError(f"{len(missing)} of {len(gt_ids)} {noun}s missing, first: {missing[0]} "
                              "(use --allow-missing to score them as failures)")
    return missing


def record_head(bench, gt_manifest_sha256: str, meta: dict) -> dict:
    """The fields every results record starts with."""
    from facebench import SCHEMA_VERSION, __version__

    return {"schema_version": SCHEMA_VERSION, "facebench_version": __version__,
            "benchmark": {"name": bench.name, "version": bench.version},
            "gt_manifest_sha256": gt_manifest_sha256, "method": meta}


def evaluate_timed(preds, gt=None, benchmark=None, out=None, allow_missing=False, progress=True,
                   backend: str = "loky", workers: int = 1, scheduler=None):
    """:func:`evaluate` plus {"read_s", "score_s", "max_rss_mib"} (for benchmarks/bench_evaluate.py):
    CPU seconds reading predictions and GT, and checking + scoring them, summed over the
    processes that did it, and the largest peak memory of one of them."""
    from facebench.io.predictions import open_predictions
    from facebench.io.results import clean_number, write_results

    from .flags import collect_flags, flagged_clips, outlier_rule
    from .qc_filter import check_option

    start = time.perf_counter()
    with open_predictions(preds) as source:
        meta = source.meta()
        bench, reader = resolve(meta["benchmark"], gt, benchmark)
        if meta["benchmark"] != bench.name:
            raise ValidationError(f"meta.json says benchmark {meta['benchmark']!r}, scoring {bench.name!r}")
        clip_ids = reader.clip_ids
        present = set(source.clip_ids())
        missing = match_clips(clip_ids, present, allow_missing)
        runner = _Runner(preds, source, reader, bench, backend, workers, scheduler, progress)
        per_clip, clip_counts, clip_tasks, alignment_flags = {}, {}, {}, []
        qc_excluded = 0  # clip frames left out by the benchmark's exclude_qc option
        for r in runner.score([c for c in clip_ids if c in present]):
            cid = r["clip"]
            per_clip[cid], clip_counts[cid], clip_tasks[cid] = r["scores"], r["counts"], set(r["tasks"])
            alignment_flags += r["flags"]
            qc_excluded += r["qc_excluded"]
        scored_tasks = sorted(set().union(*clip_tasks.values()) if clip_tasks else set(),
                              key=list(bench.tasks).index)
        if not scored_tasks:
            raise ValidationError("no clip has a scorable prediction (keys: depth, canonical, "
                                  "tracks_xy + tracks_visible, tracks_xyz + tracks_visible)")
        partial = {cid: sorted(set(scored_tasks) - t)
                   for cid, t in clip_tasks.items() if set(scored_tasks) - t}
        if partial and not allow_missing:
            cid, lacking = next(iter(sorted(partial.items())))
            raise ValidationError(f"{len(partial)} clips lack tasks other clips have (first: {cid} has no "
                                  f"{', '.join(lacking)}; use --allow-missing to score them as failures)")
        lacking = {cid: (scored_tasks if cid not in present else partial.get(cid, [])) for cid in clip_ids}
        for cid, worst in runner.worst({c: t for c, t in lacking.items() if t}):  # missing clips and tasks
            per_clip.setdefault(cid, {}).update(worst)
        reader.close()
    flags = collect_flags(alignment_flags, per_clip, clip_tasks, bench, scored_tasks)
    counts = _counts(clip_ids, missing, partial, clip_counts, scored_tasks)
    counts["flagged_clips"] = flagged_clips(flags)
    record = {
        **record_head(bench, reader.manifest_sha256, meta),
        "metrics": _mean_over_clips(per_clip, scored_tasks, clean_number),
        "per_clip": {cid: {t: {k: clean_number(v) for k, v in per_clip[cid][t].items()} for t in scored_tasks}
                     for cid in clip_ids},
        "counts": {**counts, "qc_excluded_frames": qc_excluded},
        "protocol": {t: {**bench.task(t).protocol(), **_fixed_protocol(t),
                         "exclude_qc": check_option(bench.exclude_qc),
                         "outlier_flags": outlier_rule(bench.task(t).main_metric)} for t in scored_tasks},
        "elapsed_s": round(time.perf_counter() - start, 3),
        "flags": flags,
        "predictions": str(Path(preds).resolve()),
    }
    if out is not None:
        write_results(record, out)
    return record, runner.timing


class _Runner:
    """Runs the per-clip jobs (:mod:`facebench.evaluate.jobs`) here or on a parallel backend."""

    def __init__(self, preds, source, reader, bench, backend, workers, scheduler, progress):
        from facebench.parallel import BACKENDS

        if backend not in BACKENDS:
            raise FacebenchError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        if backend == "loky" and scheduler is not None:
            raise FacebenchError("--scheduler needs --backend dask or ray")
        self.preds, self.source, self.reader, self.bench = preds, source, reader, bench
        self.backend, self.workers, self.scheduler = backend, max(1, int(workers)), scheduler
        self.progress = progress
        self.timing = {"read_s": 0.0, "score_s": 0.0, "max_rss_mib": 0.0}

    @property
    def here(self) -> bool:
        return self.backend == "loky" and self.workers == 1

    def score(self, clip_ids: list[str]):
        """Per-clip results in ``clip_ids`` order."""
        from .jobs import peak_rss_mib, score_clips

        if self.here:
            yield from _progress(score_clips(self.source, self.reader, self.bench, clip_ids, self.timing),
                                 self.progress, "evaluate", len(clip_ids))
            self.timing["max_rss_mib"] = peak_rss_mib()
            return
        for part in self._parallel(clip_ids, "evaluate", lambda batch: {"clip_ids": batch}):
            yield from part["results"]

    def worst(self, lacking: dict[str, list[str]]):
        """(clip id, worst scores) for the clips lacking tasks (or missing)."""
        from .jobs import worst_clips

        if self.here or len(lacking) < 2:
            yield from worst_clips(self.reader, self.bench, lacking)
            return
        for part in self._parallel(list(lacking), "worst values",
                                   lambda batch: {"lacking": {c: lacking[c] for c in batch}}):
            yield from part["results"]

    def _parallel(self, clip_ids, desc, kwargs_of):
        import joblib

        from facebench.parallel import backend_context, return_as

        from .jobs import batches, run_batch

        preds = str(Path(self.preds).resolve())
        gt_dir = str(self.reader.root.resolve())
        bar = _bar(len(clip_ids), self.progress, desc)
        try:
            with backend_context(self.backend, self.workers, self.scheduler) as n_jobs:
                chunks = batches(clip_ids, n_jobs)
                jobs = [joblib.delayed(run_batch)(preds, gt_dir, self.bench.name, **kwargs_of(b))
                        for b in chunks]
                n_jobs = max(1, min(n_jobs, len(jobs)))
                parallel = joblib.Parallel(n_jobs=n_jobs, return_as=return_as("generator"))
                for part, batch in zip(parallel(jobs), chunks):
                    self.timing["read_s"] += part["read_s"]
                    self.timing["score_s"] += part["score_s"]
                    self.timing["max_rss_mib"] = max(self.timing["max_rss_mib"], part["max_rss_mib"])
                    if bar is not None:
                        bar.update(len(batch))
                    yield part
        finally:
            if bar is not None:
                bar.close()


def _fixed_protocol(task: str) -> dict:
    from facebench.metrics import temporal

    agg = "per frame, mean over the clip's frames, mean over clips"
    if task.startswith("tracking"):
        agg = "summed over tracks and frames of a clip, mean over clips"
    return {"aggregation": agg, "temporal": temporal.protocol(task)}


def _mean_over_clips(per_clip, tasks, clean) -> dict:
    out = {}
    for task in tasks:
        names = list(next(iter(v[task] for v in per_clip.values() if task in v)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[task] = {m: clean(np.nanmean([v[task][m] for v in per_clip.values()])) for m in names}
    return out


def _counts(clip_ids, missing, partial, clip_counts, tasks) -> dict:
    per_task = {}
    for task in tasks:
        rows = [c[task] for c in clip_counts.values() if task in c]
        totals = {k: int(sum(r[k] for r in rows)) for k in (rows[0] if rows else {})}
        per_task[task] = {"clips_scored": len(rows), **totals,
                          "clips_failed": len(clip_ids) - len(rows)}
    return {"clips": len(clip_ids), "clips_scored": len(clip_ids) - len(missing),
            "missing": len(missing), "missing_clips": missing[:20],
            "clips_lacking_tasks": len(partial),
            "coverage": (len(clip_ids) - len(missing)) / max(len(clip_ids), 1), "tasks": per_task}


def _progress(items, enabled: bool, desc: str, total: int | None = None):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="clip", leave=False, total=total)


def _bar(total: int, enabled: bool, desc: str):
    if not enabled or not total:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="clip", leave=False)
