"""One picture of one clip at one frame: image | depth | canonical | tracks, GT next to prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError, InputError
from facebench.report import images

PRED_KEYS = ("depth", "canonical", "tracks_xy", "tracks_visible")
MAX_NPZ_BYTES = 1 << 34     # one clip's .npz; pictures are for trusted local files


def folder_kind(path) -> str:
    """"gt" (has manifest.json), "preds" (has meta.json) or "results" (a .json file)."""
    path = Path(path)
    if path.is_dir() and (path / "manifest.json").is_file():
        return "gt"
    if path.is_dir() and (path / "meta.json").is_file():
        return "preds"
    if path.is_file() and path.suffix == ".zip":
        return "preds"
    if path.is_file() and path.suffix == ".json":
        return "results"
    if not path.exists():
        raise InputError("does not exist", path)
    raise InputError("not a GT folder (manifest.json), predictions folder (meta.json) "
                     "or results record (.json)", path)


def default_gt_for(preds_dir) -> Path | None:
    """The GT folder of a predictions folder's benchmark under FACEBENCH_HOME, if prepared."""
    from facebench.settings import get_settings

    try:
        meta = read_meta(preds_dir)
    except FacebenchError:
        return None
    name = meta.get("benchmark")
    if not name:
        return None
    gt = get_settings().gt_dir(str(name))
    return gt if (gt / "manifest.json").is_file() else None


def read_meta(preds) -> dict:
    """``meta.json`` of a predictions folder or ``.zip``, checked."""
    from facebench.io.prediction_source import open_predictions

    with open_predictions(preds) as source:
        return source.meta()


def read_prediction_frame(preds, clip_id: str, frame: int) -> dict:
    """The prediction keys used for pictures at one frame (missing keys are absent)."""
    from facebench.io.prediction_source import open_predictions

    path = Path(preds) / f"{clip_id}.npz"
    with open_predictions(preds) as source:
        if not source.has_clip(clip_id):
            raise InputError(f"no prediction for clip {clip_id} (expected {clip_id}.npz)", preds)
        data = source.open_clip(clip_id, limit=MAX_NPZ_BYTES)
    try:
        with np.load(data, allow_pickle=False) as npz:
            out = {}
            for key in PRED_KEYS:
                if key in npz.files:
                    arr = npz[key]
                    out[key] = arr[frame] if key in ("depth", "canonical") else arr[:, frame]
    except (ValueError, OSError) as exc:
        raise InputError(f"unreadable prediction ({exc})", path) from exc
    except IndexError as exc:
        raise InputError(f"frame {frame} is outside the prediction", path) from exc
    return out


def _gt_frame(gt_dir, clip_id: str, frame: int | None):
    from facebench.io.shards import GTReader

    with GTReader(gt_dir) as reader:
        T = int(reader.clip_info(clip_id)["T"])
        t = T // 2 if frame is None else int(frame)
        if not 0 <= t < T:
            raise InputError(f"frame {t} is outside clip {clip_id} (T={T})", gt_dir)
        clip = reader.clip(clip_id, frames=slice(t, t + 1))
        tracks = clip.tracks
        return t, T, {
            "t": t, "image": clip.image[0], "depth": clip.depth[0], "canonical": clip.canonical[0],
            "query_frame": tracks.query_frame, "query_canonical": tracks.query_canonical,
            "xy": tracks.xy[:, 0], "visible": tracks.visible[:, 0],
        }


def _track_points(xy, shown):
    xy = np.array(xy, np.float64, copy=True)
    xy[~shown] = np.nan
    return xy


def show_clip(path, clip_id: str, out_png, gt=None, frame: int | None = None) -> Path:
    """Write a PNG panel of one clip at ``frame`` (default: the middle frame).

    ``path`` is a GT folder (columns: image | GT depth | GT canonical | GT tracks) or a
    predictions folder (image | GT depth | predicted depth | GT canonical | predicted
    canonical | tracks, GT as dots and predictions as rings).  For predictions the GT
    comes from ``gt``, else the benchmark's prepared GT under FACEBENCH_HOME; without
    any GT only the predicted maps are drawn.
    """
    kind = folder_kind(path)
    if kind == "results":
        raise InputError("a results record holds no maps; pass a GT or predictions folder", path)
    gt_dir = Path(path) if kind == "gt" else (Path(gt) if gt is not None else default_gt_for(path))
    g = None
    if gt_dir is not None:
        t, T, g = _gt_frame(gt_dir, clip_id, frame)
    else:
        t, T = (0 if frame is None else int(frame)), None
    p = read_prediction_frame(path, clip_id, t) if kind == "preds" else None

    tiles = _tiles(g, p)
    where = f"frame {t}" + (f" of {T}" if T else "")
    title = f"{clip_id}  {where}" + (f"  ({Path(path).name})" if p is not None else "")
    rgb = images.compose(tiles, title)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    Image.fromarray(rgb).save(out_png)
    return out_png


def _tiles(g: dict | None, p: dict | None) -> list[tuple[str, np.ndarray]]:
    ref = g["depth"] if g is not None else next((p[k] for k in ("depth", "canonical") if k in p), None)
    if ref is None:
        raise InputError("prediction has neither depth nor canonical maps and no GT was found to draw on")
    h, w = ref.shape[:2]
    k = images.upscale_factor(h, w)
    near, far = images.depth_range(g["depth"] if g is not None else None, (p or {}).get("depth"))

    def depth_tile(d):
        return images.zoom(images.depth_to_rgb(d, near, far), k) if d is not None else images.blank(
            h * k, w * k, "no depth")

    def canon_tile(c):
        return images.zoom(images.canonical_to_rgb(c), k) if c is not None else images.blank(
            h * k, w * k, "no canonical")

    tiles = []
    if g is not None:
        tiles.append(("image", images.zoom(g["image"], k)))
        tiles.append(("GT depth", depth_tile(g["depth"])))
    if p is not None:
        tiles.append(("pred depth", depth_tile(p.get("depth"))))
    if g is not None:
        tiles.append(("GT canonical", canon_tile(g["canonical"])))
    if p is not None:
        tiles.append(("pred canonical", canon_tile(p.get("canonical"))))
    tiles.append(("tracks" if p is None else "tracks (GT dots, pred rings)", _tracks_tile(g, p, h, w, k)))
    tiles[1] = (f"{tiles[1][0]} {near:.2f}-{far:.2f} m", tiles[1][1])
    return tiles


def _tracks_tile(g, p, h, w, k) -> np.ndarray:
    background = images.zoom(g["image"], k) if g is not None else images.blank(h * k, w * k)
    t_started = None
    xy_gt = colors = None
    if g is not None:
        t_started = g["query_frame"] <= g.get("t", np.inf)
        xy_gt = _track_points(g["xy"], g["visible"] & t_started)
        colors = images.canonical_to_rgb(g["query_canonical"])
    xy_pred = None
    if p is not None and "tracks_xy" in p:
        shown = np.asarray(p.get("tracks_visible", np.ones(len(p["tracks_xy"]), bool)), bool)
        if t_started is not None and len(t_started) == len(shown):
            shown = shown & t_started
        xy_pred = _track_points(p["tracks_xy"], shown)
    return images.draw_tracks(background, k, xy_gt, xy_pred, colors)
