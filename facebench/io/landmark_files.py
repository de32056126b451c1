"""Human 2D landmark files: iBUG ``.pts`` and menpo ``.ljson``, read into facebench pixels.

facebench pixels have the centre of the top-left pixel at (0, 0) (SPEC §1).  The two formats:

* ``.pts`` (iBUG / 300-W, version 1): ``version: 1``, ``n_points: N``, then ``{``, N lines
  ``x y``, ``}``.  300-W and menpo treat the values as **1-based** (the first pixel is 1), so
  one is subtracted; ``origin=0`` reads a file written 0-based.
* ``.ljson`` (menpo's landmark JSON, versions 1-3): points stored ``[y, x]``, 0-based,
  ``null`` for a missing point.

Every problem is one :class:`~facebench.errors.InputError` line naming the file: wrong point
count, a malformed line, points outside the image (the usual sign of a 0- vs 1-based mix-up
or of a label belonging to another image).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from facebench.errors import InputError

N_POINTS = 68  # iBUG-68
LABEL_SUFFIXES = (".pts", ".ljson")
OUTSIDE_TOLERANCE_PX = 0.0  # a label may sit anywhere on the image (-0.5 .. W - 0.5), not beyond


def read_pts(path, origin: int = 1) -> np.ndarray:
    """An iBUG ``.pts`` file -> (N,2) float64 (x, y) facebench pixels (``origin``: 1 or 0)."""
    path = Path(path)
    if origin not in (0, 1):
        raise InputError(f"origin must be 0 or 1, got {origin}", path)
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"unreadable landmark file ({exc})", path) from None
    header = {}
    try:
        start = lines.index("{")
        end = lines.index("}", start)
    except ValueError:
        raise InputError("not a .pts file: no '{' ... '}' block of points", path) from None
    for ln in lines[:start]:
        key, _, value = ln.partition(":")
        header[key.strip()] = value.strip()
    body = [ln for ln in lines[start + 1:end] if ln]
    try:
        points = np.array([[float(v) for v in ln.split()] for ln in body], np.float64)
    except ValueError:
        raise InputError("malformed point line (expected two numbers 'x y')", path) from None
    if points.ndim != 2 or (len(points) and points.shape[1] != 2):
        raise InputError("malformed point line (expected two numbers 'x y')", path)
    declared = header.get("n_points")
    if declared is not None and declared.isdigit() and int(declared) != len(points):
        raise InputError(f"n_points says {declared} but the file lists {len(points)} points", path)
    if not np.isfinite(points).all():
        raise InputError("non-finite point coordinates", path)
    return points - origin


def read_ljson(path) -> np.ndarray:
    """A menpo ``.ljson`` file (v1-v3) -> (N,2) float64 (x, y) pixels, NaN rows for null points."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"unreadable landmark JSON ({exc})", path) from None
    try:
        if "groups" in data:  # v3: one or more named groups; the first is taken
            group = next(iter(data["groups"].values()))
            raw = group["landmarks"]["points"]
        else:  # v1 / v2
            raw = data["landmarks"]["points"]
        yx = np.array([[np.nan, np.nan] if p is None or None in p else p for p in raw], np.float64)
    except (KeyError, TypeError, ValueError, StopIteration):
        raise InputError("not a menpo landmark JSON (no landmarks.points)", path) from None
    if yx.ndim != 2 or yx.shape[1] != 2:
        raise InputError("landmark points must be 2D [y, x] pairs", path)
    return yx[:, ::-1].copy()


def read_landmarks(path, origin: int = 1) -> np.ndarray:
    """``.pts`` or ``.ljson`` by suffix -> (N,2) (x, y) pixels."""
    path = Path(path)
    if path.suffix.lower() == ".pts":
        return read_pts(path, origin)
    if path.suffix.lower() == ".ljson":
        return read_ljson(path)
    raise InputError(f"not a landmark file (expected {', '.join(LABEL_SUFFIXES)})", path)


def check_landmarks(points, width: int, height: int, path, origin: int = 1) -> np.ndarray:
    """Refuse labels that are not 68 points inside a ``width`` x ``height`` image (one line each)."""
    points = np.asarray(points, np.float64)
    if len(points) != N_POINTS:
        raise InputError(f"{len(points)} points, expected {N_POINTS} (iBUG-68)", path)
    if not np.isfinite(points).all():
        raise InputError(f"{int((~np.isfinite(points).all(axis=1)).sum())} points missing (null)", path)
    lo, hi = -0.5 - OUTSIDE_TOLERANCE_PX, np.array([width, height]) - 0.5 + OUTSIDE_TOLERANCE_PX
    outside = ((points < lo) | (points > hi)).any(axis=1)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        x, y = points[i] + (origin if Path(path).suffix.lower() == ".pts" else 0)
        hint = ""
        if Path(path).suffix.lower() == ".pts":
            other = 0 if origin == 1 else 1
            if not (((points + origin - other) < lo) | ((points + origin - other) > hi)).any():
                hint = f"; the file looks {other}-based: read it with --pts-origin {other}"
            else:
                hint = "; is it the label of another image?"
        raise InputError(f"{int(outside.sum())} points outside the {width}x{height} image (first: point "
                         f"{i} at x={x:.2f}, y={y:.2f} as written, read {origin}-based){hint}", path)
    return points
