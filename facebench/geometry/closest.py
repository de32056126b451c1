"""Exact closest points on a triangle mesh for large point sets.

Scheme (pure numpy + scipy's cKDTree, exact up to float64 round-off):

1. KD-trees over triangle centroids.  Triangle f lies in the disc of radius ``r_f``
   (largest centroid-to-vertex distance) around its centroid c_f in its plane, so
   with h = n_f.(p - c_f) the distance from p to f is at least
   sqrt(h^2 + max(0, sqrt(|p - c_f|^2 - h^2) - r_f)^2) (at least |p - c_f| - r_f),
   and at most |p - c_f|.
2. First candidates are the 8 nearest centroids; pairs whose lower bound exceeds
   the distance to the nearest centroid are skipped, the rest get the exact
   point-triangle distance (vectorised over all pairs, segmented minimum per point).
3. Triangles are split into radius classes (factors of 2), one KD-tree each.  For
   a class of largest radius R, a point is resolved when its 8th centroid distance
   minus R is at least its best distance: no untested triangle of the class can be
   closer.  Otherwise the class's centroids within best + R (a ball query) are
   pruned with the lower bound above and tested, which is exhaustive.

With ``max_distance`` the KD-tree queries stop at ``max_distance + r_max``, so far
points are answered (face_id -1) after one cheap tree query.  Work is done in
chunks of points, so memory stays bounded whatever the distances.  Building is
a few KD-trees over F centroids (a few ms for 10k faces), cheap enough to redo for
every frame of a deforming mesh.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from facebench.geometry.frames import face_normals, pseudo_normals

_K_NEAREST = 8
_N_CLASSES = 6
_CLASS_RATIO = 2.0
_CHUNK_POINTS = 8192
_MAX_PAIRS = 1 << 15  # candidate pairs per vectorised batch
_MAX_FETCH = 1 << 18  # ball-query candidates per fetch


@dataclass(frozen=True, eq=False)
class Closest:
    """Closest surface points for N query points.

    face_id (N,) int64, -1 where farther than ``max_distance``; barycentric (N,3)
    float64 weights of the face's vertices (v0, v1, v2); points (N,3) closest
    points; distance (N,) float64, signed: + on the side the face normal
    cross(v1 - v0, v2 - v0) points to (for a closest point on an edge or vertex,
    the angle-weighted pseudo-normal there).  Rows with face_id -1 are NaN.
    """

    face_id: np.ndarray
    barycentric: np.ndarray
    points: np.ndarray
    distance: np.ndarray


class MeshProximity:
    """Closest-point queries against one triangle mesh (V,3) / (F,3); build per frame.

    ``backend``: "numpy" (the scheme in the module docstring), "igl" (libigl's AABB
    tree picks each point's face; the closest point on it is then computed here, so
    both backends return the same conventions), or "auto" (igl when installed).
    """

    def __init__(self, vertices, faces, backend: str = "auto"):
        from scipy.spatial import cKDTree

        self.vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        if self.faces.ndim != 2 or self.faces.shape[1] != 3 or len(self.faces) == 0:
            raise ValueError(f"faces must be (F, 3) with F > 0, got {self.faces.shape}")
        tri = self.vertices[self.faces]
        a, ab, ac = tri[:, 0], tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
        gram = [np.einsum("ij,ij->i", x, y) for x, y in ((ab, ab), (ab, ac), (ac, ac))]
        # Per-face data in rows, so that gathering columns gives contiguous rows per pair:
        # a, ab, ac (9 rows) and the Gram entries ab.ab, ab.ac, ac.ac.
        self._tri = np.ascontiguousarray(np.vstack([a.T, ab.T, ac.T, gram]))
        self._normals = face_normals(self.vertices, self.faces)
        self._pseudo = None  # vertex and edge pseudo-normals, made on first need
        centroids = tri.mean(axis=1)
        radius = np.linalg.norm(tri - centroids[:, None], axis=2).max(axis=1)
        # Bounding data: centroid, unit normal, radius (7 rows).
        self._bound = np.ascontiguousarray(np.vstack([centroids.T, self._normals.T, radius]))
        self._r_max = float(radius.max())
        self._tree = cKDTree(centroids, balanced_tree=False, compact_nodes=False)
        self.backend = _pick_backend(backend)
        if self.backend == "igl":
            import igl

            self._aabb = igl.AABB()
            self._aabb.init(self.vertices, self.faces)
            return
        # Radius classes (factors of 2 below the largest): a ball query per class only
        # needs best + (the class's largest radius), so a few big triangles do not make
        # every query wide on a mesh of mixed triangle sizes.
        with np.errstate(divide="ignore"):
            level = np.floor(np.log(self._r_max / radius) / np.log(_CLASS_RATIO))
        level = np.clip(np.nan_to_num(level, posinf=_N_CLASSES), 0, _N_CLASSES - 1).astype(np.int64)
        self._classes = []
        for c in range(_N_CLASSES):
            members = np.flatnonzero(level == c)
            if len(members):
                tree = cKDTree(centroids[members], balanced_tree=False, compact_nodes=False)
                self._classes.append((members, float(radius[members].max()), tree))

    def __getstate__(self):  # libigl's tree cannot be pickled: rebuild (for worker processes)
        return {"vertices": self.vertices, "faces": self.faces, "backend": self.backend}

    def __setstate__(self, state):
        self.__init__(state["vertices"], state["faces"], backend=state["backend"])

    def query(self, points, max_distance: float | None = None) -> Closest:
        """Closest surface point for each of ``points`` (N,3); see :class:`Closest`."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        n = len(points)
        face_id = np.full(n, -1, dtype=np.int64)
        st = np.zeros((n, 2))
        limit = np.inf if max_distance is None else float(max_distance)
        igl = self.backend == "igl"
        query_chunk, chunk = (
            (self._query_chunk_igl, 8 * _CHUNK_POINTS) if igl else (self._query_chunk, _CHUNK_POINTS)
        )
        for s in range(0, n, chunk):
            sl = slice(s, min(s + chunk, n))
            face_id[sl], st[sl] = query_chunk(points[sl], limit)

        found = face_id >= 0
        f = face_id[found]
        s_, t_ = st[found, 0], st[found, 1]
        bary = np.full((n, 3), np.nan)
        bary[found] = np.stack([1.0 - s_ - t_, s_, t_], axis=1)
        tri = self._tri[:9, f]
        closest = np.full((n, 3), np.nan)
        closest[found] = (tri[0:3] + s_ * tri[3:6] + t_ * tri[6:9]).T
        offset = points[found] - closest[found]
        distance = np.full(n, np.nan)
        normal = self._sign_normals(f, bary[found])
        sign = np.where(np.einsum("ij,ij->i", offset, normal) < 0, -1.0, 1.0)
        distance[found] = sign * np.linalg.norm(offset, axis=1)
        return Closest(face_id=face_id, barycentric=bary, points=closest, distance=distance)

    # -- internals --------------------------------------------------------------------------------

    def _sign_normals(self, f: np.ndarray, bary: np.ndarray) -> np.ndarray:
        """Normals (N,3) that sign the distances: the face normal when the closest point is
        inside face f, else the angle-weighted pseudo-normal of the edge or vertex it lies
        on, so that the sign does not depend on which of equally close faces is reported."""
        normal = self._normals[f]
        on_zero = bary <= 1e-12
        n_zero = on_zero.sum(axis=1)
        if not n_zero.any():
            return normal
        if self._pseudo is None:
            self._pseudo = pseudo_normals(self.vertices, self.faces)
        vertex_pn, edge_pn = self._pseudo
        edge = np.flatnonzero(n_zero == 1)  # zero weight at corner k: edge (k+1, k+2), local edge k+1
        local = (np.argmax(on_zero[edge], axis=1) + 1) % 3
        normal[edge] = edge_pn[f[edge], local]
        corner = np.flatnonzero(n_zero == 2)
        normal[corner] = vertex_pn[self.faces[f[corner], np.argmin(on_zero[corner], axis=1)]]
        return normal

    def _query_chunk_igl(self, p: np.ndarray, limit: float):
        """:meth:`_query_chunk` with libigl's AABB tree choosing the face."""
        face = np.full(len(p), -1, dtype=np.int64)
        st = np.zeros((len(p), 2))
        near = np.arange(len(p))
        if np.isfinite(limit):  # no centroid within limit + r_max: certainly beyond the limit
            d0, _ = self._tree.query(p, k=1, distance_upper_bound=limit + self._r_max)
            near = np.flatnonzero(np.isfinite(d0))
        if len(near):
            _, nearest, _ = self._aabb.squared_distance(self.vertices, self.faces, p[near])
            d2, s, t = self._pair_distance2(np.ascontiguousarray(p[near].T), nearest)
            ok = d2 <= limit * limit
            face[near[ok]] = nearest[ok]
            st[near[ok], 0], st[near[ok], 1] = s[ok], t[ok]
        return face, st

    def _query_chunk(self, p: np.ndarray, limit: float):
        """Best face (-1 beyond ``limit``) and (s, t) for one chunk of points p (n,3)."""
        n, n_faces = len(p), self._tri.shape[1]
        pT = np.ascontiguousarray(p.T)
        best = _Best(n)
        k = min(_K_NEAREST, n_faces)
        dist, idx = self._tree.query(p, k=k, distance_upper_bound=self._r_max + limit)
        dist, idx = dist.reshape(n, k), idx.reshape(n, k)
        rows, cols = np.nonzero(idx < n_faces)
        # The nearest centroid lies on its triangle: an upper bound before any test.
        reach = np.minimum(dist[:, 0], limit)
        self._test_pairs(pT, rows, idx[rows, cols], reach[rows], best)
        # Class c is resolved for a point when (k-th centroid distance - its largest radius)
        # is at least the best distance: no untested triangle of the class can be closer
        # (the k-th distance is inf when fewer than k centroids lie within the limit).
        if k < n_faces:
            for members, r_class, tree in self._classes:
                reach = np.minimum(np.sqrt(best.d2), limit)
                todo = np.flatnonzero(dist[:, -1] - r_class < reach)
                radius = reach[todo] + r_class
                # Counted first, then fetched in batches of at most _MAX_FETCH candidates,
                # so that far points (whose balls hold many triangles) cannot exhaust memory.
                cum = np.cumsum(tree.query_ball_point(p[todo], radius, return_length=True))
                start = 0
                while start < len(todo):
                    base = cum[start - 1] if start else 0
                    stop = max(start + 1, int(np.searchsorted(cum, base + _MAX_FETCH, "right")))
                    sub = todo[start:stop]
                    lists = tree.query_ball_point(p[sub], radius[start:stop], return_sorted=False)
                    counts = np.diff(cum[start:stop], prepend=base)
                    faces = members[np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64)]
                    pi = np.repeat(sub, counts)
                    self._test_pairs(pT, pi, faces, reach[pi], best)
                    start = stop
        best.face[best.d2 > limit * limit] = -1
        return best.face, best.st

    def _test_pairs(self, pT, pi, fi, reach, best):
        """Exact distances for pairs (point pi, face fi), pi sorted, whose lower bound is
        within ``reach`` (per pair); keeps each point's best in ``best``."""
        for s in range(0, len(pi), _MAX_PAIRS):
            sl = slice(s, s + _MAX_PAIRS)
            q = pT[:, pi[sl]]
            # (slack: the bound is tested in float arithmetic, and more tests stay exact)
            keep = np.flatnonzero(self._lower_bound2(q, fi[sl]) <= reach[sl] ** 2 * (1 + 1e-9))
            if len(keep):
                best.update(pi[sl][keep], fi[sl][keep], *self._pair_distance2(q[:, keep], fi[sl][keep]))

    def _lower_bound2(self, q: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Squared lower bound on the distance from points q (3,P) to faces f (P,) (module doc)."""
        c, r = self._bound[:, f], self._bound[6, f]
        px, py, pz = q[0] - c[0], q[1] - c[1], q[2] - c[2]
        h = c[3] * px + c[4] * py + c[5] * pz
        h2 = h * h
        lateral = np.sqrt(np.maximum(px * px + py * py + pz * pz - h2, 0.0)) - r
        return h2 + np.square(np.maximum(lateral, 0.0))

    def _pair_distance2(self, q: np.ndarray, f: np.ndarray):
        """Squared distance from points q (3,P) to faces f (P,), with the closest point a + s ab + t ac.

        The closest point is the plane projection when it falls inside the triangle,
        else the nearest of the three clamped edge projections.  All of it is written
        in the dot products d1 = ab.ap, d2 = ac.ap and the face's Gram entries.
        """
        T = self._tri[:, f]
        apx, apy, apz = q[0] - T[0], q[1] - T[1], q[2] - T[2]
        d1 = T[3] * apx + T[4] * apy + T[5] * apz
        d2 = T[6] * apx + T[7] * apy + T[8] * apz
        pp = apx * apx + apy * apy + apz * apz
        e00, e01, e11 = T[9], T[10], T[11]
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


def _pick_backend(backend: str) -> str:
    if backend not in ("auto", "igl", "numpy"):
        raise ValueError(f"backend must be 'auto', 'igl' or 'numpy', got {backend!r}")
    if backend == "numpy":
        return "numpy"
    try:
        import igl

        igl.AABB  # noqa: B018 - libigl >= 2.6 (nanobind bindings)
    except (ImportError, AttributeError):
        if backend == "igl":
            raise ImportError("the 'igl' backend needs libigl >= 2.6: pip install 'libigl>=2.6'") from None
        return "numpy"
    return "igl"


class _Best:
    """Running best (squared distance, face, (s, t)) per point of a chunk."""

    def __init__(self, n: int):
        self.d2 = np.full(n, np.inf)
        self.face = np.full(n, -1, dtype=np.int64)
        self.st = np.zeros((n, 2))

    def update(self, pi, fi, d2, s, t):
        """Fold in pairs (point pi sorted, face fi) with their squared distances and (s, t)."""
        starts = np.flatnonzero(np.r_[True, pi[1:] != pi[:-1]])
        seg_min = np.minimum.reduceat(d2, starts)
        owner = pi[starts]
        better = seg_min < self.d2[owner]
        if not better.any():
            return
        # Index of the (last) pair reaching each segment's minimum.
        seg_of_pair = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(pi)]))
        is_min = d2 == seg_min[seg_of_pair]
        winner = np.zeros(len(starts), dtype=np.int64)
        winner[seg_of_pair[is_min]] = np.flatnonzero(is_min)
        w, o = winner[better], owner[better]
        self.d2[o] = d2[w]
        self.face[o] = fi[w]
        self.st[o, 0] = s[w]
        self.st[o, 1] = t[w]


def closest_points(
    vertices, faces, points, max_distance: float | None = None, backend: str = "auto"
) -> Closest:
    """Closest points on the mesh (V,3)/(F,3) for ``points`` (N,3); see :class:`MeshProximity`."""
    return MeshProximity(vertices, faces, backend=backend).query(points, max_distance=max_distance)
