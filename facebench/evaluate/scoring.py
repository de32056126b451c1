"""Scoring one clip: which pixels and points count, the metric calls, worst values.

Glue between a loaded prediction, a GT clip and a benchmark's protocol; the
metrics themselves are the pure functions of :mod:`facebench.metrics`.
"""

from __future__ import annotations

import warnings

import numpy as np

from facebench.io.predictions import TASK_KEYS, check_finite
from facebench.metrics import canonical, depth, temporal, tracking_2d, tracking_3d
from facebench.metrics._frames import gather
from facebench.metrics.align import align_pixels, depth_alignment_problem, fit_alignment
from facebench.metrics.canonical_align import MIN_ALIGN_PIXELS, fit_canonical_alignment

# The temporal metrics of depth and canonical read the maps at the GT tracks' positions.
GT_FIELDS = {"depth": ("mask", "depth", "tracks"), "canonical": ("mask", "canonical", "tracks"),
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
    valid = np.isfinite(gt[..., 0]) if gt.ndim == 4 else np.isfinite(gt)
    for c in range(1, gt.shape[-1] if gt.ndim == 4 else 1):  # channel by channel: contiguous planes
        valid &= np.isfinite(gt[..., c])
    if spec.regions is not None:
        labels = sorted(set(int(r) for r in spec.regions))
        lo, hi = labels[0], labels[-1]
        mask = np.asarray(clip.mask)
        if labels == list(range(lo, hi + 1)) and 0 <= lo and hi < 256 and mask.dtype == np.uint8:
            valid &= (mask - np.uint8(lo)) <= np.uint8(hi - lo)  # a run of labels: one wrapped compare
        else:
            in_regions = np.zeros(mask.shape, bool)
            for label in labels:
                in_regions |= mask == label
            valid &= in_regions
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
               flags: list | None = None, kept=None, curves: dict | None = None) -> tuple[dict, dict]:
    """Metrics of one clip for ``tasks``: ({task: {metric: value}}, {task: counts}).

    ``width`` x ``height`` is the clip's stored resolution (the pixel space of its tracks).
    ``kept``: (T_original,) bool frames left after ``exclude_qc`` (None: all); the temporal
    metrics never pair frames that were not neighbours before the cut.  ``curves`` (a dict,
    optional) receives each task's temporal metric per frame, {task: (T,)} (for the report).
    A degenerate alignment (see :mod:`facebench.metrics.canonical_align`) is appended to
    ``flags`` as ``{"clip", "task", "kind": "alignment", "reason"}``; a degenerate canonical
    fit is not applied (the clip is scored unaligned).
    Raises ValidationError when the prediction is not finite where the GT is scored.
    """
    scores, counts = {}, {}
    adjacent = None if kept is None else np.diff(np.flatnonzero(kept)) == 1
    for task in tasks:
        spec = bench.task(task)
        valid = scored_mask(clip, task, spec)
        if task in ("depth", "canonical"):
            frame, n_per_frame, p, g = gather(valid, pred[task], getattr(clip, task))
            if not np.isfinite(p).all():  # cheap test first; the count only when there is a problem
                check_finite(clip.clip_id, task, p, np.ones(len(p), bool))
            mode = spec.alignment or "none"
            if task == "depth":
                p, g = p.astype(np.float64), g.astype(np.float64)
                s, _ = fit_alignment(p, g, n_per_frame, mode)
                problem = depth_alignment_problem(s, n_per_frame, mode, MIN_ALIGN_PIXELS)
                per_frame = depth.depth_metrics_gathered(p, g, frame, n_per_frame, mode)
                timed = _depth_temporal(p, g, n_per_frame, mode, valid, clip.tracks, adjacent)
            else:
                fit = fit_canonical_alignment(p, g, mode)
                problem = fit.problem
                per_frame = canonical.canonical_metrics_gathered(fit.apply(p), g, frame, n_per_frame, scale)
                timed = _canonical_temporal(pred[task], valid, clip.tracks, scale, fit)
            if problem is not None and flags is not None:
                flags.append({"clip": clip.clip_id, "task": task, "kind": "alignment", "reason": problem})
            scores[task] = {**_frame_mean(per_frame), **timed[0]}
            counts[task] = {"frames": int((n_per_frame > 0).sum()), "pixels": int(len(p)), **timed[1]}
            if curves is not None:
                curves[task] = timed[2]
            continue
        tr = clip.tracks
        if task == "tracking_2d":
            check_finite(clip.clip_id, "tracks_xy", pred["tracks_xy"], valid)
            m = tracking_2d.tracking_2d_metrics(
                pred["tracks_xy"], pred["tracks_visible"], tr.xy, tr.visible, tr.query_frame, width, height,
                thresholds=spec.thresholds_px or tracking_2d.THRESHOLDS_PX,
                query_mode=spec.query_mode or "first", resolution=spec.resolution or tracking_2d.RESOLUTION)
            scores[task] = {k: m[k] for k in tracking_2d.METRICS}
            jit = temporal.track_jitter_2d(pred["tracks_xy"], tr.xy, tr.visible, tr.query_frame, width,
                                           height, query_mode=spec.query_mode or "first",
                                           resolution=spec.resolution or tracking_2d.RESOLUTION,
                                           adjacent=adjacent)
            scores[task]["jitter_px"] = jit["jitter_px"]
            if curves is not None:
                curves[task] = jit["per_frame"]
        else:
            check_finite(clip.clip_id, "tracks_xyz", pred["tracks_xyz"], valid)
            m = tracking_3d.tracking_3d_metrics(
                pred["tracks_xyz"], pred["tracks_visible"], tr.xyz, tr.visible, clip.K, width, height,
                thresholds=spec.thresholds_px or tracking_3d.THRESHOLDS_PX,
                scaling=spec.scaling or "median", short_side=spec.short_side or tracking_3d.SHORT_SIDE)
            scores[task] = {k: m[k] for k in tracking_3d.METRICS}
            jit = temporal.track_jitter_3d(pred["tracks_xyz"], tr.xyz, tr.visible, m["scale"], adjacent)
            scores[task]["jitter_mm"] = jit["jitter_mm"]
            if curves is not None:
                curves[task] = jit["per_frame"]
        counts[task] = {"tracks": int(len(tr.query_frame)), "points": int(m["n_points"]),
                        "visible_points": int(m["n_visible"]), "jitter_triplets": jit["triplets"]}
    return scores, counts


def _depth_temporal(p, g, n_per_frame, mode, valid, tracks, adjacent) -> tuple[dict, dict, np.ndarray]:
    """Depth flicker at the GT tracks: the aligned error of the scored pixels (gathered as
    ``p``, ``g``), put back into a map and sampled there.  ({metric: value}, counts, per frame)."""
    error = np.full(valid.shape, np.nan)
    aligned = p if mode == "none" else align_pixels(p, g, n_per_frame, mode)
    error.reshape(-1)[np.flatnonzero(valid)] = aligned - g
    out = temporal.depth_flicker(error, valid, tracks.xy, tracks.visible, adjacent=adjacent)
    counts = {"flicker_pairs": out["pairs"], "temporal_tracks": out["tracks"]}
    return {"flicker_mm": out["flicker_mm"]}, counts, out["per_frame"]


def _canonical_temporal(pred_map, valid, tracks, scale, fit) -> tuple[dict, dict, np.ndarray]:
    """Canonical jitter at the GT tracks, after the clip's alignment when it was applied."""
    transform = fit.apply if fit.problem is None and fit.mode != "none" else None
    out = temporal.canonical_jitter(pred_map, valid, tracks.xy, tracks.visible, scale, transform)
    return ({"jitter_median_mm": out["jitter_median_mm"], "jitter_p90_mm": out["jitter_p90_mm"]},
            {"temporal_tracks": out["tracks"]}, out["per_frame"])


def worst_clip(clip, tasks, bench, scale: float) -> dict:
    """Scores of a clip (or task) with no prediction: the worst value of every metric.

    Temporal metrics have no worst value (nothing was predicted to move): NaN, so a missing
    clip is left out of their means (coverage says how many clips they cover)."""
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
        out[task].update({m: float("nan") for m in temporal.METRICS[task]})
    return out
