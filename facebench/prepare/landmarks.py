"""Facial landmarks seen by every camera of a calibrated rig, triangulated (images-only captures).

:func:`detect_multiview` runs MediaPipe FaceMesh (``facebench[landmarks]``) on every
camera's frames (as a video: FaceMesh tracks from frame to frame), converts the dense
mesh to the 68 iBUG points, and :func:`triangulate` lifts them to 3D:

* **RANSAC over views** per frame: every pair of cameras that both found the face
  triangulates the 51 inner points (the jaw line follows each view's silhouette, so it
  is not one physical curve); a camera is an inlier when its median reprojection error
  is below ``inlier_px`` (pixels at 512 px on the long side).  The pair with the most
  inliers (then the lowest error) wins: a profile view where FaceMesh guessed, or a
  camera whose calibration is wrong, is voted out.
* **Refinement**: each point is triangulated again (linear, DLT) from every inlier view.

Per camera and frame :class:`MultiViewLandmarks` keeps the detections, whether the view
agreed, and its reprojection error, which ``prepare`` uses three ways: the fit's starting
pose, a landmark fitting term, and quality control (``qc.landmark_px``; the camera check).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

INNER = np.arange(17, 68)  # iBUG points that are fixed skin points (brows, nose, eyes, mouth)
REFERENCE_SIDE = 512.0  # landmark errors are reported in pixels at this long image side


@dataclass
class MultiViewLandmarks:
    """Landmarks of one sequence seen by C cameras over T frames."""

    xy: np.ndarray  # (C,T,68,2) detected iBUG-68 pixels per camera and frame, NaN where no face
    xyz_world: np.ndarray  # (T,68,3) triangulated world points, NaN where too few views agree
    inlier: np.ndarray  # (C,T) bool: the view agreed with the consensus
    reprojection_px: np.ndarray  # (C,T) median inner-point reprojection error, px at the image size read
    px_scale: np.ndarray  # (C,) factor from a camera's pixels to pixels at 512 px long side

    @property
    def reprojection_px512(self) -> np.ndarray:
        """(C,T) reprojection error in pixels at 512 px long side (comparable across cameras)."""
        return self.reprojection_px * self.px_scale[:, None]

    def center_world(self) -> np.ndarray:
        """(T,3) the mean of the inner triangulated points per frame (NaN when none)."""
        with _quiet():
            return np.nanmean(self.xyz_world[:, INNER], axis=1)


@contextmanager
def _quiet():
    """NaN rows (a view or frame without a face) are expected: no 'All-NaN slice' warnings."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def projections(cameras) -> np.ndarray:
    """(C,3,4) projection matrices K [R|t] of ``cameras``."""
    return np.stack([np.asarray(c.K) @ np.asarray(c.T_cam_from_world)[:3] for c in cameras])


def triangulate_points(P: np.ndarray, xy: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Linear (DLT) triangulation, batched.

    P (C,3,4) projection matrices; xy (C,...,2) pixels; weight (C,...) >= 0 (0: view unused).
    Returns (...,3) world points, NaN where fewer than two views have weight.
    """
    C = P.shape[0]
    batch = xy.shape[1:-1]
    x = np.nan_to_num(xy.reshape(C, -1, 2))
    w = weight.reshape(C, -1)
    rows = np.concatenate([x[..., 0:1, None] * P[:, None, 2:3] - P[:, None, 0:1],
                           x[..., 1:2, None] * P[:, None, 2:3] - P[:, None, 1:2]], axis=2)  # (C,N,2,4)
    rows *= w[..., None, None]
    A = np.transpose(rows, (1, 0, 2, 3)).reshape(rows.shape[1], 2 * C, 4)
    A = A / np.maximum(np.linalg.norm(A, axis=2, keepdims=True), 1e-12)  # rows of equal weight
    _, _, vt = np.linalg.svd(A)
    X = vt[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        pts = X[:, :3] / X[:, 3:4]
    pts[(w > 0).sum(0) < 2] = np.nan
    return pts.reshape(batch + (3,))


def reprojection_errors(cameras, xyz_world: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(C,...) pixel distance between ``xy`` (C,...,2) and the projection of ``xyz_world`` (...,3)."""
    out = np.full(xy.shape[:-1], np.nan)
    for c, cam in enumerate(cameras):
        uv, z = cam.project_world(xyz_world)
        err = np.linalg.norm(uv - xy[c], axis=-1)
        out[c] = np.where(z > 0, err, np.nan)
    return out


def triangulate(cameras, xy: np.ndarray, inlier_px: float = 8.0, min_views: int = 2) -> MultiViewLandmarks:
    """RANSAC over views, then DLT from the inliers (see the module docstring).

    cameras: C ``facebench.geometry.Camera``; xy (C,T,68,2) detections (NaN: no face).
    """
    xy = np.asarray(xy, np.float64)
    C, T = xy.shape[:2]
    P = projections(cameras)
    px_scale = np.array([REFERENCE_SIDE / max(c.width, c.height) for c in cameras])
    found = np.isfinite(xy[:, :, INNER]).all(axis=(2, 3))  # (C,T)
    inlier = np.zeros((C, T), bool)
    xyz = np.full((T, 68, 3), np.nan)
    for t in range(T):
        views = np.flatnonzero(found[:, t])
        best = (0, np.inf, None)
        for a in range(len(views)):
            for b in range(a + 1, len(views)):
                pair = np.zeros(C)
                pair[[views[a], views[b]]] = 1.0
                X = triangulate_points(P, xy[:, t, INNER], pair[:, None] * np.ones((C, len(INNER))))
                with _quiet():  # a view without a detection has no error: NaN
                    err = np.nanmedian(reprojection_errors(cameras, X, xy[:, t, INNER]), axis=1) * px_scale
                ok = found[:, t] & (err <= inlier_px)
                score = (int(ok.sum()), float(np.nanmedian(err[ok])) if ok.any() else np.inf)
                if score[0] > best[0] or (score[0] == best[0] and score[1] < best[1]):
                    best = (score[0], score[1], ok)
        if best[2] is None or best[0] < min_views:
            continue
        inlier[:, t] = best[2]
        w = inlier[:, t, None] * np.isfinite(xy[:, t]).all(-1)
        xyz[t] = triangulate_points(P, xy[:, t], w.astype(np.float64))
    err = reprojection_errors(cameras, xyz[:, INNER], xy[:, :, INNER])  # (C,T,51)
    with _quiet():
        reproj = np.where(found, np.nanmedian(np.where(np.isfinite(err), err, np.nan), axis=2), np.nan)
    return MultiViewLandmarks(xy=xy.astype(np.float32), xyz_world=xyz, inlier=inlier,
                              reprojection_px=reproj, px_scale=px_scale)


def detect_multiview(images: list, cameras: list, inlier_px: float = 8.0) -> MultiViewLandmarks:
    """FaceMesh in every camera's frames, then :func:`triangulate`.

    images: per camera (T,H,W,3) uint8 (the size ``cameras`` describe); cameras: ``Camera`` list.
    """
    from facebench.adapters.mediapipe import detect_landmarks_full

    xy = np.stack([detect_landmarks_full(np.asarray(im), video=True).ibug68 for im in images])
    return triangulate(cameras, xy, inlier_px=inlier_px)


def template_landmarks(template, vertices: np.ndarray) -> np.ndarray:
    """(...,68,3) the template's iBUG landmarks on ``vertices`` (...,V,3) (its landmark embedding)."""
    face_id, bary = template.landmarks
    corners = np.asarray(vertices)[..., np.asarray(template.faces)[face_id], :]  # (...,68,3,3)
    return np.einsum("lk,...lkc->...lc", np.asarray(bary, np.float64), corners)


def landmark_pose(template, landmarks: MultiViewLandmarks, min_points: int = 20) -> dict | None:
    """The fit's starting head pose from triangulated landmarks: ``{"rotation" (T,3) axis-angle,
    "translation" (T,3)}`` (``template.deform`` convention, scale 1), or None when no frame has
    ``min_points`` inner points.  Frames without enough points take the nearest frame's pose."""
    from facebench.prepare.rigid import kabsch, matrix_to_axis_angle

    src = template_landmarks(template, np.asarray(template.canonical_vertices, np.float64))[INNER]
    T = len(landmarks.xyz_world)
    R = np.full((T, 3, 3), np.nan)
    t = np.full((T, 3), np.nan)
    for f in range(T):
        dst = landmarks.xyz_world[f, INNER]
        ok = np.isfinite(dst).all(1)
        if ok.sum() >= min_points:
            R[f], t[f] = kabsch(src[ok], dst[ok])
    have = np.flatnonzero(np.isfinite(t).all(1))
    if not have.size:
        return None
    nearest = have[np.abs(np.arange(T)[:, None] - have[None]).argmin(1)]
    return {"rotation": matrix_to_axis_angle(R[nearest]), "translation": t[nearest]}


def fitted_landmark_px(template, vertices: np.ndarray, cameras, landmarks: MultiViewLandmarks) -> np.ndarray:
    """(T,) per frame, the median over the consensus views of the median inner-landmark distance
    between the fitted template's landmarks (projected) and the detections, in pixels at 512 px;
    NaN when no view.

    A template's landmark embedding and FaceMesh's points differ by definition (2-4 px for ICT,
    about 12 px for facebench-head on an ICT face), the same in every frame.  With three frames or
    more that constant part is taken out first (per view and landmark, the median offset over the
    sequence's frames), so the figure measures what QC is for: a frame whose fit left the face
    (a head turned 16 degrees), not a template that places its landmarks elsewhere."""
    pts = template_landmarks(template, vertices)[:, INNER]  # (T,51,3)
    xy = landmarks.xy[:, :, INNER].astype(np.float64)  # (C,T,51,2)
    offset = np.full(xy.shape, np.nan)
    for c, cam in enumerate(cameras):
        uv, z = cam.project_world(pts)
        offset[c] = np.where((z > 0)[..., None], uv - xy[c], np.nan)
    offset[~landmarks.inlier] = np.nan
    if offset.shape[1] >= 3:
        with _quiet():
            offset = offset - np.nanmedian(offset, axis=1, keepdims=True)
    with _quiet():
        per_view = np.nanmedian(np.linalg.norm(offset, axis=-1), axis=2) * landmarks.px_scale[:, None]
        return np.nanmedian(per_view, axis=0)
