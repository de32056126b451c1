"""Readers for the per-frame depth files other models write: .npy, 16-bit .png, .pfm, .exr.

Each returns a (H,W) float32 array in the file's own units; non-positive values and
the format's invalid code (0 in PNG) become NaN.  Problems are one line naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from facebench.errors import InputError

EXTENSIONS = {"npy": (".npy",), "png": (".png",), "pfm": (".pfm",), "exr": (".exr",)}


def natural_key(path: Path):
    """Sort key so frame_2 < frame_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", Path(path).name)]


def read_depth(path, fmt: str) -> np.ndarray:
    """One depth frame as (H,W) float32, NaN where invalid (the file's units, not scaled)."""
    path = Path(path)
    try:
        if fmt == "npy":
            depth = np.load(path, allow_pickle=False)
        elif fmt == "png":
            depth = _read_png16(path)
        elif fmt == "pfm":
            depth = read_pfm(path)
        elif fmt == "exr":
            depth = _read_exr(path)
        else:
            raise InputError(f"unknown depth format {fmt!r}", path)
    except (OSError, ValueError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read as {fmt} ({why})", path) from None
    depth = np.squeeze(np.asarray(depth))
    if depth.ndim != 2:
        raise InputError(f"holds an array of shape {depth.shape}, expected one (H,W) depth map", path)
    if not np.issubdtype(depth.dtype, np.number):
        raise InputError(f"holds {depth.dtype} values, expected numbers", path)
    depth = depth.astype(np.float32)
    depth[~(depth > 0)] = np.nan  # non-positive and non-finite: invalid
    return depth


def _read_png16(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("I;16", "I;16B", "I;16L", "I"):
            raise InputError(f"is a {im.mode} PNG, expected 16-bit single-channel depth", path)
        return np.asarray(im, dtype=np.float32)


def read_pfm(path) -> np.ndarray:
    """A PFM image ('Pf' grey or 'PF' colour, first channel) as float32, top row first."""
    with open(path, "rb") as f:
        header = f.readline().strip()
        if header not in (b"Pf", b"PF"):
            raise ValueError(f"not a PFM file (header {header[:8]!r})")
        dims = f.readline().split()
        while not dims:  # blank or comment-free lines between fields
            dims = f.readline().split()
        width, height = int(dims[0]), int(dims[1])
        scale = float(f.readline().strip())
        channels = 3 if header == b"PF" else 1
        data = np.frombuffer(f.read(), dtype="<f4" if scale < 0 else ">f4")
    if data.size < width * height * channels:
        raise ValueError(f"truncated: {data.size} values for {width}x{height}x{channels}")
    data = data[: width * height * channels].reshape(height, width, channels)[..., 0]
    return np.flipud(data).astype(np.float32)  # PFM stores the bottom row first


def write_pfm(path, depth) -> None:
    """Write a (H,W) float map as little-endian grey PFM (for tests and converters)."""
    depth = np.asarray(depth, dtype="<f4")
    with open(path, "wb") as f:
        f.write(b"Pf\n%d %d\n-1.0\n" % (depth.shape[1], depth.shape[0]))
        f.write(np.flipud(depth).tobytes())


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError:
        raise InputError("reading .exr needs the OpenEXR package (pip install OpenEXR), or convert the "
                         "frames to .pfm or .npy", path) from None
    with OpenEXR.File(str(path)) as exr:
        channels = exr.channels()
        for name in ("Z", "Y", "R", "depth", "RGB", "RGBA"):
            if name in channels:
                pixels = np.asarray(channels[name].pixels)
                return pixels if pixels.ndim == 2 else pixels[..., 0]
        raise InputError(f"has no depth channel (channels: {', '.join(channels)})", path)
