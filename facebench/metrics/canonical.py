"""Canonical-coordinate metrics (SPEC §6), per frame.

Canonical maps are (T,H,W,3) in normalized canonical units (SPEC §2); ``scale``
is the template's canonical scale in metres, so ``1000 * scale * e`` is in mm.
Every function returns (T,) float64, NaN for a frame with no valid pixel.
"""

from __future__ import annotations

import numpy as np

from facebench.metrics._frames import frame_mean, frame_median, gather, keep_finite

WITHIN_MM = (2, 5, 10)
METRICS = ("mean_mm", "median_mm", "mean_norm") + tuple(f"within_{x}mm" for x in WITHIN_MM)
HIGHER_IS_BETTER = {"mean_mm": False, "median_mm": False, "mean_norm": False,
                    **{f"within_{x}mm": True for x in WITHIN_MM}}
# Largest error inside the normalized cube [-1, 1]^3 (its diagonal), used for missing clips.
WORST_NORM = 2.0 * np.sqrt(3.0)


def canonical_error(pred, gt) -> np.ndarray:
    """|c_pred - c_gt|_2 in normalized units: (...,3) x2 -> (...)."""
    diff = np.asarray(pred) - np.asarray(gt)  # float32 is exact enough: 1e-7 of the unit cube
    return np.sqrt(np.einsum("...k,...k->...", diff, diff)).astype(np.float64)


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
    frame, counts, p, g = gather(valid, pred, gt)
    frame, counts, g, p = keep_finite(frame, counts, g, p)
    return canonical_metrics_gathered(p, g, frame, counts, scale)


def canonical_metrics_gathered(p, g, frame, counts, scale: float) -> dict[str, np.ndarray]:
    """:func:`canonical_metrics` on scored pixels gathered by frame (see ``_frames.gather``).

    p, g: (M,3) predicted and GT canonical (GT finite); frame: (M,) ascending; counts: (T,).
    """
    err = canonical_error(p, g)
    err_mm = 1000.0 * float(scale) * err
    out = {"mean_mm": frame_mean(err_mm, frame, counts), "median_mm": frame_median(err_mm, counts),
           "mean_norm": frame_mean(err, frame, counts)}
    for x in WITHIN_MM:
        out[f"within_{x}mm"] = frame_mean(err_mm < x, frame, counts)
    return out


def worst_canonical_metrics(scale: float) -> dict[str, float]:
    """Scores of a clip with no prediction: the largest error in the normalized cube."""
    out = {m: 0.0 for m in METRICS}
    out["mean_norm"] = float(WORST_NORM)
    out["mean_mm"] = out["median_mm"] = float(1000.0 * scale * WORST_NORM)
    return out
