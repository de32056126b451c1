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


class Remap:
    """Sampling of an (H,W) image at ``source`` (H',W',2) pixel positions, prepared once per
    camera and image size: the four neighbours' flat indices and bilinear weights."""

    def __init__(self, source: np.ndarray, height: int, width: int):
        su, sv = source[..., 0], source[..., 1]
        self.shape, self.size = source.shape[:2], (height, width)
        self.inside = ((su > -0.5) & (su < width - 0.5) & (sv > -0.5) & (sv < height - 0.5)).ravel()
        u0 = np.clip(np.floor(su), 0, width - 1).astype(np.intp)
        v0 = np.clip(np.floor(sv), 0, height - 1).astype(np.intp)
        u1, v1 = np.minimum(u0 + 1, width - 1), np.minimum(v0 + 1, height - 1)
        fu = np.clip(su - u0, 0.0, 1.0).astype(np.float32).ravel()
        fv = np.clip(sv - v0, 0.0, 1.0).astype(np.float32).ravel()
        self.index = [(v * width + u).ravel() for v, u in ((v0, u0), (v0, u1), (v1, u0), (v1, u1))]
        self.weight = [(1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv]
        nu = np.clip(np.rint(su), 0, width - 1).astype(np.intp)
        nv = np.clip(np.rint(sv), 0, height - 1).astype(np.intp)
        self.nearest_index = (nv * width + nu).ravel()

    def __call__(self, image: np.ndarray, nearest: bool = False) -> np.ndarray:
        """``image`` (H,W[,C]) resampled; 0 where the source is outside; same dtype."""
        if image.shape[:2] != self.size:
            raise ValueError(f"image is {image.shape[:2]}, the remap was prepared for {self.size}")
        flat = image.reshape(self.size[0] * self.size[1], -1)
        if nearest:
            out = flat[self.nearest_index]
        else:
            acc = np.zeros((len(self.inside), flat.shape[1]), np.float32)
            for idx, w in zip(self.index, self.weight):
                acc += flat[idx].astype(np.float32) * w[:, None]
            if np.issubdtype(image.dtype, np.integer):
                info = np.iinfo(image.dtype)
                acc = np.clip(np.rint(acc), info.min, info.max)
            out = acc.astype(image.dtype)
        out[~self.inside] = 0
        return out.reshape(self.shape + image.shape[2:])
