"""Canonical-landmark error on images with human 2D landmarks (the ``landmarks`` task).

A method's canonical map says which template point each pixel shows.  The template's
landmark embedding gives each iBUG landmark a canonical coordinate; the pixel whose
predicted canonical value is nearest to it (within ``tolerance`` normalized units) is where
the method puts that landmark.  Its distance to the human label, divided by the outer
eye-corner distance of the label (iBUG points 36 and 45, 0-based), is the landmark's error,
capped at ``cap``; a landmark not found (no pixel within the tolerance, or a frame without a
face) counts as the cap.

Shapes: T frames, L landmarks, pixels (x, y) with the centre of the top-left pixel at (0, 0).
"""

from __future__ import annotations

import numpy as np

INNER_51 = np.arange(17, 68)  # iBUG-68 without the jaw line (0-based): brows, nose, eyes, mouth
OUTER_EYE_CORNERS = (36, 45)  # the subject's right eye's outer corner, the left eye's outer corner
METRICS = ("nme", "found", "nme_found", "face_found")
HIGHER_IS_BETTER = {"nme": False, "found": True, "nme_found": False, "face_found": True}


def locate_landmarks(canonical, targets, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Where one canonical map puts each target coordinate.

    canonical (H,W,3) normalized (NaN off the face); targets (L,3) normalized; tolerance in
    normalized units.  Returns (uv (L,2) float64 pixels, NaN where not found; distance (L,)
    float64 canonical distance of the chosen pixel, inf where no pixel is finite).
    """
    from scipy.spatial import cKDTree

    canonical = np.asarray(canonical, np.float64)
    targets = np.asarray(targets, np.float64)
    L = len(targets)
    uv = np.full((L, 2), np.nan)
    ok = np.isfinite(canonical).all(axis=-1)
    if not ok.any():
        return uv, np.full(L, np.inf)
    rows, cols = np.nonzero(ok)
    dist, k = cKDTree(canonical[rows, cols]).query(targets)
    hit = dist <= tolerance
    uv[hit] = np.stack([cols[k[hit]], rows[k[hit]]], axis=-1)
    return uv, np.asarray(dist, np.float64)


def outer_eye_distance(gt68) -> np.ndarray:
    """(T,68,2) labelled iBUG-68 points -> (T,) distance between the outer eye corners, pixels."""
    gt68 = np.asarray(gt68, np.float64)
    a, b = OUTER_EYE_CORNERS
    return np.linalg.norm(gt68[:, a] - gt68[:, b], axis=-1)


def landmark_errors(pred_uv, gt_uv, norm, cap: float = 1.0) -> np.ndarray:
    """Per-landmark normalized errors: pred_uv (T,L,2) NaN where not found, gt_uv (T,L,2),
    norm (T,) pixels -> (T,L) float64, min(|pred - gt| / norm, cap), ``cap`` where not found."""
    pred_uv, gt_uv = np.asarray(pred_uv, np.float64), np.asarray(gt_uv, np.float64)
    norm = np.asarray(norm, np.float64)
    e = np.linalg.norm(pred_uv - gt_uv, axis=-1) / norm[:, None]
    return np.where(np.isfinite(e), np.minimum(e, cap), cap)


def landmark_metrics(pred_uv, gt_uv, norm, face_found, cap: float = 1.0) -> dict[str, np.ndarray]:
    """The task's metrics per frame.

    pred_uv (T,L,2) NaN where not found; gt_uv (T,L,2); norm (T,); face_found (T,) bool (the
    method reported a face in the frame; a frame without one has every landmark missed).
    Returns {"nme": (T,) mean capped error with misses at the cap, "found": (T,) fraction of
    landmarks found, "nme_found": (T,) mean error over the found landmarks (NaN if none),
    "face_found": (T,) 1.0 / 0.0}.
    """
    pred_uv = np.array(pred_uv, np.float64)
    face_found = np.asarray(face_found, bool)
    pred_uv[~face_found] = np.nan
    err = landmark_errors(pred_uv, gt_uv, norm, cap)
    hit = np.isfinite(pred_uv).all(axis=-1)
    n_hit = hit.sum(axis=1)
    with np.errstate(invalid="ignore"):
        nme_found = np.where(n_hit > 0, np.where(hit, err, 0.0).sum(axis=1) / np.maximum(n_hit, 1), np.nan)
    return {
        "nme": err.mean(axis=1),
        "found": hit.mean(axis=1),
        "nme_found": nme_found,
        "face_found": face_found.astype(np.float64),
    }
