"""Fit a template to a sequence of world point clouds (torch, CPU or GPU).

Stages, all frames of a sequence batched together:

1. **Initialisation**: from tracking parameters when given (SPEC §3), else a
   landmark-free rigid alignment (:mod:`facebench.prepare.rigid`).
2. **Parameters**: identity (shared), expression, jaw, neck, eyes and rigid
   pose per frame, minimising a robust (Geman-McClure) point-to-plane distance
   from template vertices to their nearest cloud points, plus temporal
   smoothness and Gaussian priors.  Correspondences (scipy ``cKDTree``) are
   recomputed every few iterations; only vertices of data regions whose match
   is close and normal-compatible count, so unseen regions do not pull.
3. **Residual**: a per-vertex offset along the normal, Laplacian-smooth in
   space and smooth in time, bounded by ``max_offset``, so the surface hugs
   the observed geometry without sliding tangentially (which would corrupt
   the canonical correspondence).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from facebench.prepare import rigid

POSE_PARTS = ("jaw", "neck", "eyes")


@dataclass(frozen=True)
class FitConfig:
    """Knobs of :func:`fit_sequence` (lengths in metres)."""

    data_regions: tuple = (1, 3, 4)  # regions that may match cloud points (not the scalp: hair covers it)
    rigid_yaws_deg: tuple = (-30, 0, 30)
    rigid_pitches_deg: tuple = (-20, 0, 20)
    rigid_iterations: int = 30
    iterations: int = 250
    correspondence_every: int = 10
    max_distance_start: float = 0.02
    max_distance_end: float = 0.005
    min_normal_dot: float = 0.5
    robust_sigma: float = 0.002  # Geman-McClure scale
    point_weight: float = 0.1  # share of point-to-point next to point-to-plane
    lr: float = 0.04  # coefficients (identity, expression) and joint angles
    lr_rotation: float = 0.007  # radians
    lr_translation: float = 0.0015  # metres
    tracking_lr_scale: float = 0.2  # smaller steps when starting from a tracking file (already close)
    w_identity: float = 1e-4
    w_expression: float = 1e-4
    w_pose: float = 1e-3
    w_smooth: float = 1e-2
    fit_scale: bool = False
    offset_iterations: int = 60
    max_offset: float = 0.01
    w_laplacian: float = 1.0
    w_offset: float = 1e-3
    w_offset_smooth: float = 1e-2
    w_landmarks: float = 0.0  # triangulated facial landmarks (facebench.prepare.landmarks); 0 = off
    landmark_sigma: float = 0.01  # metres: Geman-McClure scale of the landmark term
    w_photo: float = 0.0  # temporal photometric consistency (facebench.prepare.photo); 0 = off
    photo_vertices: int = 3000  # face vertices sampled for it
    photo_blur_px: float = 1.0
    max_tangential: float = 0.004  # metres: tangential residual allowed when w_photo > 0
    threads: int = 1  # torch intra-op threads; fixed so results do not depend on the machine
    device: str = "auto"  # auto | cpu | cuda


@dataclass
class FitResult:
    """``vertices`` (T,V,3) float32 world; ``params`` numpy arrays; residual statistics in mm."""

    vertices: np.ndarray
    params: dict
    residual_mm: np.ndarray  # (T,) median |point-to-plane| over matched vertices
    matched: np.ndarray  # (T,) fraction of data-region vertices with a match
    seconds: float
    stats: dict = field(default_factory=dict)


def _torch():
    import torch

    return torch


def vertex_normals_torch(vertices, faces):
    """(T,V,3) area-weighted unit vertex normals of (T,V,3) vertices."""
    torch = _torch()
    v0, v1, v2 = (vertices[:, faces[:, i]] for i in range(3))
    fn = torch.cross(v1 - v0, v2 - v0, dim=-1)
    vn = torch.zeros_like(vertices)
    for i in range(3):
        vn.index_add_(1, faces[:, i], fn)
    return vn / vn.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def mesh_edges(faces: np.ndarray, n_vertices: int):
    """Undirected unique edges (E,2) and vertex degrees (V,) of a triangle mesh."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    degree = np.bincount(e.ravel(), minlength=n_vertices)
    return e, degree


class Adam:
    """Plain Adam with per-tensor learning rates and exponential decay.

    (``torch.optim.Adam`` imports torch._dynamo on construction, several seconds
    per worker process; this is the same update in a dozen lines.)
    """

    def __init__(self, params_lr, decay: float = 1.0, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = [(p, lr) for p, lr in params_lr]
        self.m = [p.detach() * 0 for p, _ in self.params]
        self.v = [p.detach() * 0 for p, _ in self.params]
        self.decay, self.betas, self.eps, self.t = decay, betas, eps, 0

    def step(self):
        torch = _torch()
        self.t += 1
        b1, b2 = self.betas
        with torch.no_grad():
            for (p, lr), m, v in zip(self.params, self.m, self.v):
                g = p.grad
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                step = lr * self.decay ** (self.t - 1) / (1 - b1 ** self.t)
                p.sub_(step * m / ((v / (1 - b2 ** self.t)).sqrt() + self.eps))
                p.grad = None


def geman_mcclure(r, sigma):
    return r * r / (r * r + sigma * sigma)


def _deform(template, p, T: int):
    """Template vertices (T,V,3) from the parameter tensors ``p``."""
    torch = _torch()
    kwargs = {name: p[name] for name in ("expression", "rotation", "translation", *POSE_PARTS) if name in p}
    if "identity" in p:
        kwargs["identity"] = p["identity"].expand(T, -1)
    kwargs["scale"] = torch.exp(p["log_scale"]).expand(T)
    return template.deform_torch(**kwargs)


class _Correspondences:
    """Nearest cloud points for the current vertices, recomputed on demand."""

    def __init__(self, clouds, data_mask: np.ndarray, config: FitConfig):
        self.trees = [c.tree for c in clouds]
        self.clouds = clouds
        self.data_mask = data_mask
        self.config = config

    def update(self, vertices: np.ndarray, normals: np.ndarray, max_distance: float):
        """Targets (T,V,3), target normals (T,V,3), weights (T,V) in {0,1} (0 off the data regions)."""
        T, V, _ = vertices.shape
        q = np.zeros((T, V, 3))
        n = np.zeros((T, V, 3))
        w = np.zeros((T, V))
        data = np.flatnonzero(self.data_mask)
        for t in range(T):  # only data-region vertices are looked up
            dist, idx = self.trees[t].query(vertices[t][data], distance_upper_bound=max_distance)
            ok = np.isfinite(dist)
            idx = np.where(ok, idx, 0)
            q[t, data] = self.clouds[t].xyz_world[idx]
            n[t, data] = self.clouds[t].normals_world[idx]
            ok &= np.sum(n[t, data] * normals[t][data], axis=1) >= self.config.min_normal_dot
            w[t, data] = ok
        return q, n, w


def _data_loss(v, q, n, w, config: FitConfig):
    r_plane = ((v - q) * n).sum(-1)
    r_point = (v - q).norm(dim=-1)
    rho = geman_mcclure(r_plane, config.robust_sigma) + config.point_weight * geman_mcclure(
        r_point, config.robust_sigma)
    return (rho * w).sum() / w.sum().clamp_min(1.0)


def _initial_params(template, clouds, cameras, serials, init, config: FitConfig, data_mask):
    T = len(clouds)
    p = {
        "identity": np.zeros(template.n_identity),
        "expression": np.zeros((T, template.n_expression)),
        "jaw": np.zeros((T, 3)),
        "neck": np.zeros((T, 3)),
        "eyes": np.zeros((T, 6)),
        "log_scale": np.zeros(1),
    }
    if init is not None:
        for name, value in init.items():
            if name == "scale":
                p["log_scale"] = np.log(np.asarray(value, dtype=np.float64).reshape(-1)[:1])
            elif name == "identity":
                p[name] = np.asarray(value, dtype=np.float64).reshape(-1)[: template.n_identity]
            else:
                p[name] = np.asarray(value, dtype=np.float64).reshape(T, -1)
        if "rotation" in p and "translation" in p:
            return p
    from facebench.geometry import vertex_normals

    sub = np.nonzero(np.isin(template.regions, (1, 3)))[0]  # face and ears: distinctive, rarely hidden
    sub = sub[:: max(1, len(sub) // 1500)]
    pts = template.canonical_vertices[sub]
    nrm = vertex_normals(template.canonical_vertices, template.faces)[sub]

    # the cameras see the front half of the head: its centroid matches the cloud's head centroid
    all_normals = vertex_normals(template.canonical_vertices, template.faces)
    front = np.isin(template.regions, (1, 2, 3)) & (all_normals[:, 2] > 0)
    R0 = rigid.frame_from_rig(cameras, serials)
    R, t, _ = rigid.align_first_frame(pts, nrm, clouds[0], R0, config.rigid_yaws_deg,
                                      config.rigid_pitches_deg, config.rigid_iterations,
                                      anchor=template.canonical_vertices[front].mean(axis=0))
    Rs, ts = rigid.track_rigid(pts, nrm, clouds, R, t)
    p["rotation"] = rigid.matrix_to_axis_angle(Rs)
    p["translation"] = ts
    return p


def fit_sequence(template, clouds, cameras=None, serials=(), init: dict | None = None,
                 config: FitConfig = FitConfig(), progress=None, views=None, landmarks=None) -> FitResult:
    """Fit ``template`` to per-frame ``clouds`` (list of PointCloud); see the module docstring.

    ``init``: optional parameter arrays named as ``template.deform`` arguments
    (``rotation`` axis-angle (T,3), ``translation`` (T,3), ``scale``...), e.g.
    converted from a tracking file; without ``rotation``/``translation`` the
    rigid pose comes from the cloud and the rig (``cameras``, ``serials``).
    ``views``: (images per camera (T,H,W,3), depths per camera (T,H,W) or None) at the
    ``cameras``' resolution, for the photometric term when ``config.w_photo > 0``.
    ``landmarks``: optional (T,68,3) world iBUG landmarks (NaN: unknown), e.g. triangulated from
    detections; their inner 51 pull the template's landmark embedding when ``config.w_landmarks > 0``.
    """
    torch = _torch()
    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, config.threads))
    try:
        result = _fit(torch, template, clouds, cameras, serials, init, config, progress, views, landmarks)
    finally:
        torch.set_num_threads(threads)
    result.seconds = time.perf_counter() - start
    return result


_SUBSETS: dict = {}


def _fit_subset(template, data_mask):
    """``template.subset`` of the data vertices, cached per template and data regions."""
    key = (template.sha256, np.packbits(data_mask).tobytes())
    if key not in _SUBSETS:
        _SUBSETS.clear()
        _SUBSETS[key] = template.subset(np.flatnonzero(data_mask))
    return _SUBSETS[key]


def _fit(torch, template, clouds, cameras, serials, init, config, progress, views=None, landmarks=None):
    device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if config.device == "auto" else config.device))
    dtype = torch.float32
    T = len(clouds)
    data_mask = np.isin(template.regions, config.data_regions)
    init_p = _initial_params(template, clouds, cameras, serials, init, config, data_mask)
    full, full_mask = template, data_mask
    lm_term = None
    if landmarks is not None and config.w_landmarks > 0 and template.landmarks is not None:
        lm_term = _LandmarkTerm(template, landmarks, config)
    if data_mask.mean() < 0.8:  # the parameter stage needs only the data vertices (and joint sources)
        keep = data_mask.copy()
        if lm_term is not None:
            keep[lm_term.vertex_ids.ravel()] = True
        template = _fit_subset(template, keep)
        data_mask = full_mask[template.vertex_ids]
        if lm_term is not None:
            lm_term.restrict(template.vertex_ids)
    p = {k: torch.tensor(np.asarray(v), dtype=dtype, device=device, requires_grad=True)
         for k, v in init_p.items()}
    if not config.fit_scale:
        p["log_scale"].requires_grad_(False)
    faces = torch.as_tensor(template.faces, dtype=torch.long, device=device)
    corr = _Correspondences(clouds, data_mask, config)
    priors = {"identity": config.w_identity, "expression": config.w_expression,
              **dict.fromkeys(POSE_PARTS, config.w_pose)}
    smooth = ("expression", "rotation", *POSE_PARTS)

    # Adam moves every parameter by about its learning rate per step: scale them to their units.
    unit = {"rotation": config.lr_rotation, "translation": config.lr_translation,
            "log_scale": config.lr_rotation}
    k_lr = config.tracking_lr_scale if init is not None and "rotation" in init else 1.0
    opt = Adam([(v, k_lr * unit.get(k, config.lr)) for k, v in p.items() if v.requires_grad],
               decay=0.1 ** (1.0 / max(1, config.iterations)))
    tensors = None
    for it in range(config.iterations):
        if it % config.correspondence_every == 0:
            with torch.no_grad():
                v = _deform(template, p, T)
                nrm = vertex_normals_torch(v, faces)
            frac = it / max(1, config.iterations - 1)
            max_d = config.max_distance_start * (config.max_distance_end / config.max_distance_start) ** frac
            q, n, w = corr.update(v.cpu().double().numpy(), nrm.cpu().double().numpy(), max_d)
            tensors = [torch.as_tensor(a, dtype=dtype, device=device) for a in (q, n, w)]
        v = _deform(template, p, T)
        loss = _data_loss(v, *tensors, config)
        if lm_term is not None:
            loss = loss + config.w_landmarks * lm_term.loss(torch, v)
        for name, weight in priors.items():
            loss = loss + weight * (p[name] ** 2).sum() / T
        if T > 1:
            for name in smooth:
                loss = loss + config.w_smooth * ((p[name][1:] - p[name][:-1]) ** 2).sum() / (T - 1)
            dt = (p["translation"][1:] - p["translation"][:-1]) * 100.0
            loss = loss + config.w_smooth * (dt ** 2).sum() / (T - 1)
        loss.backward()
        opt.step()
        if progress is not None:
            progress(it + 1, config.iterations + config.offset_iterations)

    template, data_mask = full, full_mask
    faces = torch.as_tensor(template.faces, dtype=torch.long, device=device)
    corr = _Correspondences(clouds, data_mask, config)
    with torch.no_grad():
        base = _deform(template, p, T)
        base_normals = vertex_normals_torch(base, faces)
    photo = None
    if config.w_photo > 0 and views is not None and len(clouds) > 1:
        from facebench.prepare.photo import PhotoTerm

        face = np.flatnonzero(template.regions == 1)
        face = face[:: max(1, len(face) // max(1, config.photo_vertices))]
        photo = PhotoTerm(views[0], views[1], cameras, face, blur_px=config.photo_blur_px, device=device)
    vertices = _fit_offsets(torch, base, base_normals, faces, template, corr, config, progress, photo)
    q, n, w = corr.update(vertices, vertex_normals_torch(
        torch.as_tensor(vertices, dtype=dtype, device=device), faces).cpu().double().numpy(),
        config.max_distance_end)
    r = np.abs(np.sum((vertices - q) * n, axis=-1)) * 1000.0
    residual = np.array([np.median(r[t][w[t] > 0]) if w[t].any() else np.nan for t in range(T)])
    matched = w.sum(axis=1) / max(1, data_mask.sum())
    params = {k: v.detach().cpu().double().numpy() for k, v in p.items()}
    params["scale"] = np.exp(params.pop("log_scale"))
    return FitResult(vertices.astype(np.float32), params, residual, matched, 0.0)


class _LandmarkTerm:
    """Robust distance between the template's inner landmarks and 3D landmark targets (T,68,3)."""

    def __init__(self, template, landmarks, config: FitConfig):
        face_id, bary = template.landmarks
        inner = np.arange(17, 68)  # the jaw line follows each view's silhouette: not used
        self.vertex_ids = np.asarray(template.faces)[np.asarray(face_id)[inner]]  # (51,3)
        self.bary = np.asarray(bary, np.float64)[inner]
        target = np.asarray(landmarks, np.float64)[:, inner]
        self.valid = np.isfinite(target).all(-1)
        self.target = np.nan_to_num(target)
        self.sigma = config.landmark_sigma
        self._tensors = None

    def restrict(self, vertex_ids: np.ndarray) -> None:
        """Renumber into a subset template whose kept vertices are ``vertex_ids``."""
        remap = np.full(int(vertex_ids.max()) + 1, -1, np.int64)
        remap[vertex_ids] = np.arange(len(vertex_ids))
        self.vertex_ids = remap[self.vertex_ids]

    def loss(self, torch, v):
        if self._tensors is None:
            dev, dt = v.device, v.dtype
            self._tensors = (torch.as_tensor(self.vertex_ids, device=dev),
                             *(torch.as_tensor(a, dtype=dt, device=dev) for a in (self.bary, self.target,
                                                                                   self.valid)))
        ids, bary, target, valid = self._tensors
        pts = (v[:, ids] * bary[None, :, :, None]).sum(2)  # (T,51,3)
        rho = geman_mcclure((pts - target).norm(dim=-1), self.sigma)
        return (rho * valid).sum() / valid.sum().clamp_min(1.0)


def _fit_offsets(torch, base, base_normals, faces, template, corr, config, progress, photo=None):
    """Normal offsets d (T,V): data term + Laplacian + magnitude + temporal priors; returns (T,V,3).

    With ``photo`` (a :class:`~facebench.prepare.photo.PhotoTerm`) also a tangential residual
    (T,V,3) minus its normal part, Laplacian-smooth, bounded by ``max_tangential`` and kept small
    by the magnitude prior, that keeps each face vertex on the same skin texture from frame to frame."""
    T, V, _ = base.shape
    if config.offset_iterations <= 0 or config.max_offset <= 0:
        return base.cpu().double().numpy()
    edges, degree = mesh_edges(template.faces, V)
    e = torch.as_tensor(edges, dtype=torch.long, device=base.device)
    deg = torch.as_tensor(np.maximum(degree, 1), dtype=base.dtype, device=base.device)
    d = torch.zeros((T, V), dtype=base.dtype, device=base.device, requires_grad=True)
    tangential = None
    params = [(d, config.max_offset / 20.0)]
    if photo is not None:
        tangential = torch.zeros((T, V, 3), dtype=base.dtype, device=base.device, requires_grad=True)
        params.append((tangential, config.max_tangential / 20.0))
    opt = Adam(params)
    tensors = None

    def laplacian_mm(x):  # (T,V,...) -> umbrella Laplacian in millimetres
        nb_sum = torch.zeros_like(x)
        nb_sum.index_add_(1, e[:, 0], x[:, e[:, 1]])
        nb_sum.index_add_(1, e[:, 1], x[:, e[:, 0]])
        return (x - nb_sum / deg.reshape((1, -1) + (1,) * (x.dim() - 2))) * 1000.0

    def surface(d, tangential):
        v = base + d[..., None] * base_normals
        if tangential is not None:
            v = v + tangential - (tangential * base_normals).sum(-1, keepdim=True) * base_normals
        return v

    for it in range(config.offset_iterations):
        if it % config.correspondence_every == 0:
            with torch.no_grad():
                v = surface(d, tangential)
            nrm = vertex_normals_torch(v, faces).cpu().double().numpy()
            q, n, w = corr.update(v.cpu().double().numpy(), nrm, config.max_distance_end)
            tensors = [torch.as_tensor(a, dtype=base.dtype, device=base.device) for a in (q, n, w)]
            if photo is not None:
                photo.update_visibility(v.cpu().double().numpy(), nrm)
        v = surface(d, tangential)
        loss = _data_loss(v, *tensors, config)
        loss = loss + config.w_laplacian * (laplacian_mm(d) ** 2).mean() \
            + config.w_offset * ((d * 1000.0) ** 2).mean()
        if T > 1:
            loss = loss + config.w_offset_smooth * (((d[1:] - d[:-1]) * 1000.0) ** 2).mean()
        if tangential is not None:
            loss = loss + config.w_photo * photo.loss(v) \
                + config.w_laplacian * (laplacian_mm(tangential) ** 2).sum(-1).mean() \
                + config.w_offset * ((tangential * 1000.0) ** 2).sum(-1).mean()
        loss.backward()
        opt.step()
        with torch.no_grad():
            d.clamp_(-config.max_offset, config.max_offset)
            if tangential is not None:
                tangential.clamp_(-config.max_tangential, config.max_tangential)
        if progress is not None:
            progress(config.iterations + it + 1, config.iterations + config.offset_iterations)
    with torch.no_grad():
        return surface(d, tangential).cpu().double().numpy()
