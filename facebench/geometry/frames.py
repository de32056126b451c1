"""Per-triangle local frames and vertex normals (SPEC section 2, deformation transfer).

A triangle (v0, v1, v2) has the right-handed orthonormal frame
tangent = unit(v1 - v0), normal = unit(cross(v1 - v0, v2 - v0)),
bitangent = normal x tangent.  An offset ``d`` is expressed in the frame as
``frames[f] @ d`` and carried back with ``frames[f].T @ local``.
"""

from __future__ import annotations

import numpy as np

# Relative size under which an edge or a cross product counts as degenerate.
_EPS = 1e-12


def face_normals(vertices, faces, unit: bool = True) -> np.ndarray:
    """Normals cross(v1 - v0, v2 - v0) per face (F,3); unit length unless ``unit=False``
    (then their length is twice the triangle area).  Degenerate faces get (0, 0, 0)."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    if not unit:
        return n
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, length, out=np.zeros_like(n), where=length > 0)


def triangle_frames(vertices, faces) -> np.ndarray:
    """Local frames (F,3,3) float64: rows [tangent, bitangent, normal].

    Degenerate triangles (zero-length edge or zero area) fall back to a frame built
    from whatever direction is still defined, and to the identity when none is, so
    the result never contains NaN.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    e1 = v[f[:, 1]] - v[f[:, 0]]
    e2 = v[f[:, 2]] - v[f[:, 0]]
    n = np.cross(e1, e2)

    scale = np.maximum(np.linalg.norm(e1, axis=1), np.linalg.norm(e2, axis=1))
    e1_len = np.linalg.norm(e1, axis=1)
    n_len = np.linalg.norm(n, axis=1)
    good_t = e1_len > _EPS * np.maximum(scale, 1e-300)
    good_n = n_len > _EPS * np.maximum(scale, 1e-300) ** 2

    t = np.zeros_like(e1)
    t[good_t] = e1[good_t] / e1_len[good_t, None]
    # Tangent fallback: the other edge, then world x.
    e2_len = np.linalg.norm(e2, axis=1)
    use_e2 = ~good_t & (e2_len > 0)
    t[use_e2] = e2[use_e2] / e2_len[use_e2, None]
    t[~good_t & ~use_e2] = (1.0, 0.0, 0.0)

    nn = np.zeros_like(n)
    nn[good_n] = n[good_n] / n_len[good_n, None]
    # Normal fallback: any unit vector orthogonal to the tangent.
    bad = ~good_n
    if bad.any():
        tb = t[bad]
        helper = np.where(np.abs(tb[:, [2]]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
        nb = np.cross(tb, np.cross(helper, tb))
        nn[bad] = nb / np.linalg.norm(nb, axis=1, keepdims=True)

    b = np.cross(nn, t)
    return np.stack([t, b, nn], axis=1)


def vertex_normals(vertices, faces) -> np.ndarray:
    """Area-weighted vertex normals (V,3), unit length; (0, 0, 0) for unused vertices."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    n_area = face_normals(v, f, unit=False)  # length = 2 * area, so the sum is area-weighted
    idx = f.T.reshape(-1)
    acc = np.stack(
        [np.bincount(idx, weights=np.tile(n_area[:, k], 3), minlength=len(v)) for k in range(3)], axis=1
    )
    length = np.linalg.norm(acc, axis=1, keepdims=True)
    return np.divide(acc, length, out=np.zeros_like(acc), where=length > 0)


def pseudo_normals(vertices, faces) -> tuple[np.ndarray, np.ndarray]:
    """Angle-weighted pseudo-normals (Baerentzen & Aanaes 2005) for signing distances.

    Returns (vertex (V,3): sum over incident faces of corner angle x unit face normal;
    edge (F,3,3): for each face's edges (v0v1, v1v2, v2v0), the sum of the unit
    normals of all faces sharing that edge).  Not normalized: only their direction
    is used.  The sign of ``pseudo_normal . (p - q)`` is correct for any p outside
    or inside a closed, consistently oriented mesh when q is p's closest point on
    that vertex or edge.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    n = face_normals(v, f)
    tri = v[f]
    angles = np.empty((len(f), 3))
    for k in range(3):
        e1 = tri[:, (k + 1) % 3] - tri[:, k]
        e2 = tri[:, (k + 2) % 3] - tri[:, k]
        cos = np.einsum("ij,ij->i", e1, e2)
        sin = np.linalg.norm(np.cross(e1, e2), axis=1)
        angles[:, k] = np.arctan2(sin, cos)
    idx = f.T.reshape(-1)  # corner k of every face, k = 0, 1, 2
    weighted = np.concatenate([angles[:, [k]] * n for k in range(3)])
    vertex = np.stack([np.bincount(idx, weights=weighted[:, c], minlength=len(v)) for c in range(3)], axis=1)

    # Edges (v0v1, v1v2, v2v0) of every face, keyed without orientation.
    a = f.reshape(-1)
    b = f[:, [1, 2, 0]].reshape(-1)
    key = np.minimum(a, b) * len(v) + np.maximum(a, b)
    _, edge_id = np.unique(key, return_inverse=True)
    n_rep = np.repeat(n, 3, axis=0)
    sums = np.stack([np.bincount(edge_id, weights=n_rep[:, c]) for c in range(3)], axis=1)
    edge = sums[edge_id].reshape(len(f), 3, 3)
    return vertex, edge
