"""Tracks from canonical maps: any model that predicts canonical coordinates can be
scored on tracking.

For each query point (a normalized canonical coordinate) and each frame, the
pixel whose predicted canonical coordinate is nearest (a KD-tree over the
frame's valid pixels) is the track position; the point is called visible when
that nearest match is closer than ``max_distance`` in canonical space.  With
a depth map the pixel is unprojected with ``K`` to give camera-space ``xyz``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError

MAX_DISTANCE = 0.02  # normalized canonical units (2% of the canonical scale)


def sample_canonical(canonical, query_frame, query_xy):
    """Bilinear sample of a canonical map at the query pixels.

    canonical (T,H,W,3), query_frame (N,) int, query_xy (N,2) pixels (x, y) -> (N,3).
    """
    T, H, W, _ = canonical.shape
    x = np.clip(query_xy[:, 0], 0, W - 1)
    y = np.clip(query_xy[:, 1], 0, H - 1)
    x0 = np.clip(np.floor(x).astype(int), 0, max(W - 2, 0))
    y0 = np.clip(np.floor(y).astype(int), 0, max(H - 2, 0))
    x1, y1 = np.minimum(x0 + 1, W - 1), np.minimum(y0 + 1, H - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    c = canonical[query_frame]
    n = np.arange(len(query_frame))
    return ((1 - fx) * (1 - fy) * c[n, y0, x0] + fx * (1 - fy) * c[n, y0, x1]
            + (1 - fx) * fy * c[n, y1, x0] + fx * fy * c[n, y1, x1]).astype(np.float32)


def tracks_from_canonical_arrays(canonical, query_canonical, depth=None, K=None,
                                 max_distance: float = MAX_DISTANCE):
    """Track query points through a canonical-map video.

    Args:
        canonical: (T,H,W,3) predicted normalized canonical coordinates, NaN invalid.
        query_canonical: (N,3) canonical coordinates of the points to track.
        depth: optional (T,H,W) z-depth, metres; with ``K`` (3,3) gives ``xyz``.
        max_distance: canonical-space match distance below which a point is visible.
    Returns:
        (xy (N,T,2) float32 pixels (x, y), visible (N,T) bool, xyz (N,T,3) float32 camera
        space or None).  Every position is finite: a frame with no valid pixel repeats the
        previous frame's positions (the image centre for the first), marked not visible.
    """
    from scipy.spatial import cKDTree

    canonical = np.asarray(canonical)
    queries = np.asarray(query_canonical, dtype=np.float64).reshape(-1, 3)
    T, H, W = canonical.shape[:3]
    n = len(queries)
    want_xyz = depth is not None and K is not None
    xy = np.zeros((n, T, 2), np.float32)
    xyz = np.zeros((n, T, 3), np.float32) if want_xyz else None
    visible = np.zeros((n, T), bool)
    last_xy = np.tile(np.array([(W - 1) / 2, (H - 1) / 2], np.float32), (n, 1))
    last_xyz = np.zeros((n, 3), np.float32)
    if want_xyz:
        K = np.asarray(K, dtype=np.float64)
        last_xyz[:, 2] = float(np.nanmedian(depth)) if np.isfinite(depth).any() else 1.0
    for t in range(T):
        ok = np.isfinite(canonical[t]).all(axis=-1)
        if want_xyz:
            ok &= np.isfinite(depth[t])
        rows, cols = np.nonzero(ok)
        if n and rows.size:
            dist, idx = cKDTree(canonical[t][ok].astype(np.float64)).query(queries, k=1)
            last_xy = np.stack([cols[idx], rows[idx]], axis=-1).astype(np.float32)
            visible[:, t] = dist < max_distance
            if want_xyz:
                z = depth[t][rows[idx], cols[idx]]
                x = (cols[idx] - K[0, 2]) * z / K[0, 0]
                y = (rows[idx] - K[1, 2]) * z / K[1, 1]
                last_xyz = np.stack([x, y, z], axis=-1).astype(np.float32)
        xy[:, t] = last_xy
        if want_xyz:
            xyz[:, t] = last_xyz
    return xy, visible, xyz


def tracks_for_clip(canonical, tracks, depth=None, K=None, max_distance: float = MAX_DISTANCE) -> dict:
    """``tracks_xy``, ``tracks_visible`` (and ``tracks_xyz`` with depth and K) for a GT clip's queries.

    The query coordinate of each track is the *predicted* canonical coordinate at its query pixel
    in its query frame (a method sees only the query pixel), so a constant bias or a foreign
    canonical space cancels; ``tracks`` is the GT clip's :class:`facebench.io.shards.Tracks`.
    """
    n = len(tracks.query_frame)
    query_xy = tracks.xy[np.arange(n), tracks.query_frame] if n else np.zeros((0, 2), np.float32)
    query = sample_canonical(np.asarray(canonical, np.float32), tracks.query_frame, query_xy)
    xy, visible, xyz = tracks_from_canonical_arrays(canonical, query, depth, K, max_distance)
    out = {"tracks_xy": xy, "tracks_visible": visible}
    if xyz is not None:
        out["tracks_xyz"] = xyz
    return out


def tracks_from_canonical(preds, gt=None, benchmark=None, max_distance: float = MAX_DISTANCE,
                          progress: bool = True) -> dict:
    """Add ``tracks_xy``/``tracks_visible`` (and ``tracks_xyz`` when depth is present) to every
    prediction in the folder ``preds`` that has ``canonical`` but no tracks.

    Query points come from the GT.  Files are rewritten safely (temporary file, then
    rename).  Returns {"updated": n, "skipped": n, "missing": n}.
    """
    from facebench.evaluate.run import resolve
    from facebench.io.prediction_writer import write_clip
    from facebench.io.predictions import ClipShape, load_prediction, open_predictions

    if not Path(preds).is_dir():
        raise FacebenchError(f"{preds}: tracks-from-canonical needs a predictions folder (unzip it first)")
    counts = {"updated": 0, "skipped": 0, "missing": 0}
    with open_predictions(preds) as source:
        bench, reader = resolve(source.meta()["benchmark"], gt, benchmark)
        present = set(source.clip_ids())
        clip_ids = reader.clip_ids
        if progress:
            from tqdm import tqdm

            clip_ids = tqdm(clip_ids, desc="tracks-from-canonical", unit="clip", leave=False)
        for cid in clip_ids:
            if cid not in present:
                counts["missing"] += 1
                continue
            info = reader.clip_info(cid)
            pred = load_prediction(source, cid, ClipShape(info["T"], info["H"], info["W"], info.get("N", 0)))
            if "canonical" not in pred or "tracks_xy" in pred:
                counts["skipped"] += 1
                continue
            clip = reader.clip(cid, fields=("tracks",))
            xy, visible, xyz = tracks_from_canonical_arrays(
                pred["canonical"], clip.tracks.query_canonical, pred.get("depth"), clip.K, max_distance)
            pred.update(tracks_xy=xy, tracks_visible=visible)
            if xyz is not None and "tracks_xyz" not in pred:
                pred["tracks_xyz"] = xyz
            write_clip(preds, cid, pred)
            counts["updated"] += 1
        reader.close()
    return counts
