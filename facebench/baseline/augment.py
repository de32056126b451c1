"""Domain randomisation of training windows: synthetic renders made to look like other footage.

Everything is drawn from one ``numpy.random.Generator`` (so a window's augmentation is a pure
function of ``(seed, index)``) and is the same for every frame of a window (one camera, one
lighting), except sensor noise.  Two steps:

* :func:`reframe` (before resizing, on the stored maps): a random zoom in or out about a random
  centre, as a different camera distance, focal length or face-detector crop would give; ``K``
  follows.  Pixels outside the original image become background (mask 0, maps NaN).
* :func:`photometric` (after resizing, on the model-sized window): the background replaced by
  random clutter; occluders (a skin-coloured "hand", dark "hair" strands) painted over the face,
  whose pixels become invalid for every target (not face, no depth, no canonical); colour, gamma,
  contrast, grey images, a directional shading ramp (other lighting), blur, sensor noise, and JPEG
  compression.
"""

from __future__ import annotations

import io

import numpy as np

ZOOM = (0.7, 1.4)  # crop side / image side: < 1 zooms in, > 1 zooms out (pads with background)


def reframe(rng, image, mask, depth, canonical, K):
    """Zoom the window's stored arrays (T,H,W,...) and its K; returns the same five, same H x W."""
    T, H, W = mask.shape
    s = rng.uniform(*ZOOM)
    h, w = H * s, W * s
    cy = H / 2 + rng.uniform(-0.15, 0.15) * H
    cx = W / 2 + rng.uniform(-0.15, 0.15) * W
    y0, x0 = cy - h / 2, cx - w / 2
    # output pixel (i, j) samples input pixel (y0 + (i + 0.5) * s - 0.5, ...): nearest neighbour
    rows = np.floor(y0 + (np.arange(H) + 0.5) * s).astype(int)
    cols = np.floor(x0 + (np.arange(W) + 0.5) * s).astype(int)
    inside = (rows[:, None] >= 0) & (rows[:, None] < H) & (cols[None] >= 0) & (cols[None] < W)
    r, c = np.clip(rows, 0, H - 1), np.clip(cols, 0, W - 1)

    def take(a, fill):
        out = a[:, r][:, :, c]
        out[:, ~inside] = fill
        return out

    K = np.array(K, np.float64)
    K[0, 0] /= s
    K[1, 1] /= s
    K[0, 2] = (K[0, 2] + 0.5 - x0) / s - 0.5
    K[1, 2] = (K[1, 2] + 0.5 - y0) / s - 0.5
    return take(image, 0), take(mask, 0), take(depth, np.nan), take(canonical, np.nan), K


def _smooth_noise(rng, h, w, cells, channels=3):
    """Low-frequency colour noise (h,w,channels) in [0,1]: random cells, bilinearly upsampled."""
    import torch
    import torch.nn.functional as F

    g = torch.from_numpy(rng.uniform(0, 1, (1, channels, cells, cells)).astype(np.float32))
    return F.interpolate(g, size=(h, w), mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()


def background(rng, h, w):
    """(h,w,3) float in [0,1]: a random backdrop (smooth colour clutter, a gradient, or flat)."""
    kind = rng.integers(3)
    if kind == 0:
        bg = _smooth_noise(rng, h, w, int(rng.integers(2, 12)))
        bg = 0.6 * bg + 0.4 * _smooth_noise(rng, h, w, int(rng.integers(12, 40)))
    elif kind == 1:
        a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        vertical = rng.uniform() < 0.5
        t = np.linspace(0, 1, h)[:, None, None] if vertical else np.linspace(0, 1, w)[None, :, None]
        bg = np.broadcast_to(a + (b - a) * t, (h, w, 3))
    else:
        bg = np.broadcast_to(rng.uniform(0, 1, 3), (h, w, 3))
    return np.clip(bg + rng.normal(0, 0.02, (h, w, 3)), 0, 1)


def _ellipse(h, w, cy, cx, ry, rx, angle):
    y, x = np.mgrid[0:h, 0:w]
    ca, sa = np.cos(angle), np.sin(angle)
    u, v = ((x - cx) * ca + (y - cy) * sa) / rx, (-(x - cx) * sa + (y - cy) * ca) / ry
    return u * u + v * v <= 1


def occluder(rng, face):
    """(h,w) bool: a hand-like blob or a few hair strands over the face pixels ``face`` (h,w)."""
    h, w = face.shape
    ys, xs = np.nonzero(face)
    if len(ys) < 20:
        return np.zeros((h, w), bool)
    cy, cx = ys.mean() + rng.normal(0, ys.std()), xs.mean() + rng.normal(0, xs.std())
    if rng.uniform() < 0.6:  # a hand: a palm and fingers
        ry, rx = rng.uniform(0.25, 0.6) * ys.std() * 2, rng.uniform(0.25, 0.6) * xs.std() * 2
        occ = _ellipse(h, w, cy, cx, ry, rx, rng.uniform(0, np.pi))
        for _ in range(int(rng.integers(0, 5))):
            a = rng.uniform(0, 2 * np.pi)
            occ |= _ellipse(h, w, cy + 1.2 * ry * np.sin(a), cx + 1.2 * rx * np.cos(a), 0.5 * ry,
                            0.18 * rx, a)
        return occ
    occ = np.zeros((h, w), bool)  # hair: a few long thin strands across the forehead / eyes
    for _ in range(int(rng.integers(2, 7))):
        occ |= _ellipse(h, w, cy + rng.normal(0, 3), cx + rng.normal(0, 5), rng.uniform(1, 2.5),
                        rng.uniform(0.3, 1.0) * xs.std() * 2, rng.uniform(-0.6, 0.6))
    return occ


def photometric(rng, image, mask, valid_depth, valid_canonical, p_occluder: float = 0.35):
    """Augment a model-sized window in place of its arrays.

    image (T,H,W,3) float in [0,1]; mask (T,H,W) uint8 shard labels (0 background);
    valid_depth, valid_canonical (T,H,W) bool.  Returns (image, mask, valid_depth, valid_canonical).
    """
    from PIL import Image, ImageFilter

    T, H, W, _ = image.shape
    image = image.copy()
    bg = background(rng, H, W)
    image = np.where((mask == 0)[..., None], bg[None], image)
    mask, valid_depth, valid_canonical = mask.copy(), valid_depth.copy(), valid_canonical.copy()
    if rng.uniform() < p_occluder:
        occ = occluder(rng, mask[0] == 1)
        hair = rng.uniform() < 0.5
        colour = rng.uniform([0.0, 0.0, 0.0], [0.3, 0.25, 0.2]) if hair else \
            rng.uniform([0.45, 0.3, 0.2], [0.95, 0.75, 0.6])
        shade = 0.75 + 0.5 * _smooth_noise(rng, H, W, 4, 1)
        image[:, occ] = np.clip(colour * shade[occ], 0, 1)
        mask[:, occ], valid_depth[:, occ], valid_canonical[:, occ] = 0, False, False
    # lighting and colour: one directional shading ramp, gains, gamma, contrast, saturation
    ang = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:H, 0:W]
    ramp = 1 + rng.uniform(0, 0.6) * ((x / W - 0.5) * np.cos(ang) + (y / H - 0.5) * np.sin(ang))
    image = image * ramp[None, :, :, None]
    image = image * rng.uniform(0.75, 1.25, 3) * rng.uniform(0.6, 1.3)
    image = np.clip(image, 0, 1) ** rng.uniform(0.7, 1.5)
    mean = image.mean(axis=(1, 2, 3), keepdims=True)
    image = (image - mean) * rng.uniform(0.7, 1.3) + mean
    grey = image.mean(axis=-1, keepdims=True)
    sat = 0.0 if rng.uniform() < 0.15 else rng.uniform(0.5, 1.3)
    image = np.clip(grey + sat * (image - grey), 0, 1)
    blur = rng.uniform(0, 1.2) if rng.uniform() < 0.5 else 0.0
    noise = rng.uniform(0, 0.03)
    quality = int(rng.integers(25, 95)) if rng.uniform() < 0.6 else None
    out = np.empty(image.shape, np.float32)
    for t in range(T):
        frame = np.clip(image[t] + rng.normal(0, noise, image[t].shape), 0, 1)
        pil = Image.fromarray((frame * 255 + 0.5).astype(np.uint8))
        if blur > 0.3:
            pil = pil.filter(ImageFilter.GaussianBlur(blur))
        if quality is not None:
            buf = io.BytesIO()
            pil.save(buf, format="JPEG", quality=quality)
            buf.seek(0)
            pil = Image.open(buf).convert("RGB")
        out[t] = np.asarray(pil, np.float32) / 255.0
    return out, mask, valid_depth, valid_canonical
