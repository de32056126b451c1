"""``ict-light``: the ICT Face Model Light (ICT-FaceKit, MIT licence) as a facebench template.

The shipped asset (``data/ict-light.npz``, rebuilt by :mod:`facebench.templates.ict_build`)
holds upstream vertices 0..24,590 in upstream order: skin 0..11,247 (face 0..9,408
with ears and front scalp, head and neck 9,409..11,247), mouth socket, eye
sockets, gums and tongue, teeth, eyeballs.  Identity coefficient ``k = 1``
reproduces ``identity{k:03d}.obj - neutral`` and expression weight 1 the upstream
blendshape (ARKit-style names, weights in [0, 1]), converted from centimetres to
metres.  Rig: joints [root, neck, jaw, left eye, right eye] as for the other
templates; the neck bends the head over the lower neck, the eyeballs rotate
rigidly about their centres, and the jaw joint has no skinning weight (ICT's
jaw is the ``jawOpen`` blendshape): ``jaw`` is accepted and ignored.
"""

from __future__ import annotations

import numpy as np

NAME = "ict-light"
LICENSE_FILE = "ICT-FaceKit-LICENSE.txt"
COPYRIGHT = "ICT Face Model Light: Copyright (c) 2020 USC Institute for Creative Technologies (MIT licence)"
JOINT_NAMES = ("root", "neck", "jaw", "left_eye", "right_eye")
PARENTS = np.array([-1, 0, 1, 1, 1])

# Upstream part ranges (vertex index, end exclusive).
NARROW_FACE = (0, 6706)
FACE_AREA = (0, 9409)
SKIN = (0, 11248)
MOUTH_SOCKET = (11248, 13294)
EYE_SOCKETS = (13294, 14062)
GUMS_TONGUE = (14062, 17039)
TEETH = (17039, 21451)
EYEBALL_LEFT = (21451, 23021)    # sclera 21451..22220, iris 22221..23020 (subject's left, +x)
EYEBALL_RIGHT = (23021, 24591)


def _mask(n, *ranges):
    m = np.zeros(n, bool)
    for a, b in ranges:
        m[a:b] = True
    return m


def ict_regions(v_cm: np.ndarray) -> np.ndarray:
    """SPEC §2 region labels (V,) from part ranges and a geometric split of the skin.

    Face: the upstream "narrow face area" (0..6,705: brows to chin, ear to ear in
    front of the ears).  Ears: the rest of the face area with |x| > 6 cm, -4.5 < y < 5,
    z < 3.5 cm.  Neck: the remaining skin below y = -7.5 cm, or below -3.5 cm behind
    z = -5 cm.  Scalp: the remaining skin.  Eyes: eyeballs and eye sockets.  Mouth
    interior: mouth socket, gums, tongue and teeth."""
    n = len(v_cm)
    x, y, z = v_cm[:, 0], v_cm[:, 1], v_cm[:, 2]
    regions = np.full(n, 2, np.uint8)
    outer = _mask(n, SKIN) & ~_mask(n, NARROW_FACE)
    ears = outer & _mask(n, FACE_AREA) & (np.abs(x) > 6.0) & (y > -4.5) & (y < 5.0) & (z < 3.5)
    neck = outer & ~ears & ((y < -7.5) | ((y < -3.5) & (z < -5.0)))
    regions[_mask(n, NARROW_FACE)] = 1
    regions[ears] = 3
    regions[neck] = 4
    regions[_mask(n, EYE_SOCKETS, EYEBALL_LEFT, EYEBALL_RIGHT)] = 5
    regions[_mask(n, MOUTH_SOCKET, GUMS_TONGUE, TEETH)] = 6
    return regions


def ict_rig(v_cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(joint_regressor (5,V), lbs_weights (V,5)).

    Neck joint: the centroid of the skin ring 6.5..7.5 cm below the origin (inside the
    upper neck); weights blend root -> neck over the skin from y = -12 to -6 cm, so the
    shoulders stay put.  Eye joints: the centroid of each sclera (the sclera is a
    closed shell, so this is its centre).  The jaw joint shares the neck's position and
    skins nothing."""
    n = len(v_cm)
    y = v_cm[:, 1]
    skin = _mask(n, SKIN)
    ring = skin & (y < -6.5) & (y > -7.5) & (v_cm[:, 2] < 6.0)
    regressor = np.zeros((5, n))
    regressor[1, ring] = 1.0 / ring.sum()
    regressor[0] = regressor[1]
    regressor[2] = regressor[1]
    for j, (a, _) in ((3, EYEBALL_LEFT), (4, EYEBALL_RIGHT)):
        regressor[j, a:a + 770] = 1.0 / 770
    t = np.clip((y + 12.0) / 6.0, 0.0, 1.0)
    w_neck = np.where(skin, t * t * (3 - 2 * t), 1.0)
    weights = np.zeros((n, 5))
    weights[:, 0] = 1.0 - w_neck
    weights[:, 1] = w_neck
    for j, (a, b) in ((3, EYEBALL_LEFT), (4, EYEBALL_RIGHT)):
        weights[a:b] = 0.0
        weights[a:b, j] = 1.0
    return regressor, weights


def ict_albedo(v_cm: np.ndarray, regions: np.ndarray, landmarks_cm: np.ndarray) -> np.ndarray:
    """A neutral per-vertex albedo (V,3) in [0,1]: skin 0.8 grey (synth tints it per subject),
    darker brows, redder lips, white sclera, coloured iris, teeth, gums, a dark mouth."""
    n = len(v_cm)
    albedo = np.full((n, 3), 0.8)
    xy = v_cm[:, :2]
    front = regions == 1
    brows = np.concatenate([landmarks_cm[17:22], landmarks_cm[22:27]])
    d_brow = _polyline_distance(xy, landmarks_cm[17:22, :2])
    d_brow = np.minimum(d_brow, _polyline_distance(xy, landmarks_cm[22:27, :2]))
    brow = front & (d_brow < 0.3) & (v_cm[:, 2] > brows[:, 2].min() - 1.5)
    albedo[brow] = (0.35, 0.28, 0.24)
    from matplotlib.path import Path as PolyPath

    lip_front = v_cm[:, 2] > landmarks_cm[48:60, 2].min() - 1.0
    lips = front & PolyPath(landmarks_cm[48:60, :2]).contains_points(xy) & lip_front
    albedo[lips] = (0.78, 0.5, 0.5)
    albedo[_mask(n, MOUTH_SOCKET)] = (0.35, 0.12, 0.12)
    albedo[_mask(n, GUMS_TONGUE)] = (0.7, 0.35, 0.35)
    albedo[_mask(n, TEETH)] = (0.92, 0.9, 0.82)
    albedo[_mask(n, EYE_SOCKETS)] = (0.55, 0.35, 0.33)
    for a, b in (EYEBALL_LEFT, EYEBALL_RIGHT):
        # the sclera shell covers the iris (a shader makes its cornea clear): paint an iris (22 deg)
        # and a pupil (8 deg) onto it around the axis from the eyeball's centre to the iris
        center = v_cm[a:a + 770].mean(axis=0)
        to_sclera = v_cm[a:a + 770] - center
        axis = v_cm[a + 770:b].mean(axis=0) - center
        cos_sclera = to_sclera @ (axis / np.linalg.norm(axis)) / np.linalg.norm(to_sclera, axis=1)
        albedo[a:a + 770] = np.where((cos_sclera > np.cos(np.radians(8)))[:, None], (0.05, 0.04, 0.04),
                                     np.where((cos_sclera > np.cos(np.radians(22)))[:, None],
                                              (0.32, 0.22, 0.14), (0.95, 0.93, 0.9)))
        albedo[a + 770:b] = (0.32, 0.22, 0.14)
    return albedo.astype(np.float32)


def _polyline_distance(p: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance (N,) of 2D points to a polyline."""
    best = np.full(len(p), np.inf)
    for a, b in zip(line[:-1], line[1:]):
        ab = b - a
        t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-12), 0, 1)
        best = np.minimum(best, np.linalg.norm(p - (a + t[:, None] * ab), axis=1))
    return best


def _landmark_embedding(faces: np.ndarray, vertex_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(face_id (68,), barycentric (68,3)): each landmark vertex as a corner of its first triangle."""
    face_id = np.empty(len(vertex_ids), np.int64)
    bary = np.zeros((len(vertex_ids), 3))
    for i, vid in enumerate(vertex_ids):
        f, corner = np.argwhere(faces == vid)[0]
        face_id[i] = f
        bary[i, corner] = 1.0
    return face_id, bary


def ict_arrays(asset: dict) -> dict:
    """Template arrays (metres) from the shipped asset's arrays."""
    v_cm = asset["neutral"].astype(np.float64)
    step_m = float(asset["step_cm"]) / 100.0
    faces = asset["faces"].astype(np.int64)
    regions = ict_regions(v_cm)
    regressor, weights = ict_rig(v_cm)
    lmk_face, lmk_bary = _landmark_embedding(faces, asset["landmark_vertex"])
    face = regions == 1
    v = v_cm / 100.0
    lo, hi = v[face].min(0), v[face].max(0)
    center = np.round(0.5 * (lo + hi), 4)
    scale = np.round(1.04 * np.max(np.maximum(hi - center, center - lo)), 4)
    return {
        "canonical_vertices": v, "faces": faces,
        "identity_basis": np.moveaxis(asset["identity_q"], 0, -1).astype(np.float64) * step_m,
        "expression_basis": np.moveaxis(asset["expression_q"], 0, -1).astype(np.float64) * step_m,
        "joint_regressor": regressor, "parents": PARENTS, "lbs_weights": weights,
        "center": center, "scale": np.float64(scale), "regions": regions,
        "landmark_face_id": lmk_face, "landmark_barycentric": lmk_bary,
        "albedo": ict_albedo(v_cm, regions, v_cm[asset["landmark_vertex"]]),
    }


def load_ict_light():
    """The ``ict-light`` :class:`~facebench.templates.Template` from the shipped asset."""
    from facebench.templates.ict_build import ASSET_PATH, load_asset
    from facebench.templates.template import Template

    asset = load_asset(ASSET_PATH)
    template = Template(NAME, ict_arrays(asset))
    template.identity_names = [f"identity{k:03d}" for k in range(template.n_identity)]
    template.expression_names = [str(s) for s in asset["expression_names"]]
    template.joint_names = list(JOINT_NAMES)
    template.blendshapes = True
    template.source = f"ICT-FaceKit {str(asset['upstream_commit'])[:8]} ({COPYRIGHT})"
    template.license_path = ASSET_PATH.parent / LICENSE_FILE
    return template
