"""What a real video camera adds to a synthetic view (the v2 layout: the public NeRSemble release).

The v1 and benchmark layouts store clean renders (their frames are PNGs, or
high-quality video next to alpha maps and point clouds).  The v2 layout is what
users download: only videos and a ``BACKGROUND`` image per camera, so what must
hold up is exactly what a clean render lacks:

* **sensor noise** in every frame, drawn per (camera, frame);
* **a cast shadow** of the subject on the studio background: the silhouette,
  shifted along the light and blurred, darkens the background behind the head;
* **a BACKGROUND plate** taken at another moment: its exposure differs by a few
  per cent and its noise is its own;
* **video compression**: x264 at CRF 20 (``layouts.VIDEO_CRF``, applied by the layout writer).

Everything is seeded from (seed, camera, frame), so captures are reproducible.
"""

from __future__ import annotations

import zlib

import numpy as np

NOISE_GREY = 1.6  # sensor noise, standard deviation in grey levels (8 bit)


def _rng(seed: int, serial: str, *keys) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(serial.encode()), *[int(k) for k in keys]])


def shadow_offset(seed: int, serial: str, width: int, height: int) -> tuple[float, float, float, float]:
    """The cast shadow of one camera: (dx, dy) pixels, blur sigma in pixels, darkening in [0, 1]."""
    rng = _rng(seed, serial, 83)
    scale = max(width, height)
    angle = rng.uniform(0.15, 0.85) * np.pi  # the key light is above: the shadow falls downwards
    length = rng.uniform(0.02, 0.05) * scale
    return (float(np.cos(angle) * length), float(np.sin(angle) * length), float(0.012 * scale),
            float(rng.uniform(0.22, 0.38)))


def cast_shadow(rgb: np.ndarray, foreground: np.ndarray, seed: int, serial: str) -> np.ndarray:
    """``rgb`` (H,W,3) uint8 with the subject's soft shadow on its background pixels."""
    from scipy import ndimage

    H, W = foreground.shape
    dx, dy, sigma, strength = shadow_offset(seed, serial, W, H)
    shadow = ndimage.shift(foreground.astype(np.float32), (dy, dx), order=1, mode="constant")
    shadow = ndimage.gaussian_filter(shadow, sigma)
    gain = 1.0 - strength * np.clip(shadow, 0, 1) * ~foreground
    return np.clip(rgb.astype(np.float32) * gain[..., None] + 0.5, 0, 255).astype(np.uint8)


def sensor_noise(rgb: np.ndarray, seed: int, serial: str, frame_id: int,
                 sigma: float = NOISE_GREY) -> np.ndarray:
    """``rgb`` (H,W,3) uint8 plus Gaussian sensor noise of ``sigma`` grey levels, seeded per frame."""
    noise = _rng(seed, serial, frame_id, 89).standard_normal(rgb.shape, dtype=np.float32) * np.float32(sigma)
    return np.clip(rgb.astype(np.float32) + noise + 0.5, 0, 255).astype(np.uint8)


def background_plate(background: np.ndarray, seed: int, serial: str) -> np.ndarray:
    """The BACKGROUND image as a camera took it: exposure off by 2-6 % and its own noise."""
    rng = _rng(seed, serial, 97)
    gain = 1.0 + rng.choice([-1.0, 1.0]) * rng.uniform(0.02, 0.06)
    plate = np.clip(background.astype(np.float32) * np.float32(gain) + 0.5, 0, 255).astype(np.uint8)
    return sensor_noise(plate, seed, serial, 2**31 - 1)  # a frame id no video has


def video_frame(rgb: np.ndarray, foreground: np.ndarray, seed: int, serial: str, frame_id: int) -> np.ndarray:
    """A clean render as a v2 video camera records it (before compression): shadow, then noise."""
    return sensor_noise(cast_shadow(rgb, foreground, seed, serial), seed, serial, frame_id)
