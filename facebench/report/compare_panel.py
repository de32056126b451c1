"""The comparison panel of one clip: a GT row, then one row per method, same colour scales.

Columns: image | depth | canonical | depth error | canonical error | tracks.  In
the GT row the two error columns hold the colour bars of the error maps below
them, so every method's error is read against the same scale.
"""

from __future__ import annotations

import numpy as np

from facebench.report import images

ERROR_CMAP = "YlOrRd"       # pale = small error, dark red = at or above the scale's maximum
COLUMNS = ("image", "depth", "canonical", "depth error", "canonical error", "tracks")


def error_to_rgb(err, vmax: float) -> np.ndarray:
    """(H,W) error -> (H,W,3) uint8 on ``ERROR_CMAP`` from 0 to ``vmax``; NaN in grey."""
    from matplotlib import colormaps

    err = np.asarray(err, np.float64)
    t = np.clip(np.nan_to_num(err) / max(vmax, 1e-12), 0.0, 1.0)
    rgb = (colormaps[ERROR_CMAP](t)[..., :3] * 255).round().astype(np.uint8)
    rgb[~np.isfinite(err)] = images.INVALID_RGB
    return rgb


def colour_bar(height: int, width: int, vmax: float, unit: str = "mm") -> np.ndarray:
    """A tile with a vertical colour bar from 0 (bottom) to ``vmax`` (top) and three labels."""
    from PIL import Image, ImageDraw

    bar_w = max(10, width // 6)
    top, bottom = 8, height - 8
    ramp = np.linspace(vmax, 0.0, max(bottom - top, 2))[:, None].repeat(bar_w, axis=1)
    img = Image.new("RGB", (width, height), (255, 255, 255))
    img.paste(Image.fromarray(error_to_rgb(ramp, vmax)), (6, top))
    draw = ImageDraw.Draw(img)
    draw.rectangle([6, top, 6 + bar_w, top + ramp.shape[0]], outline=(0, 0, 0))
    for frac in (0.0, 0.5, 1.0):
        y = int(round(top + (1 - frac) * (ramp.shape[0] - 1)))
        draw.line([6 + bar_w, y, 10 + bar_w, y], fill=(0, 0, 0))
        label = f"{frac * vmax:g} {unit}" + ("+" if frac == 1.0 else "")
        draw.text((13 + bar_w, max(0, min(height - 11, y - 5))), label, fill=(0, 0, 0))
    return np.asarray(img)


def clip_panel(g: dict, rows: list, depth_vmax: float, canonical_vmax: float, title: str) -> np.ndarray:
    """Stack the GT row and one row per method into one RGB image.

    g: GT at the frame (``image``, ``depth``, ``canonical``, ``xy``, ``visible``, ``query_frame``,
    ``query_canonical``, ``t``); rows: [(method name, ClipErrors or None, caption)].
    """
    h, w = g["depth"].shape
    k = images.upscale_factor(h, w)
    near, far = images.depth_range(g["depth"])
    started = np.asarray(g["query_frame"]) <= g["t"]
    xy_gt = _points(g["xy"], np.asarray(g["visible"], bool) & started)
    colors = images.canonical_to_rgb(g["query_canonical"])
    image = images.zoom(g["image"], k)

    def depth_tile(d):
        if d is None:
            return _absent(h, w, k, "depth")
        return images.zoom(images.depth_to_rgb(d, near, far), k)

    def canon_tile(c):
        return images.zoom(images.canonical_to_rgb(c), k) if c is not None else _absent(h, w, k, "canonical")

    def err_tile(e, vmax, what):
        return images.zoom(error_to_rgb(e, vmax), k) if e is not None else _absent(h, w, k, what)

    strips = [images.compose([
        ("image", image), (f"GT depth {near:.2f}-{far:.2f} m", depth_tile(g["depth"])),
        ("GT canonical", canon_tile(g["canonical"])),
        ("depth error scale", colour_bar(h * k, w * k, depth_vmax)),
        ("canonical error scale", colour_bar(h * k, w * k, canonical_vmax)),
        ("GT tracks", images.draw_tracks(image, k, xy_gt, None, colors))], title)]
    for name, errs, caption in rows:
        if errs is None:
            tiles = [(c, _absent(h, w, k, "no predictions")) for c in COLUMNS]
        else:
            xy_pred = None
            if errs.tracks_xy is not None:
                xy_pred = _points(errs.tracks_xy, errs.tracks_visible & started)
            med = _median(errs.track_err_px)
            tiles = [("image", image), ("pred depth", depth_tile(errs.depth)),
                     ("pred canonical", canon_tile(errs.canonical)),
                     ("depth error (aligned)", err_tile(errs.depth_err_mm, depth_vmax, "depth")),
                     ("canonical error", err_tile(errs.canonical_err_mm, canonical_vmax, "canonical")),
                     ("tracks" + (f": median err {med:.1f} px" if med is not None else ""),
                      images.draw_tracks(image, k, xy_gt, xy_pred, colors) if xy_pred is not None
                      else _absent(h, w, k, "tracks"))]
        strips.append(images.compose(tiles, f"{name}  {caption}".strip()))
    return np.concatenate(strips, axis=0)


def _absent(h, w, k, what):
    return images.blank(h * k, w * k, f"no {what}" if not what.startswith("no ") else what)


def _points(xy, shown):
    xy = np.array(xy, np.float64, copy=True)
    xy[~np.asarray(shown, bool)] = np.nan
    return xy


def _median(values):
    if values is None:
        return None
    v = np.asarray(values)[np.isfinite(values)]
    return float(np.median(v)) if v.size else None
