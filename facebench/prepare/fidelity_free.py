"""Template-free fidelity of prepared ground truth against a synthetic capture's exact truth.

When the capture's subject is not the fitting template there is no exact canonical
truth to compare with, but there are exact physical points: the truth folder written
by ``facebench synth`` holds the subject's world vertices per frame
(``{truth}/{pid}/{seq}/truth.npz``; faces: the synth template's), so re-rendering the
true scene into each GT clip's camera tells which subject triangle and barycentrics
every pixel sees.  Measures (:func:`measure`), all on the subject's face region:

* **canonical consistency**: fixed physical points sampled on the subject's face
  (area-weighted, seeded); wherever one is visible (every frame and camera) the prepared
  canonical map is read bilinearly at its true projection; the spread of those values
  (mean distance to their mean, mm via ``1000 * scale``), median and p90 over points;
  also temporal only (one camera across frames, averaged over cameras) and cross-view
  only (one frame across cameras, averaged over frames);
* **tracks**: the true surface point seen at each prepared track's query pixel (query
  frame) is projected into every frame: EPE at 256 px scale (median, p90) over frames
  other than the query frame where it is truly visible, and visibility agreement;
* **depth** error on true face pixels and **coverage** (share of them with a canonical);
* **absolute canonical error** when the subject has the prepared template's topology:
  true canonical = ``template.canonical_at(face, barycentric)`` per pixel.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FACE_REGION = 1


def subject_template(truth_dir, name: str | None = None):
    """The subject's template (its faces and regions): ``name``, else the one in ``synth.json``."""
    from facebench.templates import load

    if name is None:
        name = json.loads((Path(truth_dir) / "synth.json").read_text())["template"]
    return load(name)


class TrueScene:
    """Exact renders of one participant's subject (plus synth's hair and torso as occluders)."""

    def __init__(self, subject, truth_dir, participant: str):
        self.subject = subject
        self.n_faces = len(subject.faces)
        self.occluders = None
        try:  # hair shell and torso exactly as synth renders them (they hide parts of the face)
            import dataclasses

            from facebench.synth.motion import make_identity
            from facebench.synth.scene import HeadScene

            seed = int(json.loads((Path(truth_dir) / "synth.json").read_text())["seed"])
            recorded = json.loads((Path(truth_dir) / participant / "identity.json").read_text())
            identity = dataclasses.replace(make_identity(seed, participant, subject.n_identity),
                                           shape=np.asarray(recorded["shape"], np.float64))
            self.occluders = HeadScene(subject, identity, seed)
        except Exception:  # another generator: the subject alone
            self.occluders = None

    def raycaster(self, vertices_t):
        from facebench.geometry import Raycaster

        if self.occluders is not None:
            frame = self.occluders.frame(np.asarray(vertices_t, np.float64), None)
            return frame.raycaster
        return Raycaster(np.asarray(vertices_t, np.float64), self.subject.faces)

    def render(self, raycaster, camera):
        """(depth (H,W) NaN on miss, subject face id (H,W) -1 elsewhere, barycentric (H,W,3))."""
        origin, dirs = camera.pixel_rays()  # unit z in camera space: ray parameter == z-depth
        d = np.ascontiguousarray(dirs.reshape(-1, 3), dtype=np.float64)
        t, face_id, bary = raycaster.intersect(np.ascontiguousarray(np.broadcast_to(origin, d.shape)), d)
        H, W = camera.height, camera.width
        depth = np.where(face_id >= 0, t, np.nan).reshape(H, W)
        subject = np.where((face_id >= 0) & (face_id < self.n_faces), face_id, -1).reshape(H, W)
        return depth, subject, bary.reshape(H, W, 3)


def sample_face_points(subject, n: int, seed: int = 0):
    """(face ids (n,), barycentrics (n,3)): area-weighted uniform points on the face region."""
    rng = np.random.default_rng(seed)
    faces = np.flatnonzero(np.asarray(subject.face_regions) == FACE_REGION)
    tri = np.asarray(subject.canonical_vertices)[subject.faces[faces]]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    f = rng.choice(faces, size=n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    return f, np.stack([1 - u - v, u, v], axis=1)


def _points(vertices_t, faces, face_id, bary):
    return np.einsum("nk,nkc->nc", bary, vertices_t[faces[face_id]])


def _bilinear(image, uv, ok_pixels):
    """Bilinear values of image (H,W,C) at uv (N,2) where all 4 neighbours are ok (else NaN)."""
    H, W = ok_pixels.shape
    x0, y0 = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
    inside = (x0 >= 0) & (y0 >= 0) & (x0 + 1 < W) & (y0 + 1 < H)
    x0, y0 = np.where(inside, x0, 0), np.where(inside, y0, 0)
    fx, fy = (uv[:, 0] - x0)[:, None], (uv[:, 1] - y0)[:, None]
    out = np.zeros((len(uv), image.shape[-1]))
    good = inside.copy()
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy),
                      (1, 1, fx * fy)):
        good &= ok_pixels[y0 + dy, x0 + dx]
        out += w * image[y0 + dy, x0 + dx]
    out[~good] = np.nan
    return out


def _spread(keys: np.ndarray, values: np.ndarray):
    """Per group of ``keys`` with >= 2 values: mean distance to the group mean; (group keys, spreads)."""
    uniq, inv, count = np.unique(keys, return_inverse=True, return_counts=True)
    mean = np.stack([np.bincount(inv, values[:, k], len(uniq)) for k in range(3)], 1) / count[:, None]
    dist = np.linalg.norm(values - mean[inv], axis=1)
    spread = np.bincount(inv, dist, len(uniq)) / count
    return uniq[count >= 2], spread[count >= 2]


def _stats(x, prefix: str, unit: str) -> dict:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if not x.size:
        return {f"{prefix}_median_{unit}": None, f"{prefix}_p90_{unit}": None}
    return {f"{prefix}_median_{unit}": float(np.median(x)),
            f"{prefix}_p90_{unit}": float(np.quantile(x, 0.9))}


def measure(truth_dir, gt_dir, template=None, subject=None, n_points: int = 2000, seed: int = 0,
            visibility_tol: float = 0.005, surface_tol: float = 0.003) -> dict:
    """Template-free fidelity figures of the GT folder ``gt_dir`` against ``truth_dir`` (see module).

    template: the prepared template (``Template``), needed only for the absolute canonical error;
    subject: the subject's template (default: from ``synth.json``).
    """
    from facebench.geometry import Camera
    from facebench.io.shards import GTReader

    subject = subject if subject is not None else subject_template(truth_dir)
    reader = GTReader(gt_dir)
    mm = 1000.0 * reader.scale
    same = template is not None and template.n_vertices == subject.n_vertices and np.array_equal(
        template.faces, subject.faces)
    face_of = np.asarray(subject.face_regions) == FACE_REGION
    acc = {k: [] for k in ("obs_key", "obs_val", "epe", "vis_agree", "depth", "abs")}
    meta = Path(truth_dir) / "synth.json"
    # video layouts number frames by their index in the mp4 (0..T-1), not by the timestep
    by_index = meta.exists() and json.loads(meta.read_text()).get("layout") in ("v2", "benchmark")
    covered = face_px = tracks_total = tracks_lost = 0
    point_base, occluders, n_obs, drift = 0, True, 0, {}
    for participant, sequence in reader.sequences():
        frame_ids, _ = reader.sequence_vertices(participant, sequence)
        truth = np.load(Path(truth_dir) / participant / sequence / "truth.npz")
        rows = {(i if by_index else int(f)): i for i, f in enumerate(truth["frame_ids"])}
        verts = np.asarray(truth["vertices"], np.float64)[[rows[int(f)] for f in frame_ids]]
        scene = TrueScene(subject, truth_dir, participant)
        occluders &= scene.occluders is not None
        casters = [scene.raycaster(v) for v in verts]
        pf, pb = sample_face_points(subject, n_points, seed)
        X = np.stack([_points(v, subject.faces, pf, pb) for v in verts])  # (T,P,3)
        cids = [c for c in reader.clip_ids if c.startswith(f"{participant}/{sequence}/")]
        for ci, cid in enumerate(cids):
            clip = reader.clip(cid, fields=("depth", "canonical", "tracks"))
            T, H, W = clip.depth.shape
            cam = Camera(clip.K, clip.T_cam_from_world, W, H)
            renders = [scene.render(c, cam) for c in casters]
            for t, (depth_true, fid, bary) in enumerate(renders):
                face_px_t = (fid >= 0) & face_of[np.maximum(fid, 0)]
                has_c = np.isfinite(clip.canonical[t]).all(-1)
                face_px += int(face_px_t.sum())
                covered += int((face_px_t & has_c).sum())
                d = face_px_t & np.isfinite(clip.depth[t])
                acc["depth"].append(np.abs(clip.depth[t][d] - depth_true[d]) * 1000.0)
                if same:
                    a = face_px_t & has_c
                    c_true = template.canonical_at(fid[a], bary[a])
                    acc["abs"].append(np.linalg.norm(clip.canonical[t][a] - c_true, axis=-1) * mm)
                # canonical consistency: fixed points, where visible
                uv, z = cam.project_world(X[t])
                col, row = np.round(uv[:, 0]).astype(int), np.round(uv[:, 1]).astype(int)
                inside = (z > 0) & (col >= 0) & (col < W) & (row >= 0) & (row < H)
                ci_, ri_ = np.where(inside, col, 0), np.where(inside, row, 0)
                vis = inside & (np.abs(depth_true[ri_, ci_] - z) < surface_tol) & (fid[ri_, ci_] >= 0)
                ok_px = (fid >= 0) & has_c
                val = _bilinear(clip.canonical[t].astype(np.float64), uv[vis], ok_px)
                good = np.isfinite(val).all(1)
                p_idx = np.flatnonzero(vis)[good]
                acc["obs_key"].append(np.stack([point_base + p_idx, np.full(len(p_idx), ci),
                                                np.full(len(p_idx), t)], 1))
                acc["obs_val"].append(val[good])
            e, v, lost, total = _track_errors(clip, cam, renders, verts, subject.faces, visibility_tol)
            acc["epe"].append(e)
            acc["vis_agree"].append(v)
            tracks_lost += lost
            tracks_total += total
        point_base += n_points
        drift[f"{participant}/{sequence}"] = (len(acc["obs_key"]) - n_obs, len(frame_ids))
        n_obs = len(acc["obs_key"])
    out = {"sequences": len(reader.sequences()), "clips": len(reader.clip_ids), "same_topology": bool(same),
           "occluders": occluders}
    out.update(_consistency(acc["obs_key"], acc["obs_val"], mm))
    out["frame_drift_mm"] = _frame_drift(acc["obs_key"], acc["obs_val"], drift, mm)
    out.update(_stats(np.concatenate(acc["epe"]) if acc["epe"] else [], "track_epe", "px"))
    vis = np.concatenate(acc["vis_agree"]) if acc["vis_agree"] else np.zeros(0)
    out["track_visibility_agreement"] = float(vis.mean()) if vis.size else None
    out["tracks"], out["tracks_without_subject_point"] = tracks_total, tracks_lost
    out.update(_stats(np.concatenate(acc["depth"]) if acc["depth"] else [], "depth_error", "mm"))
    out["coverage"] = covered / face_px if face_px else None
    out["face_pixels"] = face_px
    if same:
        out.update(_stats(np.concatenate(acc["abs"]) if acc["abs"] else [], "canonical_abs", "mm"))
    reader.close()
    return out


def _consistency(keys, values, mm: float) -> dict:
    if not keys:
        return {}
    keys, values = np.concatenate(keys), np.concatenate(values)
    out = {"points_observed": int(len(np.unique(keys[:, 0]))), "observations": int(len(keys))}
    point, cam, frame = keys[:, 0], keys[:, 1], keys[:, 2]
    _, s_all = _spread(point, values)
    out.update(_stats(s_all * mm, "consistency", "mm"))
    for name, group in (("temporal", cam), ("cross_view", frame)):
        big = np.int64(1) << 20
        g, s = _spread(point * big + group, values)  # one spread per (point, camera) or (point, frame)
        uniq, inv = np.unique(g // big, return_inverse=True)
        per_point = np.bincount(inv, s, len(uniq)) / np.bincount(inv, minlength=len(uniq))
        out.update(_stats(per_point * mm, f"{name}_consistency", "mm"))
    return out


def _frame_drift(keys, values, spans: dict, mm: float) -> dict:
    """Per sequence, per frame: median over points of the distance of a point's reading in that frame
    to its mean over frames (same camera), in mm: which frames drift."""
    out, start = {}, 0
    for name, (n_blocks, T) in spans.items():
        k = np.concatenate(keys[start:start + n_blocks]) if n_blocks else np.zeros((0, 3), int)
        v = np.concatenate(values[start:start + n_blocks]) if n_blocks else np.zeros((0, 3))
        start += n_blocks
        group = k[:, 0] * (np.int64(1) << 20) + k[:, 1]
        uniq, inv, count = np.unique(group, return_inverse=True, return_counts=True)
        mean = np.stack([np.bincount(inv, v[:, c], len(uniq)) for c in range(3)], 1) / count[:, None]
        dist = np.linalg.norm(v - mean[inv], axis=1) * mm
        several = count[inv] >= 2
        out[name] = [float(np.median(dist[several & (k[:, 2] == t)])) if np.any(several & (k[:, 2] == t))
                     else None for t in range(T)]
    return out


def _track_errors(clip, cam, renders, verts, faces, tol: float):
    """(EPE at 256 px (M,), visibility agreement (K,) bool, tracks without a subject point, tracks)."""
    tr = clip.tracks
    T, H, W = clip.depth.shape
    N = len(tr.query_frame)
    if not N:
        return np.zeros(0), np.zeros(0, bool), 0, 0
    q = tr.query_frame.astype(int)
    qxy = tr.xy[np.arange(N), q]
    col = np.clip(np.round(qxy[:, 0]).astype(int), 0, W - 1)
    row = np.clip(np.round(qxy[:, 1]).astype(int), 0, H - 1)
    fid = np.array([renders[q[n]][1][row[n], col[n]] for n in range(N)])
    bary = np.array([renders[q[n]][2][row[n], col[n]] for n in range(N)], np.float64)
    has = fid >= 0
    fid, bary = fid[has], bary[has]
    epe, agree = [], []
    rows = np.flatnonzero(has)
    for t in range(T):
        X = _points(verts[t], faces, fid, bary)
        uv, z = cam.project_world(X)
        c, r = np.round(uv[:, 0]).astype(int), np.round(uv[:, 1]).astype(int)
        inside = (z > 0) & (c >= 0) & (c < W) & (r >= 0) & (r < H)
        d = renders[t][0][np.where(inside, r, 0), np.where(inside, c, 0)]
        true_vis = inside & (np.abs(d - z) < tol)
        other = q[rows] != t
        err = (tr.xy[rows, t] - uv) * np.array([256.0 / W, 256.0 / H])
        epe.append(np.linalg.norm(err, axis=1)[other & true_vis])
        agree.append((tr.visible[rows, t] == true_vis)[other])
    return np.concatenate(epe), np.concatenate(agree), int((~has).sum()), N
