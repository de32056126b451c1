"""Fidelity of prepared ground truth against exact truth (synthetic captures).

The prepare pipeline cannot be judged by its fit residual alone: on synthetic
captures the exact GT is known, so every prepared canonical map and track can be
compared with it.
"""

from __future__ import annotations

import numpy as np


def compare(truth_dir, prepared_dir, template) -> dict:
    """Errors of the GT in ``prepared_dir`` against the exact GT in ``truth_dir``.

    * canonical error (mm, ``1000 * scale * |c - c_true|``) on pixels valid in both:
      median / mean / p90 on the face region (truth mask 1), mean on all template
      regions (truth mask 1 or 2);
    * track error (px): each prepared track is a fixed canonical point; its true
      position is that point carried by the true mesh (``Template.from_canonical``)
      and projected; pooled over points visible in the prepared tracks.
    """
    from facebench.geometry import Camera
    from facebench.io.shards import GTReader

    truth, prep = GTReader(truth_dir), GTReader(prepared_dir)
    scale_mm = 1000.0 * float(template.scale)
    face, regions, track = [], [], []
    common = sorted(set(truth.clip_ids) & set(prep.clip_ids))
    for cid in common:
        t, p = truth.clip(cid), prep.clip(cid)
        ok = np.isfinite(t.canonical).all(-1) & np.isfinite(p.canonical).all(-1)
        err = np.linalg.norm(p.canonical - t.canonical, axis=-1) * scale_mm
        face.append(err[ok & (t.mask == 1)])
        regions.append(err[ok & np.isin(t.mask, (1, 2))])
        participant, sequence, _ = cid.split("/")
        _, vertices = truth.sequence_vertices(participant, sequence)
        camera = Camera(t.K, t.T_cam_from_world, t.shape[2], t.shape[1])
        tracks = p.tracks
        for f in range(len(vertices)):
            vis = tracks.visible[:, f]
            if vis.any():
                xyz_world = template.from_canonical(tracks.query_canonical[vis], vertices[f])
                uv, _ = camera.project_world(xyz_world)
                track.append(np.linalg.norm(uv - tracks.xy[vis, f], axis=-1))
    face, regions, track = (np.concatenate(x) if x else np.zeros(0) for x in (face, regions, track))

    def stat(fn, x):
        return float(fn(x)) if x.size else float("nan")

    return {"clips": len(common), "clips_missing": len(set(truth.clip_ids) - set(prep.clip_ids)),
            "face_median_mm": stat(np.median, face), "face_mean_mm": stat(np.mean, face),
            "face_p90_mm": stat(lambda x: np.quantile(x, 0.9), face),
            "regions_mean_mm": stat(np.mean, regions),
            "track_median_px": stat(np.median, track), "track_mean_px": stat(np.mean, track),
            "pixels_face": int(face.size)}
