"""``facebench predictions import``: other models' output files -> a predictions folder (SPEC §5).

Formats, looked up per GT clip ``{participant}/{sequence}/{serial}`` under SRC:

* ``npy`` / ``png`` / ``pfm`` / ``exr``: a folder ``SRC/{clip}/`` of per-frame depth files,
  matched to the clip's frames in natural order (frame_2 before frame_10); depth is
  multiplied by ``depth_scale`` (default 0.001 for 16-bit PNG, i.e. millimetres, else 1).
* ``da3``: Depth Anything 3 / Face Anything ``raw_predictions.npz`` or ``results.npz``
  (``SRC/{clip}.npz``, ``SRC/{clip}/raw_predictions.npz`` or
  ``SRC/{clip}/exports/npz/results.npz``): depth, optional canonical, conf, valid.
* ``npz``: ``SRC/{clip}.npz`` holding SPEC §5 keys (``keys`` renames others).

Maps at another resolution are resized to the clip's (bilinear, pixel centres aligned)
when the aspect ratio agrees within 2 %; every mismatch is one line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError, InputError
from facebench.io.depth_files import EXTENSIONS, natural_key, read_depth

FORMATS = ("npy", "png", "pfm", "exr", "da3", "npz")
MAP_KEYS = ("depth", "canonical", "confidence")
DA3_NAMES = ("{clip}.npz", "{clip}/raw_predictions.npz", "{clip}/exports/npz/results.npz")


def resize_map(values, height: int, width: int, where="") -> np.ndarray:
    """(T,h,w) or (T,h,w,C) -> (T,height,width[,C]) float32, bilinear with pixel centres aligned."""
    from scipy.ndimage import zoom

    values = np.asarray(values, dtype=np.float32)
    h, w = values.shape[1:3]
    if (h, w) == (height, width):
        return values
    if abs((w / h) / (width / height) - 1) > 0.02:
        raise InputError(f"is {w}x{h}, the clip is {width}x{height} (another aspect ratio: crop it first)",
                         where)
    factors = (1, height / h, width / w) + (1,) * (values.ndim - 3)
    valid = np.isfinite(values)  # NaN-aware: an output pixel is valid only if all its inputs are
    filled = zoom(np.where(valid, values, 0), factors, order=1, mode="nearest", grid_mode=True)
    weight = zoom(valid.astype(np.float32), factors, order=1, mode="nearest", grid_mode=True)
    out = np.where(weight > 1 - 1e-4, filled / np.maximum(weight, 1e-6), np.nan)
    return out[:, :height, :width].astype(np.float32)


def _frames(folder: Path, fmt: str, T: int) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"no folder of {fmt} depth frames for this clip", folder)
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS[fmt]), key=natural_key)
    if len(files) != T:
        raise InputError(f"{len(files)} {fmt} frames, the clip has {T}", folder)
    return files


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read as .npz ({str(exc).splitlines()[0]})", path) from None


def _read_clip(fmt: str, src: Path, cid: str, info: dict, depth_scale, keys: dict) -> tuple[dict, Path]:
    T, H, W = int(info["T"]), int(info["H"]), int(info["W"])
    if fmt in EXTENSIONS:
        files = _frames(src / cid, fmt, T)
        frames = [read_depth(f, fmt) for f in files]
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            path, other = next((p, f) for p, f in zip(files, frames) if f.shape != frames[0].shape)
            raise InputError(f"is {other.shape[1]}x{other.shape[0]}, the first frame "
                             f"{frames[0].shape[1]}x{frames[0].shape[0]}", path)
        scale = depth_scale if depth_scale is not None else (0.001 if fmt == "png" else 1.0)
        return {"depth": resize_map(np.stack(frames) * scale, H, W, files[0])}, src / cid
    if fmt == "da3":
        path = next((p for p in (src / n.format(clip=cid) for n in DA3_NAMES) if p.is_file()), None)
        if path is None:
            raise InputError(f"no Depth Anything 3 npz for clip {cid} (looked for "
                             f"{', '.join(DA3_NAMES)})", src)
        raw = _read_npz(path)
        rename = {"depth": "depth", "canonical": "canonical", "confidence": "conf", **keys}
        arrays = {k: raw[v] for k, v in rename.items() if v in raw and raw[v].size}
        if "depth" in arrays and depth_scale is not None:
            arrays["depth"] = arrays["depth"] * depth_scale
        valid = raw.get("valid")
    else:
        path = src / f"{cid}.npz"
        if not path.is_file():
            raise InputError(f"no prediction for clip {cid}", path)
        raw = _read_npz(path)
        rename = {k: k for k in ("depth", "canonical", "confidence", "tracks_xy", "tracks_visible",
                                 "tracks_xyz")}
        rename.update(keys)
        arrays = {k: raw[v] for k, v in rename.items() if v in raw}
        if "depth" in arrays and depth_scale is not None:
            arrays["depth"] = arrays["depth"] * depth_scale
        valid = None
    if not arrays:
        raise InputError(f"holds none of the keys {', '.join(rename.values())} (it has "
                         f"{', '.join(raw) or 'nothing'})", path)
    for key in MAP_KEYS:
        if key in arrays:
            want = 4 if key == "canonical" else 3
            if arrays[key].ndim != want or len(arrays[key]) != T:
                raise InputError(f"{rename[key]} has shape {arrays[key].shape}, expected {T} frames "
                                 f"({'(T,H,W,3)' if want == 4 else '(T,H,W)'})", path)
            values = arrays[key].astype(np.float32)
            if valid is not None and valid.shape == values.shape[:3]:
                values = np.where(valid.reshape(valid.shape + (1,) * (values.ndim - 3)), values, np.nan)
            arrays[key] = resize_map(values, H, W, path)
    return arrays, path


def import_predictions(fmt: str, src, gt, out, *, benchmark: str | None = None, method: str | None = None,
                       depth_scale: float | None = None, relative: bool | None = None,
                       canonical_space: str | None = None, keys: dict | None = None,
                       progress: bool = True) -> dict:
    """Convert ``src`` (layout by ``fmt``, see the module docstring) into the predictions folder ``out``
    for every clip of the GT folder ``gt``.  Returns meta.json plus ``clips``.

    ``relative``: depth known only up to scale (meta ``depth_scale: relative``; default true for
    ``da3``).  ``keys``: {prediction key: key in the source npz}.
    """
    from tqdm import tqdm

    from facebench.io.gt_reader import GTReader
    from facebench.io.prediction_writer import write_clip, write_meta

    if fmt not in FORMATS:
        from facebench.errors import did_you_mean

        raise FacebenchError(f"unknown format {fmt!r}{did_you_mean(fmt, FORMATS)}; choose from "
                             f"{', '.join(FORMATS)}")
    src = Path(src)
    if not src.is_dir():
        raise InputError("source folder does not exist", src)
    reader = GTReader(gt)
    benchmark = benchmark or reader.benchmark
    if not benchmark:
        raise FacebenchError(f"{gt}: the GT names no benchmark; pass --benchmark")
    found_canonical = False
    for cid in tqdm(reader.clip_ids, desc=f"import {fmt}", unit="clip", disable=not progress):
        arrays, _ = _read_clip(fmt, src, cid, reader.clip_info(cid), depth_scale, keys or {})
        found_canonical |= "canonical" in arrays
        write_clip(out, cid, arrays)
    reader.close()
    relative = (fmt == "da3") if relative is None else relative
    meta = {"method": method or src.resolve().name, "benchmark": benchmark,
            "description": f"imported from {fmt} files", "depth_scale": "relative" if relative else "metric",
            "params": {"import_format": fmt, **({"depth_scale": depth_scale} if depth_scale else {})}}
    if canonical_space or (fmt == "da3" and found_canonical):
        meta["canonical_space"] = canonical_space or "face-anything"
    write_meta(out, meta)
    return {**meta, "clips": len(reader.clip_ids)}
