"""Ray casting a triangle mesh with Embree: depth, triangle id and barycentrics per pixel.

Embree (through the ``embreex`` bindings) finds the first triangle hit by each ray in
float32.  Every hit is then re-intersected with its own triangle in float64
(Moller-Trumbore), so the returned ray parameter and barycentrics are exact up to
float64 round-off; only *which* triangle is hit near a shared edge (within ~1e-6 of
the mesh size) depends on Embree's float32 arithmetic.  Without embreex, trimesh's
pure-numpy ray module is used instead (much slower, same outputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facebench.geometry.camera import Camera

# Rays per Embree call: bounds the float32 copies and Embree's output buffers (~40 B/ray).
_CHUNK_RAYS = 1 << 18
_CHUNK_REFINE = 1 << 14


@dataclass(frozen=True, eq=False)
class Render:
    """Per-pixel ray-cast result for one camera.

    depth (H,W) float32 z-depth in metres, NaN on miss; face_id (H,W) int32, -1 on miss;
    barycentric (H,W,3) float32, weights of the face's vertices (v0, v1, v2), 0 on miss;
    hit (H,W) bool.
    """

    depth: np.ndarray
    face_id: np.ndarray
    barycentric: np.ndarray
    hit: np.ndarray


class Raycaster:
    """First-hit ray queries against one triangle mesh; build once, query many times.

    ``vertices`` (V,3) and ``faces`` (F,3) in any frame (usually world, metres).
    Both sides of every triangle are hit (no back-face culling).
    """

    def __init__(self, vertices, faces):
        self.vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise ValueError(f"vertices must be (V, 3), got {self.vertices.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ValueError(f"faces must be (F, 3), got {self.faces.shape}")
        tri = self.vertices[self.faces]
        # v0, e1 = v1 - v0, e2 = v2 - v0 as rows (9,F): gathering columns gives contiguous rows.
        self._tri = np.ascontiguousarray(
            np.vstack([tri[:, 0].T, (tri[:, 1] - tri[:, 0]).T, (tri[:, 2] - tri[:, 0]).T])
        )
        # Embree works in float32: shift the mesh to its bounding-box centre so that
        # coordinates are small and float32 keeps ~1e-7 of the mesh size.
        lo, hi = self.vertices.min(axis=0), self.vertices.max(axis=0)
        self._shift = 0.5 * (lo + hi) if len(self.vertices) else np.zeros(3)
        self._scene = None
        self._trimesh = None
        try:
            from embreex import mesh_construction, rtcore_scene
        except ImportError:
            self._trimesh = _trimesh_intersector(self.vertices, self.faces)
        else:
            self._scene = rtcore_scene.EmbreeScene()
            mesh_construction.TriangleMesh(
                self._scene,
                (self.vertices - self._shift).astype(np.float32),
                self.faces.astype(np.int32),
            )

    def __getstate__(self):  # the Embree scene cannot be pickled: rebuild it (for worker processes)
        return {"vertices": self.vertices, "faces": self.faces}

    def __setstate__(self, state):
        self.__init__(state["vertices"], state["faces"])

    def intersect(self, origins, directions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """First hit of rays ``origins + t * directions`` (t >= 0), each (N,3) or broadcastable.

        Returns t (N,) float64 (inf on miss; in units of each direction's length),
        face_id (N,) int64 (-1 on miss) and barycentric (N,3) float64 (0 on miss) with
        hit point = b0 v0 + b1 v1 + b2 v2 of the hit face.
        """
        directions = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
        origins = np.asarray(origins, dtype=np.float64)
        one_origin = origins.size == 3
        origins = origins.reshape(-1, 3) if one_origin else np.broadcast_to(origins, directions.shape)
        n = len(directions)
        t = np.full(n, np.inf)
        face_id = np.full(n, -1, dtype=np.int64)
        bary = np.zeros((n, 3))
        for s in range(0, n, _CHUNK_RAYS):
            sl = slice(s, min(s + _CHUNK_RAYS, n))
            o = np.broadcast_to(origins, (sl.stop - s, 3)) if one_origin else origins[sl]
            face_id[sl] = self._first_hit(o, directions[sl])
        hits = np.flatnonzero(face_id >= 0)
        for s in range(0, len(hits), _CHUNK_REFINE):  # small blocks: the arithmetic stays in cache
            hit = hits[s : s + _CHUNK_REFINE]
            o = origins.T if one_origin else origins[hit].T
            t[hit], bary[hit] = self._refine(o, directions[hit].T, face_id[hit])
        return t, face_id, bary

    def render(self, camera: Camera) -> Render:
        """Ray-cast every pixel centre of ``camera`` (mesh in world coordinates).

        Rays are made and cast in blocks of rows, so memory beyond the outputs stays
        small (~100 MB at 1100x1604 whatever the hit rate).
        """
        H, W = camera.height, camera.width
        depth = np.full((H, W), np.nan, dtype=np.float32)
        face_id = np.full((H, W), -1, dtype=np.int32)
        bary = np.zeros((H, W, 3), dtype=np.float32)
        origin = camera.center_world
        # World direction of pixel (u, v) with unit camera z: R_world_from_cam K^-1 (u, v, 1).
        M = camera.T_world_from_cam[:3, :3] @ camera.K_inv
        rows = max(1, _CHUNK_RAYS // W)
        u = np.arange(W, dtype=np.float64)
        for y0 in range(0, H, rows):
            v = np.arange(y0, min(y0 + rows, H), dtype=np.float64)
            uv1 = np.stack(np.broadcast_arrays(u[None, :], v[:, None], 1.0), axis=-1).reshape(-1, 3)
            t, f, b = self.intersect(origin, uv1 @ M.T)
            block = slice(y0, y0 + len(v))
            hit = f >= 0
            depth[block] = np.where(hit, t, np.nan).reshape(len(v), W)
            face_id[block] = f.reshape(len(v), W)
            bary[block] = b.reshape(len(v), W, 3)
        return Render(depth=depth, face_id=face_id, barycentric=bary, hit=face_id >= 0)

    def render_many(self, cameras) -> list[Render]:
        """:meth:`render` for each camera, reusing the same acceleration structure."""
        return [self.render(camera) for camera in cameras]

    # -- internals --------------------------------------------------------------------------------

    def _first_hit(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """Face id of the first hit (-1 on miss) for one chunk of rays."""
        if self._scene is None:
            tri, ray = self._trimesh.intersects_id(origins, directions, multiple_hits=False)
            out = np.full(len(origins), -1, dtype=np.int64)
            out[ray] = tri
            return out
        result = self._scene.run(
            (origins - self._shift).astype(np.float32),
            directions.astype(np.float32),
            output=1,
        )
        return result["primID"].astype(np.int64)

    def _refine(self, o, d, face_id) -> tuple[np.ndarray, np.ndarray]:
        """Exact float64 ray-triangle intersection with the known hit faces (Moller-Trumbore).

        o (3,N) or (3,1) origins, d (3,N) directions.  Returns t (N,) and barycentrics
        (N,3); a ray parallel to its face (only possible through float32 disagreement)
        gets t = inf.
        """
        T = self._tri[:, face_id]
        e1x, e1y, e1z, e2x, e2y, e2z = T[3], T[4], T[5], T[6], T[7], T[8]
        dx, dy, dz = d
        px, py, pz = dy * e2z - dz * e2y, dz * e2x - dx * e2z, dx * e2y - dy * e2x  # d x e2
        det = e1x * px + e1y * py + e1z * pz
        ok = det != 0
        inv = np.divide(1.0, det, out=np.zeros_like(det), where=ok)
        sx, sy, sz = o[0] - T[0], o[1] - T[1], o[2] - T[2]
        u = (sx * px + sy * py + sz * pz) * inv
        qx, qy, qz = sy * e1z - sz * e1y, sz * e1x - sx * e1z, sx * e1y - sy * e1x  # s x e1
        v = (dx * qx + dy * qy + dz * qz) * inv
        t = np.where(ok, (e2x * qx + e2y * qy + e2z * qz) * inv, np.inf)
        return t, np.stack([1.0 - u - v, u, v], axis=1)


def _trimesh_intersector(vertices, faces):
    """trimesh's pure-numpy ray module, the fallback when embreex is missing (needs rtree)."""
    try:
        import rtree  # noqa: F401 - trimesh's ray_triangle needs it for its candidate search
        import trimesh
        from trimesh.ray.ray_triangle import RayMeshIntersector
    except ImportError:
        from facebench.errors import FacebenchError

        raise FacebenchError(
            "ray casting needs embreex (pip install embreex), or trimesh with rtree as a slow fallback"
        ) from None
    return RayMeshIntersector(trimesh.Trimesh(vertices, faces, process=False))


def render_mesh(vertices, faces, camera: Camera) -> Render:
    """Ray-cast one mesh (world coordinates) into one camera; see :class:`Raycaster`."""
    return Raycaster(vertices, faces).render(camera)
