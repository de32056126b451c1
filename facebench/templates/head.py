"""facebench-head: assemble the procedural head into template arrays, and cache them.

``build_head_arrays()`` is pure numpy and deterministic; the arrays are rounded to
1e-7 so that every machine stores (and hashes) the same numbers.  ``load_head()``
keeps them in ``{cache_dir}/facebench-head-v{BUILDER_VERSION}-{source hash}.npz``.
"""

from __future__ import annotations

import os

import numpy as np

from facebench.templates import head_shape as hs
from facebench.templates.head_bases import expression_fields, eyeball_front_z, identity_fields
from facebench.templates.head_shape import gauss, smoothstep

NAME = "facebench-head"
BUILDER_VERSION = 1
JOINT_NAMES = ("root", "neck", "jaw", "left_eye", "right_eye")
PARENTS = np.array([-1, 0, 1, 1, 1])


def build_head_arrays() -> dict:
    """All template arrays of facebench-head (see :class:`~facebench.templates.Template`)."""
    skin_v, skin_f, info = hs.skin_mesh()
    centers = hs.eye_centers()
    parts_v, parts_f, kinds = [skin_v], [skin_f], [np.asarray(info["kind"], np.int64)]
    polar = [np.zeros(len(skin_v))]
    offset = len(skin_v)
    for k, center in enumerate(centers):  # left eye (x > 0) then right eye
        ev, ef, ep = hs.eyeball_mesh(center, n_rings=16)
        parts_v.append(ev)
        parts_f.append(ef + offset)
        kinds.append(np.full(len(ev), 2 + k))
        polar.append(ep)
        offset += len(ev)
    v = np.concatenate(parts_v)
    faces = np.concatenate(parts_f)
    kind = np.concatenate(kinds)
    polar = np.concatenate(polar)
    side = np.concatenate([info["side"], np.zeros(len(v) - len(skin_v))])
    ym = info["mouth_y"]

    regions = _regions(v, kind)
    lip_edge = np.zeros(len(v), bool)
    lip_edge[: len(skin_v)] = info["lip_edge"]
    weights = _lbs_weights(v, kind, side, ym, lip_edge)
    joints = np.array([[0.0, -0.22, -0.018], [0.0, -0.09, -0.018], [0.0, -0.012, -0.008],
                       centers[0], centers[1]])
    regressor = _joint_regressor(v, kind, joints)

    id_fields = identity_fields(v, ym)
    identity = np.stack([d for _, d in id_fields], -1)
    for k, center in enumerate(centers):  # eyeballs move rigidly with the field at their centre
        at_center = np.stack([d[0] for _, d in identity_fields(center[None], ym)], -1)
        identity[kind == 2 + k] = at_center
    front_z = eyeball_front_z(v, centers, hs.EYE_RADIUS)
    ex_fields = expression_fields(v, ym, front_z)
    expression = np.stack([d for _, d in ex_fields], -1)
    expression[kind >= 2] = 0.0

    face = regions == 1
    lo, hi = v[face].min(0), v[face].max(0)
    center = np.round(0.5 * (lo + hi), 4)
    scale = np.round(1.04 * np.max(np.maximum(hi - center, center - lo)), 4)
    lmk_face, lmk_bary = _landmarks(v, faces, kind, ym)
    arrays = {
        "canonical_vertices": v, "faces": faces, "identity_basis": identity,
        "expression_basis": expression, "joint_regressor": regressor, "parents": PARENTS,
        "lbs_weights": weights, "center": center, "scale": np.float64(scale), "regions": regions,
        "landmark_face_id": lmk_face, "landmark_barycentric": lmk_bary,
        "albedo": _albedo(v, kind, polar, regions, info, ym),
    }
    for key, a in arrays.items():
        if np.asarray(a).dtype.kind == "f":
            arrays[key] = np.round(np.asarray(a, dtype=np.float64), 7) + 0.0
    w = arrays["lbs_weights"]  # rows sum to one exactly after rounding
    top = np.argmax(w, axis=1)
    w[np.arange(len(w)), top] = 0.0
    w[np.arange(len(w)), top] = 1.0 - w.sum(1)
    arrays["albedo"] = arrays["albedo"].astype(np.float32)
    arrays["identity_names"] = np.array([n for n, _ in id_fields])
    arrays["expression_names"] = np.array([n for n, _ in ex_fields])
    return arrays


def load_head(cache: bool = True):
    """The facebench-head template, built once and cached under the settings' cache_dir."""
    from facebench.settings import get_settings
    from facebench.templates.template import Template

    path = get_settings().cache_dir / f"{NAME}-v{BUILDER_VERSION}-{_source_hash()}.npz"
    arrays = None
    if cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError):
            arrays = None  # a damaged cache is rebuilt
    if arrays is None:
        arrays = build_head_arrays()
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, **arrays)
            os.replace(tmp, path)
    template = Template(NAME, arrays)
    template.identity_names = [str(n) for n in arrays["identity_names"]]
    template.expression_names = [str(n) for n in arrays["expression_names"]]
    template.joint_names = list(JOINT_NAMES)
    return template


def _source_hash() -> str:
    """Short hash of the builder's source files, so an edited builder never reads a stale cache."""
    import hashlib
    from pathlib import Path

    h = hashlib.sha256()
    for name in ("head.py", "head_shape.py", "head_bases.py"):
        h.update((Path(__file__).with_name(name)).read_bytes())
    return h.hexdigest()[:10]


# -- per-vertex attributes ----------------------------------------------------------
def _regions(v, kind):
    """1 face, 2 scalp, 3 ears, 4 neck, 5 eyes, 6 mouth interior (rules in docs/TEMPLATES.md)."""
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    _, _, rho = hs.ear_coords(v)
    regions = np.full(len(v), 2, np.uint8)
    hairline = 0.082 - 0.2 * np.maximum(np.abs(x) - 0.03, 0.0)  # receding a little at the temples
    face = (z > -0.004) & (y < hairline) & ~((np.abs(x) > 0.06) & (y > 0.035))
    regions[face] = 1
    d = v - hs.ORIGIN
    r = hs.primitive_radii(d / np.linalg.norm(d, axis=1, keepdims=True))
    regions[(r[2] > r[:2].max(0) - 0.002) & (y < -0.05)] = 4  # where the neck cylinder is outermost
    regions[(rho < 1.1) & (np.abs(x) > 0.05)] = 3
    regions[kind == 1] = 6
    regions[kind >= 2] = 5
    return regions


def _lbs_weights(v, kind, side, ym, lip_edge):
    """(V,5) skinning weights for [root, neck, jaw, left eye, right eye]."""
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    m = smoothstep((0.027 - np.abs(x)) / 0.008)  # 1 between the mouth corners
    h = 0.003 + 0.015 * (1.0 - m)
    jaw = smoothstep((ym + h - y) / (2 * h))
    lipside = np.where(side > 0, 0.5 - 0.5 * m, 0.5 + 0.5 * m)
    jaw = np.where(kind == 1, np.where(side == 0, 0.5, lipside), jaw)
    jaw = np.where(lip_edge, lipside, jaw)
    jaw *= smoothstep((z + 0.03) / 0.03) * smoothstep((y + 0.125) / 0.025)
    head = smoothstep((y + 0.17) / 0.07)
    w = np.zeros((len(v), 5))
    w[:, 0] = 1.0 - head
    w[:, 2] = jaw * head
    w[:, 1] = head - w[:, 2]
    for k in (2, 3):
        w[kind == k] = 0.0
        w[kind == k, k + 1] = 1.0
    return w


def _joint_regressor(v, kind, joints, sigma=0.04):
    """(J,V): smooth Gaussian weights over skin vertices, corrected (minimum norm) so that
    the regressor reproduces ``joints`` exactly on the canonical mesh with weights summing
    to one.  Eye joints are the mean of their eyeball's vertices."""
    reg = np.zeros((len(joints), len(v)))
    skin = np.flatnonzero(kind == 0)
    for j, p in enumerate(joints):
        if j >= 3:
            members = np.flatnonzero(kind == j - 1)
            reg[j, members] = 1.0 / len(members)
            continue
        w0 = np.exp(-0.5 * np.sum((v[skin] - p) ** 2, 1) / sigma**2)
        w0 /= w0.sum()
        a = np.vstack([v[skin].T, np.ones(len(skin))])  # (4, n)
        target = np.append(p, 1.0)
        reg[j, skin] = w0 + a.T @ np.linalg.solve(a @ a.T, target - a @ w0)
    return reg


def _albedo(v, kind, polar, regions, info, ym):
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    ax = np.abs(x)
    skin = np.array([0.86, 0.66, 0.56])
    variation = 1.0 + 0.035 * np.sin(90 * x + 40 * y) * np.cos(70 * z - 55 * y) + 0.02 * np.sin(310 * x * y)
    col = skin[None] * variation[:, None]
    col += np.array([0.05, -0.03, -0.03]) * gauss(ax, y, 0.04, -0.015, 0.015, 0.012)[:, None]
    lip_env = np.clip(1.0 - (x / 0.026) ** 2, 0.0, 1.0) ** 0.5
    lips = lip_env * smoothstep((0.0115 - np.abs(y - ym + 0.0005)) / 0.003) * (z > 0.05)
    col = _mix(col, [0.74, 0.38, 0.38], lips)
    brow_y = 0.05 + 0.004 * (1.0 - ((ax - 0.032) / 0.022) ** 2)
    brows = np.exp(-(((y - brow_y) / 0.0032) ** 2)) * smoothstep((ax - 0.01) / 0.004) \
        * smoothstep((0.055 - ax) / 0.006) * (z > 0.04)
    col = _mix(col, [0.24, 0.16, 0.11], 0.9 * brows)
    rho = hs.eye_opening_rho(x, y)
    col = _mix(col, [0.3, 0.2, 0.17], 0.6 * np.exp(-(((rho - 1.03) / 0.09) ** 2)) * (z > 0.04))
    col = _mix(col, [0.3, 0.15, 0.12], gauss(ax, y, 0.0065, -0.033, 0.003, 0.0025) * (z > 0.05))
    _, _, ear_rho = hs.ear_coords(v)
    hair_front = smoothstep((y - 0.08 + 0.2 * np.maximum(np.abs(x) - 0.03, 0.0)) / 0.01)
    hair_back = smoothstep((-z - 0.005) / 0.02) * smoothstep((y + 0.055) / 0.02)
    hair_side = smoothstep((y - 0.035) / 0.01) * smoothstep((ax - 0.058) / 0.008)
    hair = np.maximum(np.maximum(hair_front, hair_back), hair_side) * (ear_rho > 1.15)
    col = _mix(col, [0.23, 0.15, 0.1], hair * (kind == 0))
    # eyes: sclera, iris, pupil by the angle from the eyeball's forward axis
    eye = kind >= 2
    col[eye] = np.array([0.94, 0.92, 0.88])
    iris = eye & (polar < 0.46)
    col[iris] = np.array([0.33, 0.22, 0.13])
    col[eye & (polar < 0.1)] = np.array([0.03, 0.03, 0.03])
    pocket = kind == 1
    col[pocket] = np.array([0.45, 0.13, 0.13])
    teeth = pocket & (_pocket_ring(info, len(v)) == 1) & (ax < 0.021)
    col[teeth] = np.array([0.93, 0.91, 0.84])
    return np.clip(col, 0.0, 1.0)


def _pocket_ring(info, n):
    ring = np.full(n, -1)
    ring[: len(info["pocket_ring"])] = info["pocket_ring"]
    return ring


def _mix(col, target, amount):
    a = np.asarray(amount, dtype=np.float64)[:, None]
    return col * (1.0 - a) + np.asarray(target)[None] * a


# -- landmarks ----------------------------------------------------------------------
def _landmark_rays(ym):
    """Origins and directions (68,3) of rays that hit each iBUG-68 landmark."""
    ey = hs.EYE_CENTER_Y
    pts = []
    for x, y in (
        [(-0.05, 0.046), (-0.04, 0.0515), (-0.03, 0.0535), (-0.02, 0.052), (-0.011, 0.049)]
        + [(0.011, 0.049), (0.02, 0.052), (0.03, 0.0535), (0.04, 0.0515), (0.05, 0.046)]
        + [(0.0, 0.027), (0.0, 0.012), (0.0, -0.003), (0.0, -0.017)]
        + [(-0.011, -0.030), (-0.0055, -0.0325), (0.0, -0.0335), (0.0055, -0.0325), (0.011, -0.030)]
        + [(-0.0445, ey + 0.0012), (-0.0365, ey + 0.0063), (-0.0255, ey + 0.0058), (-0.0172, ey - 0.001),
           (-0.0255, ey - 0.0058), (-0.0365, ey - 0.0053)]
        + [(0.0172, ey - 0.001), (0.0255, ey + 0.0058), (0.0365, ey + 0.0063), (0.0445, ey + 0.0012),
           (0.0365, ey - 0.0053), (0.0255, ey - 0.0058)]
        + [(-0.025, ym), (-0.017, ym + 0.0065), (-0.007, ym + 0.009), (0.0, ym + 0.008), (0.007, ym + 0.009),
           (0.017, ym + 0.0065), (0.025, ym), (0.017, ym - 0.0085), (0.007, ym - 0.0115), (0.0, ym - 0.012),
           (-0.007, ym - 0.0115), (-0.017, ym - 0.0085)]
        + [(-0.021, ym + 0.0003), (-0.008, ym + 0.0004), (0.0, ym + 0.0004), (0.008, ym + 0.0004),
           (0.021, ym + 0.0003), (0.008, ym - 0.0004), (0.0, ym - 0.0004), (-0.008, ym - 0.0004)]
    ):
        pts.append((x, y))
    front = np.array([[x, y, 0.5] for x, y in pts])
    a = np.deg2rad(np.linspace(-88.0, 88.0, 17))
    jaw_dir = np.stack([np.sin(a), -np.cos(a), 0.35 * np.cos(a)], 1)
    jaw_dir /= np.linalg.norm(jaw_dir, axis=1, keepdims=True)
    jaw_origin = np.array([0.0, -0.005, 0.03]) + 0.5 * jaw_dir
    origins = np.concatenate([jaw_origin, front])
    dirs = np.concatenate([-jaw_dir, np.tile([0.0, 0.0, -1.0], (len(front), 1))])
    return origins, dirs


def _landmarks(v, faces, kind, ym):
    """(face_id (68,), barycentric (68,3)): first hit of each landmark ray on the skin."""
    origins, dirs = _landmark_rays(ym)
    skin_faces = np.flatnonzero(np.all(kind[faces] == 0, axis=1))
    tri = v[faces[skin_faces]]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    face_id = np.zeros(len(origins), np.int64)
    bary = np.zeros((len(origins), 3))
    for i, (o, d) in enumerate(zip(origins, dirs)):
        pvec = np.cross(d, e2)
        det = np.sum(e1 * pvec, 1)
        ok = np.abs(det) > 1e-18
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        tvec = o - tri[:, 0]
        u = np.sum(tvec * pvec, 1) * inv
        qvec = np.cross(tvec, e1)
        w = np.sum(d * qvec, 1) * inv
        t = np.sum(e2 * qvec, 1) * inv
        hit = ok & (u >= 0) & (w >= 0) & (u + w <= 1) & (t > 0)
        k = np.flatnonzero(hit)[np.argmin(t[hit])]
        face_id[i] = skin_faces[k]
        bary[i] = (1.0 - u[k] - w[k], u[k], w[k])
    return face_id, bary
