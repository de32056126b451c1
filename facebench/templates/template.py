"""The :class:`Template`: a fixed-topology mesh, its deformation model and its
canonical space (SPEC section 2).  Both facebench-head and FLAME are instances.

Parameters of :meth:`Template.deform` (per frame; a leading frame axis ``T`` on
any of them gives ``(T,V,3)``):

=============  ===========  =================================================
name           shape        meaning
=============  ===========  =================================================
identity       (n_id,)      identity (shape) coefficients; shorter is zero-padded
expression     (n_exp,)     expression coefficients; shorter is zero-padded
neck           (3,)         axis-angle of the neck joint
jaw            (3,)         axis-angle of the jaw joint (x > 0 opens the mouth)
eyes           (6,)         axis-angle of the left eye, then the right eye
rotation       (3,)         axis-angle of the rigid head rotation
translation    (3,)         metres
scale          float        world = scale * R(rotation) @ x + translation
=============  ===========  =================================================
"""

from __future__ import annotations

import hashlib

import numpy as np

from facebench.errors import FacebenchError
from facebench.templates import lbs

# Arrays that define a template (hashed, cached, converted to torch).
ARRAY_FIELDS = (
    "canonical_vertices", "faces", "identity_basis", "expression_basis", "joint_regressor",
    "parents", "lbs_weights", "posedirs", "center", "scale", "regions", "landmark_face_id",
    "landmark_barycentric", "albedo",
)


class Template:
    """A canonical template.  Build one with :func:`facebench.templates.load`.

    Attributes: ``name``; ``canonical_vertices`` (V,3) float64 metres; ``faces`` (F,3)
    int64; ``identity_basis`` (V,3,n_id); ``expression_basis`` (V,3,n_exp);
    ``joint_regressor`` (J,V); ``parents`` (J,) (-1 for the root); ``lbs_weights``
    (V,J); ``posedirs`` (V,3,9(J-1)) or None; ``center`` (3,); ``scale`` float;
    ``regions`` (V,) uint8; ``face_regions`` (F,) uint8; ``landmarks`` =
    (face_id (68,), barycentric (68,3)) or None; ``albedo`` (V,3) float32 or None;
    ``identity_names``, ``expression_names``, ``joint_names`` (lists of str).
    """

    def __init__(self, name: str, arrays: dict):
        self.name = name
        self.canonical_vertices = np.asarray(arrays["canonical_vertices"], dtype=np.float64)
        self.faces = np.asarray(arrays["faces"], dtype=np.int64)
        self.identity_basis = np.asarray(arrays["identity_basis"], dtype=np.float64)
        self.expression_basis = np.asarray(arrays["expression_basis"], dtype=np.float64)
        self.joint_regressor = np.asarray(arrays["joint_regressor"], dtype=np.float64)
        self.parents = np.asarray(arrays["parents"], dtype=np.int64)
        self.lbs_weights = np.asarray(arrays["lbs_weights"], dtype=np.float64)
        posedirs = arrays.get("posedirs")
        self.posedirs = None if posedirs is None else np.asarray(posedirs, dtype=np.float64)
        self.center = np.asarray(arrays["center"], dtype=np.float64).reshape(3)
        self.scale = float(np.asarray(arrays["scale"]))
        self.regions = np.asarray(arrays["regions"], dtype=np.uint8)
        lmk_f = arrays.get("landmark_face_id")
        self.landmark_face_id = None if lmk_f is None else np.asarray(lmk_f, dtype=np.int64)
        lmk_b = arrays.get("landmark_barycentric")
        self.landmark_barycentric = None if lmk_b is None else np.asarray(lmk_b, dtype=np.float64)
        albedo = arrays.get("albedo")
        self.albedo = None if albedo is None else np.asarray(albedo, dtype=np.float32)
        self.face_regions = face_regions(self.regions, self.faces)
        self.identity_names: list[str] = [f"identity_{k}" for k in range(self.identity_basis.shape[2])]
        self.expression_names: list[str] = [f"expression_{k}" for k in range(self.expression_basis.shape[2])]
        self.joint_names: list[str] = [f"joint_{k}" for k in range(len(self.parents))]
        # True for ARKit-style blendshape templates (ict-light): expression weights live in [0, 1]
        self.blendshapes = False
        self._torch_cache: dict = {}
        self._canonical_proximity = None
        self.sha256 = array_sha256(name, self.arrays())

    def __getstate__(self):
        """Pickle the arrays only: caches (torch tensors, the libigl tree) are rebuilt on demand."""
        state = dict(self.__dict__)
        state["_torch_cache"] = {}
        state["_canonical_proximity"] = None
        return state

    # -- description -------------------------------------------------------------
    @property
    def n_vertices(self) -> int:
        return len(self.canonical_vertices)

    @property
    def n_identity(self) -> int:
        return self.identity_basis.shape[2]

    @property
    def n_expression(self) -> int:
        return self.expression_basis.shape[2]

    @property
    def landmarks(self):
        """(face_id (68,), barycentric (68,3)) in iBUG-68 order, or None."""
        if self.landmark_face_id is None:
            return None
        return self.landmark_face_id, self.landmark_barycentric

    def arrays(self) -> dict:
        return {k: getattr(self, k) for k in ARRAY_FIELDS if getattr(self, k) is not None}

    def __repr__(self) -> str:
        return (f"Template({self.name!r}, V={self.n_vertices}, F={len(self.faces)}, "
                f"n_identity={self.n_identity}, n_expression={self.n_expression})")

    # -- deformation -------------------------------------------------------------
    def deform(self, identity=None, expression=None, neck=None, jaw=None, eyes=None,
               rotation=None, translation=None, scale=1.0) -> np.ndarray:
        """World vertices (V,3), or (T,V,3) when any parameter has a leading frame axis."""
        n_frames, batched, (ident, expr, pose, rot, trans, s) = _gather(
            self, _NumpyOps(), identity, expression, neck, jaw, eyes, rotation, translation, scale)
        n_v = self.n_vertices
        offsets = (ident @ self.identity_basis.reshape(n_v * 3, -1).T
                   + expr @ self.expression_basis.reshape(n_v * 3, -1).T)
        v = self.canonical_vertices[None] + offsets.reshape(n_frames, n_v, 3)
        v = lbs.skin(v, pose, self.joint_regressor, self.parents, self.lbs_weights, self.posedirs)
        out = s[:, None, None] * (v @ np.swapaxes(lbs.rodrigues(rot), 1, 2)) + trans[:, None, :]
        return out if batched else out[0]

    def deform_torch(self, identity=None, expression=None, neck=None, jaw=None, eyes=None,
                     rotation=None, translation=None, scale=1.0):
        """Differentiable torch twin of :meth:`deform`; always returns (T,V,3) (T=1 unbatched).

        The dtype and device follow the first tensor given (float32 when none is)."""
        import torch

        given = [p for p in (identity, expression, neck, jaw, eyes, rotation, translation, scale)
                 if isinstance(p, torch.Tensor)]
        dtype = given[0].dtype if given else torch.float32
        device = given[0].device if given else torch.device("cpu")
        model = self._torch_arrays(dtype, device)
        ops = _TorchOps(dtype, device)
        n_frames, _, (ident, expr, pose, rot, trans, s) = _gather(
            self, ops, identity, expression, neck, jaw, eyes, rotation, translation, scale)
        offsets = ident @ model["identity_basis"] + expr @ model["expression_basis"]
        v = model["canonical_vertices"][None] + offsets.reshape(n_frames, self.n_vertices, 3)
        v = lbs.skin_torch(v, pose, model["joint_regressor"], self.parents, model["lbs_weights"],
                           model.get("posedirs"))
        rmat = lbs.rodrigues_torch(rot)
        return s[:, None, None] * (v @ rmat.transpose(1, 2)) + trans[:, None, :]

    def _torch_arrays(self, dtype, device) -> dict:
        import torch

        key = (dtype, str(device))
        if key not in self._torch_cache:
            n3 = 3 * self.n_vertices
            arrays = {  # bases flattened to (K, V*3) so that blending is one matmul
                "canonical_vertices": self.canonical_vertices, "joint_regressor": self.joint_regressor,
                "lbs_weights": self.lbs_weights,
                "identity_basis": self.identity_basis.reshape(n3, -1).T,
                "expression_basis": self.expression_basis.reshape(n3, -1).T,
            }
            if self.posedirs is not None:
                arrays["posedirs"] = self.posedirs.reshape(n3, -1).T
            self._torch_cache[key] = {k: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)
                                      for k, a in arrays.items()}
        return self._torch_cache[key]

    # -- canonical space -----------------------------------------------------------
    def normalize(self, x_canonical) -> np.ndarray:
        """Canonical metres (...,3) -> normalized canonical (x - center) / scale."""
        return (np.asarray(x_canonical, dtype=np.float64) - self.center) / self.scale

    def denormalize(self, c) -> np.ndarray:
        """Normalized canonical (...,3) -> canonical metres."""
        return np.asarray(c, dtype=np.float64) * self.scale + self.center

    def canonical_at(self, face_id, barycentric) -> np.ndarray:
        """Normalized canonical coordinates (N,3) of barycentric points on the canonical mesh."""
        tri = self.canonical_vertices[self.faces[np.asarray(face_id, dtype=np.int64)]]
        return self.normalize(np.einsum("nk,nkc->nc", np.asarray(barycentric, dtype=np.float64), tri))

    def to_canonical(self, points_world, vertices_t, max_offset: float = 0.05) -> np.ndarray:
        """Normalized canonical coordinates (N,3) of world points, NaN beyond ``max_offset``.

        SPEC section 2: closest point ``q`` on the mesh ``vertices_t`` (face f,
        barycentrics b); the offset ``p - q`` in triangle f's local frame is carried
        to the same barycentric point on the canonical mesh and re-expressed in the
        canonical triangle's frame."""
        from facebench.geometry import closest_points

        points = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        vertices_t = np.asarray(vertices_t, dtype=np.float64)
        out = np.full(points.shape, np.nan)
        finite = np.all(np.isfinite(points), axis=1)
        if not finite.any():
            return out
        hit = closest_points(vertices_t, self.faces, points[finite], max_distance=max_offset)
        ok = hit.face_id >= 0
        x_c = self._carry(hit.face_id[ok], hit.barycentric[ok], points[finite][ok] - hit.points[ok],
                          vertices_t, self.canonical_vertices)
        idx = np.flatnonzero(finite)[ok]
        out[idx] = self.normalize(x_c)
        return out

    def from_canonical(self, c, vertices_t) -> np.ndarray:
        """World points (N,3) for normalized canonical coordinates on mesh ``vertices_t``.

        Inverse of :meth:`to_canonical`: the closest point on the canonical mesh gives
        face and barycentrics; the point and its (small) offset are carried to
        ``vertices_t``.  Exact for points on the canonical surface; NaN rows stay NaN."""
        from facebench.geometry import MeshProximity

        c = np.asarray(c, dtype=np.float64).reshape(-1, 3)
        vertices_t = np.asarray(vertices_t, dtype=np.float64)
        out = np.full(c.shape, np.nan)
        finite = np.all(np.isfinite(c), axis=1)
        if not finite.any():
            return out
        if self._canonical_proximity is None:
            self._canonical_proximity = MeshProximity(self.canonical_vertices, self.faces)
        x_c = self.denormalize(c[finite])
        hit = self._canonical_proximity.query(x_c)
        out[finite] = self._carry(hit.face_id, hit.barycentric, x_c - hit.points,
                                  self.canonical_vertices, vertices_t)
        return out

    def _carry(self, face, barycentric, offset, vertices_src, vertices_dst) -> np.ndarray:
        """SPEC §2 deformation transfer: the point at (face, barycentric) plus ``offset``
        (expressed in the source triangle's tangent/bitangent/normal frame) on mesh
        ``vertices_src``, placed at the same barycentric point and local offset on
        ``vertices_dst``.  Returns (N,3) points of the destination mesh's space."""
        from facebench.geometry import triangle_frames

        tri = self.faces[face]
        local = np.einsum("nab,nb->na", triangle_frames(vertices_src, tri), offset)
        on_surface = np.einsum("nk,nkc->nc", barycentric, vertices_dst[tri])
        return on_surface + np.einsum("nba,nb->na", triangle_frames(vertices_dst, tri), local)

    def subset(self, vertex_ids) -> Template:
        """The same model on a subset of vertices (joint regressor support added), for fitting.

        Keeps ``vertex_ids`` plus every vertex a joint is regressed from, so joints, skinning and
        every kept vertex deform exactly as in the full template; faces whose three vertices are
        kept come along (renumbered).  ``.vertex_ids`` holds the kept ids (sorted)."""
        keep = np.zeros(self.n_vertices, bool)
        keep[np.asarray(vertex_ids, dtype=np.int64)] = True
        keep |= np.any(self.joint_regressor != 0, axis=0)
        ids = np.flatnonzero(keep)
        remap = np.full(self.n_vertices, -1, np.int64)
        remap[ids] = np.arange(len(ids))
        faces = remap[self.faces]
        arrays = {k: v for k, v in self.arrays().items() if not k.startswith("landmark_")}
        for key in ("canonical_vertices", "identity_basis", "expression_basis", "lbs_weights", "posedirs",
                    "regions", "albedo"):
            if key in arrays:
                arrays[key] = arrays[key][ids]
        arrays["joint_regressor"] = self.joint_regressor[:, ids]
        arrays["faces"] = faces[np.all(faces >= 0, axis=1)]
        out = Template(f"{self.name}[{len(ids)} vertices]", arrays)
        out.identity_names, out.expression_names = self.identity_names, self.expression_names
        out.joint_names, out.blendshapes = self.joint_names, self.blendshapes
        out.vertex_ids = ids
        return out

    def landmarks_world(self, vertices_t) -> np.ndarray:
        """(68,3) landmark positions on a deformed mesh (V,3); needs landmarks."""
        if self.landmarks is None:
            raise FacebenchError(f"template {self.name!r} has no landmark embedding")
        tri = np.asarray(vertices_t)[self.faces[self.landmark_face_id]]
        return np.einsum("nk,nkc->nc", self.landmark_barycentric, tri)


def face_regions(regions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Region per triangle (F,): the majority of its three vertex labels, ties -> smallest."""
    labels = np.sort(regions[faces], axis=1)
    # sorted triple (a, b, c): majority is b when a == b or b == c; otherwise all differ -> a
    has_majority = (labels[:, 0] == labels[:, 1]) | (labels[:, 1] == labels[:, 2])
    return np.where(has_majority, labels[:, 1], labels[:, 0]).astype(np.uint8)


def array_sha256(name: str, arrays: dict) -> str:
    """Stable hash of named arrays: float arrays rounded to 1e-7 and stored as float64."""
    h = hashlib.sha256(name.encode())
    for key in sorted(arrays):
        a = np.asarray(arrays[key])
        if a.dtype.kind == "f":
            a = np.round(a.astype(np.float64), 7) + 0.0  # + 0.0 folds -0.0 into 0.0
        elif a.dtype.kind in "iub":
            a = a.astype(np.int64)
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class _NumpyOps:
    """The few array operations :func:`_gather` needs, for numpy (float64)."""

    def array(self, x):
        return np.asarray(x, dtype=np.float64)

    def zeros(self, *shape):
        return np.zeros(shape)

    def cat(self, parts):
        return np.concatenate(parts, -1)

    def broadcast(self, v, shape):
        return np.broadcast_to(v, shape)


class _TorchOps:
    """The same operations for torch tensors of one dtype and device."""

    def __init__(self, dtype, device):
        import torch

        self.torch, self.dtype, self.device = torch, dtype, device

    def array(self, x):
        return self.torch.as_tensor(x, dtype=self.dtype, device=self.device)

    def zeros(self, *shape):
        return self.torch.zeros(shape, dtype=self.dtype, device=self.device)

    def cat(self, parts):
        return self.torch.cat(parts, -1)

    def broadcast(self, v, shape):
        return v.expand(shape)


def _gather(template, ops, identity, expression, neck, jaw, eyes, rotation, translation, scale):
    """Check parameter shapes and broadcast them to a common frame count T.

    Returns (T, batched, (identity (T,n_id), expression (T,n_exp), joint_pose (T,J,3),
    rotation (T,3), translation (T,3), scale (T,))); ``batched`` is True when any
    parameter had a frame axis."""
    given = {"identity": identity, "expression": expression, "neck": neck, "jaw": jaw, "eyes": eyes,
             "rotation": rotation, "translation": translation}
    sizes = {"identity": template.n_identity, "expression": template.n_expression, "neck": 3, "jaw": 3,
             "eyes": 6, "rotation": 3, "translation": 3}
    values = {}
    n_frames, batched = 1, False
    for name, value in given.items():
        if value is None:
            continue
        v = ops.array(value)
        size = sizes[name]
        paddable = name in ("identity", "expression")
        if v.ndim not in (1, 2) or (v.shape[-1] > size if paddable else v.shape[-1] != size):
            raise FacebenchError(f"{name} must have shape ({size},) or (T, {size}), got {tuple(v.shape)}")
        if v.shape[-1] < size:  # zero-pad shorter coefficient vectors
            v = ops.cat([v, ops.zeros(*v.shape[:-1], size - v.shape[-1])])
        if v.ndim == 2:
            n_frames, batched = _frames(name, n_frames, batched, v.shape[0])
        values[name] = v
    s = ops.array(scale).reshape(-1)
    if s.shape[0] > 1:
        n_frames, batched = _frames("scale", n_frames, batched, s.shape[0])

    def per_frame(name):
        v = values.get(name)
        return ops.zeros(n_frames, sizes[name]) if v is None else ops.broadcast(v, (n_frames, sizes[name]))

    n_joints = len(template.parents)
    pose = ops.cat([ops.zeros(n_frames, 3), per_frame("neck"), per_frame("jaw"), per_frame("eyes")])
    pose = pose[:, : 3 * n_joints].reshape(n_frames, n_joints, 3)
    return n_frames, batched, (per_frame("identity"), per_frame("expression"), pose, per_frame("rotation"),
                               per_frame("translation"), ops.broadcast(s, (n_frames,)))


def _frames(name, n_frames, batched, n):
    if batched and n != n_frames:
        raise FacebenchError(f"{name} has {n} frames but another parameter has {n_frames}")
    return n, True
