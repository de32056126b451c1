"""``landmark-fit``: a template fitted per clip to MediaPipe's 68 iBUG landmarks.

Per clip: one identity (shared by all frames), and per frame an expression, a jaw
opening and a rigid head pose (rotation, translation) in camera space; the
template keeps its real size (scale 1), so with the focal length the fit is
metric.  The loss (torch, :meth:`Template.deform_torch`) is a robust
(Charbonnier) reprojection error of the template's 68 landmarks, in units of the
frame's inter-ocular distance, with jaw-line points (silhouette-dependent in
FaceMesh) down-weighted; plus Gaussian priors on identity and expression and a
temporal smoothness term on pose and expression.  Two stages: rigid pose alone,
then everything.

Start: on GT clips the head pose the rig implies (the template at the world
origin seen by the clip's camera, as ``template-frontal``); on plain videos the
template facing the camera at the distance its eye corners' spacing gives.
Frames without landmarks are fitted from their neighbours only (smoothness);
they are reported as ``no_face`` and the driver blanks them on plain videos.

Maps and tracks come from the fitted meshes (:mod:`facebench.methods.surface`).
"""

from __future__ import annotations

import numpy as np

from facebench.errors import FacebenchError
from facebench.methods.base import ClipInput, Method, Options

WEIGHTS = {
    "jaw_line": 0.05,  # FaceMesh's cheek outline follows the silhouette, not fixed skin points
    "brows": 1.0,  # FaceMesh and iBUG both mark the upper brow edge (0.2 until real-landmarks-v1)
    "rig_prior": 0.05,  # GT clips only: pose near the rig's aim (RIG_SIGMA_M, RIG_SIGMA_RAD)
    "identity": 2e-3,
    "expression": 1e-3,  # Gaussian prior (PCA expression bases, facebench-head)
    "blendshape_l1": 2e-3,  # blendshape templates (ict-light): weights in [0, 1], L1 (most are 0 at a time)
    "smooth_pose": 0.01,
    "smooth_expression": 0.01,
}
RIG_SIGMA_M = 0.05  # GT clips: head position and orientation ~ the rig's aim (world origin, world axes)
RIG_SIGMA_RAD = 0.5
CHARBONNIER_EPS = 0.01  # inter-ocular units (about 0.6 px at 60 px between the eyes)
RIGID_STEPS = 150
FULL_STEPS = 250


class LandmarkFit(Method):
    name = "landmark-fit"
    description = (
        "Template fitted per clip to MediaPipe FaceMesh's 68 iBUG landmarks (shared identity, "
        "per-frame expression and pose, temporal smoothness, robust reprojection); depth, canonical "
        "map and tracks rendered from the fitted surface."
    )

    def __init__(self, options: Options):
        super().__init__()
        from facebench.adapters.mediapipe import EXTRA
        from facebench.errors import require
        from facebench.templates import DEFAULT_TEMPLATE, load

        require("mediapipe", EXTRA)  # fail before any work when the extra is missing
        self.template = load(options.template or DEFAULT_TEMPLATE)
        if self.template.landmarks is None:
            raise FacebenchError(
                f"landmark-fit needs a template with 68 landmarks; {self.template.name!r} has none"
            )
        self.canonical_template = self.template.name
        self.canonical_frame = (np.asarray(self.template.center), float(self.template.scale))
        self.steps = options.iterations or FULL_STEPS
        self.device = "cpu" if options.device in (None, "auto") else options.device
        self.params = {
            "template": self.template.name,
            "landmarks": "mediapipe-0.10.14 facemesh -> ibug68",
            "steps": [RIGID_STEPS, self.steps],
            "weights": WEIGHTS,
        }

    def fit_clip(self, clip: ClipInput) -> dict:
        """Landmarks and the fitted template of every frame: :func:`fit_landmarks`'s dict plus
        ``landmarks`` (T,68,2) and ``found`` (T,) bool (frames with landmarks)."""
        from facebench.adapters.mediapipe import detect_landmarks

        lmk, _, _ = detect_landmarks(clip.images, video=True)
        found = np.isfinite(lmk).all(axis=(1, 2))
        fit = fit_landmarks(
            self.template,
            lmk,
            clip.K,
            init_pose=clip.T_cam_from_world if clip.calibrated else None,
            steps=self.steps,
            device=self.device,
        )
        return {**fit, "landmarks": lmk, "found": found}

    def predict_clip(self, clip: ClipInput) -> dict:
        from facebench.methods.surface import render_fit

        fit = self.fit_clip(clip)
        lmk, found = fit["landmarks"], fit["found"]
        out = render_fit(
            self.template,
            fit["vertices"],
            clip.K,
            clip.shape,
            clip.query_frame,
            clip.query_xy,
            fill=clip.calibrated,
        )
        out["no_face"] = ~found
        out["landmarks"] = lmk
        out["reprojection_px"] = fit["reprojection_px"]
        return out


def make(options: Options) -> Method:
    return LandmarkFit(options)


def _initial_pose(template, lmk, K, init_pose):
    """(rotation (T,3) axis-angle, translation (T,3) metres) of the template in camera space."""
    from scipy.spatial.transform import Rotation

    T = len(lmk)
    if init_pose is not None:
        R = np.asarray(init_pose)[:3, :3]
        return np.tile(Rotation.from_matrix(R).as_rotvec(), (T, 1)), np.tile(
            np.asarray(init_pose)[:3, 3], (T, 1)
        )
    rot = np.tile([np.pi, 0.0, 0.0], (T, 1))  # canonical +y up, +z to the camera -> camera y down, z away
    L = template.landmarks_world(template.canonical_vertices)
    eye_m = np.linalg.norm(L[36] - L[45])
    found = np.isfinite(lmk).all(axis=(1, 2))
    eye_px = np.linalg.norm(lmk[found, 36] - lmk[found, 45], axis=-1)
    z = K[0, 0] * eye_m / np.median(eye_px)
    centre_px = np.median(np.nanmean(lmk[found], axis=1), axis=0)
    centre = np.array([(centre_px[0] - K[0, 2]) * z / K[0, 0], (centre_px[1] - K[1, 2]) * z / K[1, 1], z])
    offset = np.diag([1.0, -1.0, -1.0]) @ L.mean(axis=0)  # the landmark centroid in camera axes
    return rot, np.tile(centre - offset, (T, 1))


def landmark_template(template):
    """A small Template whose deformation gives exactly the full template's vertices under its
    68 landmarks (so the fit costs ~200 vertices, not V, per step).

    Its vertices are the landmark triangles' vertices plus one virtual vertex per joint whose
    position is the joint's regression (linear in identity and expression, so it has bases
    too); its joint regressor picks those virtual vertices.  Returns (sub-template,
    landmark triangles (68,3) indexing its vertices).
    """
    from facebench.templates import Template

    used, tri = np.unique(template.faces[template.landmark_face_id], return_inverse=True)
    tri = tri.reshape(-1, 3)
    jr = template.joint_regressor
    n_j = len(jr)

    def stack(a, regressed):
        return np.concatenate([a[used], regressed], axis=0)

    arrays = {
        "canonical_vertices": stack(template.canonical_vertices, jr @ template.canonical_vertices),
        "faces": tri,
        "identity_basis": stack(
            template.identity_basis, np.einsum("jv,vck->jck", jr, template.identity_basis)
        ),
        "expression_basis": stack(
            template.expression_basis, np.einsum("jv,vck->jck", jr, template.expression_basis)
        ),
        "joint_regressor": np.concatenate([np.zeros((n_j, len(used))), np.eye(n_j)], axis=1),
        "parents": template.parents,
        "lbs_weights": stack(template.lbs_weights, np.eye(n_j)),
        "center": template.center,
        "scale": template.scale,
        "regions": np.zeros(len(used) + n_j, np.uint8),
    }
    if template.posedirs is not None:
        arrays["posedirs"] = stack(template.posedirs, np.zeros((n_j,) + template.posedirs.shape[1:]))
    return Template(f"{template.name}-landmarks", arrays), tri


def fit_landmarks(template, lmk, K, init_pose=None, steps: int = FULL_STEPS, device: str = "cpu") -> dict:
    """Fit ``template`` to landmarks.

    lmk (T,68,2) pixels, NaN rows where no face; K (3,3); init_pose (4,4) T_cam_from_world of a
    head at the world origin, or None (start facing the camera).  Returns {"vertices" (T,V,3)
    camera space metres, "identity", "expression" (T,n), "jaw" (T,), "rotation" (T,3),
    "translation" (T,3), "reprojection_px" (T,) mean landmark error, NaN without landmarks}.
    """
    import torch

    lmk = np.asarray(lmk, np.float64)
    T = len(lmk)
    found = np.isfinite(lmk).all(axis=(1, 2))
    rot0, trans0 = _initial_pose(template, lmk, K, init_pose)
    dt = torch.float32
    dev = torch.device(device)
    obs = torch.as_tensor(np.nan_to_num(lmk), dtype=dt, device=dev)
    mask = torch.as_tensor(found, dtype=dt, device=dev)
    iod = np.linalg.norm(lmk[:, 36] - lmk[:, 45], axis=-1)
    iod = np.where(np.isfinite(iod) & (iod > 1), iod, 1.0)
    inv_scale = torch.as_tensor(1.0 / iod, dtype=dt, device=dev)[:, None]
    w_lmk = torch.ones(68, dtype=dt, device=dev)
    w_lmk[:17] = WEIGHTS["jaw_line"]
    w_lmk[17:27] = WEIGHTS["brows"]
    from facebench.methods.landmark_confidence import robust_weights, temporal_confidence

    conf = torch.as_tensor(temporal_confidence(lmk), dtype=dt, device=dev)  # (T,68) per-landmark trust
    robust = torch.ones(T, 68, dtype=dt, device=dev)  # reweighted from residuals during the full stage
    bounded = bool(getattr(template, "blendshapes", False))  # ICT/ARKit blendshapes live in [0, 1]
    trans_prior = torch.as_tensor(trans0, dtype=dt, device=dev) if init_pose is not None else None
    R_prior = (
        torch.as_tensor(np.asarray(init_pose)[:3, :3], dtype=dt, device=dev)
        if init_pose is not None
        else None
    )
    Kt = torch.as_tensor(K, dtype=dt, device=dev)
    small, tri = landmark_template(template)
    lf = torch.as_tensor(tri, device=dev)  # (68,3) vertex ids
    lb = torch.as_tensor(template.landmark_barycentric, dtype=dt, device=dev)  # (68,3)
    has_jaw = len(template.parents) >= 3

    p = {
        "rotation": torch.tensor(rot0, dtype=dt, device=dev, requires_grad=True),
        "translation": torch.tensor(trans0, dtype=dt, device=dev, requires_grad=True),
        "identity": torch.zeros(template.n_identity, dtype=dt, device=dev, requires_grad=True),
        "expression": torch.zeros(T, template.n_expression, dtype=dt, device=dev, requires_grad=True),
        "jaw": torch.zeros(T, 1, dtype=dt, device=dev, requires_grad=True),
    }

    def vertices():
        jaw = torch.cat([p["jaw"], torch.zeros(T, 2, dtype=dt, device=dev)], dim=1) if has_jaw else None
        return small.deform_torch(
            identity=p["identity"].expand(T, -1),
            expression=p["expression"],
            jaw=jaw,
            rotation=p["rotation"],
            translation=p["translation"],
        )

    def residual_px(v):
        x = (v[:, lf] * lb[None, :, :, None]).sum(dim=2)  # (T,68,3)
        z = x[..., 2:].clamp(min=1e-3)
        uv = (x[..., :2] / z) * torch.stack([Kt[0, 0], Kt[1, 1]]) + torch.stack([Kt[0, 2], Kt[1, 2]])
        return (uv - obs).norm(dim=-1)  # (T,68)

    def loss(full: bool):
        v = vertices()
        r = residual_px(v) * inv_scale
        rho = torch.sqrt(r**2 + CHARBONNIER_EPS**2) - CHARBONNIER_EPS
        w = w_lmk * conf * robust
        data = ((rho * w).sum(1) * mask).sum() / (mask.sum().clamp(min=1) * w_lmk.sum())
        total = data + WEIGHTS["smooth_pose"] * (_smooth(p["rotation"]) + _smooth(p["translation"] / 0.01))
        if trans_prior is not None:  # the rig aims at the head: stay near the world origin
            from facebench.templates.lbs import rodrigues_torch

            one_minus_cos = (3 - (R_prior[None] * rodrigues_torch(p["rotation"])).sum(dim=(1, 2))) / 2
            total = total + WEIGHTS["rig_prior"] * (
                (((p["translation"] - trans_prior) / RIG_SIGMA_M) ** 2).mean()
                + one_minus_cos.mean() / (1 - np.cos(RIG_SIGMA_RAD))
            )
        if full:
            total = (
                total
                + WEIGHTS["identity"] * (p["identity"] ** 2).mean()
                + (WEIGHTS["blendshape_l1"] * p["expression"].abs().sum(1).mean() if bounded
                   else WEIGHTS["expression"] * (p["expression"] ** 2).mean())
                + 0.01 * (p["jaw"] ** 2).mean()
                + WEIGHTS["smooth_expression"] * (_smooth(p["expression"]) + _smooth(p["jaw"]))
            )
        return total

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ~200 small tensors per step: one thread is fastest (and kind to a shared CPU)
    def reweight():  # robust per-landmark weights from the current residuals
        with torch.no_grad():
            r = (residual_px(vertices()) * inv_scale).cpu().numpy()
            robust.copy_(torch.as_tensor(robust_weights(r), dtype=dt))

    def project():  # blendshape weights stay in [0, 1]
        if bounded:
            with torch.no_grad():
                p["expression"].clamp_(0.0, 1.0)

    try:
        if found.any():
            _fit_stages(loss, p, steps, reweight, project)
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        err = residual_px(vertices()).mean(dim=1).cpu().numpy()
    err[~found] = np.nan
    fit = {k: t.detach().cpu().numpy().astype(np.float64) for k, t in p.items()}
    jaw = np.concatenate([fit["jaw"], np.zeros((T, 2))], axis=1) if has_jaw else None
    full = template.deform(
        identity=np.tile(fit["identity"], (T, 1)),
        expression=fit["expression"],
        jaw=jaw,
        rotation=fit["rotation"],
        translation=fit["translation"],
    )
    return {"vertices": full.reshape(T, -1, 3), "reprojection_px": err, **fit}


def _fit_stages(loss, p, steps, reweight, project):
    """Rigid pose alone, then every parameter in two halves, the second with robust weights from the
    first half's residuals (then refreshed every quarter)."""
    rigid = [(p["rotation"], 0.01), (p["translation"], 0.005)]
    _optimise(loss, rigid, RIGID_STEPS, full=False)
    groups = rigid + [(p["identity"], 0.05), (p["expression"], 0.05), (p["jaw"], 0.01)]
    _optimise(loss, groups, steps, full=True, project=project, reweight=reweight,
              reweight_at=(steps // 2, 3 * steps // 4))


def _smooth(x):
    """Mean squared first difference over frames (0 for one frame)."""
    return ((x[1:] - x[:-1]) ** 2).mean() if len(x) > 1 else x.sum() * 0


def _optimise(loss, groups, steps: int, full: bool, project=None, reweight=None, reweight_at=()) -> None:
    """Adam over (tensor, learning rate) groups, cosine-decayed to 5%; ``project`` after every step
    (bounds), ``reweight`` at the steps in ``reweight_at`` (robust weights)."""
    import torch

    opt = torch.optim.Adam([{"params": [t], "lr": lr} for t, lr in groups])
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * i / steps))
    )
    for i in range(steps):
        if reweight is not None and i in reweight_at:
            reweight()
        opt.zero_grad()
        value = loss(full)
        value.backward()
        opt.step()
        if project is not None:
            project()
        sched.step()
