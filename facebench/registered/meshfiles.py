"""Registered-mesh files read from bytes or text: PLY vertices and OBJ meshes, sizes checked,
never trusted.

* :func:`read_ply_vertices`: the ``x y z`` columns of a PLY's ``vertex`` element (ascii,
  binary little- or big-endian; any other per-vertex properties are skipped).
* :func:`read_obj` / :func:`read_obj_faces`: the vertices and triangles of an OBJ (``f a/b/c ...``
  polygons fan split, 1-based and negative indices resolved) or a topology's triangles and
  vertex count; vertex order is kept exactly (the index is the correspondence).

Every problem is a one-line :class:`facebench.errors.InputError` naming the file.
"""

from __future__ import annotations

import numpy as np

from facebench.errors import InputError

MAX_VERTICES = 5_000_000
MAX_HEADER_BYTES = 1 << 16
PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


def _ply_header(data: bytes, what: str):
    end = data.find(b"end_header", 0, MAX_HEADER_BYTES)
    if not data.startswith(b"ply") or end < 0:
        raise InputError(f"{what}: not a PLY file (no 'ply' ... 'end_header' header)")
    body = data.index(b"\n", end) + 1 if b"\n" in data[end:] else len(data)
    fmt, elements = None, []  # elements: [name, count, [(name, dtype) | (name, None) for lists]]
    for raw in data[:end].decode("ascii", "replace").splitlines()[1:]:
        words = raw.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        try:
            if words[0] == "format":
                fmt = words[1]
            elif words[0] == "element":
                elements.append([words[1], int(words[2]), []])
            elif words[0] == "property" and words[1] == "list":
                elements[-1][2].append((words[4], None, PLY_TYPES[words[2]], PLY_TYPES[words[3]]))
            elif words[0] == "property":
                elements[-1][2].append((words[2], PLY_TYPES[words[1]]))
        except (IndexError, KeyError, ValueError):
            raise InputError(f"{what}: malformed PLY header line {raw.strip()!r}") from None
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise InputError(f"{what}: unsupported PLY format {fmt!r}")
    return fmt, elements, body


def read_ply_vertices(data: bytes, what: str) -> np.ndarray:
    """(V,3) float64 ``x, y, z`` of the ``vertex`` element of a PLY file's bytes."""
    fmt, elements, offset = _ply_header(data, what)
    names = [e[0] for e in elements]
    if "vertex" not in names:
        raise InputError(f"{what}: PLY has no 'vertex' element")
    _, count, props = elements[names.index("vertex")]
    if not 0 < count <= MAX_VERTICES:
        raise InputError(f"{what}: PLY declares {count} vertices (expected 1..{MAX_VERTICES})")
    prop_names = [p[0] for p in props]
    if any(len(p) > 2 for p in props) or not {"x", "y", "z"} <= set(prop_names):
        raise InputError(f"{what}: PLY vertices need scalar x, y, z properties (got {prop_names})")
    if fmt == "ascii":
        lines = data[offset:].split(b"\n")
        skip = sum(e[1] for e in elements[: names.index("vertex")])
        rows = lines[skip: skip + count]
        try:
            table = np.array([row.split()[: len(props)] for row in rows], dtype=np.float64)
        except ValueError:
            raise InputError(f"{what}: PLY vertex rows are not {len(props)} numbers each") from None
        if table.shape != (count, len(props)):
            raise InputError(f"{what}: PLY is truncated ({len(rows)} of {count} vertex rows)")
        cols = [table[:, prop_names.index(c)] for c in "xyz"]
        return np.stack(cols, axis=1)
    endian = "<" if fmt == "binary_little_endian" else ">"
    for name, n, p in elements[: names.index("vertex")]:
        if any(len(q) > 2 for q in p):
            raise InputError(f"{what}: PLY element {name!r} with list properties precedes 'vertex'")
        offset += n * np.dtype([(q[0], endian + q[1]) for q in p]).itemsize
    dtype = np.dtype([(q[0], endian + q[1]) for q in props])
    if len(data) < offset + count * dtype.itemsize:
        raise InputError(f"{what}: PLY is truncated ({len(data) - offset} bytes of vertex data, "
                         f"{count * dtype.itemsize} needed)")
    table = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return np.stack([table[c].astype(np.float64) for c in "xyz"], axis=1)


def read_obj(text: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V,3) float64, triangles (F,3) int64) of an OBJ's text; polygons are fan split,
    1-based and negative indices resolved, vertex order kept."""
    verts, tris = [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if parts[0] == "v":
                if len(parts) < 4:
                    raise ValueError(f"vertex with {len(parts) - 1} coordinates")
                verts.append([float(x) for x in parts[1:4]])
            elif parts[0] == "f":
                idx = [int(tok.split("/")[0]) for tok in parts[1:]]
                if len(idx) < 3:
                    raise ValueError("a face needs 3 or more vertices")
                idx = [i - 1 if i > 0 else len(verts) + i for i in idx]
                tris.extend((idx[0], idx[k], idx[k + 1]) for k in range(1, len(idx) - 1))
        except ValueError as exc:
            raise InputError(f"{what}: malformed OBJ (line {lineno}: {exc})") from None
    vertices = np.asarray(verts, np.float64).reshape(-1, 3)
    faces = np.asarray(tris, np.int64).reshape(-1, 3)
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise InputError(f"{what}: face indices outside the {len(vertices)} vertices")
    return vertices, faces


def read_obj_faces(text: str, what: str) -> tuple[np.ndarray, int]:
    """(faces (F,3) int64, number of vertices) of an OBJ topology (:func:`read_obj`)."""
    vertices, faces = read_obj(text, what)
    if len(vertices) == 0 or len(faces) == 0:
        raise InputError(f"{what}: OBJ has no vertices or no faces")
    return faces, len(vertices)
