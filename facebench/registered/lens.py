"""Radial-tangential (OpenCV ``k1 k2 p1 p2 k3``) lens distortion removed from images, in numpy.

The output image is the pinhole image of the same ``K``: its pixel (u, v) takes the
value of the distorted image at the distorted position of the ray through (u, v),
sampled bilinearly (nearest for label images).  Pixels whose source lies outside the
image are 0.
"""

from __future__ import annotations

import numpy as np


def distorted_pixels(K: np.ndarray, dist, width: int, height: int) -> np.ndarray:
    """(H,W,2) positions in the distorted image of every pinhole pixel centre (SPEC pixels)."""
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    return distort_points(K, dist, np.stack([u, v], axis=-1))


def distort_points(K: np.ndarray, dist, uv: np.ndarray) -> np.ndarray:
    """Pinhole pixels uv (...,2) -> where the distorted image shows them (...,2)."""
    k1, k2, p1, p2, k3 = (list(map(float, dist)) + [0.0] * 5)[:5]
    uv = np.asarray(uv, dtype=np.float64)
    y = (uv[..., 1] - K[1, 2]) / K[1, 1]
    x = (uv[..., 0] - K[0, 2] - K[0, 1] * y) / K[0, 0]
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
    yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
    return np.stack([K[0, 0] * xd + K[0, 1] * yd + K[0, 2], K[1, 1] * yd + K[1, 2]], axis=-1)


def remap(image: np.ndarray, source: np.ndarray, nearest: bool = False) -> np.ndarray:
    """Sample ``image`` (H,W[,C]) at ``source`` (H',W',2) pixel positions; 0 outside; same dtype."""
    h, w = image.shape[:2]
    su, sv = source[..., 0], source[..., 1]
    inside = (su > -0.5) & (su < w - 0.5) & (sv > -0.5) & (sv < h - 0.5)
    if nearest:
        iu = np.clip(np.rint(su), 0, w - 1).astype(np.intp)
        iv = np.clip(np.rint(sv), 0, h - 1).astype(np.intp)
        out = image[iv, iu]
    else:
        u0 = np.clip(np.floor(su), 0, w - 1).astype(np.intp)
        v0 = np.clip(np.floor(sv), 0, h - 1).astype(np.intp)
        u1, v1 = np.minimum(u0 + 1, w - 1), np.minimum(v0 + 1, h - 1)
        fu = np.clip(su - u0, 0.0, 1.0).astype(np.float32)
        fv = np.clip(sv - v0, 0.0, 1.0).astype(np.float32)
        if image.ndim == 3:
            fu, fv = fu[..., None], fv[..., None]
        img = image.astype(np.float32)
        top = img[v0, u0] * (1 - fu) + img[v0, u1] * fu
        bottom = img[v1, u0] * (1 - fu) + img[v1, u1] * fu
        out = top * (1 - fv) + bottom * fv
        if np.issubdtype(image.dtype, np.integer):
            out = np.clip(np.rint(out), np.iinfo(image.dtype).min, np.iinfo(image.dtype).max)
        out = out.astype(image.dtype)
    mask = inside if image.ndim == 2 else inside[..., None]
    return np.where(mask, out, np.zeros((), image.dtype))
