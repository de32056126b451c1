"""Depth Anything 3 input preprocessing, reimplemented (the ``upper_bound_resize`` path).

Upstream (``depth_anything_3/utils/io/input_processor.py``, v0.1.1) resizes the
long side to ``process_res`` (INTER_AREA when shrinking, INTER_CUBIC when
enlarging, sizes ``int(round(side * scale))``), then rounds each side to the
nearest multiple of 14 with a second small resize (ties round up), scales ``K``
row-wise at each step (``K[0] *= w_new / w_old``, ``K[1] *= h_new / h_old``) and
normalises with the ImageNet mean and std.  The network's outputs stay at that
resolution; :func:`resize_back` returns them to the clip's.
"""

from __future__ import annotations

import numpy as np

PATCH = 14
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def _nearest_multiple(x: int, p: int = PATCH) -> int:
    down = (x // p) * p
    up = down + p
    return max(p, up if abs(up - x) <= abs(x - down) else down)


def process_size(width: int, height: int, process_res: int = 504) -> tuple[tuple[int, int], tuple[int, int]]:
    """((w, h) after the long-side resize, (w, h) after rounding to multiples of 14)."""
    longest = max(width, height)
    w, h = width, height
    if longest != process_res:
        scale = process_res / float(longest)
        w, h = max(1, int(round(width * scale))), max(1, int(round(height * scale)))
    return (w, h), (_nearest_multiple(w), _nearest_multiple(h))


def scale_K(K, size_from: tuple[int, int], size_to: tuple[int, int]) -> np.ndarray:
    """``K`` for an image resized from (w, h) ``size_from`` to ``size_to``, row-wise as upstream does."""
    K = np.array(K, dtype=np.float64)
    K[0] *= size_to[0] / float(size_from[0])
    K[1] *= size_to[1] / float(size_from[1])
    return K


def _resize(image: np.ndarray, size: tuple[int, int], enlarge: bool) -> np.ndarray:
    from facebench.errors import require

    cv2 = require("cv2", "faceanything")
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC if enlarge else cv2.INTER_AREA)


def preprocess(images, K=None, process_res: int = 504):
    """Network input for one clip.

    Args:
        images: (T,H,W,3) uint8 RGB.
        K: optional (3,3) intrinsics of the clip.
        process_res: long side the network sees before rounding to multiples of 14.
    Returns:
        (x (T,3,h,w) float32 normalised, K (3,3) at (w, h) or None, (w, h)).
    """
    images = np.asarray(images)
    T, H, W = images.shape[:3]
    (w1, h1), (w2, h2) = process_size(W, H, process_res)
    out = []
    for frame in images:
        img = frame
        if (w1, h1) != (W, H):
            img = _resize(img, (w1, h1), enlarge=process_res > max(W, H))
        if (w2, h2) != (w1, h1):
            img = _resize(img, (w2, h2), enlarge=w2 > w1 or h2 > h1)
        out.append((img.astype(np.float32) / 255.0 - MEAN) / STD)
    x = np.stack(out).transpose(0, 3, 1, 2).astype(np.float32)
    if K is not None:
        K = scale_K(scale_K(K, (W, H), (w1, h1)), (w1, h1), (w2, h2))
    return x, K, (w2, h2)


def resize_back(maps, height: int, width: int):
    """(T,h,w) or (T,h,w,C) torch or numpy maps -> float32 numpy at (height, width), bilinear,
    pixel-centre aligned (``align_corners=False``)."""
    import torch
    import torch.nn.functional as F

    t = torch.as_tensor(np.asarray(maps, dtype=np.float32) if not torch.is_tensor(maps) else maps).float()
    channels_last = t.ndim == 4
    t = t.permute(0, 3, 1, 2) if channels_last else t[:, None]
    if tuple(t.shape[-2:]) != (height, width):
        t = F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)
    t = t.permute(0, 2, 3, 1) if channels_last else t[:, 0]
    return t.cpu().numpy().astype(np.float32)
