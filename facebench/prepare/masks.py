"""Foreground masks for captures without alpha maps (NeRSemble v2: videos + a BACKGROUND plate).

:func:`foreground_masks` separates the subject from the camera's ``BACKGROUND``
image in a way that survives what real footage does to a plain colour difference:

* **exposure**: the plate was taken at another moment; a per-channel gain between
  plate and frame is estimated robustly from the pixels that agree (twice, the second
  time from the first pass's background);
* **shadows** the subject casts on the wall: a shadow keeps the background's
  chromaticity and scales its brightness smoothly (Horprasert et al.'s
  brightness/chromaticity distortion), so pixels whose colour is the plate's times a
  factor in ``[shadow_min, 1]`` that varies smoothly (no texture of its own: hair of
  the wall's hue has some) are background unless the person segmentation says otherwise;
* **noise and video compression**: both images are blurred slightly and the threshold is
  ``noise_k`` times the noise measured on the background pixels themselves.

Then MediaPipe's selfie segmentation (``facebench[landmarks]``) refines it: a pixel the
colour test calls foreground needs some person probability (``seg_low``; removes
specks, reflections), and an ambiguous shadow-like pixel becomes foreground where the
segmentation is sure (``seg_high``; dark hair against a grey wall).  Without a plate
the segmentation alone gives the mask (documented fallback: coarser edges).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MaskConfig:
    """Knobs of :func:`foreground_masks` (colours in [0, 1])."""

    blur_px: float = 1.0  # Gaussian blur of frame and plate (noise, compression blocks)
    noise_k: float = 5.0  # threshold = noise_k x the background's noise, at least min_difference
    min_difference: float = 0.035
    shadow_min: float = 0.5  # darkest brightness ratio a cast shadow may have
    shadow_texture: float = 3.0  # a shadow's brightness ratio varies less than this x the wall's noise
    segmentation: bool = True  # refine with MediaPipe selfie segmentation
    seg_low: float = 0.1
    seg_high: float = 0.85
    open_px: int = 1
    close_px: int = 2
    min_component: float = 0.02  # components smaller than this share of the largest are dropped


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    from scipy import ndimage

    x = np.asarray(image, np.float32) / 255.0
    return ndimage.gaussian_filter(x, (sigma, sigma, 0)) if sigma > 0 else x


def _gain(frame: np.ndarray, plate: np.ndarray, agree: np.ndarray) -> np.ndarray:
    """Per-channel exposure gain plate -> frame, median over ``agree`` pixels."""
    sel = agree & (plate.min(-1) > 0.02)
    if sel.sum() < 100:
        return np.ones(3, np.float32)
    return np.median(frame[sel] / plate[sel], axis=0).astype(np.float32)


def colour_foreground(frame: np.ndarray, plate: np.ndarray, config: MaskConfig = MaskConfig()):
    """Background-difference test of one frame: ``(foreground (H,W) bool, shadow_like (H,W) bool)``.

    frame, plate (H,W,3) uint8 in the same colour space (colour calibration applied to both).
    """
    I, B = _blur(frame, config.blur_px), _blur(plate, config.blur_px)
    agree = np.abs(I - B).max(-1) < 0.1
    for _ in range(2):
        gB = B * _gain(I, B, agree)
        alpha = (I * gB).sum(-1) / np.maximum((gB * gB).sum(-1), 1e-6)  # brightness distortion
        chroma = np.linalg.norm(I - alpha[..., None] * gB, axis=-1)  # chromaticity distortion
        diff = np.linalg.norm(I - gB, axis=-1)
        bg = agree & np.isfinite(diff)
        if bg.sum() > 100:
            sigma = 1.4826 * np.median(np.abs(diff[bg] - np.median(diff[bg])))
            smooth = config.shadow_texture * float(np.median(_texture(alpha, bg, 2)[bg]))
        else:
            sigma, smooth = 0.01, 0.03
        tau = max(config.min_difference, config.noise_k * float(sigma))
        changed = diff > tau
        candidate = changed & (chroma <= tau) & (alpha >= config.shadow_min) & (alpha < 1.0)
        shadow_like = candidate & (_texture(alpha, candidate | ~changed, 2) <= smooth)
        fg = changed & ~shadow_like
        agree = ~changed
    return fg, shadow_like


def _texture(x: np.ndarray, valid: np.ndarray, radius: int) -> np.ndarray:
    """Local mean of |second differences| of ``x`` along rows and columns, over ``valid`` pixel
    triples only: high on texture, zero on smooth ramps (a shadow's penumbra), and blind to the
    edge between a shadow and the subject next to it (the subject's pixels are not ``valid``)."""
    from scipy import ndimage

    total = np.zeros(x.shape, np.float32)
    count = np.zeros(x.shape, np.float32)
    for axis in (0, 1):
        a, b, c = (np.roll(x, s, axis) for s in (1, 0, -1))
        ok = valid & np.roll(valid, 1, axis) & np.roll(valid, -1, axis)
        edge = [slice(None)] * 2
        edge[axis] = [0, -1]
        ok[tuple(edge)] = False
        total += np.where(ok, np.abs(a - 2 * b + c), 0)
        count += ok
    size = 2 * radius + 1
    return ndimage.uniform_filter(total, size) / np.maximum(ndimage.uniform_filter(count, size), 1e-6)


def _clean(fg: np.ndarray, config: MaskConfig) -> np.ndarray:
    from scipy import ndimage

    if config.open_px > 0:
        fg = ndimage.binary_opening(fg, iterations=config.open_px)
    if config.close_px > 0:  # padded by edge values: the subject may leave the image (shoulders)
        r = config.close_px
        fg = ndimage.binary_closing(np.pad(fg, r, mode="edge"), iterations=r)[r:-r, r:-r]
    labels, n = ndimage.label(fg)
    if n > 1:
        sizes = ndimage.sum_labels(fg, labels, index=np.arange(1, n + 1))
        keep = np.flatnonzero(sizes >= config.min_component * sizes.max()) + 1
        fg = np.isin(labels, keep)
    return ndimage.binary_fill_holes(fg)


def foreground_masks(images: np.ndarray, plate: np.ndarray | None, config: MaskConfig = MaskConfig(),
                     person: np.ndarray | None = None) -> np.ndarray:
    """(T,H,W) float32 in {0, 1}: the subject in each frame of one camera.

    images (T,H,W,3) uint8; plate (H,W,3) uint8 BACKGROUND image or None (segmentation only);
    person: optional (T,H,W) person probabilities (computed with MediaPipe when
    ``config.segmentation`` and not given).
    """
    images = np.asarray(images)
    if person is None and (config.segmentation or plate is None):
        from facebench.adapters.mediapipe import segment_person

        person = segment_person(images)
    out = np.zeros(images.shape[:3], np.float32)
    for t, frame in enumerate(images):
        if plate is None:
            fg = person[t] >= 0.5
        else:
            fg, shadow_like = colour_foreground(frame, plate, config)
            if person is not None:
                fg = (fg & (person[t] >= config.seg_low)) | (shadow_like & (person[t] >= config.seg_high))
        out[t] = _clean(fg, config)
    return out
