"""Pictures of maps: depth and canonical coordinates as RGB, track overlays, labelled tiles.

Everything here works on numpy arrays and returns uint8 RGB images (H, W, 3);
drawing uses Pillow.  Invalid (NaN) pixels are shown in ``INVALID_RGB``.
"""

from __future__ import annotations

import numpy as np

INVALID_RGB = (40, 40, 40)
LABEL_H = 18          # height of the caption strip above each tile, pixels
TITLE_H = 22          # height of the title strip above a panel, pixels
GAP = 4               # white space between tiles, pixels
TARGET_SIDE = 256     # small clips are upscaled (integer factor) towards this long side


def upscale_factor(height: int, width: int) -> int:
    """Integer nearest-neighbour zoom making the long side about TARGET_SIDE (never below 1)."""
    return max(1, round(TARGET_SIDE / max(height, width)))


def panel_size(n_columns: int, height: int, width: int) -> tuple[int, int]:
    """(width, height) in pixels of a panel of ``n_columns`` tiles of a (height, width) clip."""
    k = upscale_factor(height, width)
    return n_columns * width * k + (n_columns - 1) * GAP, TITLE_H + LABEL_H + height * k


def depth_range(*depths) -> tuple[float, float]:
    """(near, far) from the 1st / 99th percentiles of the first map with valid pixels."""
    for depth in depths:
        if depth is None:
            continue
        valid = np.asarray(depth, np.float64)
        valid = valid[np.isfinite(valid)]
        if valid.size:
            near, far = np.percentile(valid, [1, 99])
            return float(near), float(max(far, near + 1e-6))
    return 0.0, 1.0


def depth_to_rgb(depth, near: float, far: float) -> np.ndarray:
    """(H,W) metres -> (H,W,3) uint8 with the turbo colour map (near = blue); NaN in grey."""
    from matplotlib import colormaps

    depth = np.asarray(depth, np.float64)
    t = np.clip((depth - near) / (far - near), 0.0, 1.0)
    rgb = (colormaps["turbo"](np.nan_to_num(t))[..., :3] * 255).round().astype(np.uint8)
    rgb[~np.isfinite(depth)] = INVALID_RGB
    return rgb


def canonical_to_rgb(canonical) -> np.ndarray:
    """(...,3) normalized canonical coordinates in [-1, 1] -> RGB uint8 (x->red, y->green, z->blue)."""
    c = np.asarray(canonical, np.float64)
    rgb = (np.clip((np.nan_to_num(c) + 1.0) / 2.0, 0.0, 1.0) * 255).round().astype(np.uint8)
    rgb[~np.all(np.isfinite(c), axis=-1)] = INVALID_RGB
    return rgb


def blank(height: int, width: int, text: str = "") -> np.ndarray:
    """A grey tile, used where a map is absent (e.g. a prediction without depth)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), INVALID_RGB)
    if text:
        ImageDraw.Draw(img).text((4, height // 2 - 6), text, fill=(200, 200, 200))
    return np.asarray(img)


def zoom(rgb: np.ndarray, k: int) -> np.ndarray:
    """Nearest-neighbour integer upscaling."""
    return rgb if k == 1 else np.repeat(np.repeat(rgb, k, axis=0), k, axis=1)


def draw_tracks(rgb: np.ndarray, k: int, xy_gt=None, xy_pred=None, colors=None, max_tracks=400) -> np.ndarray:
    """Overlay points on an (already zoomed by ``k``) image.

    ``xy_gt`` / ``xy_pred``: (N,2) pixel coordinates in the original clip, NaN where a
    point is not shown.  GT points are filled dots, predictions are rings, joined to
    their GT point by a line; ``colors`` (N,3) uint8 colours each track.
    """
    from PIL import Image, ImageDraw

    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    n = len(xy_gt) if xy_gt is not None else (len(xy_pred) if xy_pred is not None else 0)
    if n == 0:
        return rgb
    keep = np.linspace(0, n - 1, min(n, max_tracks)).round().astype(int)
    colors = np.full((n, 3), 255, np.uint8) if colors is None else np.asarray(colors, np.uint8)
    r = max(2, k)

    def to_zoomed(p):
        return p[0] * k + (k - 1) / 2, p[1] * k + (k - 1) / 2

    for i in keep:
        color = tuple(int(v) for v in colors[i])
        g = None if xy_gt is None or not np.all(np.isfinite(xy_gt[i])) else to_zoomed(xy_gt[i])
        p = None if xy_pred is None or not np.all(np.isfinite(xy_pred[i])) else to_zoomed(xy_pred[i])
        if g is not None and p is not None:
            draw.line([g, p], fill=color, width=1)
        if g is not None:
            draw.ellipse([g[0] - r, g[1] - r, g[0] + r, g[1] + r], fill=color, outline=(0, 0, 0))
        if p is not None:
            draw.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], outline=color, width=2)
    return np.asarray(img)


def compose(tiles: list[tuple[str, np.ndarray]], title: str) -> np.ndarray:
    """Tiles of equal size side by side, each with a caption, under a title strip."""
    from PIL import Image, ImageDraw

    h, w = tiles[0][1].shape[:2]
    width = len(tiles) * w + (len(tiles) - 1) * GAP
    canvas = Image.new("RGB", (width, TITLE_H + LABEL_H + h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 5), title, fill=(0, 0, 0))
    for i, (caption, tile) in enumerate(tiles):
        x = i * (w + GAP)
        draw.text((x + 2, TITLE_H + 3), caption, fill=(60, 60, 60))
        tile = np.ascontiguousarray(tile[..., :3], dtype=np.uint8)
        canvas.paste(Image.fromarray(tile), (x, TITLE_H + LABEL_H))
    return np.asarray(canvas)
