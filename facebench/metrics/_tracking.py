"""What TAP-Vid (2D) and TAPVid-3D share: per-threshold position accuracy and Jaccard."""

from __future__ import annotations

import numpy as np


def safe_div(a, b) -> float:
    return float(a) / float(b) if b > 0 else float("nan")


def threshold_scores(dist, unit, thresholds, gt_vis, pred_vis, evaluated) -> tuple[list, list]:
    """Position accuracy and Jaccard per threshold.

    Args:
        dist: (N,T) prediction-to-GT distance (NaN where a position is NaN).
        unit: scalar or (N,T): the length of one threshold unit (a point is within
            threshold x when ``dist < x * unit``, strict).
        thresholds: threshold values x.
        gt_vis, pred_vis: (N,T) bool visibility.  evaluated: (N,T) bool points scored.
    Returns:
        (fractions, jaccards): lists over thresholds.  A fraction is the share of
        evaluated GT-visible points within x (predicted visibility ignored); Jaccard
        counts true positives (within x, visible in both) over GT-visible points plus
        false positives (predicted visible but GT-occluded or not within x).
    """
    n_visible = int(np.sum(gt_vis & evaluated))
    fractions, jaccards = [], []
    for x in thresholds:
        with np.errstate(invalid="ignore"):
            within = dist < x * unit
        correct = within & gt_vis & evaluated
        true_pos = np.sum(correct & pred_vis)
        false_pos = np.sum(((~gt_vis) | (~within)) & pred_vis & evaluated)
        fractions.append(safe_div(np.sum(correct), n_visible))
        jaccards.append(safe_div(true_pos, n_visible + false_pos))
    return fractions, jaccards
