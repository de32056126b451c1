"""Depth metrics (SPEC §6), per frame.

Every function takes (T,H,W) arrays and a (T,H,W) bool ``valid`` mask of the
pixels to score and returns a (T,) float64 array; a frame with no valid pixel
gives NaN (it is left out of the clip's mean).  Depths are metres.
"""

from __future__ import annotations

import numpy as np

from facebench.metrics.align import align_depth

WITHIN_MM = (2, 5, 10)
METRICS = ("abs_rel", "rmse_mm", "delta_1.25") + tuple(f"within_{x}mm" for x in WITHIN_MM)
HIGHER_IS_BETTER = {"abs_rel": False, "rmse_mm": False, "delta_1.25": True,
                    **{f"within_{x}mm": True for x in WITHIN_MM}}


def _frame_mean(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean of ``values`` over the valid pixels of each frame: (T,H,W) -> (T,), NaN when none."""
    count = valid.sum(axis=(1, 2))
    total = np.where(valid, values, 0.0).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def abs_rel(pred, gt, valid) -> np.ndarray:
    """mean(|d - g| / g) per frame: (T,H,W) x3 -> (T,)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _frame_mean(np.abs(pred - gt) / gt, valid)


def rmse_mm(pred, gt, valid) -> np.ndarray:
    """1000 * sqrt(mean((d - g)^2)) per frame, millimetres: (T,H,W) x3 -> (T,)."""
    return 1000.0 * np.sqrt(_frame_mean((pred - gt) ** 2, valid))


def delta(pred, gt, valid, threshold: float = 1.25) -> np.ndarray:
    """mean(max(d/g, g/d) < threshold) per frame; d <= 0 never counts: (T,H,W) x3 -> (T,)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.maximum(pred / gt, gt / pred)
    ok = (pred > 0) & (ratio < threshold)
    return _frame_mean(ok.astype(np.float64), valid)


def within_mm(pred, gt, valid, mm: float) -> np.ndarray:
    """mean(|d - g| < mm / 1000) per frame (strict): (T,H,W) x3 -> (T,)."""
    return _frame_mean((np.abs(pred - gt) < mm / 1000.0).astype(np.float64), valid)


def depth_metrics(pred, gt, valid, alignment: str = "none") -> dict[str, np.ndarray]:
    """All depth metrics after ``alignment`` (see :func:`align_depth`).

    Args:
        pred: (T,H,W) predicted z-depth.  gt: (T,H,W) GT z-depth, metres, NaN invalid.
        valid: (T,H,W) bool pixels scored (GT valid and inside the task's regions).
    Returns:
        {metric: (T,) float64} for every name in ``METRICS``.
    """
    valid = np.asarray(valid, dtype=bool) & np.isfinite(gt)
    aligned, _, _ = align_depth(pred, gt, valid, alignment)
    gt = np.asarray(gt, dtype=np.float64)
    out = {
        "abs_rel": abs_rel(aligned, gt, valid),
        "rmse_mm": rmse_mm(aligned, gt, valid),
        "delta_1.25": delta(aligned, gt, valid, 1.25),
    }
    for x in WITHIN_MM:
        out[f"within_{x}mm"] = within_mm(aligned, gt, valid, x)
    return out


def worst_depth_metrics(gt, valid) -> dict[str, float]:
    """Scores of a clip with no prediction (as if every depth were 0): abs_rel 1,
    rmse_mm = RMS of the GT depth in mm, every fraction 0."""
    valid = np.asarray(valid, dtype=bool) & np.isfinite(gt)
    zero = np.zeros(np.shape(gt))
    rms = rmse_mm(zero, np.asarray(gt, dtype=np.float64), valid)
    out = {m: 0.0 for m in METRICS}
    out["abs_rel"] = 1.0
    out["rmse_mm"] = float(np.nanmean(rms)) if np.isfinite(rms).any() else float("nan")
    return out
