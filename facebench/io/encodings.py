"""How schema 2 shards store the big per-pixel maps (SPEC §4): encoders, decoders, error bounds.

A stored dataset that is not the plain array carries an ``encoding`` attribute and
everything needed to decode it, so any HDF5 reader in any language can decode it
with the standard filters (gzip, shuffle) and a few lines of arithmetic:

* ``fixed_point`` (canonical): ``value = offset[c] + step[c] * q`` for unsigned
  integers ``q``; ``q == nan_value`` (the dtype's maximum) is NaN.  Stored
  channel-first, (T,3,H,W), which compresses a third better than (T,H,W,3).  The
  steps are chosen from the bound so the worst error is 0.9 of it.
* ``rounded`` (depth): float32 values rounded to multiples of ``step``, the largest
  power of two whose half is within the bound; the low mantissa bits become zeros
  that shuffle+gzip compress, and nothing needs decoding (NaN stays NaN).
* ``jpeg`` / ``png`` (image): (T,) variable-length uint8, one encoded file per frame.

For the bounded encodings the error actually made is measured at write time and
stored as ``max_error``; :func:`check_encoding` (``facebench verify``) checks it.

Datasets without an ``encoding`` attribute (masks, tracks, vertices, schema 1 maps)
are the arrays themselves: masks and tracks are always exact.
"""

from __future__ import annotations

import io

import numpy as np

# SPEC §4 schema 2: the largest error a stored value may have, per dataset.
BOUNDS = {"canonical": (0.005, "mm"), "depth": (1e-6, "m")}
IMAGE_CODECS = ("jpeg", "png", "raw")
DEFAULT_IMAGE_CODEC = "jpeg"
JPEG_QUALITY = 95
STEP_FRACTION = 0.9  # the quantisation error (half a step) is this fraction of the bound


# What schema 2 stores for each dataset (docs/FORMATS.md is generated from these tables).
STORAGE = (
    ("image", "(T) vlen uint8: one JPEG file per frame", "decode each frame (any JPEG/PNG library)",
     f"lossy: JPEG quality {JPEG_QUALITY}, 4:4:4 (default); `png` or `raw` (schema 1 layout) are exact"),
    ("mask", "(T,H,W) uint8, shuffle+gzip", "as stored", "exact"),
    ("depth", "(T,H,W) float32 rounded to multiples of `step` = 2^-19 m (1.9 um), shuffle+gzip",
     "as stored", "<= 1e-6 m (absolute)"),
    ("canonical", "(T,3,H,W) uint16 or uint32, shuffle+gzip (channel-first)",
     "`offset[c] + step[c] * q[:, c]`, moved to (T,H,W,3); `q == nan_value` is NaN",
     "<= 0.005 mm (Euclidean, at the file's canonical_scale)"),
    ("K, T_cam_from_world, tracks/*, frame_ids, vertices", "as schema 1", "as stored", "exact"),
)
ATTRS = {
    "encoding": "`fixed_point`, `rounded`, `jpeg` or `png` (absent: the dataset is the array itself)",
    "shape, dtype": "shape and dtype of the decoded array (SPEC §4's table)",
    "step, offset": "fixed point: per channel, float64 (canonical); rounded: `step` only",
    "nan_value": "fixed point: the stored code of NaN, the dtype's maximum",
    "layout": "fixed point: `T,C,H,W`",
    "error_bound, error_units": "fixed point, rounded: the bound promised (SPEC), `mm` or `m`",
    "max_error": "fixed point, rounded: the largest error actually made, measured when written",
    "quality, subsampling": "jpeg: encoder settings",
}


def markdown_table() -> str:
    rows = ["| dataset | stored as | decoding | error |", "|---|---|---|---|"]
    rows += [f"| `{name}` | {stored} | {decode} | {error} |" for name, stored, decode, error in STORAGE]
    rows += ["", "| dataset attribute | meaning |", "|---|---|"]
    rows += [f"| `{k}` | {v} |" for k, v in ATTRS.items()]
    return "\n".join(rows)


# -- fixed point ---------------------------------------------------------------------------
def _decode_fixed(q: np.ndarray, attrs, channel_first: bool) -> np.ndarray:
    """Stored integers -> float32 values, NaN where ``q == nan_value``.

    Channel-first data (canonical, (T,C,H,W) on disk) comes back as a (T,H,W,C) *view*
    of channel-first memory: no transposing copy (it would cost more than the
    arithmetic), and ``np.moveaxis(values, -1, 1)`` / ``permute(0, 3, 1, 2)`` is free.
    """
    out = _fixed_values(q, attrs, channel_first)
    return np.moveaxis(out, 1, -1) if channel_first else out


def _fixed_values(q: np.ndarray, attrs, channel_first: bool, out=None) -> np.ndarray:
    """:func:`_decode_fixed` in the stored layout (channel-first stays so), into ``out`` if given."""
    step = np.asarray(attrs["step"], np.float32)
    offset = np.asarray(attrs["offset"], np.float32)
    shape = (1, -1) + (1,) * (q.ndim - 2) if channel_first else (-1,) + (1,) * (q.ndim - 1)
    out = np.empty(q.shape, np.float32) if out is None else out
    np.multiply(q, step.reshape(shape) if channel_first else step[0], out=out, casting="unsafe")
    out += offset.reshape(shape) if channel_first else offset[0]
    np.putmask(out, q == q.dtype.type(attrs["nan_value"]), np.nan)
    return out


def _range(values: np.ndarray, channels: bool) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of the finite values, per channel (0 when there are none)."""
    flat = values.reshape(-1, values.shape[-1]) if channels else values.reshape(-1, 1)
    lo, hi = np.zeros(flat.shape[1]), np.zeros(flat.shape[1])
    for c in range(flat.shape[1]):
        finite = flat[:, c][np.isfinite(flat[:, c])]
        if finite.size:
            lo[c], hi[c] = float(finite.min()), float(finite.max())
    return lo, hi


def _steps(lo: np.ndarray, hi: np.ndarray, budget: float) -> np.ndarray:
    """Per-channel steps whose Euclidean norm is ``budget``, in 16 bits when the ranges allow.

    A channel whose range needs a coarser step than an equal share to fit in 16 bits
    gets that step; the others share what is left of the budget.  When even that
    cannot fit, every channel gets an equal share (stored in 32 bits).
    """
    need = (hi - lo) / (np.iinfo(np.uint16).max - 2)  # levels 0..65533: rounding never hits the NaN code
    n = len(need)
    if np.sqrt((need ** 2).sum()) > budget:
        return np.full(n, budget / np.sqrt(n))
    steps, free = need.copy(), np.ones(n, bool)
    for c in np.argsort(-need):
        share = np.sqrt(max(budget ** 2 - (steps[~free] ** 2).sum(), 0.0) / free.sum())
        if need[c] <= share:
            steps[free] = share
            break
        free[c] = False
    return steps


def _quantise(values: np.ndarray, steps: np.ndarray, lo: np.ndarray, hi: np.ndarray, channels: bool):
    """(q channel-last, nan_value), in the smallest unsigned dtype that holds every level."""
    top = int(np.max(np.rint((hi - lo) / steps)))  # the largest level used
    dtype = next((d for d in (np.uint16, np.uint32) if top < np.iinfo(d).max), None)
    if dtype is None:
        return None
    nan_value = np.iinfo(dtype).max
    offset, step = (lo, steps) if channels else (lo[0], steps[0])
    q = np.empty(values.shape, dtype)
    for t in range(values.shape[0]):  # frame by frame: float64 temporaries stay small
        x = values[t].astype(np.float64)
        nan = np.isnan(x)
        x = np.rint((np.where(nan, offset, x) - offset) / step)
        x[nan] = nan_value
        q[t] = x
    return q, nan_value


def _max_error(decoded: np.ndarray, values: np.ndarray, channels: bool) -> float:
    err = 0.0
    for t in range(values.shape[0]):
        d = np.where(np.isnan(values[t]), 0.0, decoded[t].astype(np.float64) - values[t])
        d = np.sqrt((d ** 2).sum(-1)) if channels else np.abs(d)
        err = max(err, float(d.max()) if d.size else 0.0)
    return err


def encode_fixed(values: np.ndarray, name: str, scale: float = 1.0):
    """Fixed-point encoding of ``depth`` (T,H,W) or ``canonical`` (T,H,W,3) within its bound.

    Returns (stored array, attrs), or None when the values cannot be encoded within
    the bound (inf present; the caller then stores the float32 array as it is).
    """
    bound, units = BOUNDS[name]
    values = np.asarray(values, np.float32)
    if np.isinf(values).any():
        return None
    channels = name == "canonical"
    to_bound = 1000.0 * scale if channels else 1.0  # stored units -> the bound's units
    budget = 2.0 * STEP_FRACTION * bound / to_bound  # Euclidean norm of the step vector
    lo, hi = _range(values, channels)
    steps = _steps(lo, hi, budget) if channels else np.array([budget])
    for _ in range(4):  # finer steps only if float32 rounding ever breaks the bound
        quantised = _quantise(values, steps, lo, hi, channels)
        if quantised is None:
            return None
        q, nan_value = quantised
        attrs = {"encoding": "fixed_point", "step": steps, "offset": lo, "nan_value": int(nan_value),
                 "shape": np.asarray(values.shape, np.int64), "dtype": "float32",
                 "layout": "T,C,H,W" if channels else "T,H,W", "error_bound": bound,
                 "error_units": units}
        stored = np.ascontiguousarray(np.moveaxis(q, -1, 1)) if channels else q
        decoded = _decode_fixed(stored, attrs, channels)
        if not np.array_equal(np.isnan(decoded), np.isnan(values)):
            raise AssertionError(f"{name}: fixed-point encoding moved NaNs")  # a bug, never data
        attrs["max_error"] = _max_error(decoded, values, channels) * to_bound
        if attrs["max_error"] <= bound:
            return stored, attrs
        steps = steps / 2
    return None


def encode_rounded(values: np.ndarray, name: str = "depth"):
    """``values`` rounded to multiples of a power-of-two step within ``name``'s bound, as float32.

    Returns (stored array, attrs), or None for maps holding inf.  A power-of-two step
    makes every rounded value exact in float32 (values above 2^24 steps, 32 m for
    depth, are float32 multiples of the step already and stay as they are).
    """
    bound, units = BOUNDS[name]
    step = float(2.0 ** np.floor(np.log2(2 * bound)))  # 2^-19 m for 1e-6 m: exact in float32 below 32 m
    values = np.asarray(values, np.float32)
    if np.isinf(values).any():
        return None
    stored = np.empty(values.shape, np.float32)
    err = 0.0
    for t in range(values.shape[0]):  # frame by frame: float64 temporaries stay small
        stored[t] = np.rint(values[t].astype(np.float64) / step) * step
        d = np.abs(stored[t].astype(np.float64) - values[t])
        err = max(err, float(np.nanmax(d)) if np.isfinite(d).any() else 0.0)
    if err > bound:
        return None
    return stored, {"encoding": "rounded", "step": step, "shape": np.asarray(values.shape, np.int64),
                    "dtype": "float32", "error_bound": bound, "error_units": units, "max_error": err}


def implied_bound(attrs, scale: float = 1.0) -> float:
    """The worst error an encoded dataset's steps allow, in its bound's units."""
    half = np.sqrt((np.asarray(attrs["step"], np.float64) ** 2).sum()) / 2
    return float(half * 1000.0 * scale) if attrs.get("layout") == "T,C,H,W" else float(half)


# -- images ----------------------------------------------------------------------------------
def encode_images(images: np.ndarray, codec: str, quality: int = JPEG_QUALITY):
    """(T,H,W,3) uint8 -> (list of T encoded frames, attrs); ``raw`` returns None."""
    if codec == "raw":
        return None
    if codec not in IMAGE_CODECS:
        raise ValueError(f"unknown image codec {codec!r} (one of {', '.join(IMAGE_CODECS)})")
    from PIL import Image

    frames = []
    for frame in images:
        buf = io.BytesIO()
        if codec == "jpeg":
            try:
                Image.fromarray(frame).save(buf, "JPEG", quality=quality, subsampling=0, optimize=True)
            except OSError:  # optimized Huffman tables overflow Pillow's buffer on noise-like frames;
                buf = io.BytesIO()  # standard tables decode to the very same pixels
                Image.fromarray(frame).save(buf, "JPEG", quality=quality, subsampling=0)
        else:
            Image.fromarray(frame).save(buf, "PNG", compress_level=6)
        frames.append(np.frombuffer(buf.getvalue(), np.uint8))
    attrs = {"encoding": codec, "shape": np.asarray(images.shape, np.int64), "dtype": "uint8"}
    if codec == "jpeg":
        attrs.update(quality=int(quality), subsampling="4:4:4")
    return frames, attrs


def _decode_images(blobs, attrs, encoding: str) -> np.ndarray:
    from facebench.io.fastread import decode_images

    return decode_images(blobs, attrs["shape"], encoding)


# -- reading ---------------------------------------------------------------------------------
def read_dataset(ds, frames=slice(None)) -> np.ndarray:
    """The values of a stored map (first axis T) for ``frames``, decoded whatever its encoding."""
    from facebench.io.fastread import read_frames

    attrs = ds.attrs
    encoding = attrs.get("encoding")
    if isinstance(encoding, bytes):
        encoding = encoding.decode()
    if encoding == "fixed_point":  # frames inflated and decoded in parallel, or by HDF5 then here
        channel_first = attrs.get("layout") == "T,C,H,W"
        fixed = {k: attrs[k] for k in ("step", "offset", "nan_value")}
        decode = lambda q, out: _fixed_values(q[None], fixed, channel_first, out[None])  # noqa: E731
        values = read_frames(ds, frames, decode, np.float32)
        if values is None:
            return _decode_fixed(ds[frames], fixed, channel_first)
        return np.moveaxis(values, 1, -1) if channel_first else values
    if encoding in (None, "rounded"):
        stored = read_frames(ds, frames)  # gzip+shuffle frames inflated in parallel (same bytes)
        return ds[frames] if stored is None else stored
    if encoding in ("jpeg", "png"):
        return _decode_images(ds[frames], attrs, encoding)
    raise ValueError(f"{ds.name}: unknown encoding {encoding!r} (written by a newer facebench?)")


def logical(ds) -> tuple[tuple, np.dtype]:
    """(shape, dtype) of the values a dataset holds once decoded."""
    if "encoding" in ds.attrs:
        return tuple(int(s) for s in ds.attrs["shape"]), np.dtype(str(ds.attrs["dtype"]))
    return tuple(ds.shape), ds.dtype


def check_encoding(ds, name: str, scale: float) -> str | None:
    """Problem with an encoded dataset's metadata (SPEC §4 schema 2 bounds), or None."""
    encoding = ds.attrs.get("encoding")
    if encoding is None:
        return None
    attrs = ds.attrs
    if encoding in ("fixed_point", "rounded"):
        if name not in BOUNDS or (encoding == "rounded" and name != "depth"):
            return f"{name} may not be stored as {encoding}"
        spec, units = BOUNDS[name]
        bound = float(attrs["error_bound"])
        if str(attrs["error_units"]) != units or bound > spec:
            return f"{name} error bound {bound:g} {attrs['error_units']} exceeds SPEC's {spec:g} {units}"
        if not float(attrs["max_error"]) <= bound:
            return f"{name} max_error {float(attrs['max_error']):.3g} {units} exceeds its bound {bound:g}"
        if implied_bound(attrs, scale) > bound:
            return f"{name} step allows {implied_bound(attrs, scale):.3g} {units}, over its bound {bound:g}"
        if encoding == "rounded":
            ok = ds.dtype == np.float32 and tuple(ds.shape) == tuple(int(s) for s in attrs["shape"])
            return None if ok else f"{name} rounded values stored as {ds.dtype} {ds.shape}"
        if ds.dtype not in (np.uint16, np.uint32) or int(attrs["nan_value"]) != np.iinfo(ds.dtype).max:
            return f"{name} fixed point stored as {ds.dtype} (expected uint16/uint32, NaN = dtype max)"
        shape = tuple(int(s) for s in attrs["shape"])
        stored = shape[:1] + shape[3:] + shape[1:3] if attrs.get("layout") == "T,C,H,W" else shape
        if tuple(ds.shape) != stored:
            return f"{name} stores shape {tuple(ds.shape)}, its attributes say {stored}"
        return None
    if encoding in ("jpeg", "png"):
        if name != "image":
            return f"{name} may not be stored as {encoding}"
        if ds.ndim != 1 or ds.shape[0] != int(attrs["shape"][0]):
            return f"image stores {ds.shape} frames, its attributes say {int(attrs['shape'][0])}"
        return None
    return f"{name} has unknown encoding {encoding!r}"


def describe(ds) -> str:
    """One line: how a dataset is stored (for ``facebench info``)."""
    attrs = ds.attrs
    filters = [f for f in ("shuffle",) if ds.shuffle] + ([ds.compression] if ds.compression else [])
    how = "+".join(filters) or "no filter"
    encoding = attrs.get("encoding")
    if encoding is None:
        return f"{ds.dtype} {how} (exact)"
    if encoding in ("fixed_point", "rounded"):
        bound, units = float(attrs["error_bound"]), str(attrs["error_units"])
        steps = "/".join(f"{s:.3g}" for s in np.atleast_1d(attrs["step"]))
        kind = "fixed point" if encoding == "fixed_point" else "rounded"
        return (f"{kind} {ds.dtype} {how}, step {steps}, "
                f"max error {float(attrs['max_error']):.3g} {units} (bound {bound:g} {units})")
    if encoding == "jpeg":
        return f"jpeg quality {int(attrs['quality'])} {attrs.get('subsampling', '')} (lossy)"
    return f"{encoding} (lossless)"


def storage_summary(reader) -> dict:
    """How a GT folder stores its maps: {"encoding": {field: description}, "bytes_per_pixel_frame": x}.

    The encodings are those of the first clip (every clip of a folder is written alike);
    bytes per pixel-frame is the listed shard bytes over the summed T*H*W of all clips.
    """
    clips = [reader.clip_info(c) for c in reader.clip_ids]
    pixel_frames = sum(int(c["T"]) * int(c["H"]) * int(c["W"]) for c in clips)
    shard_bytes = sum(int(s.get("size", 0)) for s in reader.manifest.get("shards", []))
    out = {"encoding": {}, "bytes_per_pixel_frame": shard_bytes / pixel_frames if pixel_frames else None}
    if clips:
        group = reader._group(clips[0]["id"])
        out["encoding"] = {name: describe(group[name]) for name in ("image", "mask", "depth", "canonical")
                           if name in group}
    return out
