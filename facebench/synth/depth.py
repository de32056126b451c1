"""Depth maps as NeRSemble stores them, and the defects real multi-view stereo depth has.

Encoding (SPEC §3, COLMAP-style 16-bit PNG): ``q = 0`` is invalid, otherwise
``depth = (q - 1) / ((2**16 - 2) / 2)`` metres, so 0..2 m in steps of ~0.03 mm.
"""

from __future__ import annotations

import numpy as np

DEPTH_PNG_STEP = 2.0 / (2**16 - 2)  # metres per code
DEPTH_PNG_MAX = 2.0
FAR_BACKGROUND_M = 1.9  # depth of the studio wall behind the subject, for flying pixels


def encode_depth_png(depth: np.ndarray) -> np.ndarray:
    """(H,W) metres, NaN invalid -> (H,W) uint16 codes; depths outside (0, 2] m become invalid."""
    d = np.asarray(depth, dtype=np.float64)
    ok = np.isfinite(d) & (d > 0) & (d <= DEPTH_PNG_MAX)
    q = np.zeros(d.shape, np.uint16)
    q[ok] = np.clip(np.round(d[ok] / DEPTH_PNG_STEP) + 1, 1, 2**16 - 1).astype(np.uint16)
    return q


def decode_depth_png(q: np.ndarray) -> np.ndarray:
    """(H,W) uint16 codes -> (H,W) float32 metres, NaN where the code is 0."""
    q = np.asarray(q)
    d = (q.astype(np.float64) - 1.0) * DEPTH_PNG_STEP
    return np.where(q > 0, d, np.nan).astype(np.float32)


def degrade_depth(depth: np.ndarray, foreground: np.ndarray, rng: np.random.Generator,
                  noise_mm: float = 0.0, holes: float = 0.0, flying_pixels: bool = False) -> np.ndarray:
    """Make an exact depth map (H,W, NaN on background) look like MVS output.

    * ``noise_mm``: zero-mean Gaussian noise with this standard deviation (mm).
    * ``holes``: fraction of the foreground set invalid, in random smooth blobs
      (thresholding a blurred noise field at its ``holes`` quantile).
    * ``flying_pixels``: about half of the pixels on each side of the silhouette
      get a depth interpolated between the foreground and the far background.
    """
    from scipy import ndimage

    out = np.array(depth, dtype=np.float32)
    fg = np.asarray(foreground, bool) & np.isfinite(out)
    if flying_pixels and fg.any() and (~fg).any():
        near = ndimage.binary_dilation(fg) & ~fg
        inner = fg & ndimage.binary_dilation(~fg)
        idx = ndimage.distance_transform_edt(~fg, return_distances=False, return_indices=True)
        d_fg = out[idx[0], idx[1]]
        u_out = rng.uniform(0.05, 0.6, out.shape).astype(np.float32)
        u_in = rng.uniform(0.0, 0.35, out.shape).astype(np.float32)
        pick = rng.random(out.shape) < 0.5
        sel_out, sel_in = near & pick, inner & pick
        out[sel_out] = d_fg[sel_out] + u_out[sel_out] * (FAR_BACKGROUND_M - d_fg[sel_out])
        out[sel_in] = out[sel_in] + u_in[sel_in] * (FAR_BACKGROUND_M - out[sel_in])
    if noise_mm > 0:
        valid = np.isfinite(out)
        out[valid] += rng.normal(0.0, noise_mm / 1000.0, int(valid.sum())).astype(np.float32)
    if holes > 0 and fg.any():
        sigma = 0.03 * max(out.shape)
        field = ndimage.gaussian_filter(rng.standard_normal(out.shape), sigma=max(sigma, 1.0))
        cut = np.quantile(field[fg], min(holes, 1.0))
        out[fg & (field <= cut)] = np.nan
    return out
