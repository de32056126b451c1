"""A reader for PCL ``.pcd`` point clouds: ``ascii``, ``binary`` and ``binary_compressed``.

Only numpy is needed.  Fields may come in any order and be float32/float64 or
integers; ``binary_compressed`` data is LZF-compressed and stored field by field
(column-major), as PCL and Open3D write it.  NeRSemble benchmark clouds carry
``x y z`` and usually ``normal_x normal_y normal_z`` (Open3D may also write
``nx ny nz``) plus colour fields that are ignored here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facebench.errors import InputError

_TYPES = {("F", 4): "<f4", ("F", 8): "<f8", ("I", 1): "<i1", ("I", 2): "<i2", ("I", 4): "<i4",
          ("I", 8): "<i8", ("U", 1): "<u1", ("U", 2): "<u2", ("U", 4): "<u4", ("U", 8): "<u8"}  # fmt: skip
_NORMAL_NAMES = (("normal_x", "normal_y", "normal_z"), ("nx", "ny", "nz"))
_MAX_HEADER_LINES = 64


def lzf_decompress(data: bytes, expected_size: int) -> bytes:
    """Decompress an LZF block (liblzf format) of known uncompressed size."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:  # literal run of ctrl + 1 bytes
            length = ctrl + 1
            if i + length > n:
                raise ValueError("literal run past the end of the data")
            out += data[i : i + length]
            i += length
            continue
        length = ctrl >> 5
        if length == 7:
            if i >= n:
                raise ValueError("truncated back reference")
            length += data[i]
            i += 1
        length += 2
        if i >= n:
            raise ValueError("truncated back reference")
        start = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
        i += 1
        if start < 0:
            raise ValueError("back reference before the start of the data")
        if start + length <= len(out):
            out += out[start : start + length]
        else:  # overlapping copy repeats the last bytes
            for k in range(length):
                out.append(out[start + k])
    if len(out) != expected_size:
        raise ValueError(f"decompressed {len(out)} bytes, header says {expected_size}")
    return bytes(out)


def _parse_header(raw: bytes, path: Path) -> tuple[dict, int]:
    header: dict[str, list[str]] = {}
    pos = 0
    for _ in range(_MAX_HEADER_LINES):
        end = raw.find(b"\n", pos)
        if end < 0:
            end = len(raw)
        line = raw[pos:end].decode("ascii", errors="replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        header[key.upper()] = values
        if key.upper() == "DATA":
            return header, pos
    raise InputError("bad pcd header: no DATA line", path)


def _field_dtype(header: dict, path: Path) -> tuple[list[str], np.dtype]:
    for key in ("FIELDS", "SIZE", "TYPE"):
        if key not in header:
            raise InputError(f"bad pcd header: missing {key}", path)
    names = header["FIELDS"]
    counts = header.get("COUNT", ["1"] * len(names))
    if not (len(names) == len(header["SIZE"]) == len(header["TYPE"]) == len(counts)):
        raise InputError("bad pcd header: FIELDS, SIZE, TYPE and COUNT differ in length", path)
    fields, seen = [], set()
    try:
        for name, size, kind, count in zip(names, header["SIZE"], header["TYPE"], counts):
            dtype = _TYPES[(kind.upper(), int(size))]
            unique = name if name not in seen else f"{name}__{len(seen)}"
            seen.add(unique)
            fields.append((unique, dtype, (int(count),)) if int(count) > 1 else (unique, dtype))
    except (KeyError, ValueError):
        raise InputError("bad pcd header: unsupported SIZE/TYPE/COUNT", path) from None
    return [f[0] for f in fields], np.dtype(fields)


def _n_points(header: dict, path: Path) -> int:
    try:
        if "POINTS" in header:
            return int(header["POINTS"][0])
        return int(header["WIDTH"][0]) * int(header.get("HEIGHT", ["1"])[0])
    except (KeyError, ValueError, IndexError):
        raise InputError("bad pcd header: no valid POINTS or WIDTH", path) from None


def read_pcd_fields(path) -> dict[str, np.ndarray]:
    """All fields of a ``.pcd`` file: name -> (N,) or (N, COUNT) array."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    raw = path.read_bytes()
    header, offset = _parse_header(raw, path)
    names, dtype = _field_dtype(header, path)
    n = _n_points(header, path)
    kind = header["DATA"][0].lower() if header["DATA"] else ""
    body = raw[offset:]
    if kind == "ascii":
        try:
            values = np.array(body.split(), dtype=np.float64)
            width = sum(int(np.prod(dtype[name].shape or (1,))) for name in names)
            values = values.reshape(n, width)
        except ValueError:
            raise InputError(f"ascii data does not hold {n} points of the declared fields", path) from None
        records = np.empty(n, dtype=dtype)
        col = 0
        for name in names:
            k = int(np.prod(dtype[name].shape or (1,)))
            records[name] = values[:, col : col + k].reshape(records[name].shape)
            col += k
    elif kind == "binary":
        if len(body) < n * dtype.itemsize:
            raise InputError(f"binary data truncated: {len(body)} bytes for {n} points", path)
        records = np.frombuffer(body, dtype=dtype, count=n)
    elif kind == "binary_compressed":
        records = _read_compressed(body, names, dtype, n, path)
    else:
        raise InputError(f"bad pcd header: unknown DATA {kind!r}", path)
    return {name: np.array(records[name]) for name in names}


def _read_compressed(body: bytes, names, dtype: np.dtype, n: int, path: Path) -> dict:
    if len(body) < 8:
        raise InputError("binary_compressed data truncated", path)
    compressed_size, size = np.frombuffer(body[:8], dtype="<u4")
    try:
        data = lzf_decompress(body[8 : 8 + int(compressed_size)], int(size))
    except ValueError as exc:
        raise InputError(f"corrupt binary_compressed data ({exc})", path) from None
    if len(data) != n * dtype.itemsize:
        raise InputError(
            f"binary_compressed data holds {len(data)} bytes, expected {n * dtype.itemsize}", path
        )
    records, start = {}, 0
    for name in names:  # column-major: all values of one field, then the next
        sub = dtype[name]
        nbytes = n * sub.itemsize
        records[name] = np.frombuffer(data[start : start + nbytes], dtype=sub.base).reshape((n, *sub.shape))
        start += nbytes
    return records


def read_pcd(path) -> tuple[np.ndarray, np.ndarray | None]:
    """``(xyz (N,3) float32, normals (N,3) float32 or None)``; points with non-finite xyz dropped."""
    fields = read_pcd_fields(path)
    if not all(k in fields for k in "xyz"):
        raise InputError(f"point cloud has no x y z fields (fields: {' '.join(fields)})", path)
    xyz = np.stack([fields[k] for k in "xyz"], axis=1).astype(np.float32)
    normals = None
    for keys in _NORMAL_NAMES:
        if all(k in fields for k in keys):
            normals = np.stack([fields[k] for k in keys], axis=1).astype(np.float32)
            break
    keep = np.all(np.isfinite(xyz), axis=1)
    if not keep.all():
        xyz = xyz[keep]
        normals = normals[keep] if normals is not None else None
    return xyz, normals
