"""Canonical-coordinate metrics (SPEC §6), per frame.

Canonical maps are (T,H,W,3) in normalized canonical units (SPEC §2); ``scale``
is the template's canonical scale in metres, so ``1000 * scale * e`` is in mm.
Every function returns (T,) float64, NaN for a frame with no valid pixel.
"""

from __future__ import annotations

import warnings

import numpy as np

WITHIN_MM = (2, 5, 10)
METRICS = ("mean_mm", "median_mm", "mean_norm") + tuple(f"within_{x}mm" for x in WITHIN_MM)
HIGHER_IS_BETTER = {"mean_mm": False, "median_mm": False, "mean_norm": False,
                    **{f"within_{x}mm": True for x in WITHIN_MM}}
# Largest error inside the normalized cube [-1, 1]^3 (its diagonal), used for missing clips.
WORST_NORM = 2.0 * np.sqrt(3.0)


def canonical_error(pred, gt) -> np.ndarray:
    """|c_pred - c_gt|_2 in normalized units: (T,H,W,3) x2 -> (T,H,W)."""
    diff = np.asarray(pred, dtype=np.float64) - np.asarray(gt, dtype=np.float64)
    return np.sqrt(np.einsum("...k,...k->...", diff, diff))


def canonical_metrics(pred, gt, valid, scale: float) -> dict[str, np.ndarray]:
    """All canonical metrics.

    Args:
        pred: (T,H,W,3) predicted normalized canonical coordinates.
        gt: (T,H,W,3) GT normalized canonical coordinates, NaN invalid.
        valid: (T,H,W) bool pixels scored.
        scale: canonical scale of the template, metres.
    Returns:
        {metric: (T,) float64}: mean_mm, median_mm, mean_norm, within_{2,5,10}mm.
    """
    valid = np.asarray(valid, dtype=bool) & np.isfinite(gt).all(axis=-1)
    err = canonical_error(pred, gt)
    err_mm = 1000.0 * float(scale) * err
    count = valid.sum(axis=(1, 2))
    has = count > 0
    denom = np.maximum(count, 1)

    def frame_mean(values):
        return np.where(has, np.where(valid, values, 0.0).sum(axis=(1, 2)) / denom, np.nan)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames -> NaN
        median = np.nanmedian(np.where(valid, err_mm, np.nan).reshape(len(err_mm), -1), axis=1)
    out = {"mean_mm": frame_mean(err_mm), "median_mm": median, "mean_norm": frame_mean(err)}
    for x in WITHIN_MM:
        out[f"within_{x}mm"] = frame_mean((err_mm < x).astype(np.float64))
    return out


def worst_canonical_metrics(scale: float) -> dict[str, float]:
    """Scores of a clip with no prediction: the largest error in the normalized cube."""
    out = {m: 0.0 for m in METRICS}
    out["mean_norm"] = float(WORST_NORM)
    out["mean_mm"] = out["median_mm"] = float(1000.0 * scale * WORST_NORM)
    return out
