"""What a person looks at after ``facebench predict``: an overlay video and a contact sheet.

Each frame is four tiles side by side: the image | depth (turbo, near = blue) |
canonical colours (x->red, y->green, z->blue) | the image with the tracks and
short trails (the last ``TRAIL`` frames; hollow where a point is predicted hidden).
Depth and canonical are drawn where the method's foreground (when it predicts one) is above 0.5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facebench.report.images import GAP, canonical_to_rgb, depth_range, depth_to_rgb

TRAIL = 6  # frames of trail behind each track
MAX_TRACKS = 150  # drawn per frame
FPS = 10


def track_colors(n: int) -> np.ndarray:
    """(n,3) uint8 distinct colours (HSV wheel)."""
    from matplotlib import colormaps

    return (colormaps["hsv"](np.linspace(0, 1, max(n, 1), endpoint=False))[:n, :3] * 255).astype(np.uint8)


def tracks_tile(image, xy, visible, t: int, colors, trail: int = TRAIL) -> np.ndarray:
    """image (H,W,3), xy (N,T,2), visible (N,T) -> (H,W,3) with frame t's points and trails."""
    from PIL import Image, ImageDraw

    img = Image.fromarray((np.asarray(image) * 0.6).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    n = len(xy)
    r = max(1.5, image.shape[0] / 160)
    for i in np.linspace(0, n - 1, min(n, MAX_TRACKS)).round().astype(int) if n else []:
        color = tuple(int(c) for c in colors[i])
        t0 = max(0, t - trail)
        path = [tuple(p) for p, v in zip(xy[i, t0 : t + 1], visible[i, t0 : t + 1]) if v]
        if len(path) > 1:
            draw.line(path, fill=color, width=1)
        x, y = xy[i, t]
        box = [x - r, y - r, x + r, y + r]
        if visible[i, t]:
            draw.ellipse(box, fill=color)
        else:
            draw.ellipse(box, outline=color)
    return np.asarray(img)


def shown_maps(out: dict, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame t's depth and canonical maps as drawn: where the method predicts a foreground
    probability (the transformer), only its pixels above 0.5; the maps elsewhere are the
    network's extrapolation over the background."""
    depth, canonical = out["depth"][t], out["canonical"][t]
    if out.get("foreground") is not None:
        face = np.asarray(out["foreground"][t]) > 0.5
        depth = np.where(face, depth, np.nan)
        canonical = np.where(face[..., None], canonical, np.nan)
    return depth, canonical


def frame_panel(images, out: dict, t: int, near_far, colors) -> np.ndarray:
    """One (H, 4W + 3 GAP, 3) uint8 row for frame t."""
    image = np.asarray(images[t])
    H, W = image.shape[:2]
    depth, canonical = shown_maps(out, t)
    tiles = [
        image,
        depth_to_rgb(depth, *near_far),
        canonical_to_rgb(canonical),
        tracks_tile(image, out["tracks_xy"], out["tracks_visible"], t, colors),
    ]
    row = np.full((H, 4 * W + 3 * GAP, 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        row[:, k * (W + GAP) : k * (W + GAP) + W] = tile
    return row


def _scale_for(H: int, W: int) -> float:
    """Shrink big frames (long side at most 480 per tile), enlarge tiny ones (at least 192)."""
    return min(480 / max(H, W), max(1.0, 192 / max(H, W)))


def _resize(row: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return row
    from PIL import Image

    h, w = row.shape[:2]
    return np.asarray(
        Image.fromarray(row).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
    )


def _even(row: np.ndarray, block: int = 16) -> np.ndarray:
    """Pad with white to multiples of ``block`` (H.264 in yuv420p wants even sizes)."""
    h, w = row.shape[:2]
    H, W = -(-h // block) * block, -(-w // block) * block
    if (H, W) == (h, w):
        return row
    padded = np.full((H, W, 3), 255, np.uint8)
    padded[:h, :w] = row
    return padded


def _rows(images, out: dict):
    """(T, row(t)): the overlay row of frame t at output size, colour ranges shared over the clip."""
    T, H, W = np.asarray(images).shape[:3]
    near_far = depth_range(np.stack([shown_maps(out, t)[0] for t in range(T)]))
    colors = track_colors(len(out["tracks_xy"]))
    scale = _scale_for(H, W)
    return T, lambda t: _resize(frame_panel(images, out, int(t), near_far, colors), scale)


def write_overlay_video(path, images, out: dict, fps: int = FPS) -> Path:
    """The overlay as an H.264 .mp4 (imageio-ffmpeg); returns its path."""
    import imageio_ffmpeg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    T, row_at = _rows(images, out)
    first = _even(row_at(0))
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (first.shape[1], first.shape[0]),
        fps=fps,
        macro_block_size=1,
        quality=7,
        ffmpeg_log_level="error",
    )
    writer.send(None)
    try:
        for t in range(T):
            row = first if t == 0 else _even(row_at(t))
            writer.send(np.ascontiguousarray(row))
    finally:
        writer.close()
    return path


def write_contact_sheet(path, images, out: dict, n_frames: int = 6) -> Path:
    """A PNG of ``n_frames`` evenly spaced frames, one overlay row each, with frame numbers."""
    from PIL import Image, ImageDraw

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    T, row_at = _rows(images, out)
    rows = []
    for t in np.unique(np.linspace(0, T - 1, min(n_frames, T)).round().astype(int)):
        row = Image.fromarray(row_at(t))
        ImageDraw.Draw(row).text((4, 4), f"frame {t}", fill=(255, 255, 255))
        rows.append(np.asarray(row))
    header = np.full((18, rows[0].shape[1], 3), 255, np.uint8)
    head = Image.fromarray(header)
    w = rows[0].shape[1] // 4
    for k, label in enumerate(("image", "depth", "canonical", "tracks")):
        ImageDraw.Draw(head).text((k * w + 4, 3), label, fill=(0, 0, 0))
    sheet = np.concatenate(
        [np.asarray(head)] + [np.concatenate([r, np.full((GAP, r.shape[1], 3), 255, np.uint8)]) for r in rows]
    )
    Image.fromarray(sheet).save(path)
    return path
