"""The images-only camera check (:mod:`facebench.prepare.camera_check`): landmarks detected in each
view, triangulated over views and projected back.

``xy`` (C,K,L,2): camera ``c``'s detections at checked frame ``k`` (pixels, NaN where none).
The triangulation is done here again for every camera list tried (the cameras as read, or with
a convention fixed), so the figure never takes the cameras on trust.
"""

from __future__ import annotations

import numpy as np

from facebench.prepare.camera_figures import REFERENCE_SIDE, extent, finite_median
from facebench.prepare.landmarks import projections, triangulate_points


class LandmarkCheck:
    """Images-only captures: detected landmarks ``xy`` (C,K,L,2) triangulated over views (RANSAC
    over view pairs, inliers within ``inlier_px`` at 512 px) and projected back into each view;
    a camera's figure is the median distance to its own detections, in px at 512 px long side."""

    name = "landmark_px"

    def __init__(self, xy: np.ndarray, inlier_px: float = 10.0):
        self.xy = np.asarray(xy, np.float64)
        self.inlier_px = float(inlier_px)

    def triangulate(self, cameras) -> np.ndarray:
        """(K,L,3) consensus world points, NaN where fewer than two views agree."""
        C, K, L, _ = self.xy.shape
        flat = self.xy.reshape(C, K * L, 2)
        scale = np.array([max(c.width, c.height) / REFERENCE_SIDE for c in cameras])
        return triangulate_ransac(flat, cameras, self.inlier_px * scale).reshape(K, L, 3)

    def _errors(self, cameras, X):
        """(C,K,L) reprojection distance in px at 512 px; NaN where no detection or point."""
        err = np.full(self.xy.shape[:3], np.nan)
        for c, cam in enumerate(cameras):
            uv, z = cam.project_world(X.reshape(-1, 3))
            d = np.linalg.norm(uv.reshape(X.shape[:2] + (2,)) - self.xy[c], axis=-1)
            d[~(z.reshape(X.shape[:2]) > 0)] = np.inf  # behind the camera: as wrong as it gets
            err[c] = d * REFERENCE_SIDE / max(cam.width, cam.height)
        return np.where(np.isnan(self.xy[..., 0]) | np.isnan(X[None, ..., 0]), np.nan, err)

    def __call__(self, cameras):
        """Rows: ``landmark_px`` per camera, and for iBUG-68 points ``eye_span_mm`` (the same for
        every camera): images alone cannot tell a rig in millimetres from one in metres, a face's
        size can."""
        X = self.triangulate(cameras)
        err = self._errors(cameras, X)
        value = np.array([finite_median(e.ravel()) for e in err])
        ext = np.array([extent(cam, X[np.isfinite(X[..., 0])]) for cam in cameras])
        if X.shape[1] != 68:
            return value[None], ext
        span = finite_median(np.linalg.norm(X[:, 36] - X[:, 45], axis=-1)) * 1000.0
        return np.stack([value, np.full(len(cameras), span)]), ext

    def overlay(self, cameras, c, k):
        X = self.triangulate(cameras)[k]
        ok = np.isfinite(X[:, 0]) & np.isfinite(self.xy[c, k, :, 0])
        uv = cameras[c].project_world(X[ok])[0]
        err = np.linalg.norm(uv - self.xy[c, k][ok], axis=1) * REFERENCE_SIDE / max(cameras[c].width,
                                                                                    cameras[c].height)
        return uv, err <= self.inlier_px


def triangulate_ransac(xy: np.ndarray, cameras, inlier_px) -> np.ndarray:
    """World points (N,3) from pixels ``xy`` (C,N,2) (NaN: not seen): the view pair whose
    triangulation most views agree with (within ``inlier_px`` (C,) pixels), refined on those
    views; NaN where fewer than two views agree."""
    C, N, _ = xy.shape
    P = projections(cameras)
    seen = np.isfinite(xy).all(axis=2)
    best_count, best_in = np.zeros(N, int), np.zeros((C, N), bool)
    for a in range(C):
        for b in range(a + 1, C):
            w = np.zeros((C, N))
            w[[a, b]] = seen[[a, b]]
            X = triangulate_points(P, xy, w)
            inl = np.zeros((C, N), bool)
            for c, cam in enumerate(cameras):
                uv, z = cam.project_world(X)
                with np.errstate(invalid="ignore"):
                    inl[c] = seen[c] & (z > 0) & (np.linalg.norm(uv - xy[c], axis=1) <= inlier_px[c])
            count = inl.sum(axis=0) * (seen[a] & seen[b])
            better = count > best_count
            best_count[better], best_in[:, better] = count[better], inl[:, better]
    X = triangulate_points(P, xy, best_in.astype(float))
    X[best_count < 2] = np.nan
    return X
