"""How far to trust each detected landmark in each frame (landmark-fit's per-landmark weights).

MediaPipe 0.10.14's FaceMesh reports no per-landmark presence or visibility (the fields exist
and are 0), and under an occluder it keeps drawing a plausible face: under a hand the mouth
points wander with the hand.  Two cues are used instead, both pure numpy:

* **temporal consistency** (:func:`temporal_confidence`): each frame's landmarks are brought into
  a head-fixed frame by a similarity transform fitted on stable points (eye corners, nose
  bridge); a landmark that jumps away from its own running median there (more than skin moves
  between neighbouring frames) gets a low weight in that frame.
* **robust residuals** (:func:`robust_weights`): during the fit, a landmark the template cannot
  reach with plausible expressions (a large reprojection residual) is down-weighted (Cauchy
  weights, recomputed as the fit goes).
"""

from __future__ import annotations

import numpy as np

STABLE = np.array([27, 28, 29, 30, 36, 39, 42, 45])  # nose bridge and eye corners (iBUG-68, 0-based)
TEMPORAL_WINDOW = 5  # frames in the running median
TEMPORAL_SCALE = 0.04  # inter-ocular units: a jump of this size halves the weight
ROBUST_SCALE = 0.06  # inter-ocular units: a residual of this size halves the weight


def _similarity(src, dst):
    """(s, R (2,2), t (2,)) minimising |s R src + t - dst|^2 over points (N,2)."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    U, S, Vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    D = np.diag([1.0, d])
    R = Vt.T @ D @ U.T
    s = (S * np.diag(D)).sum() / max((a**2).sum(), 1e-12)
    return s, R, md - s * R @ ms


def head_frame(lmk) -> np.ndarray:
    """(T,68,2) pixels -> (T,68,2) in a head-fixed 2D frame (the first found frame's stable points,
    inter-ocular distance 1); NaN rows stay NaN."""
    lmk = np.asarray(lmk, np.float64)
    out = np.full_like(lmk, np.nan)
    found = np.flatnonzero(np.isfinite(lmk).all(axis=(1, 2)))
    if not len(found):
        return out
    ref = lmk[found[0], STABLE]
    ref = (ref - ref.mean(0)) / max(np.linalg.norm(lmk[found[0], 36] - lmk[found[0], 45]), 1e-9)
    for t in found:
        s, R, tr = _similarity(lmk[t, STABLE], ref)
        out[t] = s * lmk[t] @ R.T + tr
    return out


def temporal_confidence(lmk, window: int = TEMPORAL_WINDOW, scale: float = TEMPORAL_SCALE) -> np.ndarray:
    """(T,68,2) pixels -> (T,68) weights in (0, 1]: 1 / (1 + (jump / scale)^2), where ``jump`` is the
    landmark's distance (inter-ocular units, head-fixed frame) from its median over ``window``
    neighbouring frames.  Clips shorter than 3 frames get 1 everywhere (nothing to compare)."""
    lmk = np.asarray(lmk, np.float64)
    T = len(lmk)
    conf = np.ones((T, lmk.shape[1]))
    if T < 3:
        return conf
    x = head_frame(lmk)
    half = window // 2
    for t in range(T):
        if not np.isfinite(x[t]).all():
            continue
        near = x[max(0, t - half):t + half + 1]
        near = near[np.isfinite(near).all(axis=(1, 2))]
        if len(near) < 3:
            continue
        jump = np.linalg.norm(x[t] - np.median(near, axis=0), axis=-1)
        conf[t] = 1.0 / (1.0 + (jump / scale) ** 2)
    return conf


def robust_weights(residual, scale: float = ROBUST_SCALE) -> np.ndarray:
    """Cauchy weights 1 / (1 + (r / scale)^2) of residuals ``r`` (any shape, inter-ocular units)."""
    r = np.asarray(residual, np.float64)
    return 1.0 / (1.0 + (r / scale) ** 2)
