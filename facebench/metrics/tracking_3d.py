"""3D point tracking metrics, TAPVid-3D protocol (SPEC §6).

Predictions are first scaled per clip by median|gt| / median|pred| over the
points visible in both GT and prediction (``median`` scaling; ``none`` keeps
them).  Every frame is scored.  A point counts as within threshold x when
|pred - gt| < x * z_gt / sqrt(fx fy), with K rescaled so the image's short
side is 256 pixels: x pixels of image-plane error at the point's depth.
"""

from __future__ import annotations

import numpy as np

from facebench.metrics._tracking import safe_div, threshold_scores

THRESHOLDS_PX = (1, 2, 4, 8, 16)
SHORT_SIDE = 256
SCALINGS = ("median", "none")
METRICS = ("apd3d", "average_jaccard_3d", "occlusion_accuracy", "epe3d_mm")
HIGHER_IS_BETTER = {"apd3d": True, "average_jaccard_3d": True, "occlusion_accuracy": True,
                    "epe3d_mm": False}


def median_scale(pred_xyz, gt_xyz, both_visible) -> float:
    """median |gt| / median |pred| over points visible in both; 1 when undefined.

    pred_xyz, gt_xyz: (N,T,3) camera space.  both_visible: (N,T) bool.
    """
    if not np.any(both_visible):
        return 1.0
    gt_norm = np.linalg.norm(np.asarray(gt_xyz, dtype=np.float64)[both_visible], axis=-1)
    pred_norm = np.linalg.norm(np.asarray(pred_xyz, dtype=np.float64)[both_visible], axis=-1)
    denom = np.median(pred_norm)
    if not np.isfinite(denom) or denom <= 0:
        return 1.0
    return float(np.median(gt_norm) / denom)


def mean_focal_256(K, width: int, height: int, short_side: int = SHORT_SIDE) -> float:
    """sqrt(fx fy) after rescaling K so min(W, H) becomes ``short_side`` pixels."""
    factor = short_side / min(width, height)
    return float(np.sqrt(K[0, 0] * factor * K[1, 1] * factor))


def tracking_3d_metrics(pred_xyz, pred_visible, gt_xyz, gt_visible, K, width: int, height: int,
                        thresholds=THRESHOLDS_PX, scaling: str = "median",
                        short_side: int = SHORT_SIDE) -> dict[str, float]:
    """TAPVid-3D metrics for one clip.

    Args:
        pred_xyz: (N,T,3) predicted camera-space positions (metres, or any unit with
            ``median`` scaling).  pred_visible: (N,T) bool.
        gt_xyz: (N,T,3) GT camera-space positions, metres.  gt_visible: (N,T) bool.
        K: (3,3) intrinsics of the W x H image.
    Returns:
        {apd3d, average_jaccard_3d, occlusion_accuracy, epe3d_mm (mean over GT-visible
        points), scale, n_points, n_visible}; ratios NaN when nothing is scored.
        Per-threshold values are under ``apd_{x}px`` and ``jaccard_{x}px``.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"unknown 3D scaling {scaling!r}; expected one of {SCALINGS}")
    gt_vis = np.asarray(gt_visible, dtype=bool)
    pred_vis = np.asarray(pred_visible, dtype=bool)
    gt = np.asarray(gt_xyz, dtype=np.float64)
    pred = np.asarray(pred_xyz, dtype=np.float64)
    scale = median_scale(pred, gt, gt_vis & pred_vis) if scaling == "median" else 1.0
    pred = pred * scale
    with np.errstate(invalid="ignore"):
        dist = np.sqrt(np.sum((pred - gt) ** 2, axis=-1))  # (N,T) metres
        per_pixel = gt[..., 2] / mean_focal_256(K, width, height, short_side)  # metres per 256-px
    n_points = int(gt_vis.size)
    n_visible = int(gt_vis.sum())
    out = {"occlusion_accuracy": safe_div(np.sum(pred_vis == gt_vis), n_points)}
    everywhere = np.ones_like(gt_vis)  # TAPVid-3D scores every frame
    apds, jaccards = threshold_scores(dist, per_pixel, thresholds, gt_vis, pred_vis, everywhere)
    for x, frac, jac in zip(thresholds, apds, jaccards):
        out[f"apd_{x}px"], out[f"jaccard_{x}px"] = frac, jac
    out["apd3d"] = float(np.mean(apds))
    out["average_jaccard_3d"] = float(np.mean(jaccards))
    out["epe3d_mm"] = float(1000.0 * np.mean(dist[gt_vis])) if n_visible else float("nan")
    out["scale"] = scale
    out["n_points"] = float(n_points)
    out["n_visible"] = float(n_visible)
    return out


def worst_tracking_3d_metrics(gt_xyz, gt_visible) -> dict[str, float]:
    """Scores of a clip with no prediction: fractions 0, epe3d_mm = mean |gt| in mm
    (the error of predicting the camera centre)."""
    gt_vis = np.asarray(gt_visible, dtype=bool)
    out = {m: 0.0 for m in METRICS}
    norms = np.linalg.norm(np.asarray(gt_xyz, dtype=np.float64)[gt_vis], axis=-1)
    out["epe3d_mm"] = float(1000.0 * norms.mean()) if norms.size else float("nan")
    return out
