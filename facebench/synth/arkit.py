"""Performances and fine detail for blendshape templates (ict-light): ARKit activation curves.

:func:`arkit_performance` keeps the head pose, gaze and lighting of
:func:`facebench.synth.motion.make_performance` for the same (seed, participant,
sequence) and replaces its expression with activation curves of the named
ARKit-style blendshapes, weights in [0, 1]:

* talking: ``jawOpen`` at syllable rate under a phrase envelope, with ``mouthClose``
  (the corrective that shuts the lips over an open jaw) on bilabial closures, and
  small ``mouthFunnel``/``mouthPucker``/``mouthLowerDown``/``mouthUpperUp`` shaping;
* smiling: ``mouthSmile`` with ``cheekSquint`` and a little ``eyeSquint``;
* blinking: short ``eyeBlink`` events every 2-5 s in every sequence;
* brows: ``browInnerUp``/``browOuterUp`` raises and ``browDown`` frowns;
* surprise (brows up, ``eyeWide``, jaw drop), shouting (``jawOpen`` with
  ``mouthStretch``), frowning (``browDown``, ``mouthFrown``, ``noseSneer``);
* a low background activity on every other shape.

The jaw joint is unused (ict-light's jaw is the ``jawOpen`` blendshape).

:func:`detail_field` is a subject's fine skin relief: a smooth random scalar
field of the canonical position (wavelengths 4-15 mm), 0.35 mm RMS and at most
1 mm, applied along the deformed surface normal of the skin.  It moves with
the skin and is outside every linear model's span, so no template fit
reproduces the subject exactly.
"""

from __future__ import annotations

import zlib

import numpy as np

from facebench.synth.motion import Performance, _events, _smooth

DETAIL_RMS_M = 0.35e-3
DETAIL_MAX_M = 1.0e-3
# Expression events: (recipe key, events per second, (blendshape, weight at full activation) ...)
_EVENTS = (
    ("smile", 0.25, (("mouthSmile", 0.9), ("cheekSquint", 0.5), ("eyeSquint", 0.25))),
    ("surprise", 0.35, (("browInnerUp", 0.8), ("browOuterUp", 0.8), ("eyeWide", 0.6), ("jawOpen", 0.3))),
    ("shout", 0.3, (("jawOpen", 0.6), ("mouthStretch", 0.5), ("browInnerUp", 0.3))),
    ("frown", 0.2, (("browDown", 0.8), ("mouthFrown", 0.7), ("noseSneer", 0.3))),
)


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([int(seed)] + [zlib.crc32(k.encode()) for k in keys])


def _blinks(rng, t_sec: np.ndarray) -> np.ndarray:
    """(T,) blink activation: 0.25 s events every 2-5 s."""
    out = np.zeros_like(t_sec, dtype=np.float64)
    start = rng.uniform(0.0, 2.0)
    while start < t_sec.max() + 1.0:
        out = np.maximum(out, np.clip(1.0 - np.abs(t_sec - start) / 0.125, 0.0, 1.0))
        start += rng.uniform(2.0, 5.0)
    return out


def arkit_performance(base: Performance, seed: int, participant: str, recipe: dict,
                      names: list[str]) -> Performance:
    """``base`` with its expression replaced by ARKit activation curves over ``names``."""
    rng = _rng(seed, "arkit", participant, base.sequence)
    t = base.frame_ids / 73.0
    T = len(t)
    w = {n: np.zeros(T) for n in names}

    def add(name, value):
        for side in ("_L", "_R"):
            if name + side in w:
                w[name + side] += value
        if name in w:
            w[name] += value

    talk_amp = recipe.get("talk", 0.0)
    syllables = (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 6.3))) ** 2
    talk = talk_amp * syllables * (0.6 + 0.4 * _events(rng, t, 0.5))
    closures = talk_amp * (_smooth(rng, t, 1, 1.0, 3.0)[:, 0] > 0.6)
    add("jawOpen", 0.45 * talk)
    add("mouthClose", 0.25 * closures * (0.45 * talk + 0.05))
    shaping = talk_amp * np.clip(_smooth(rng, t, 4, 0.5, 2.0), 0, 1)
    add("mouthFunnel", 0.3 * shaping[:, 0])
    add("mouthPucker", 0.3 * shaping[:, 1])
    add("mouthLowerDown", 0.3 * shaping[:, 2])
    add("mouthUpperUp", 0.2 * shaping[:, 3])
    for key, rate, shapes in _EVENTS:
        level = recipe.get(key, 0.0) * _events(rng, t, rate)
        for shape, weight in shapes:
            add(shape, weight * level)
    brows = np.clip(_smooth(rng, t, 2, 0.3, 1.0), 0, 1) * (0.3 + recipe.get("expr", 0.3))
    add("browInnerUp", 0.5 * brows[:, 0])
    add("browOuterUp", 0.4 * brows[:, 0])
    add("browDown", 0.3 * brows[:, 1])
    add("eyeBlink", _blinks(rng, t))
    noise = recipe.get("expr", 0.3) * 0.15 * np.clip(_smooth(rng, t, len(names), 0.2, 1.5), 0, 1)
    expression = np.stack([w[n] for n in names], axis=1) + noise
    expression = np.clip(expression, 0.0, 1.0)
    return Performance(sequence=base.sequence, frame_ids=base.frame_ids, expression=expression,
                       rotation=base.rotation, translation=base.translation, neck=base.neck,
                       jaw=np.zeros_like(base.jaw), eyes=base.eyes, light_dir_world=base.light_dir_world,
                       light_rgb=base.light_rgb, ambient=base.ambient)


def detail_field(template, seed: int, participant: str) -> np.ndarray:
    """Per-vertex normal displacement (V,) metres of the subject's fine relief (0 off the skin)."""
    rng = _rng(seed, "detail", participant)
    x = np.asarray(template.canonical_vertices, dtype=np.float64)
    n_waves = 48
    directions = rng.normal(size=(n_waves, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    wavelength = np.exp(rng.uniform(np.log(4e-3), np.log(15e-3), n_waves))
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    amp = rng.uniform(0.5, 1.0, n_waves)
    field = np.sin(x @ (directions / wavelength[:, None] * 2 * np.pi).T + phase) @ amp
    field *= DETAIL_RMS_M / max(float(np.sqrt(np.mean(field ** 2))), 1e-12)
    field = DETAIL_MAX_M * np.tanh(field / DETAIL_MAX_M)
    skin = np.isin(np.asarray(template.regions), (1, 2, 3, 4))
    return np.where(skin, field, 0.0)
