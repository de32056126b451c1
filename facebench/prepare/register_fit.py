"""Fit a template to registered meshes (one fixed topology per participant) through a fixed binding.

1. **Binding**, once per participant, on its neutral registered frame: the template is
   fitted to the registered surface with the depth pipeline's fit
   (:func:`facebench.prepare.fit.fit_sequence`: multi-start rigid alignment, identity and
   expression, normal offsets) on a dense sampling of the mesh; then every registered
   vertex is bound to its closest point on the fitted template's data regions (triangle,
   barycentrics, signed normal offset), unless farther than ``max_bind`` or with
   disagreeing normals (parts the template does not have).
2. **Tracking**, per frame: the head's rigid motion from neutral (robust Kabsch on the
   bound registered vertices), then a sparse linear solve for the template displacement
   ``D`` minimising ``sum_k |W_k (Y0 + D) + o_k n_k - r_k|^2 + a |L D|^2 + b |D|^2``
   (``W`` barycentric rows of the binding, ``o_k n_k`` the fixed normal offset along the
   posed normal, ``L`` the umbrella Laplacian, ``Y0`` the neutral fit moved rigidly).
   Each registered vertex stays bound to the same template surface point in every
   frame, so there is no tangential drift by construction; template parts without
   registered vertices (eyeballs, mouth interior) follow smoothly or rigidly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facebench.prepare.fit import FitConfig, FitResult, mesh_edges


@dataclass(frozen=True)
class RegisteredConfig:
    """Knobs of the binding and the per-frame solve (lengths in metres)."""

    bind_regions: tuple = (1, 2, 3, 4)  # template regions registered vertices may bind to
    max_bind: float = 0.006  # farther registered vertices stay unbound
    min_normal_dot: float = 0.3
    samples_per_face: int = 3  # neutral fit cloud: vertices plus this many points per triangle
    w_laplacian: float = 1.0
    w_rigid: float = 1.0e-4  # pull of unobserved template parts towards the rigidly moved neutral fit
    pose_iterations: int = 4  # robust Kabsch rounds
    pose_sigma: float = 0.003  # Geman-McClure scale of the robust Kabsch
    refine_normals: int = 1  # solves repeated with the normals of the previous solve


@dataclass
class Binding:
    """Registered vertices -> template surface, fixed on the participant's neutral frame."""

    vertex_ids: np.ndarray  # (K,) bound registered vertices
    face: np.ndarray  # (K,) template triangles
    barycentric: np.ndarray  # (K,3)
    offset: np.ndarray  # (K,) signed normal offset, metres
    neutral_registered: np.ndarray  # (V_r,3) world
    neutral_template: np.ndarray  # (V_t,3) world, the fitted template
    params: dict = field(default_factory=dict)  # the neutral fit's parameters (identity, scale, ...)
    stats: dict = field(default_factory=dict)


def surface_samples(vertices, faces, per_face: int, seed: int = 0):
    """Vertices plus ``per_face`` seeded barycentric points per triangle, with normals."""
    from facebench.geometry import face_normals, vertex_normals

    rng = np.random.default_rng(seed)
    pts, nrm = [vertices], [vertex_normals(vertices, faces)]
    fn = face_normals(vertices, faces)
    for _ in range(per_face):
        b = rng.dirichlet((2.0, 2.0, 2.0), len(faces))
        pts.append(np.einsum("fk,fkc->fc", b, vertices[faces]))
        nrm.append(fn)
    return np.concatenate(pts), np.concatenate(nrm)


def bind(template, reg_vertices, reg_faces, cameras, serials, fit_config: FitConfig,
         config: RegisteredConfig = RegisteredConfig()) -> Binding:
    """Fit ``template`` to the neutral registered mesh and bind its vertices (see the module)."""
    from facebench.geometry import MeshProximity, face_normals, vertex_normals
    from facebench.prepare.fit import fit_sequence
    from facebench.prepare.pointcloud import PointCloud

    reg = np.asarray(reg_vertices, np.float64)
    xyz, nrm = surface_samples(reg, reg_faces, config.samples_per_face)
    fit = fit_sequence(template, [PointCloud(xyz, nrm)], cameras, serials, None, fit_config)
    Y = np.asarray(fit.vertices[0], np.float64)
    keep = np.flatnonzero(np.isin(template.face_regions, config.bind_regions))
    hit = MeshProximity(Y, template.faces[keep]).query(reg, max_distance=config.max_bind)
    ok = hit.face_id >= 0
    face = keep[np.where(ok, hit.face_id, 0)]
    n_reg = vertex_normals(reg, reg_faces)
    n_tmp = face_normals(Y, template.faces)[face]
    ok &= np.einsum("ij,ij->i", n_reg, n_tmp) >= config.min_normal_dot
    ids = np.flatnonzero(ok)
    if len(ids) < 10:
        from facebench.errors import FacebenchError

        raise FacebenchError(f"only {len(ids)} registered vertices lie within "
                             f"{config.max_bind * 1000:.0f} mm of the fitted template: neutral fit failed")
    dist = np.abs(hit.distance[ids]) * 1000.0
    stats = {"bound_fraction": float(len(ids) / len(reg)), "bind_distance_mm_median": float(np.median(dist)),
             "bind_distance_mm_p90": float(np.percentile(dist, 90)),
             "neutral_fit_residual_mm": float(np.nanmedian(fit.residual_mm))}
    return Binding(ids, face[ids], hit.barycentric[ids], hit.distance[ids], reg, Y, fit.params, stats)


def _weights(template, binding: Binding):
    import scipy.sparse as sp

    tri = template.faces[binding.face]
    K = len(tri)
    return sp.csr_matrix((binding.barycentric.ravel(), (np.repeat(np.arange(K), 3), tri.ravel())),
                         shape=(K, template.n_vertices))


def _laplacian(faces, n: int):
    import scipy.sparse as sp

    edges, degree = mesh_edges(faces, n)
    rows, cols = np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]]
    A = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return sp.identity(n, format="csr") - sp.diags(1.0 / np.maximum(degree, 1)) @ A


def robust_pose(src, dst, iterations: int, sigma: float):
    """(R, t) with dst ~ R src + t, Geman-McClure reweighted Kabsch (the jaw and lips move)."""
    from facebench.prepare.rigid import kabsch

    w = np.ones(len(src))
    for _ in range(max(1, iterations)):
        R, t = kabsch(src, dst, w)
        r2 = np.sum((src @ R.T + t - dst) ** 2, axis=1)
        w = (sigma ** 2 / (sigma ** 2 + r2)) ** 2
    return R, t


def track(template, binding: Binding, reg_vertices,
          config: RegisteredConfig = RegisteredConfig()) -> FitResult:
    """The template (T,V,3) following registered vertices (T,V_r,3) through ``binding``."""
    import time

    from scipy.sparse import identity
    from scipy.sparse.linalg import splu

    from facebench.geometry import face_normals

    start = time.perf_counter()
    reg = np.asarray(reg_vertices, np.float64)
    T, V = len(reg), template.n_vertices
    W = _weights(template, binding)
    L = _laplacian(template.faces, V)
    A = (W.T @ W + config.w_laplacian * (L.T @ L) + config.w_rigid * identity(V)).tocsc()
    solve = splu(A).solve
    ids = binding.vertex_ids
    n0 = face_normals(binding.neutral_template, template.faces)[binding.face]
    out = np.empty((T, V, 3))
    residual, rotations = np.empty(T), np.empty((T, 3, 3))
    for t in range(T):
        R, tr = robust_pose(binding.neutral_registered[ids], reg[t][ids], config.pose_iterations,
                            config.pose_sigma)
        rotations[t] = R
        Y0 = binding.neutral_template @ R.T + tr
        normals = n0 @ R.T
        Y = Y0
        for _ in range(1 + max(0, config.refine_normals)):
            b = reg[t][ids] - binding.offset[:, None] * normals - W @ Y0
            Y = Y0 + solve(np.asarray(W.T @ b))
            normals = face_normals(Y, template.faces)[binding.face]
        out[t] = Y
        r = W @ Y + binding.offset[:, None] * normals - reg[t][ids]
        residual[t] = float(np.median(np.linalg.norm(r, axis=1))) * 1000.0
    matched = np.full(T, len(ids) / len(binding.neutral_registered))
    params = {k: v for k, v in binding.params.items() if k in ("identity", "scale")}
    return FitResult(out.astype(np.float32), params, residual, matched, time.perf_counter() - start,
                     stats={"head_rotation": rotations, **binding.stats})
