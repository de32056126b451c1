"""2D point tracking metrics, TAP-Vid protocol (SPEC §6).

Query mode ``first``: each track is scored on the frames strictly after its
query frame.  Positions are compared after scaling x by 256/W and y by 256/H
(the TAP-Vid 256x256 evaluation space), at thresholds {1, 2, 4, 8, 16} there;
"within" is strict ``<``.  Counts are summed over tracks and frames of one
clip, so every function here returns one number per clip.
"""

from __future__ import annotations

import numpy as np

from facebench.metrics._tracking import safe_div, threshold_scores

THRESHOLDS_PX = (1, 2, 4, 8, 16)
RESOLUTION = 256
QUERY_MODES = ("first", "strided")
METRICS = ("occlusion_accuracy", "delta_avg", "average_jaccard", "epe_px_median")
HIGHER_IS_BETTER = {"occlusion_accuracy": True, "delta_avg": True, "average_jaccard": True,
                    "epe_px_median": False}
WORST = {"occlusion_accuracy": 0.0, "delta_avg": 0.0, "average_jaccard": 0.0,
         "epe_px_median": float(RESOLUTION * np.sqrt(2.0))}  # diagonal of the 256x256 space


def evaluation_frames(query_frame: np.ndarray, n_frames: int, query_mode: str = "first") -> np.ndarray:
    """(N,T) bool: the frames each track is scored on.

    ``first``: frames t > query_frame.  ``strided``: every frame but the query frame.
    """
    t = np.arange(n_frames)[None, :]
    q = np.asarray(query_frame, dtype=np.int64)[:, None]
    if query_mode == "first":
        return t > q
    if query_mode == "strided":
        return t != q
    raise ValueError(f"unknown query mode {query_mode!r}; expected one of {QUERY_MODES}")


def scale_to_resolution(xy: np.ndarray, width: int, height: int, resolution: int = RESOLUTION):
    """Pixels (x, y) of a W x H image -> the ``resolution`` x ``resolution`` space: (...,2) -> (...,2)."""
    factor = np.array([resolution / width, resolution / height])
    return np.asarray(xy, dtype=np.float64) * factor


def tracking_2d_metrics(pred_xy, pred_visible, gt_xy, gt_visible, query_frame, width: int, height: int,
                        thresholds=THRESHOLDS_PX, query_mode: str = "first",
                        resolution: int = RESOLUTION) -> dict[str, float]:
    """TAP-Vid metrics for one clip.

    Args:
        pred_xy: (N,T,2) predicted pixels (x, y) in the W x H image.
        pred_visible: (N,T) bool predicted visibility.
        gt_xy: (N,T,2) GT pixels.  gt_visible: (N,T) bool.
        query_frame: (N,) int frame index of each track's query.
        width, height: image size the pixels refer to.
    Returns:
        {occlusion_accuracy, delta_avg, average_jaccard, epe_px_median, n_points, n_visible}
        as floats; ratios are NaN when the clip has nothing to score.  ``delta_avg`` and
        ``epe_px_median`` use GT-visible points only and ignore predicted visibility;
        ``epe_px_median`` is in the 256-space pixels.  Per-threshold values are under
        ``delta_{x}px`` and ``jaccard_{x}px``.
    """
    gt_vis = np.asarray(gt_visible, dtype=bool)
    pred_vis = np.asarray(pred_visible, dtype=bool)
    n_frames = gt_vis.shape[1]
    evaluated = evaluation_frames(query_frame, n_frames, query_mode)
    p = scale_to_resolution(pred_xy, width, height, resolution)
    g = scale_to_resolution(gt_xy, width, height, resolution)
    with np.errstate(invalid="ignore"):
        dist = np.sqrt(np.sum((p - g) ** 2, axis=-1))  # (N,T), NaN where a position is NaN
    n_points = int(evaluated.sum())
    vis_eval = gt_vis & evaluated
    n_visible = int(vis_eval.sum())
    out = {"occlusion_accuracy": safe_div(np.sum((pred_vis == gt_vis) & evaluated), n_points)}
    deltas, jaccards = threshold_scores(dist, 1.0, thresholds, gt_vis, pred_vis, evaluated)
    for x, frac, jac in zip(thresholds, deltas, jaccards):
        out[f"delta_{x}px"], out[f"jaccard_{x}px"] = frac, jac
    out["delta_avg"] = float(np.mean(deltas))
    out["average_jaccard"] = float(np.mean(jaccards))
    out["epe_px_median"] = float(np.median(dist[vis_eval])) if n_visible else float("nan")
    out["n_points"] = float(n_points)
    out["n_visible"] = float(n_visible)
    return out
