"""Identities and smooth performance trajectories of synthetic participants.

Everything here is a deterministic function of ``(seed, participant, sequence)``:
the identity of participant ``"104"`` is the same in every capture made with the
same seed, whichever other participants or sequences are generated alongside.
Trajectories are sampled at NeRSemble timesteps (73 fps) so the stride changes
the sampling of the same performance, not the performance.

Rotations: ``rotation`` (head), ``neck`` and ``jaw`` are XYZ Euler angles in
radians (extrinsic x, then y, then z: ``R = Rz @ Ry @ Rx``, scipy's ``"xyz"``);
x nods (pitch, + looks down), y turns (yaw), z tilts (roll).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from facebench.synth.rig import FPS

# What each sequence family performs: amplitudes of the motion components.
#   turn/nod/tilt: head yaw/pitch/roll (deg); talk: speech-rate jaw motion (0..1);
#   smile/surprise/shout/frown: expression events (0..1); expr: free expression noise.
_RECIPES = {
    "EXP-1-head": dict(turn=30, nod=15, tilt=8, expr=0.3),
    "EXP-2-eyes": dict(turn=8, nod=6, eyes=1.0, expr=0.4),
    "EXP-3-cheeks+nose": dict(turn=10, smile=0.8, frown=0.6, expr=0.8),
    "EXP-4-lips": dict(turn=8, talk=0.4, smile=0.5, expr=1.0),
    "EXP-5-mouth": dict(turn=10, talk=0.6, shout=0.8, expr=0.6),
    "EXP-8-jaw-1": dict(turn=6, talk=1.0, expr=0.3),
    "EMO-1-shout+laugh": dict(turn=15, nod=10, shout=1.0, smile=1.0, talk=0.3, expr=0.6),
    "EMO-2-surprise+fear": dict(turn=12, nod=12, surprise=1.0, frown=0.5, expr=0.6),
    "EMO-3-angry+sad": dict(turn=10, nod=10, frown=1.0, talk=0.2, expr=0.6),
    "EMO-4-disgust+happy": dict(turn=12, tilt=6, smile=0.9, frown=0.7, expr=0.6),
    "SEN-01-cramp_small_danger": dict(turn=10, nod=6, talk=1.0, expr=0.5),
    "SEN-02-same_phrase_thirty_times": dict(turn=8, nod=5, talk=0.9, smile=0.3, expr=0.5),
    "SEN-03-pluck_bright_rose": dict(turn=12, nod=6, talk=0.9, surprise=0.3, expr=0.5),
    "FREE": dict(turn=30, nod=15, tilt=10, talk=0.6, smile=0.6, surprise=0.5, eyes=0.6, expr=0.8),
    "HAIR": dict(turn=30, nod=20, tilt=12, expr=0.2),
}
# Catalog order: the first few are the most varied (``sequences=N`` takes the first N).
SEQUENCES: tuple[str, ...] = (
    "EXP-1-head", "EMO-1-shout+laugh", "SEN-01-cramp_small_danger", "FREE", "EMO-2-surprise+fear",
    "EXP-4-lips", "EXP-2-eyes", "EXP-3-cheeks+nose", "EXP-5-mouth", "EXP-8-jaw-1", "EMO-3-angry+sad",
    "EMO-4-disgust+happy", "SEN-02-same_phrase_thirty_times", "SEN-03-pluck_bright_rose", "HAIR",
)


@dataclass(frozen=True)
class Identity:
    """A participant: shape coefficients and appearance."""

    participant: str
    shape: np.ndarray                 # (n_identity,) template identity coefficients
    skin_rgb: np.ndarray              # (3,) base skin colour, linear-ish [0,1]
    hair_rgb: np.ndarray              # (3,) hair colour
    shirt_rgb: np.ndarray             # (3,) clothing colour
    hair_thickness: float             # metres above the scalp
    texture_seed: int
    head_offset: np.ndarray = field(default_factory=lambda: np.zeros(3))  # world offset, metres


@dataclass(frozen=True)
class Performance:
    """Per-frame template parameters of one sequence (T frames)."""

    sequence: str
    frame_ids: np.ndarray     # (T,) int32 NeRSemble timesteps
    expression: np.ndarray    # (T, n_expression)
    rotation: np.ndarray      # (T,3) XYZ Euler radians, head
    translation: np.ndarray   # (T,3) metres, world
    neck: np.ndarray          # (T,3) XYZ Euler radians
    jaw: np.ndarray           # (T,3) XYZ Euler radians (x opens the mouth)
    eyes: np.ndarray          # (T,6) XYZ Euler radians, left then right eye
    light_dir_world: np.ndarray  # (3,) unit vector towards the light
    light_rgb: np.ndarray     # (3,) directional light colour
    ambient: float


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([int(seed)] + [zlib.crc32(k.encode()) for k in keys])


_SKIN = np.array([[0.94, 0.78, 0.67], [0.85, 0.65, 0.52], [0.72, 0.52, 0.38],
                  [0.55, 0.38, 0.27], [0.40, 0.27, 0.19]])
_HAIR = np.array([[0.10, 0.07, 0.05], [0.25, 0.16, 0.09], [0.45, 0.30, 0.15],
                  [0.75, 0.60, 0.35], [0.50, 0.20, 0.08], [0.55, 0.55, 0.55]])


def make_identity(seed: int, participant: str, n_identity: int, clip: float = 2.5) -> Identity:
    """The identity of ``participant`` under ``seed`` (independent of other participants).

    Shape coefficients are N(0, 0.8) clipped at ``clip`` (2 for ict-light, whose 3-sigma
    identities fold triangles)."""
    rng = _rng(seed, "identity", participant)
    shape = np.clip(rng.normal(0.0, 0.8, n_identity), -clip, clip)
    mix = rng.dirichlet(np.ones(len(_SKIN)) * 0.4)
    skin = mix @ _SKIN * rng.uniform(0.95, 1.05, 3)
    hair = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.85, 1.15, 3)
    shirt = np.clip(rng.uniform(0.15, 0.7) + rng.uniform(-0.15, 0.15, 3), 0.05, 0.95)  # muted clothing
    return Identity(participant=participant, shape=shape, skin_rgb=np.clip(skin, 0, 1),
                    hair_rgb=np.clip(hair, 0, 1), shirt_rgb=shirt,
                    hair_thickness=float(rng.uniform(0.008, 0.02)),
                    texture_seed=int(rng.integers(2**31)),
                    head_offset=rng.normal(0.0, 0.01, 3))


def _smooth(rng, t_sec: np.ndarray, n: int, f_lo=0.2, f_hi=1.0, k=3) -> np.ndarray:
    """(T, n) smooth random signals in about [-1, 1]: sums of ``k`` sinusoids."""
    freqs = rng.uniform(f_lo, f_hi, (k, n))
    phase = rng.uniform(0, 2 * np.pi, (k, n))
    amp = rng.uniform(0.5, 1.0, (k, n))
    amp /= amp.sum(axis=0, keepdims=True)
    return np.einsum("kn,tkn->tn", amp, np.sin(2 * np.pi * freqs[None] * t_sec[:, None, None] + phase[None]))


def _events(rng, t_sec: np.ndarray, rate_hz=0.25) -> np.ndarray:
    """(T,) smooth bumps in [0, 1]: expressions that come and go."""
    period = 1.0 / rate_hz
    phase = rng.uniform(0, period)
    x = np.sin(np.pi * ((t_sec + phase) % period) / period) ** 2
    return x


def make_performance(seed: int, participant: str, sequence: str, frame_ids: np.ndarray,
                     n_expression: int) -> Performance:
    """Template parameters of ``sequence`` at NeRSemble timesteps ``frame_ids``."""
    recipe = _RECIPES.get(sequence) or _generic_recipe(sequence)
    rng = _rng(seed, "performance", participant, sequence)
    frame_ids = np.asarray(frame_ids, dtype=np.int32)
    t = frame_ids / FPS
    T = len(frame_ids)
    deg = np.deg2rad
    # Head pose: slow turns/nods/tilts; the amplitudes are reached within the clip.
    pose = _smooth(rng, t, 3, 0.15, 0.6)
    rotation = np.stack([deg(recipe.get("nod", 5)) * pose[:, 0],
                         deg(recipe.get("turn", 5)) * pose[:, 1],
                         deg(recipe.get("tilt", 3)) * pose[:, 2]], axis=1)
    neck = 0.25 * rotation + deg(3) * _smooth(rng, t, 3, 0.2, 0.8)
    translation = 0.01 * _smooth(rng, t, 3, 0.1, 0.5)
    # Jaw: speech-rate opening (3-5 Hz syllables under a phrase envelope) plus shouts.
    talk = recipe.get("talk", 0.0) * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 5) * t
                                                            + rng.uniform(0, 6.3))) ** 2
    talk = talk * (0.6 + 0.4 * _events(rng, t, 0.5))
    shout = recipe.get("shout", 0.0) * _events(rng, t, 0.3)
    surprise = recipe.get("surprise", 0.0) * _events(rng, t, 0.35)
    jaw = np.zeros((T, 3))
    jaw[:, 0] = 0.22 * talk + 0.3 * shout + 0.15 * surprise
    jaw[:, 1] = deg(2) * _smooth(rng, t, 1, 0.3, 1.0)[:, 0] * recipe.get("talk", 0.0)
    # Expression: fixed per-emotion directions (same for every participant) plus noise.
    directions = _rng(seed, "expression-directions").normal(0.0, 1.0, (4, n_expression))
    directions /= np.sqrt(np.arange(1, n_expression + 1))[None] ** 0.5
    events = np.stack([recipe.get("smile", 0.0) * _events(rng, t, 0.25),
                       surprise, shout, recipe.get("frown", 0.0) * _events(rng, t, 0.2)], axis=1)
    expression = 1.2 * events @ directions
    expression += recipe.get("expr", 0.3) * _smooth(rng, t, n_expression, 0.2, 1.5) \
        * np.linspace(1.5, 0.3, n_expression)[None]
    expression = np.clip(expression, -3.0, 3.0)
    # Eyes: saccades (piecewise constant gaze, smoothed) for both eyes together.
    gaze = recipe.get("eyes", 0.2) * deg(15) * _smooth(rng, t, 2, 0.3, 1.2)
    eyes = np.concatenate([gaze[:, [0]], gaze[:, [1]], np.zeros((T, 1))] * 2, axis=1)
    # Lighting varies per sequence: a key light from the front hemisphere.
    az, el = rng.uniform(-1.0, 1.0), rng.uniform(0.1, 0.8)
    light = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    return Performance(sequence=sequence, frame_ids=frame_ids, expression=expression,
                       rotation=rotation, translation=translation, neck=neck, jaw=jaw, eyes=eyes,
                       light_dir_world=light / np.linalg.norm(light),
                       light_rgb=rng.uniform(0.85, 1.0, 3), ambient=float(rng.uniform(0.3, 0.45)))


def recipe(sequence: str) -> dict:
    """Motion amplitudes of a sequence family (unknown names get a deterministic random recipe)."""
    return _RECIPES.get(sequence) or _generic_recipe(sequence)


def _generic_recipe(sequence: str) -> dict:
    rng = _rng(0, "recipe", sequence)
    keys = ("turn", "nod", "tilt", "talk", "smile", "surprise", "shout", "frown", "eyes", "expr")
    recipe = {k: float(rng.uniform(0, 1)) for k in keys}
    recipe.update(turn=float(rng.uniform(5, 30)), nod=float(rng.uniform(3, 15)),
                  tilt=float(rng.uniform(0, 8)))
    return recipe


def euler_to_matrix(euler_xyz: np.ndarray) -> np.ndarray:
    """XYZ Euler radians (...,3) -> rotation matrices (...,3,3), ``R = Rz @ Ry @ Rx``."""
    from scipy.spatial.transform import Rotation

    e = np.asarray(euler_xyz, dtype=np.float64)
    return Rotation.from_euler("xyz", e.reshape(-1, 3)).as_matrix().reshape(e.shape[:-1] + (3, 3))


def euler_to_axis_angle(euler_xyz: np.ndarray) -> np.ndarray:
    """XYZ Euler radians (...,3) -> axis-angle vectors (...,3)."""
    from scipy.spatial.transform import Rotation

    e = np.asarray(euler_xyz, dtype=np.float64)
    return Rotation.from_euler("xyz", e.reshape(-1, 3)).as_rotvec().reshape(e.shape)
