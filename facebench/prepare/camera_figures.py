"""The figures of the camera check (:mod:`facebench.prepare.camera_check`), one class per kind of
evidence.  Each is built once from a sequence's checked frames and called with a camera list
(the cameras as read, or with a convention fixed): ``check(cameras) -> (value (C,), extent (C,))``.
``overlay(cameras, c, k)`` gives what inspect-cameras draws on camera ``c`` at checked frame ``k``:
``(uv (N,2) pixels, good (N,) bool)``.

Arrays: ``masks[c][k]`` (H,W) bool at camera ``c``'s image size; ``points[k]`` (N,3) world metres;
``depths[c][k]`` (H,W) float32 metres (NaN invalid); ``images[c][k]`` (H,W,3) uint8.  The
images-only check (landmarks) is in :mod:`facebench.prepare.camera_landmarks`.
"""

from __future__ import annotations

import numpy as np

REFERENCE_SIDE = 512  # landmark errors are reported in pixels at this long side


def subsample(points: np.ndarray, n: int) -> np.ndarray:
    """Every k-th row of ``points`` so that at most ``n`` remain (deterministic)."""
    return points[:: max(1, int(np.ceil(len(points) / max(1, n))))]


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    from scipy.ndimage import maximum_filter

    mask = np.asarray(mask, bool)
    return maximum_filter(mask, size=2 * px + 1) if px > 0 else mask


def _tolerance_px(mask: np.ndarray, tolerance: float) -> int:
    """Mask dilation in pixels: ``tolerance`` of the long side, at least one (resized masks' edges)."""
    return max(1, int(round(tolerance * max(mask.shape))))


def _pixels(camera, xyz_world):
    """(uv (N,2), in front (N,) bool, integer col/row (N,), inside the image (N,) bool)."""
    uv, z = camera.project_world(np.asarray(xyz_world, np.float64).reshape(-1, 3))
    front = np.isfinite(uv).all(axis=1) & (z > 0)
    uv = np.where(front[:, None], uv, -1e9)
    col, row = np.rint(uv[:, 0]).astype(np.int64), np.rint(uv[:, 1]).astype(np.int64)
    inside = front & (col >= 0) & (col < camera.width) & (row >= 0) & (row < camera.height)
    return uv, front, col, row, inside


def inside_mask(camera, xyz_world, mask: np.ndarray) -> np.ndarray:
    """(N,) bool: the point projects in front of the camera, on the image, inside ``mask``."""
    _, _, col, row, inside = _pixels(camera, xyz_world)
    hit = np.zeros(len(col), bool)
    hit[inside] = mask[row[inside], col[inside]]
    return hit


def extent(camera, xyz_world) -> float:
    """Share of the image's long side spanned (5th-95th percentile) by the points in front."""
    uv, front, *_ = _pixels(camera, xyz_world)
    if front.sum() < 3:
        return 0.0
    lo, hi = np.percentile(uv[front], [5, 95], axis=0)
    return float(np.max(hi - lo) / max(camera.width, camera.height))


def finite_median(values) -> float:
    """Median of the finite values (NaN when there is none)."""
    values = np.asarray(values, float)
    return float(np.median(values[np.isfinite(values)])) if np.isfinite(values).any() else float("nan")


class MaskCheck:
    """World points (registered mesh, point cloud) inside every view's mask."""

    name = "inside_mask"

    def __init__(self, points: list, masks: list, tolerance: float):
        self.points = points
        self.masks = [[dilate(m, _tolerance_px(m, tolerance)) for m in per] for per in masks]

    def __call__(self, cameras):
        value = [finite_median([inside_mask(cam, p, m).mean() if len(p) else np.nan
                          for p, m in zip(self.points, masks)]) for cam, masks in zip(cameras, self.masks)]
        ext = [finite_median([extent(cam, p) for p in self.points]) for cam in cameras]
        return np.array([value]), np.array(ext)

    def overlay(self, cameras, c, k):
        uv = _pixels(cameras[c], self.points[k])[0]
        return uv, inside_mask(cameras[c], self.points[k], self.masks[c][k])


class DepthCheck:
    """Each view's depth map (inside its mask) unprojected and projected into every other view,
    where a point must land inside the mask and not in front of that view's depth by more than
    ``margin`` metres or two pixels' footprint (free space); a camera's figure is its best partner's
    ``min(share of mine that fit theirs, share of theirs that fit mine)``."""

    name = "inside_mask"

    def __init__(self, depths: list, masks: list, tolerance: float, max_points: int, margin: float = 0.01):
        self.depths, self.margin = depths, float(margin)
        self.samples = []  # per camera, per frame: (uv (N,2), z (N,))
        for per_d, per_m in zip(depths, masks):
            rows = []
            for d, m in zip(per_d, per_m):
                r, c = np.nonzero(m & np.isfinite(d) & (d > 0))
                keep = slice(None, None, max(1, int(np.ceil(len(r) / max_points))))
                rows.append((np.stack([c[keep], r[keep]], 1).astype(np.float64), d[r[keep], c[keep]]))
            self.samples.append(rows)
        self.masks = [[dilate(m, _tolerance_px(m, tolerance)) for m in per] for per in masks]

    def _points(self, cameras):
        return [[cam.cam_to_world(cam.unproject(uv, z)) for uv, z in rows]
                for cam, rows in zip(cameras, self.samples)]

    def __call__(self, cameras):
        pts, C = self._points(cameras), len(cameras)
        share = np.full((C, C), np.nan)  # share[j, i]: camera j's points inside camera i's mask
        for j in range(C):
            for i in range(C):
                if i != j:
                    share[j, i] = finite_median([self._fits(cameras[i], p, i, k).mean() if len(p) else np.nan
                                           for k, p in enumerate(pts[j])])
        pair = np.fmin(share, share.T)
        value, ext = np.full(C, np.nan), np.zeros(C)
        for i in range(C):
            if np.isfinite(pair[i]).any():
                j = int(np.nanargmax(pair[i]))
                value[i] = pair[i, j]
                ext[i] = finite_median([extent(cameras[i], p) for p in pts[j]])
        return value[None], ext

    def _fits(self, camera, xyz_world, i, k) -> np.ndarray:
        """(N,) bool: inside camera ``i``'s mask at frame ``k`` and not in front of its depth."""
        _, _, col, row, inside = _pixels(camera, xyz_world)
        ok = inside_mask(camera, xyz_world, self.masks[i][k])
        seen = np.full(len(col), np.nan)
        seen[inside] = self.depths[i][k][row[inside], col[inside]]
        z = camera.world_to_cam(xyz_world)[:, 2]
        margin = np.maximum(self.margin, 2.0 * np.abs(z) / camera.K[0, 0])  # at least two pixels' footprint
        with np.errstate(invalid="ignore"):
            return ok & ~(z < seen - margin)

    def overlay(self, cameras, c, k):
        pts = self._points(cameras)
        n = 1500 // max(1, len(cameras) - 1)
        others = [subsample(pts[j][k], n) for j in range(len(cameras)) if j != c]
        p = np.concatenate(others) if others else np.zeros((0, 3))
        return _pixels(cameras[c], p)[0], self._fits(cameras[c], p, c, k)


class PhotoCheck:
    """The grey value (texture, shading removed) each surface point visible in a view takes
    there, correlated with the best other view over the points both see.  The surface is a
    mesh (``faces``; visibility by ray casting) or a point cloud (``faces`` None; visibility by
    a z-buffer of the points; ``normals`` optional)."""

    name = "photo_r"
    MIN_SHARED = 30
    MIN_COS = 0.4   # points seen at a grazing angle (over ~66 degrees) are left out
    BAND = 0.04     # shading removed: grey minus its blur at this share of the long side

    def __init__(self, points: list, faces, images: list, max_points: int, normals: list | None = None):
        from facebench.geometry import Raycaster, vertex_normals

        full = [np.asarray(p, np.float64) for p in points]
        self.ids = [np.arange(0, len(p), max(1, int(np.ceil(len(p) / max_points)))) for p in full]
        self.points = [p[i] for p, i in zip(full, self.ids)]
        if faces is not None:
            self.casters = [Raycaster(p, faces) for p in full]
            normals = [vertex_normals(p, faces) for p in full]
        else:
            self.casters = None
        self.normals = None if normals is None else \
            [np.asarray(n, np.float64)[i] for n, i in zip(normals, self.ids)]
        self.grey = [[band_pass(im.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]), self.BAND)
                      for im in per] for per in images]

    def visible(self, camera, k) -> np.ndarray:
        """(N,) bool: the point is on the image, not hidden, and not seen at a grazing angle."""
        p = self.points[k]
        _, front, col, row, inside = _pixels(camera, p)
        d = p - camera.center_world
        dist = np.linalg.norm(d, axis=1)
        ray = d / np.maximum(dist, 1e-12)[:, None]
        if self.casters is not None:
            t, _, _ = self.casters[k].intersect(camera.center_world, ray)
            seen = inside & (t >= dist - np.maximum(2e-3, 1e-3 * dist))
        else:
            seen = inside & zbuffer_front(col, row, camera.world_to_cam(p)[:, 2], inside, camera)
        if self.normals is not None:
            seen &= np.abs(np.sum(self.normals[k] * ray, axis=1)) >= self.MIN_COS
        return seen

    def __call__(self, cameras):
        C, K = len(cameras), len(self.points)
        per = np.full((C, K), np.nan)
        ext = np.zeros((C, K))
        for k in range(K):
            g = self._grey(cameras, k)
            for c, cam in enumerate(cameras):
                seen = np.isfinite(g[c])
                ext[c, k] = extent(cam, self.points[k][seen]) if seen.sum() >= 3 else 0.0
            for c in range(C):
                best = [_corr(g[c], g[j]) for j in range(C) if j != c]
                per[c, k] = np.nanmax(best) if np.isfinite(best).any() else np.nan
        return np.array([[finite_median(r) for r in per]]), np.median(ext, axis=1)

    def _grey(self, cameras, k) -> list:
        """Per camera, the grey value of every point at frame ``k`` (NaN where not visible)."""
        out = []
        for c, cam in enumerate(cameras):
            g = np.full(len(self.points[k]), np.nan)
            vis = self.visible(cam, k)
            if vis.any():
                g[vis] = bilinear(self.grey[c][k], cam.project_world(self.points[k][vis])[0])
            out.append(g)
        return out

    def overlay(self, cameras, c, k):
        """Visible points; good where their (standardized) grey value is within one standard
        deviation of the best other view's."""
        g = self._grey(cameras, k)
        vis = np.isfinite(g[c])
        rs = [_corr(g[c], g[j]) if j != c else np.nan for j in range(len(cameras))]
        good = np.zeros(len(g[c]), bool)
        if np.isfinite(rs).any():
            j = int(np.nanargmax(rs))
            both = vis & np.isfinite(g[j])
            a, b = g[c][both], g[j][both]
            za, zb = (a - a.mean()) / max(a.std(), 1e-6), (b - b.mean()) / max(b.std(), 1e-6)
            good[both] = np.abs(za - zb) < 1.0
        return cameras[c].project_world(self.points[k][vis])[0], good[vis]


def zbuffer_front(col, row, z, inside, camera, margin: float = 0.01) -> np.ndarray:
    """(N,) bool: the point is within ``margin`` metres of the nearest point landing in its cell
    (cells of ~1% of the long side, so a sparse cloud's back side does not show through)."""
    cell = max(1, int(round(0.01 * max(camera.width, camera.height))))
    key = (row // cell) * (camera.width // cell + 1) + col // cell
    near = np.full(int(key[inside].max()) + 1 if inside.any() else 1, np.inf)
    np.minimum.at(near, key[inside], z[inside])
    out = np.zeros(len(z), bool)
    out[inside] = z[inside] <= near[key[inside]] + margin
    return out


class Both:
    """Two checks on the same cameras: their figures stacked, the first one's extent and overlay."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def __call__(self, cameras):
        v1, e1 = self.first(cameras)
        v2, _ = self.second(cameras)
        return np.vstack([v1, v2]), e1

    def overlay(self, cameras, c, k):
        return self.first.overlay(cameras, c, k)


def band_pass(grey: np.ndarray, sigma: float) -> np.ndarray:
    """``grey`` (H,W) lightly smoothed minus its blur at ``sigma`` x the long side (texture, not
    shading: a face's smooth shading correlates with any nearby wrong placement)."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(grey, 0.5) - gaussian_filter(grey, sigma * max(grey.shape))


def bilinear(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """``image`` (H,W) sampled at pixel positions ``uv`` (N,2) (clamped to the image)."""
    H, W = image.shape
    u = np.clip(uv[:, 0], 0, W - 1.000001)
    v = np.clip(uv[:, 1], 0, H - 1.000001)
    u0, v0 = np.floor(u).astype(int), np.floor(v).astype(int)
    fu, fv = u - u0, v - v0
    top = image[v0, u0] * (1 - fu) + image[v0, u0 + 1] * fu
    bottom = image[v0 + 1, u0] * (1 - fu) + image[v0 + 1, u0 + 1] * fu
    return top * (1 - fv) + bottom * fv


def _corr(a: np.ndarray, b: np.ndarray, min_shared: int = PhotoCheck.MIN_SHARED) -> float:
    both = np.isfinite(a) & np.isfinite(b)
    if both.sum() < min_shared:
        return np.nan
    a, b = a[both] - a[both].mean(), b[both] - b[both].mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 1e-6 * both.sum() else np.nan
