"""Quality control of a prepared sequence: per-frame figures and a ``pass | warn | fail`` flag.

The fit residual alone does not tell a good fit from a wrong one (a template
turned 40 degrees still hugs the cloud where it matches), so each frame gets
cheap figures that look at the fit from other sides:

=======================  =====================================================================
``fit_residual_mm``      median |point-to-plane| of the matched data vertices (from the fit)
``matched_fraction``     share of data-region vertices with a cloud match
``cloud_to_mesh_mm``     the other direction: median distance from the cloud points whose closest
                         mesh point is on the face region to the fitted mesh
``cloud_inlier_fraction`` share of those cloud points within ``inlier_mm`` of the mesh
``surface_fraction``     share of observed foreground pixels (every camera) on the fitted template
                         surface (mask 1 or 2)
``pose_jump_deg``        head rotation (Kabsch on scalp and ears) against its best prediction
                         from neighbouring frames (midpoint of both neighbours, motion continued
                         from the two frames before or after, a neighbour as is)
``jitter_mm``            the same second-difference test on face vertices in the head's frame:
                         median distance to their prediction from the neighbours
``face_area_ratio``      face-region area over the fitted identity's neutral face area
                         (a collapsed or blown-up expression)
``landmark_px``          landmark reprojection error against FaceMesh's detections, each view's and
                         landmark's constant offset over the sequence removed (landmarks.fitted_landmark_px)
``stereo_coverage``      depth from multi-view stereo: median over views of the share of
                         foreground pixels that kept a consistent depth (blurred, textureless or
                         badly calibrated views keep almost none)
=======================  =====================================================================

Thresholds come from the ``qc`` section of the pipeline configuration: per
figure ``warn`` / ``fail`` (value above is bad) and ``warn_below`` /
``fail_below`` (value below is bad); ``null`` switches a test off.  A frame's
flag is its worst test; the sequence's flag is its worst frame.
"""

from __future__ import annotations

import numpy as np

FLAGS = ("pass", "warn", "fail")
FIGURES = ("fit_residual_mm", "matched_fraction", "cloud_to_mesh_mm", "cloud_inlier_fraction",
           "surface_fraction", "pose_jump_deg", "jitter_mm", "face_area_ratio", "landmark_px",
           "stereo_coverage")
RIGID_REGIONS = (2, 3)  # scalp and ears move with the skull
FACE_REGION = 1


def sequence_qc(template, fit, clouds, clips=None, frame_ids=None, thresholds: dict | None = None,
                max_cloud_points: int = 4000, inlier_mm: float = 2.0) -> dict:
    """QC record of one sequence (JSON-ready): flag, per-frame figures, flags and reasons.

    template: the fitted ``Template``; fit: a ``FitResult`` (``vertices`` (T,V,3), ``params``,
    ``residual_mm``, ``matched``; optional ``stats["landmark_px"]``, ``stats["stereo_coverage"]``
    (T,)); clouds: per-frame ``PointCloud``; clips: the sequence's ``Clip`` list (for
    ``surface_fraction``), or None.
    """
    vertices = np.asarray(fit.vertices, np.float64)
    T = len(vertices)
    figures = {
        "fit_residual_mm": np.asarray(fit.residual_mm, float),
        "matched_fraction": np.asarray(fit.matched, float),
    }
    c2m, inliers = cloud_to_mesh(template, vertices, clouds, max_cloud_points, inlier_mm)
    figures["cloud_to_mesh_mm"], figures["cloud_inlier_fraction"] = c2m, inliers
    figures["surface_fraction"] = surface_fraction(clips, T) if clips else np.full(T, np.nan)
    neutral = neutral_vertices(template, fit.params)
    rotations = head_rotations(template, vertices, neutral)
    figures["pose_jump_deg"] = pose_jump_deg(rotations)
    figures["jitter_mm"] = jitter_mm(template, vertices, neutral)
    figures["face_area_ratio"] = face_area_ratio(template, vertices, neutral)
    stats = getattr(fit, "stats", None) or {}
    for name in ("landmark_px", "stereo_coverage"):  # figures only some captures have
        v = stats.get(name)
        figures[name] = np.asarray(v, float) if v is not None else np.full(T, np.nan)
    return judge(figures, thresholds or {}, frame_ids)


def judge(figures: dict, thresholds: dict, frame_ids=None) -> dict:
    """Flags from per-frame ``figures`` {name: (T,)} and ``thresholds`` (the config's ``qc``)."""
    T = len(next(iter(figures.values())))
    frame_ids = np.arange(T) if frame_ids is None else np.asarray(frame_ids)
    level = np.zeros(T, int)
    reasons: dict[str, list[str]] = {}
    for name, values in figures.items():
        rule = thresholds.get(name) or {}
        values = np.asarray(values, float)
        for key, lvl, worse in (("warn", 1, np.greater), ("fail", 2, np.greater),
                                ("warn_below", 1, np.less), ("fail_below", 2, np.less)):
            limit = rule.get(key)
            if limit is None:
                continue
            with np.errstate(invalid="ignore"):
                bad = worse(values, float(limit))  # NaN (figure not measured) never fails
            for t in np.flatnonzero(bad & (level <= lvl)):
                reasons.setdefault(str(int(frame_ids[t])), []).append(
                    f"{name} {values[t]:.3g} {'>' if worse is np.greater else '<'} {limit} ({FLAGS[lvl]})")
            level = np.where(bad, np.maximum(level, lvl), level)
    flags = [FLAGS[v] for v in level]
    return {"flag": FLAGS[int(level.max())] if T else "pass",
            "frames": {f: int(np.sum(level == i)) for i, f in enumerate(FLAGS)},
            "frame_ids": [int(f) for f in frame_ids], "frame_flags": flags,
            "figures": {k: [_clean(v) for v in np.asarray(vals, float)] for k, vals in figures.items()},
            "summary": {k: _summary(np.asarray(v, float)) for k, v in figures.items()},
            "reasons": reasons}


def _clean(v: float):
    return None if not np.isfinite(v) else round(float(v), 4)


def _summary(v: np.ndarray) -> dict:
    ok = v[np.isfinite(v)]
    if not ok.size:
        return {"median": None, "min": None, "max": None}
    return {"median": _clean(np.median(ok)), "min": _clean(ok.min()), "max": _clean(ok.max())}


# -- figures -------------------------------------------------------------------------------
def cloud_to_mesh(template, vertices, clouds, max_points: int = 4000, inlier_mm: float = 2.0,
                  max_distance: float = 0.05):
    """(median mm (T,), inlier share (T,)) of cloud points whose closest mesh point is on the face."""
    from facebench.geometry import MeshProximity

    face_faces = np.asarray(template.face_regions) == FACE_REGION
    med, inl = np.full(len(vertices), np.nan), np.full(len(vertices), np.nan)
    for t, cloud in enumerate(clouds):
        xyz = np.asarray(cloud.xyz_world, np.float64)
        xyz = xyz[:: max(1, int(np.ceil(len(xyz) / max_points)))]
        hit = MeshProximity(vertices[t], template.faces).query(xyz, max_distance=max_distance)
        on_face = (hit.face_id >= 0) & face_faces[np.maximum(hit.face_id, 0)]
        if on_face.any():
            d = np.abs(hit.distance[on_face]) * 1000.0
            med[t], inl[t] = np.median(d), np.mean(d < inlier_mm)
    return med, inl


def surface_fraction(clips, T: int) -> np.ndarray:
    """Share of observed foreground pixels (all cameras) labelled on the template surface (1 or 2)."""
    on, seen = np.zeros(T), np.zeros(T)
    for c in clips:
        observed = np.isfinite(c.depth) & (c.mask > 0)
        on += ((c.mask == 1) | (c.mask == 2)).reshape(T, -1).sum(1) * 1.0
        seen += observed.reshape(T, -1).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, on / np.maximum(seen, 1), np.nan)


def neutral_vertices(template, params: dict | None) -> np.ndarray:
    """The fitted identity without expression or pose (template canonical when unknown)."""
    identity = None if not params else params.get("identity")
    if identity is None:
        return np.asarray(template.canonical_vertices, np.float64)
    scale = float(np.asarray(params.get("scale", 1.0), float).reshape(-1)[0])
    return np.asarray(template.deform(identity=np.asarray(identity, float).reshape(-1), scale=scale),
                      np.float64)


def _kabsch(src: np.ndarray, dst: np.ndarray):
    """R, t with dst ~ R @ src + t (least squares)."""
    cs, cd = src.mean(0), dst.mean(0)
    U, _, Vt = np.linalg.svd((src - cs).T @ (dst - cd))
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(Vt.T @ U.T))])
    R = Vt.T @ D @ U.T
    return R, cd - R @ cs


def _rigid_ids(template) -> np.ndarray:
    ids = np.flatnonzero(np.isin(np.asarray(template.regions), RIGID_REGIONS))
    return ids if len(ids) >= 3 else np.arange(template.n_vertices)


def head_rotations(template, vertices, neutral) -> np.ndarray:
    """(T,3,3) head rotation per frame: Kabsch of the scalp and ears onto the neutral mesh."""
    ids = _rigid_ids(template)
    return np.stack([_kabsch(neutral[ids], v[ids])[0] for v in vertices])


def _predictions(T: int):
    """Per frame the (a, b, w) predictions of it: midpoint of both neighbours (w = 0.5), continued
    motion ``2 x_a - x_b`` (w = 2) from the two frames before or after, or a neighbour as is (a == b).
    A frame is judged by its best prediction, so a bad frame does not spoil its neighbours'."""
    out = []
    for t in range(T):
        p = []
        if 0 < t < T - 1:
            p.append((t - 1, t + 1, 0.5))  # midpoint
        if t >= 2:
            p.append((t - 1, t - 2, 2.0))  # extrapolated from before: 2 x_{t-1} - x_{t-2}
        if t + 2 < T:
            p.append((t + 1, t + 2, 2.0))
        p += [(n, n, 1.0) for n in (t - 1, t + 1) if 0 <= n < T]  # a neighbour as is
        out.append(p)
    return out


def pose_jump_deg(rotations: np.ndarray) -> np.ndarray:
    """Angle (deg) between each frame's rotation and its best prediction from neighbours."""
    from scipy.spatial.transform import Rotation, Slerp

    T = len(rotations)
    out = np.full(T, np.nan)
    rot = Rotation.from_matrix(rotations)
    for t, preds in enumerate(_predictions(T)):
        errs = []
        for a, b, w in preds:
            if a == b:
                guess = rot[a]
            elif w == 0.5:
                guess = Slerp([0.0, 1.0], rot[[a, b]])([0.5])[0]
            else:  # x_a * (x_b^-1 x_a): the relative motion continued
                guess = rot[a] * (rot[b].inv() * rot[a])
            errs.append(np.degrees((guess.inv() * rot[t]).magnitude()))
        if errs:
            out[t] = min(errs)
    return out


def jitter_mm(template, vertices, neutral) -> np.ndarray:
    """Median distance (mm) of face vertices, in the head's frame, to their neighbour prediction."""
    ids = _rigid_ids(template)
    face = np.flatnonzero(np.asarray(template.regions) == FACE_REGION)
    face = face if len(face) else np.arange(template.n_vertices)
    local = []
    for v in vertices:  # undo the head motion: vertices in the neutral mesh's frame
        R, t = _kabsch(neutral[ids], v[ids])
        local.append((v[face] - t) @ R)
    local = np.stack(local)
    out = np.full(len(vertices), np.nan)
    for t, preds in enumerate(_predictions(len(vertices))):
        errs = [np.median(np.linalg.norm(local[t] - (w * local[a] + (1 - w) * local[b]
                                                      if w == 0.5 else w * local[a] - (w - 1) * local[b]),
                                         axis=1)) for a, b, w in preds]
        if errs:
            out[t] = min(errs) * 1000.0
    return out


def _area(v: np.ndarray, faces: np.ndarray) -> float:
    tri = v[faces]
    return float(0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum())


def face_area_ratio(template, vertices, neutral) -> np.ndarray:
    """Face-region area at each frame over the neutral mesh's (scale included)."""
    faces = np.asarray(template.faces)[np.asarray(template.face_regions) == FACE_REGION]
    if not len(faces):
        return np.full(len(vertices), np.nan)
    ref = _area(neutral, faces)
    return np.array([_area(v, faces) / ref for v in vertices])
