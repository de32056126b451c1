"""Pictures of the camera check: the capture's 3D evidence projected on each photo, and a contact sheet.

Points that agree with the view's own evidence (inside its mask, not in front of its depth,
within the landmark tolerance) are green, the others red; a mask's outline is yellow.  Small
images are upscaled (nearest) so that the points stay visible.
"""

from __future__ import annotations

import numpy as np

GOOD, BAD, OUTLINE = (40, 230, 90), (255, 60, 60), (255, 215, 0)
MIN_SIDE = 384  # overlays are upscaled to about this long side at least


def outline(mask: np.ndarray) -> np.ndarray:
    """(H,W) bool: the mask's boundary pixels (inside, with a 4-neighbour outside)."""
    m = np.asarray(mask, bool)
    pad = np.pad(m, 1, constant_values=False)
    inner = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return m & ~inner


def overlay(image: np.ndarray, uv: np.ndarray, good: np.ndarray, mask=None) -> np.ndarray:
    """``image`` (H,W,3) uint8 dimmed, ``mask`` outline, points ``uv`` (N,2) coloured by ``good`` (N,)."""
    from PIL import Image, ImageDraw

    h, w = image.shape[:2]
    k = max(1, int(np.ceil(MIN_SIDE / max(h, w))))
    rgb = (np.asarray(image, np.float32) * 0.7).astype(np.uint8)
    if mask is not None:
        rgb[outline(mask)] = OUTLINE
    img = Image.fromarray(rgb).resize((w * k, h * k), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    r = max(1.0, k * 0.35)
    uv = np.asarray(uv, np.float64).reshape(-1, 2)
    ok = np.isfinite(uv).all(axis=1) & (uv[:, 0] > -1) & (uv[:, 0] < w) & (uv[:, 1] > -1) & (uv[:, 1] < h)
    for (u, v), g in zip(uv[ok], np.asarray(good, bool).reshape(-1)[ok]):
        x, y = (u + 0.5) * k, (v + 0.5) * k  # pixel centres (SPEC section 1) on the zoomed image
        draw.ellipse([x - r, y - r, x + r, y + r], fill=GOOD if g else BAD)
    return np.asarray(img)


def caption(tile: np.ndarray, lines: list[str], flag: str) -> np.ndarray:
    """``tile`` with a caption strip above it (red when ``flag`` is "fail")."""
    from PIL import Image, ImageDraw

    h = 14 * len(lines) + 6
    strip = Image.new("RGB", (tile.shape[1], h), (150, 30, 30) if flag == "fail" else (40, 40, 40))
    draw = ImageDraw.Draw(strip)
    for i, line in enumerate(lines):
        draw.text((4, 3 + 14 * i), line, fill=(255, 255, 255))
    return np.concatenate([np.asarray(strip), tile], axis=0)


def contact_sheet(tiles: list, columns: int = 4, height: int = 320, title: str = "") -> np.ndarray:
    """Captioned tiles scaled to ``height`` and laid out ``columns`` per row, with a title strip."""
    from PIL import Image, ImageDraw

    scaled = []
    for t in tiles:
        img = Image.fromarray(t)
        scaled.append(img.resize((max(1, round(t.shape[1] * height / t.shape[0])), height), Image.BILINEAR))
    columns = max(1, min(columns, len(scaled)))
    cell_w, gap, top = max(s.width for s in scaled), 6, 8 + 14 * (title.count("\n") + 1)
    rows = (len(scaled) + columns - 1) // columns
    size = (columns * (cell_w + gap) + gap, top + rows * (height + gap) + gap)
    sheet = Image.new("RGB", size, (255, 255, 255))
    ImageDraw.Draw(sheet).multiline_text((gap, 5), title, fill=(0, 0, 0), spacing=2)
    for i, s in enumerate(scaled):
        r, c = divmod(i, columns)
        sheet.paste(s, (gap + c * (cell_w + gap), top + r * (height + gap)))
    return np.asarray(sheet)
