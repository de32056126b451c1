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


def evaluate(preds, gt=None, benchmark=None, out=None, allow_missing=False, progress=True) -> dict:
    """Score every GT clip; returns the results record (and writes it to ``out``).

    Args:
        preds: predictions folder or .zip (SPEC §5).
        gt: GT folder; default ``$FACEBENCH_HOME/gt/{benchmark}``.
        benchmark: benchmark name; default from meta.json, else the GT manifest.
        out: path of the results JSON to write, or None.
        allow_missing: score missing clips (and tasks missing from some clips) as the
            worst value instead of failing; coverage is reported in ``counts``.
        progress: show a progress bar.
    """
    from facebench.prepare.real_landmarks import is_landmark_gt

    if gt is not None and is_landmark_gt(gt) or gt is None and _photo_benchmark(benchmark):
        from .landmarks import evaluate_landmarks  # real photos with human 2D labels

        return evaluate_landmarks(preds, gt if gt is not None else _default_gt(benchmark), benchmark, out,
                                  allow_missing, progress)
    record, _ = evaluate_timed(preds, gt, benchmark, out, allow_missing, progress)
    return record


def _photo_benchmark(name) -> bool:
    from facebench.benchmarks import get_benchmark

    return name is not None and get_benchmark(name).dataset == "real-landmarks"


def _default_gt(name):
    from facebench.settings import get_settings

    return get_settings().gt_dir(name)


def evaluate_timed(preds, gt=None, benchmark=None, out=None, allow_missing=False, progress=True):
    """:func:`evaluate` plus {"read_s", "score_s"} CPU seconds (for benchmarks/bench_evaluate.py):
    reading predictions and GT, and checking + scoring them."""
    from facebench import SCHEMA_VERSION, __version__
    from facebench.io.predictions import ClipShape, load_prediction, open_predictions, tasks_of
    from facebench.io.results import clean_number, write_results

    from .flags import collect_flags, flagged_clips, outlier_rule
    from .qc_filter import check_option, drop_frames, kept_frames
    from .scoring import gt_fields, score_clip, worst_clip

    start = time.perf_counter()
    timing = {"read_s": 0.0, "score_s": 0.0}
    with open_predictions(preds) as source:
        meta = source.meta()
        bench, reader = resolve(meta["benchmark"], gt, benchmark)
        if meta["benchmark"] != bench.name:
            raise ValidationError(f"meta.json says benchmark {meta['benchmark']!r}, scoring {bench.name!r}")
        clip_ids = reader.clip_ids
        present = set(source.clip_ids())
        missing = [c for c in clip_ids if c not in present]
        extra = sorted(present - set(clip_ids))
        if extra:
            raise ValidationError(f"{len(extra)} prediction files match no GT clip (first: {extra[0]}.npz)")
        if missing and not allow_missing:
            raise ValidationError(f"{len(missing)} of {len(clip_ids)} clips missing, first: {missing[0]} "
                                  "(use --allow-missing to score them as failures)")
        scale = reader.scale
        per_clip, clip_counts, clip_tasks, alignment_flags = {}, {}, {}, []
        qc_excluded = 0  # clip frames left out by the benchmark's exclude_qc option
        for cid in _progress(clip_ids, progress, "evaluate"):
            if cid not in present:
                continue
            info = reader.clip_info(cid)
            shape = ClipShape(int(info["T"]), int(info["H"]), int(info["W"]), int(info.get("N", 0)))
            t0 = time.process_time()
            pred = load_prediction(source, cid, shape)
            tasks = sorted(tasks_of(pred) & set(bench.tasks))
            clip = reader.clip(cid, fields=gt_fields(tasks))
            keep = kept_frames(reader, cid, bench.exclude_qc, shape.T)
            if keep is not None:
                pred, clip = drop_frames(pred, clip, keep)
                qc_excluded += int((~keep).sum())
            t1 = time.process_time()
            per_clip[cid], clip_counts[cid] = score_clip(pred, clip, tasks, bench, scale, shape.W, shape.H,
                                                            flags=alignment_flags)
            clip_tasks[cid] = set(tasks)
            timing["read_s"] += t1 - t0
            timing["score_s"] += time.process_time() - t1
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
        for cid in clip_ids:  # failures for missing clips and tasks
            lacking = scored_tasks if cid not in present else partial.get(cid, [])
            if lacking:
                clip = reader.clip(cid, fields=gt_fields(lacking))
                per_clip.setdefault(cid, {}).update(worst_clip(clip, lacking, bench, scale))
        reader.close()
    flags = collect_flags(alignment_flags, per_clip, clip_tasks, bench, scored_tasks)
    counts = _counts(clip_ids, missing, partial, clip_counts, scored_tasks)
    counts["flagged_clips"] = flagged_clips(flags)
    record = {
        "schema_version": SCHEMA_VERSION,
        "facebench_version": __version__,
        "benchmark": {"name": bench.name, "version": bench.version},
        "gt_manifest_sha256": reader.manifest_sha256,
        "method": meta,
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
    return record, timing


def _fixed_protocol(task: str) -> dict:
    agg = "per frame, mean over the clip's frames, mean over clips"
    if task.startswith("tracking"):
        agg = "summed over tracks and frames of a clip, mean over clips"
    return {"aggregation": agg}


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


def _progress(items, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="clip", leave=False)
