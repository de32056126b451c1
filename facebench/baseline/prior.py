"""The template prior: what the camera alone says about the face.

A capture rig aims every camera at the head, so the neutral template placed at
the world origin and rendered from a clip's camera (exactly the
``template-frontal`` trivial row) already predicts depth and canonical
coordinates to a couple of centimetres.  The reference transformer takes this
rendering as five extra input channels and predicts *corrections* to it:
``depth = prior_depth * exp(delta)``, ``canonical = prior_canonical + delta``.
With zero-initialised output layers an untrained model reproduces the trivial
row, and training can only move it towards the truth.

The model works in the canonical space and normalization (center, scale) of the
template it renders the prior with (``ModelConfig.template``: ``facebench-head`` for
checkpoints written before templates were a choice, ``ict-light`` for the shipped one);
GT shards store theirs, and :func:`renormalize` converts targets
and predictions between the two, so GT written with another version of the
template's normalization still trains and scores consistently.

Channels of a prior map (5,H,W) float32: depth (metres), canonical x, y, z
(normalized), hit (1 where the template is seen, 0 where values are filled in
from the nearest template pixel).
"""

from __future__ import annotations

import numpy as np

_CACHE: dict = {}
_TEMPLATES: dict = {}
LEGACY_TEMPLATE = "facebench-head"  # the prior template of checkpoints that do not name one


def _template(name: str = LEGACY_TEMPLATE):
    if name not in _TEMPLATES:
        from facebench.templates import load

        _TEMPLATES[name] = load(name)
    return _TEMPLATES[name]


def prior_normalization(template: str = LEGACY_TEMPLATE) -> tuple[np.ndarray, float]:
    """(center, scale) of the template the prior is rendered with: the model's canonical frame."""
    t = _template(template)
    return np.asarray(t.center, np.float64), float(t.scale)


def renormalize(canonical, center_from, scale_from, center_to, scale_to):
    """Normalized canonical coordinates under one (center, scale) -> under another (...,3)."""
    center_from, center_to = np.asarray(center_from, np.float64), np.asarray(center_to, np.float64)
    if np.allclose(center_from, center_to) and np.isclose(scale_from, scale_to):
        return canonical
    shift = ((center_from - center_to) / scale_to).astype(np.float32)
    return canonical * np.float32(scale_from / scale_to) + shift


def jitter_transform(rng: np.random.Generator, sigma_m: float, sigma_deg: float) -> np.ndarray:
    """A random rigid 4x4 world transform: translation ~ N(0, sigma_m) per axis, rotation about a
    random axis by an angle ~ N(0, sigma_deg) degrees (about the world origin, where the head sits)."""
    from scipy.spatial.transform import Rotation

    axis = rng.normal(size=3)
    axis /= max(np.linalg.norm(axis), 1e-12)
    J = np.eye(4)
    J[:3, :3] = Rotation.from_rotvec(axis * np.deg2rad(rng.normal(0.0, sigma_deg))).as_matrix()
    J[:3, 3] = rng.normal(0.0, sigma_m, 3)
    return J


def template_prior(K, T_cam_from_world, height: int, width: int, template_pose=None,
                   template: str = LEGACY_TEMPLATE) -> np.ndarray:
    """(5,H,W) prior map for one camera (cached: a clip's camera does not move), rendered with
    the neutral ``template``.

    ``template_pose``: optional 4x4 world transform of the template (training augmentation,
    :func:`jitter_transform`); such priors are rendered afresh, not cached.
    """
    K = np.asarray(K, np.float64)
    T = np.asarray(T_cam_from_world, np.float64)
    if template_pose is not None:  # the template moved by J == the camera T @ J looking at the fixed one
        return _render_prior(K, T @ np.asarray(template_pose, np.float64), height, width, template)
    key = (template, K.tobytes(), T.tobytes(), int(height), int(width))
    if key not in _CACHE:
        if len(_CACHE) > 4096:
            _CACHE.clear()
        _CACHE[key] = _render_prior(K, T, height, width, template)
    return _CACHE[key]


def _render_prior(K, T, height: int, width: int, template: str) -> np.ndarray:
    from facebench.baseline.trivial import template_frontal

    maps = template_frontal((1, height, width), K, T, _template(template))
    hit = (maps["confidence"][0] > 1.5).astype(np.float32)
    prior = np.concatenate([maps["depth"][0][None], maps["canonical"][0].transpose(2, 0, 1), hit[None]])
    return prior.astype(np.float32)


# -- a prior that exists on real images: a fitted template mesh per frame ---------------------------------
#
# ``prior_source: "fit"`` (ModelConfig) replaces the template at the rig's aim by the template
# *fitted to the frame* (landmark-fit: identity, expression, head pose from 2D landmarks), rendered
# per frame.  On a real video the rig prior is the same head in the middle of every frame; the fit
# follows the face.  Training simulates the fit from the GT mesh (:func:`simulated_fit`).


def mesh_prior(K, T_cam_from_world, height: int, width: int, vertices_world, template: str) -> np.ndarray:
    """(5,H,W) prior map of a mesh in ``template``'s topology (e.g. a fitted template), seen by the
    camera: depth, canonical xyz of the hit point, hit; pixels off the mesh take the nearest hit
    pixel's values (all zero but depth 0.5 m when the mesh is not seen at all)."""
    from facebench.baseline.trivial import _fill_nearest
    from facebench.geometry import Camera, render_mesh

    t = _template(template)
    camera = Camera(K=np.asarray(K, np.float64), T_cam_from_world=np.asarray(T_cam_from_world, np.float64),
                    width=int(width), height=int(height))
    r = render_mesh(np.asarray(vertices_world, np.float64), t.faces, camera)
    hit = r.hit
    depth = np.full((height, width), 0.5, np.float32)
    canonical = np.zeros((height, width, 3), np.float32)
    if hit.any():
        depth[hit] = r.depth[hit]
        canonical[hit] = t.canonical_at(r.face_id[hit], r.barycentric[hit])
        depth, canonical = _fill_nearest(depth, hit), _fill_nearest(canonical, hit)
    return np.concatenate([depth[None], canonical.transpose(2, 0, 1),
                           hit[None].astype(np.float32)]).astype(np.float32)


def rigid_align(src, dst) -> np.ndarray:
    """4x4 rigid transform (no scale) taking points ``src`` (N,3) onto ``dst`` (N,3), least squares."""
    cs, cd = src.mean(axis=0), dst.mean(axis=0)
    U, _, Vt = np.linalg.svd((src - cs).T @ (dst - cd))
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(Vt.T @ U.T))])
    R = Vt.T @ D @ U.T
    M = np.eye(4)
    M[:3, :3], M[:3, 3] = R, cd - R @ cs
    return M


def simulated_fit(rng: np.random.Generator, gt_vertices, template: str, clip_jitter=(0.01, 4.0),
                  frame_jitter=(0.002, 1.0)) -> np.ndarray:
    """A stand-in for a landmark fit of each frame, made from the GT mesh (training only).

    gt_vertices (S,V,3) world, the GT template mesh of each frame.  The neutral template is placed
    on each frame's head by a rigid fit to the face region; the result blends from it towards the GT
    mesh by a random amount (a fit catches part of the identity and expression), then moves by a
    rigid error per clip (``clip_jitter``: metres, degrees sigmas) and a smaller one per frame.
    Returns (S,V,3) world vertices.
    """
    t = _template(template)
    face = np.flatnonzero(t.regions == 1)
    neutral = np.asarray(t.canonical_vertices, np.float64)
    alpha = rng.uniform(0.0, 1.0)  # 0: neutral template at the head pose, 1: the GT mesh
    J = _about(jitter_transform(rng, *clip_jitter), gt_vertices[:, face].reshape(-1, 3).mean(axis=0))
    out = np.empty(np.shape(gt_vertices), np.float64)
    for s, v in enumerate(np.asarray(gt_vertices, np.float64)):
        M = rigid_align(neutral[face], v[face])
        posed = neutral @ M[:3, :3].T + M[:3, 3]
        mesh = posed + alpha * (v - posed)
        Js = J @ _about(jitter_transform(rng, *frame_jitter), v[face].mean(axis=0))
        out[s] = mesh @ Js[:3, :3].T + Js[:3, 3]
    return out


def _about(J, centre) -> np.ndarray:
    """The rigid transform J applied about ``centre`` instead of the origin."""
    C = np.eye(4)
    C[:3, 3] = centre
    Ci = np.eye(4)
    Ci[:3, 3] = -centre
    return C @ J @ Ci
