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
