"""Identity and expression bases of facebench-head: smooth displacement fields.

Every component is a function of the canonical position (N,3) -> displacement
(N,3) in metres for one standard unit.  Eyeballs move rigidly with the field at
their centre (they never deform).
"""

from __future__ import annotations

import numpy as np

from facebench.templates.head_shape import (
    EAR_CENTER,
    EYE_CENTER_X,
    EYE_CENTER_Y,
    ear_coords,
    eye_opening_rho,
    gauss,
    smoothstep,
)


def _vec(x, y=None, z=None):
    n = len(x)
    return np.stack([x, np.zeros(n) if y is None else y, np.zeros(n) if z is None else z], 1)


def identity_fields(p, ym):
    """(name, displacement (N,3)) per identity component; ``ym`` is the mouth height."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    ax, sx = np.abs(x), np.tanh(x / 0.008)  # a smooth sign: no jump at the midline
    zero = np.zeros(len(p))
    front = smoothstep((z - 0.0) / 0.05)
    lower = smoothstep((-0.02 - y) / 0.05) * smoothstep((y + 0.16) / 0.04)
    upper = smoothstep((y - 0.0) / 0.07)
    neck = smoothstep((-0.09 - y) / 0.04)
    nose = gauss(x, y, 0.0, -0.012, 0.013, 0.022) * front
    tip = gauss(x, y, 0.0, -0.02, 0.01, 0.01) * front
    bridge = gauss(x, y, 0.0, 0.018, 0.008, 0.012) * front
    eyes = gauss(ax, y, EYE_CENTER_X, EYE_CENTER_Y, 0.02, 0.016) * front
    mouth = gauss(x, y, 0.0, ym, 0.03, 0.014) * front
    lips = gauss(x, y, 0.0, ym, 0.02, 0.008) * front
    chin = gauss(x, y, 0.0, ym - 0.035, 0.025, 0.02) * front
    cheek = gauss(ax, y, 0.042, -0.022, 0.018, 0.018) * front
    cheekbone = gauss(ax, y, 0.05, 0.006, 0.014, 0.01)
    brow = gauss(ax, y, 0.028, 0.048, 0.025, 0.008) * front
    s, _, rho = ear_coords(p)
    ear = smoothstep((1.35 - rho) / 0.5) * smoothstep((ax - 0.05) / 0.02)
    return [
        ("head_width", _vec(0.035 * x)),
        ("head_height", _vec(zero, 0.03 * (y + 0.02))),
        ("head_length", _vec(zero, None, 0.05 * z * smoothstep(-z / 0.04))),
        ("cranium_size", 0.035 * (p - [0.0, 0.0, -0.01]) * upper[:, None]),
        ("jaw_width", _vec(0.08 * x * lower * smoothstep((0.02 - z) / 0.05 + 0.5))),
        ("chin_height", _vec(zero, -0.004 * chin)),
        ("chin_protrusion", _vec(zero, None, 0.004 * chin)),
        ("nose_length", _vec(zero, -0.003 * tip)),
        ("nose_width", _vec(0.18 * x * nose)),
        ("nose_protrusion", _vec(zero, None, 0.0035 * tip)),
        ("nose_bridge", _vec(zero, None, 0.0025 * bridge)),
        ("eye_spacing", _vec(0.003 * sx * eyes)),
        ("eye_height", _vec(zero, 0.003 * eyes)),
        ("brow_ridge", _vec(zero, None, 0.0025 * brow)),
        ("cheekbones", _vec(0.003 * sx * cheekbone, None, 0.002 * cheekbone)),
        ("cheek_fullness", _vec(0.002 * sx * cheek, None, 0.003 * cheek)),
        ("lip_thickness", _vec(zero, 0.12 * (y - ym) * lips, 0.002 * lips)),
        ("mouth_width", _vec(0.1 * x * mouth)),
        ("ear_size", _vec(zero, 0.07 * (y - EAR_CENTER[0]) * ear, 0.07 * (z - EAR_CENTER[1]) * ear)),
        ("ear_protrusion", _vec(0.004 * sx * ear * smoothstep((s + 1.0) / 2.0))),
        ("forehead_slope", _vec(zero, None, -0.004 * smoothstep((y - 0.04) / 0.06) * front)),
        ("neck_thickness", _vec(0.07 * x * neck, None, 0.07 * (z + 0.018) * neck)),
        ("midface_length", _vec(zero, -0.004 * smoothstep((0.03 - y) / 0.05) * front
                                * smoothstep((y + 0.15) / 0.05))),
        ("face_asymmetry", _vec(zero, 0.0015 * np.clip(x / 0.07, -1, 1) * front)),
    ]


def expression_fields(p, ym, eyeball_front_z):
    """(name, displacement (N,3)) per expression component (one standard unit).

    ``eyeball_front_z`` (N,) is the z of the eyeball surface in front of each point
    (NaN where there is none), used by the blinks.  No component moves the lips
    towards each other (the jaw joint opens the mouth), so they cannot cross."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    ax, sx = np.abs(x), np.tanh(x / 0.008)
    zero = np.zeros(len(p))
    front = smoothstep((z - 0.02) / 0.04)
    corner = gauss(ax, y, 0.026, ym, 0.011, 0.011) * front
    cheek = gauss(ax, y, 0.038, -0.012, 0.015, 0.012) * front
    brows = gauss(ax, y, 0.03, 0.05, 0.022, 0.014) * front
    inner_brow = gauss(ax, y, 0.016, 0.046, 0.012, 0.01) * front
    lips = gauss(x, y, 0.0, ym, 0.022, 0.011) * front
    puff = gauss(ax, y, 0.042, ym - 0.005, 0.016, 0.016) * front
    nose_side = gauss(ax, y, 0.012, 0.0, 0.009, 0.012) * front
    mouth = gauss(x, y, 0.0, ym - 0.004, 0.028, 0.018) * front
    lower_lid = gauss(ax, y, EYE_CENTER_X, EYE_CENTER_Y - 0.012, 0.014, 0.006) * front
    near_lips = np.clip(1.0 - (x / 0.03) ** 2, 0.0, 1.0)
    fields = [
        ("smile", _vec(0.0025 * sx * corner, 0.0035 * corner + 0.0015 * cheek, -0.002 * corner
                       + 0.0015 * cheek)),
        ("frown", _vec(zero, -0.003 * corner, -0.0005 * corner)),
        ("brow_raise", _vec(zero, 0.0035 * brows, 0.0005 * brows)),
        ("brow_lower", _vec(-0.0015 * sx * inner_brow, -0.0025 * brows, 0.001 * inner_brow)),
    ]
    closing = _blink_offset(p, eyeball_front_z)
    fields += [("blink_left", _vec(zero, None, closing * (x > 0))),
               ("blink_right", _vec(zero, None, closing * (x < 0)))]
    fields += [
        ("pucker", _vec(-0.2 * x * lips, None, 0.004 * lips)),
        ("lip_press", _vec(zero, -0.15 * (y - ym) * lips * near_lips, -0.002 * lips)),
        ("cheek_puff", _vec(0.004 * sx * puff, None, 0.0025 * puff)),
        ("nose_wrinkle", _vec(zero, 0.0022 * nose_side, 0.0008 * nose_side)),
        ("mouth_left", _vec(0.004 * mouth)),
        ("mouth_up", _vec(zero, 0.003 * mouth)),
        ("lip_stretch", _vec(0.15 * x * lips, None, -0.001 * lips)),
        ("squint", _vec(zero, 0.0015 * lower_lid, 0.0008 * lower_lid)),
    ]
    return fields


def _blink_offset(p, eyeball_front_z):
    """z offset that, at 3 units, brings the lid skin 1.5 mm in front of the eyeball."""
    rho = eye_opening_rho(p[:, 0], p[:, 1])
    target = np.where(np.isfinite(eyeball_front_z), eyeball_front_z + 0.0015, p[:, 2])
    gap = np.maximum(target - p[:, 2], 0.0)
    weight = smoothstep((1.6 - rho) / 0.5) * smoothstep((p[:, 2] - 0.035) / 0.01)
    return gap * weight / 3.0


def eyeball_front_z(p, centers, radius):
    """z of the front of the nearest eyeball sphere under each point (NaN when outside)."""
    out = np.full(len(p), np.nan)
    for c in centers:
        r2 = (p[:, 0] - c[0]) ** 2 + (p[:, 1] - c[1]) ** 2
        inside = r2 < radius ** 2
        out[inside] = c[2] + np.sqrt(radius ** 2 - r2[inside])
    # beyond the sphere outline extend smoothly so the lid margin closes too
    ax = np.abs(p[:, 0])
    r = np.hypot(ax - centers[0][0], p[:, 1] - centers[0][1])
    ring = (~np.isfinite(out)) & (r < radius * 1.8)
    out[ring] = centers[0][2] - (r[ring] - radius) * 0.5
    return out
