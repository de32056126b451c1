"""Depth metrics (SPEC §6), per frame.

Every function takes (T,H,W) arrays and a (T,H,W) bool ``valid`` mask of the
pixels to score and returns a (T,) float64 array; a frame with no valid pixel
gives NaN (it is left out of the clip's mean).  Depths are metres.
"""

from __future__ import annotations

import numpy as np

from facebench.metrics._frames import frame_mean, gather, keep_finite
from facebench.metrics.align import align_pixels

WITHIN_MM = (2, 5, 10)
METRICS = ("abs_rel", "rmse_mm", "delta_1.25") + tuple(f"within_{x}mm" for x in WITHIN_MM)
HIGHER_IS_BETTER = {"abs_rel": False, "rmse_mm": False, "delta_1.25": True,
                    **{f"within_{x}mm": True for x in WITHIN_MM}}


def _compact(pred, gt, valid):
    frame, counts, d, g = gather(valid, pred, gt)
    frame, counts, g, d = keep_finite(frame, counts, g, d)
    return d.astype(np.float64), g.astype(np.float64), frame, counts


def abs_rel(pred, gt, valid) -> np.ndarray:
    """mean(|d - g| / g) per frame: (T,H,W) x3 -> (T,)."""
    d, g, frame, counts = _compact(pred, gt, valid)
    return _metric_values(d, g, frame, counts)["abs_rel"]


def rmse_mm(pred, gt, valid) -> np.ndarray:
    """1000 * sqrt(mean((d - g)^2)) per frame, millimetres: (T,H,W) x3 -> (T,)."""
    d, g, frame, counts = _compact(pred, gt, valid)
    return _metric_values(d, g, frame, counts)["rmse_mm"]


def delta(pred, gt, valid, threshold: float = 1.25) -> np.ndarray:
    """mean(max(d/g, g/d) < threshold) per frame; d <= 0 never counts: (T,H,W) x3 -> (T,)."""
    d, g, frame, counts = _compact(pred, gt, valid)
    return frame_mean(_delta_ok(d, g, threshold), frame, counts)


def within_mm(pred, gt, valid, mm: float) -> np.ndarray:
    """mean(|d - g| < mm / 1000) per frame (strict): (T,H,W) x3 -> (T,)."""
    d, g, frame, counts = _compact(pred, gt, valid)
    return frame_mean(np.abs(d - g) < mm / 1000.0, frame, counts)


def _delta_ok(d, g, threshold):
    # max(d/g, g/d) < x  <=>  max(d, g) < x * min(d, g)  for d, g > 0 (no division needed)
    with np.errstate(invalid="ignore"):
        return (d > 0) & (np.maximum(d, g) < threshold * np.minimum(d, g))


def _metric_values(d, g, frame, counts) -> dict[str, np.ndarray]:
    """Every metric from scored pixels: d, g (M,) aligned depth and GT, frame (M,), counts (T,)."""
    err = np.abs(d - g)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"abs_rel": frame_mean(err / g, frame, counts),
               "rmse_mm": 1000.0 * np.sqrt(frame_mean(err * err, frame, counts)),
               "delta_1.25": frame_mean(_delta_ok(d, g, 1.25), frame, counts)}
    for x in WITHIN_MM:
        out[f"within_{x}mm"] = frame_mean(err < x / 1000.0, frame, counts)
    return out


def depth_metrics(pred, gt, valid, alignment: str = "none") -> dict[str, np.ndarray]:
    """All depth metrics after ``alignment`` (see :func:`align_depth`).

    Args:
        pred: (T,H,W) predicted z-depth.  gt: (T,H,W) GT z-depth, metres, NaN invalid.
        valid: (T,H,W) bool pixels scored (GT valid and inside the task's regions).
    Returns:
        {metric: (T,) float64} for every name in ``METRICS``.
    """
    d, g, frame, counts = _compact(pred, gt, valid)
    return depth_metrics_gathered(d, g, frame, counts, alignment)


def depth_metrics_gathered(d, g, frame, counts, alignment: str = "none") -> dict[str, np.ndarray]:
    """:func:`depth_metrics` on scored pixels gathered by frame (see ``_frames.gather``).

    d, g: (M,) predicted and GT depth (GT finite); frame: (M,) frame index, ascending;
    counts: (T,) pixels per frame.  Returns {metric: (T,)}.
    """
    d = np.asarray(d, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    if alignment != "none":
        d = align_pixels(d, g, counts, alignment)
    return _metric_values(d, g, frame, counts)


def worst_depth_metrics(gt, valid) -> dict[str, float]:
    """Scores of a clip with no prediction (as if every depth were 0): abs_rel 1,
    rmse_mm = RMS of the GT depth in mm, every fraction 0."""
    rms = rmse_mm(np.zeros(np.shape(gt)), gt, valid)
    out = {m: 0.0 for m in METRICS}
    out["abs_rel"] = 1.0
    out["rmse_mm"] = float(np.nanmean(rms)) if np.isfinite(rms).any() else float("nan")
    return out
