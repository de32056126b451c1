"""Exact closest points on a triangle mesh for large point sets.

Scheme (pure numpy + scipy's cKDTree, exact up to float64 round-off):

1. A KD-tree over triangle centroids.  Every point of triangle f lies within
   ``r_f`` (its largest centroid-to-vertex distance) of the centroid c_f, so
   ``|p - c_f| - r_f`` is a lower bound on the distance from p to f, and ``|p - c_f|``
   an upper bound.
2. First candidates are the 8 nearest centroids; pairs whose lower bound exceeds
   the distance to the nearest centroid are skipped, the rest get the exact
   point-triangle distance (vectorised over all pairs, segmented minimum per point).
3. A point is resolved when the 8th centroid distance minus ``r_max`` (largest
   r_f) is at least its best distance: no untested triangle can be closer.  The
   others get every triangle whose centroid lies within best + r_max (a ball
   query), which is exhaustive by the same bound.

With ``max_distance`` the KD-tree queries stop at ``max_distance + r_max``, so far
points are answered (face_id -1) after one cheap tree query.  Work is done in
chunks of points, so memory stays bounded whatever the distances.  Building is
one KD-tree over F centroids (a few ms for 10k faces), cheap enough to redo for
every frame of a deforming mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facebench.geometry.frames import face_normals

_K_NEAREST = 8
_CHUNK_POINTS = 8192
_MAX_PAIRS = 1 << 14


@dataclass(frozen=True, eq=False)
class Closest:
    """Closest surface points for N query points.

    face_id (N,) int64, -1 where farther than ``max_distance``; barycentric (N,3)
    float64 weights of the face's vertices (v0, v1, v2); points (N,3) closest
    points; distance (N,) float64, signed: + on the side the face normal
    cross(v1 - v0, v2 - v0) points to.  Rows with face_id -1 are NaN.
    """

    face_id: np.ndarray
    barycentric: np.ndarray
    points: np.ndarray
    distance: np.ndarray


class MeshProximity:
    """Closest-point queries against one triangle mesh (V,3) / (F,3); build per frame."""

    def __init__(self, vertices, faces):
        from scipy.spatial import cKDTree

        self.vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        if self.faces.ndim != 2 or self.faces.shape[1] != 3 or len(self.faces) == 0:
            raise ValueError(f"faces must be (F, 3) with F > 0, got {self.faces.shape}")
        tri = self.vertices[self.faces]
        self._a = tri[:, 0]
        self._ab = tri[:, 1] - tri[:, 0]
        self._ac = tri[:, 2] - tri[:, 0]
        self._e00 = np.einsum("ij,ij->i", self._ab, self._ab)
        self._e01 = np.einsum("ij,ij->i", self._ab, self._ac)
        self._e11 = np.einsum("ij,ij->i", self._ac, self._ac)
        self._normals = face_normals(self.vertices, self.faces)
        centroids = tri.mean(axis=1)
        self._radius = np.linalg.norm(tri - centroids[:, None], axis=2).max(axis=1)
        self._r_max = float(self._radius.max())
        self._tree = cKDTree(centroids, balanced_tree=False, compact_nodes=False)

    def query(self, points, max_distance: float | None = None) -> Closest:
        """Closest surface point for each of ``points`` (N,3); see :class:`Closest`."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        n = len(points)
        face_id = np.full(n, -1, dtype=np.int64)
        st = np.zeros((n, 2))
        d2 = np.full(n, np.inf)
        limit = np.inf if max_distance is None else float(max_distance)
        for s in range(0, n, _CHUNK_POINTS):
            sl = slice(s, min(s + _CHUNK_POINTS, n))
            face_id[sl], st[sl], d2[sl] = self._query_chunk(points[sl], limit)

        found = face_id >= 0
        f = face_id[found]
        s_, t_ = st[found, 0], st[found, 1]
        bary = np.full((n, 3), np.nan)
        bary[found] = np.stack([1.0 - s_ - t_, s_, t_], axis=1)
        closest = np.full((n, 3), np.nan)
        closest[found] = self._a[f] + s_[:, None] * self._ab[f] + t_[:, None] * self._ac[f]
        offset = points[found] - closest[found]
        distance = np.full(n, np.nan)
        sign = np.where(np.einsum("ij,ij->i", offset, self._normals[f]) < 0, -1.0, 1.0)
        distance[found] = sign * np.linalg.norm(offset, axis=1)
        return Closest(face_id=face_id, barycentric=bary, points=closest, distance=distance)

    # -- internals --------------------------------------------------------------------------------

    def _query_chunk(self, p: np.ndarray, limit: float):
        """Best (face, (s, t), squared distance) for one chunk of points; face -1 beyond ``limit``."""
        n, n_faces = len(p), len(self._a)
        best_f = np.full(n, -1, dtype=np.int64)
        best_st = np.zeros((n, 2))
        best_d2 = np.full(n, np.inf)
        k = min(_K_NEAREST, n_faces)
        dist, idx = self._tree.query(p, k=k, distance_upper_bound=self._r_max + limit)
        dist, idx = dist.reshape(n, k), idx.reshape(n, k)
        valid = idx < n_faces
        cand = np.where(valid, idx, 0)
        # The nearest centroid lies on its triangle: an upper bound before any test.
        upper = np.minimum(dist[:, 0], limit)
        keep = valid & (dist - self._radius[cand] <= upper[:, None])
        rows, cols = np.nonzero(keep)
        self._test_pairs(p, rows, cand[rows, cols], best_f, best_st, best_d2)
        # Resolved: every untested triangle is at least (k-th distance - r_max) away
        # (the k-th distance is inf when fewer than k centroids lie within the limit).
        reach = np.minimum(np.sqrt(best_d2), limit)
        todo = np.flatnonzero((dist[:, -1] - self._r_max < reach) & (k < n_faces))
        if len(todo):
            self._ball_pass(p, todo, limit, best_f, best_st, best_d2)
        best_f[best_d2 > limit * limit] = -1
        return best_f, best_st, best_d2

    def _ball_pass(self, p, todo, limit, best_f, best_st, best_d2):
        """Exhaustive candidates within best + r_max for the points still unresolved.

        Counted first, then fetched in batches of at most ``_MAX_PAIRS`` pairs, so far
        points (whose balls hold many triangles) cannot exhaust memory.
        """
        import itertools

        radius = np.minimum(np.sqrt(best_d2[todo]), limit) + self._r_max
        counts = np.asarray(self._tree.query_ball_point(p[todo], radius, return_length=True))
        start = 0
        while start < len(todo):
            stop = start + max(1, int(np.searchsorted(np.cumsum(counts[start:]), _MAX_PAIRS, "right")))
            sub = todo[start:stop]
            lists = self._tree.query_ball_point(p[sub], radius[start:stop], return_sorted=False)
            faces = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64)
            self._test_pairs(p, np.repeat(sub, counts[start:stop]), faces, best_f, best_st, best_d2)
            start = stop

    def _test_pairs(self, p, pi, fi, best_f, best_st, best_d2):
        """Exact distances for pairs (point pi, face fi), pi sorted; keeps each point's best."""
        if len(pi) == 0:
            return
        d2, s, t = self._pair_distance2(p[pi], fi)
        starts = np.flatnonzero(np.r_[True, pi[1:] != pi[:-1]])
        seg_min = np.minimum.reduceat(d2, starts)
        owner = pi[starts]
        better = seg_min < best_d2[owner]
        if not better.any():
            return
        # Index of the (last) pair reaching each segment's minimum.
        seg_of_pair = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(pi)]))
        is_min = d2 == seg_min[seg_of_pair]
        winner = np.zeros(len(starts), dtype=np.int64)
        winner[seg_of_pair[is_min]] = np.flatnonzero(is_min)
        w = winner[better]
        o = owner[better]
        best_d2[o] = d2[w]
        best_f[o] = fi[w]
        best_st[o, 0] = s[w]
        best_st[o, 1] = t[w]

    def _pair_distance2(self, q: np.ndarray, f: np.ndarray):
        """Squared distance from points q (P,3) to faces f (P,), with the closest point a + s ab + t ac.

        The closest point is the plane projection when it falls inside the triangle,
        else the nearest of the three clamped edge projections.  All of it is written
        in the dot products d1 = ab.ap, d2 = ac.ap and the face's Gram entries.
        """
        ap = q - self._a[f]
        ab, ac = self._ab[f], self._ac[f]
        d1 = np.einsum("ij,ij->i", ab, ap)
        d2 = np.einsum("ij,ij->i", ac, ap)
        pp = np.einsum("ij,ij->i", ap, ap)
        e00, e01, e11 = self._e00[f], self._e01[f], self._e11[f]

        with np.errstate(divide="ignore", invalid="ignore"):
            # Edge ab (t = 0) and edge ac (s = 0): |ap - s ab|^2 = pp + s (s e00 - 2 d1).
            s_ab = np.clip(np.where(e00 > 0, d1 / e00, 0.0), 0.0, 1.0)
            t_ac = np.clip(np.where(e11 > 0, d2 / e11, 0.0), 0.0, 1.0)
            # Edge bc: b + w (c - b) = a + (1 - w) ab + w ac, so with bp = ap - ab:
            # |bp - w bc|^2 = |bp|^2 + w (w |bc|^2 - 2 bc.bp).
            den = e00 - 2.0 * e01 + e11
            bc_bp = d2 - d1 - e01 + e00
            w_bc = np.clip(np.where(den > 0, bc_bp / den, 0.0), 0.0, 1.0)
            # Interior: solve the 2x2 normal equations; there |ap - s ab - t ac|^2 = pp - s d1 - t d2.
            det = e00 * e11 - e01 * e01
            s_in = (e11 * d1 - e01 * d2) / det
            t_in = (e00 * d2 - e01 * d1) / det
        inside = (det > 0) & (s_in >= 0) & (t_in >= 0) & (s_in + t_in <= 1)

        q_ab = pp + s_ab * (s_ab * e00 - 2.0 * d1)
        q_ac = pp + t_ac * (t_ac * e11 - 2.0 * d2)
        q_bc = (pp - 2.0 * d1 + e00) + w_bc * (w_bc * den - 2.0 * bc_bp)
        s = np.where(q_ac < q_ab, 0.0, s_ab)
        t = np.where(q_ac < q_ab, t_ac, 0.0)
        best = np.minimum(q_ab, q_ac)
        take = q_bc < best
        s = np.where(take, 1.0 - w_bc, s)
        t = np.where(take, w_bc, t)
        best = np.where(take, q_bc, best)
        s = np.where(inside, s_in, s)
        t = np.where(inside, t_in, t)
        best = np.where(inside, pp - s_in * d1 - t_in * d2, best)
        return np.maximum(best, 0.0), s, t


def closest_points(vertices, faces, points, max_distance: float | None = None) -> Closest:
    """Closest points on the mesh (V,3)/(F,3) for ``points`` (N,3); see :class:`MeshProximity`."""
    return MeshProximity(vertices, faces).query(points, max_distance=max_distance)
