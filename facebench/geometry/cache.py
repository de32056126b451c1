"""Reuse acceleration structures for the same mesh: one Embree scene / AABB tree per mesh state.

GT maps query one frame's mesh from every camera (16 views) and again for tracks;
building the Embree scene (~0.15 s) and the closest-point tree (~0.3 s) of a
50k-triangle mesh per view dominated the cost.  The structures are kept in a
small per-process LRU keyed by a digest of the vertex and face bytes, so any
change of the mesh builds new ones and results are exactly as without the cache.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

_MAX_ENTRIES = 8  # tracks revisit up to 8 query frames per camera
_CACHES: dict[str, OrderedDict] = {"raycaster": OrderedDict(), "proximity": OrderedDict()}


def _key(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for a in (vertices, faces):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.view(np.uint8).reshape(-1))
    return h.digest()


def _get(kind: str, vertices, faces, build):
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    cache = _CACHES[kind]
    key = _key(vertices, faces)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = build(vertices, faces)
    cache[key] = value
    while len(cache) > _MAX_ENTRIES:
        cache.popitem(last=False)
    return value


def cached_raycaster(vertices, faces):
    """A :class:`~facebench.geometry.Raycaster` of (vertices, faces), shared while the mesh is unchanged."""
    from facebench.geometry.raycast import Raycaster

    return _get("raycaster", vertices, faces, Raycaster)


def cached_proximity(vertices, faces):
    """A :class:`~facebench.geometry.MeshProximity` of (vertices, faces), shared likewise."""
    from facebench.geometry.closest import MeshProximity

    return _get("proximity", vertices, faces, MeshProximity)
