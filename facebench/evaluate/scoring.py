"""Scoring one clip: which pixels and points count, the metric calls, worst values.

Glue between a loaded prediction, a GT clip and a benchmark's protocol; the
metrics themselves are the pure functions of :mod:`facebench.metrics`.
"""

from __future__ import annotations

import warnings

import numpy as np

from facebench.io.predictions import TASK_KEYS, check_finite
from facebench.metrics import canonical, depth, tracking_2d, tracking_3d
from facebench.metrics._frames import gather
from facebench.metrics.align import depth_alignment_problem, fit_alignment
from facebench.metrics.canonical_align import MIN_ALIGN_PIXELS, fit_canonical_alignment

GT_FIELDS = {"depth": ("mask", "depth"), "canonical": ("mask", "canonical"),
             "tracking_2d": ("tracks",), "tracking_3d": ("tracks",)}
SUMMARY = ("depth", "canonical", "tracking_2d", "tracking_3d")


def gt_fields(tasks) -> tuple[str, ...]:
    """GT datasets needed to score ``tasks`` (for GTReader.clip(fields=...))."""
    return tuple(sorted({f for t in tasks for f in GT_FIELDS[t]}))


def scored_mask(clip, task: str, spec) -> np.ndarray:
    """Pixels (T,H,W) or points (N,T) scored for ``task``: GT valid and, for maps, in the regions."""
    if task in ("tracking_2d", "tracking_3d"):
        return np.asarray(clip.tracks.visible, dtype=bool)
    gt = clip.depth if task == "depth" else clip.canonical
    valid = np.isfinite(gt) if gt.ndim == 3 else np.isfinite(gt).all(axis=-1)
    if spec.regions is not None:
        scored_label = np.zeros(256, bool)
        scored_label[list(spec.regions)] = True
        valid &= scored_label[clip.mask]
    return valid


def check_prediction_finite(clip_id: str, pred: dict, clip, tasks, bench) -> None:
    """ValidationError when a prediction is NaN/inf where the GT of a scored task is valid."""
    for task in tasks:
        where = scored_mask(clip, task, bench.task(task))
        for key in TASK_KEYS[task]:
            if key != "tracks_visible":
                check_finite(clip_id, key, pred[key], where)


def _frame_mean(per_frame: dict) -> dict[str, float]:
    """(T,) per-frame values -> mean over frames that have any scored pixel."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
                for k, v in per_frame.items()}


def score_clip(pred: dict, clip, tasks, bench, scale: float, width: int, height: int,
               flags: list | None = None) -> tuple[dict, dict]:
    """Metrics of one clip for ``tasks``: ({task: {metric: value}}, {task: counts}).

    ``width`` x ``height`` is the clip's stored resolution (the pixel space of its tracks).
    A degenerate alignment (see :mod:`facebench.metrics.canonical_align`) is appended to
    ``flags`` as ``{"clip", "task", "kind": "alignment", "reason"}``; a degenerate canonical
    fit is not applied (the clip is scored unaligned).
    Raises ValidationError when the prediction is not finite where the GT is scored.
    """
    scores, counts = {}, {}
    for task in tasks:
        spec = bench.task(task)
        valid = scored_mask(clip, task, spec)
        if task in ("depth", "canonical"):
            frame, n_per_frame, p, g = gather(valid, pred[task], getattr(clip, task))
            check_finite(clip.clip_id, task, p, np.ones(len(p), bool))
            mode = spec.alignment or "none"
            if task == "depth":
                s, _ = fit_alignment(p.astype(np.float64), g.astype(np.float64), n_per_frame, mode)
                problem = depth_alignment_problem(s, n_per_frame, mode, MIN_ALIGN_PIXELS)
                per_frame = depth.depth_metrics_gathered(p, g, frame, n_per_frame, mode)
            else:
                fit = fit_canonical_alignment(p, g, mode)
                problem = fit.problem
                per_frame = canonical.canonical_metrics_gathered(fit.apply(p), g, frame, n_per_frame, scale)
            if problem is not None and flags is not None:
                flags.append({"clip": clip.clip_id, "task": task, "kind": "alignment", "reason": problem})
            scores[task] = _frame_mean(per_frame)
            counts[task] = {"frames": int((n_per_frame > 0).sum()), "pixels": int(len(p))}
            continue
        tr = clip.tracks
        if task == "tracking_2d":
            check_finite(clip.clip_id, "tracks_xy", pred["tracks_xy"], valid)
            m = tracking_2d.tracking_2d_metrics(
                pred["tracks_xy"], pred["tracks_visible"], tr.xy, tr.visible, tr.query_frame, width, height,
                thresholds=spec.thresholds_px or tracking_2d.THRESHOLDS_PX,
                query_mode=spec.query_mode or "first", resolution=spec.resolution or tracking_2d.RESOLUTION)
            scores[task] = {k: m[k] for k in tracking_2d.METRICS}
        else:
            check_finite(clip.clip_id, "tracks_xyz", pred["tracks_xyz"], valid)
            m = tracking_3d.tracking_3d_metrics(
                pred["tracks_xyz"], pred["tracks_visible"], tr.xyz, tr.visible, clip.K, width, height,
                thresholds=spec.thresholds_px or tracking_3d.THRESHOLDS_PX,
                scaling=spec.scaling or "median", short_side=spec.short_side or tracking_3d.SHORT_SIDE)
            scores[task] = {k: m[k] for k in tracking_3d.METRICS}
        counts[task] = {"tracks": int(len(tr.query_frame)), "points": int(m["n_points"]),
                        "visible_points": int(m["n_visible"])}
    return scores, counts


def worst_clip(clip, tasks, bench, scale: float) -> dict:
    """Scores of a clip (or task) with no prediction: the worst value of every metric."""
    out = {}
    for task in tasks:
        if task == "depth":
            out[task] = depth.worst_depth_metrics(clip.depth, scored_mask(clip, task, bench.task(task)))
        elif task == "canonical":
            out[task] = canonical.worst_canonical_metrics(scale)
        elif task == "tracking_2d":
            out[task] = dict(tracking_2d.WORST)
        else:
            out[task] = tracking_3d.worst_tracking_3d_metrics(clip.tracks.xyz, clip.tracks.visible)
    return out
