"""Temporal metrics (SPEC §6): how much a prediction at one physical point moves over time.

A per-frame metric scores a method whose canonical coordinates jitter by millimetres
at one physical point the same as a stable one with the same per-frame error.  The
GT tracks say where each physical point is in every frame, so the predicted maps
can be read there and followed over time:

* **canonical jitter**: the predicted canonical map sampled at a GT track's true
  position in every frame where the track is visible; the track's jitter is the mean
  distance of those samples to their own mean (mm).  Clip values: median and p90
  over tracks.  A constant bias is not jitter; a perfect method scores the
  sampling floor (bilinear interpolation of an exact map between pixel centres).
* **depth flicker**: at the same positions, the (aligned) depth error sampled the
  same way; the mean |change| of that error between consecutive frames (mm).
* **track jitter**: the predicted tracks' acceleration (second difference over three
  consecutive frames) minus the GT tracks' acceleration; the median of its norm over
  every (track, frame) where the GT point is visible in all three frames (2D: pixels
  of the 256 x 256 evaluation space; 3D: mm).

Sampling is bilinear over the task's *scored* pixels only (GT valid and in the task's
regions), and only where the pixel containing the point (its nearest pixel centre,
ties up) is scored: neighbours outside the scored set are left out and the weights of
the others renormalised.  Bilinear, not nearest: nearest sampling alone moves a
sample by up to half a pixel's footprint (about 0.5 mm on a 256-px face) whenever a
point crosses a pixel boundary, a floor larger than the jitter worth measuring.

A track contributes to canonical jitter and depth flicker only with at least
``MIN_FRAMES`` usable frames (visible and sampled); tracks with fewer are left out and
counted.  Frame pairs and triplets are only formed from frames that are neighbours in
time (``adjacent``: frames cut by a benchmark's ``exclude_qc`` break them).  A clip
without any usable track scores NaN (left out of the mean over clips).
Every function here is pure: arrays in, numbers out.
"""

from __future__ import annotations

import numpy as np

MIN_FRAMES = 3          # usable frames a track needs (three make one acceleration)
P_HIGH = 90             # the high percentile of canonical jitter over tracks
# Temporal metric names per task (all lower is better; secondary: never a main metric).
METRICS = {
    "depth": ("flicker_mm",),
    "canonical": ("jitter_median_mm", "jitter_p90_mm"),
    "tracking_2d": ("jitter_px",),
    "tracking_3d": ("jitter_mm",),
}
HIGHER_IS_BETTER = {task: {m: False for m in names} for task, names in METRICS.items()}


def protocol(task: str) -> dict:
    """How ``task``'s temporal metrics are computed, as echoed into results records."""
    if task in ("depth", "canonical"):
        return {"metrics": list(METRICS[task]), "at": "GT track positions, frames where visible",
                "sampling": "bilinear over scored pixels; the nearest pixel must be scored",
                "min_frames": MIN_FRAMES, **({"percentile": P_HIGH} if task == "canonical" else {})}
    return {"metrics": list(METRICS[task]),
            "statistic": "median |a_pred - a_gt|, a = second difference over 3 GT-visible frames"}


# -- sampling ---------------------------------------------------------------------------------
def sample_at(values, valid, xy, where) -> np.ndarray:
    """Bilinear samples of per-pixel ``values`` at track positions, over scored pixels only.

    Args:
        values: (T,H,W) or (T,H,W,C) map.  valid: (T,H,W) bool, the pixels that may be read.
        xy: (N,T,2) pixel positions (x, y); the centre of the top-left pixel is (0, 0).
        where: (N,T) bool, the (track, frame) pairs to sample.
    Returns:
        (N,T) or (N,T,C) float64: the interpolated value from the up to four surrounding
        pixel centres that are ``valid`` (weights renormalised); NaN where not sampled:
        ``where`` false, the position not finite or outside the image, or its nearest pixel
        not ``valid``.
    """
    values = np.asarray(values)
    valid = np.asarray(valid, dtype=bool)
    xy = np.asarray(xy, dtype=np.float64)
    T, H, W = valid.shape
    n_tracks = xy.shape[0]
    channels = values.shape[3:]
    out = np.full((n_tracks, T) + channels, np.nan)
    x, y = xy[..., 0], xy[..., 1]
    with np.errstate(invalid="ignore"):
        xn, yn = np.floor(x + 0.5), np.floor(y + 0.5)
        inside = np.asarray(where, bool) & (xn >= 0) & (xn < W) & (yn >= 0) & (yn < H)
    n_idx, t_idx = np.nonzero(inside)
    inside[n_idx, t_idx] = valid[t_idx, yn[n_idx, t_idx].astype(np.int64), xn[n_idx, t_idx].astype(np.int64)]
    n_idx, t_idx = np.nonzero(inside)
    if not len(n_idx):
        return out
    px, py = x[n_idx, t_idx], y[n_idx, t_idx]
    x0, y0 = np.floor(px), np.floor(py)
    fx, fy = px - x0, py - y0
    acc = np.zeros((len(n_idx),) + channels)
    weight = np.zeros(len(n_idx))
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                      (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = (x0 + dx).astype(np.int64), (y0 + dy).astype(np.int64)
        ok = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
        xi, yi = np.clip(xi, 0, W - 1), np.clip(yi, 0, H - 1)
        ok &= valid[t_idx, yi, xi] & (w > 0)
        w = np.where(ok, w, 0.0)
        v = values[t_idx, yi, xi].astype(np.float64)
        v = np.where(ok.reshape(ok.shape + (1,) * len(channels)), v, 0.0)
        acc += w.reshape(w.shape + (1,) * len(channels)) * v
        weight += w
    out[n_idx, t_idx] = acc / weight.reshape(weight.shape + (1,) * len(channels))
    return out


def usable_frames(samples, visible, min_frames: int = MIN_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """(usable (N,T) bool, kept (N,) bool): frames visible with a finite sample, and the
    tracks with at least ``min_frames`` of them (the others' frames are all unusable)."""
    samples = np.asarray(samples)
    finite = np.isfinite(samples) if samples.ndim == 2 else np.isfinite(samples).all(axis=-1)
    usable = np.asarray(visible, bool) & finite
    kept = usable.sum(axis=1) >= min_frames
    return usable & kept[:, None], kept


# -- canonical jitter ---------------------------------------------------------------------------
def track_spread(samples, usable) -> tuple[np.ndarray, np.ndarray]:
    """Per track, the distance of each usable sample to the track's mean sample.

    samples: (N,T,C); usable: (N,T) bool.  Returns (deviation (N,T), NaN where not usable;
    spread (N,): mean deviation over usable frames, NaN for a track with none).
    """
    samples = np.asarray(samples, np.float64)
    usable = np.asarray(usable, bool)
    n = usable.sum(axis=1)
    filled = np.where(usable[..., None], samples, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=1) / n[:, None]
        dev = np.linalg.norm(samples - mean[:, None], axis=-1)
        dev = np.where(usable, dev, np.nan)
        spread = np.where(n > 0, np.where(usable, dev, 0.0).sum(axis=1) / n, np.nan)
    return dev, spread


def canonical_jitter(pred, valid, xy, visible, scale: float, transform=None,
                     min_frames: int = MIN_FRAMES) -> dict:
    """Canonical temporal jitter of one clip.

    Args:
        pred: (T,H,W,3) predicted normalized canonical map.  valid: (T,H,W) bool scored pixels.
        xy: (N,T,2) GT track positions, pixels.  visible: (N,T) bool GT visibility.
        scale: canonical scale of the template, metres.
        transform: optional callable (...,3) -> (...,3), the clip's canonical alignment
            (affine, so applying it to samples equals sampling the aligned map).
    Returns:
        {jitter_median_mm, jitter_p90_mm (NaN without a kept track), tracks (kept),
         tracks_dropped (with < min_frames usable frames), per_track_mm (N,) (NaN when
         dropped), per_frame (T,): median over kept tracks of the deviation from their
         mean}.
    """
    samples = sample_at(pred, valid, xy, visible)
    if transform is not None:
        samples = transform(samples)
    usable, kept = usable_frames(samples, visible, min_frames)
    dev, spread = track_spread(samples, usable)
    mm = 1000.0 * float(scale)
    per_track = np.where(kept, spread * mm, np.nan)
    values = per_track[kept]
    return {"jitter_median_mm": float(np.median(values)) if values.size else float("nan"),
            "jitter_p90_mm": float(np.percentile(values, P_HIGH)) if values.size else float("nan"),
            "tracks": int(kept.sum()), "tracks_dropped": int((~kept).sum()),
            "per_track_mm": per_track, "per_frame": _column_stat(dev * mm, np.nanmedian)}


# -- depth flicker ----------------------------------------------------------------------------
def depth_flicker(error, valid, xy, visible, min_frames: int = MIN_FRAMES, adjacent=None) -> dict:
    """Depth temporal flicker of one clip.

    Args:
        error: (T,H,W) aligned predicted depth minus GT depth, metres (read where ``valid``).
        valid: (T,H,W) bool scored pixels.  xy: (N,T,2) GT track positions.  visible: (N,T).
        adjacent: optional (T-1,) bool, whether frames t and t+1 are neighbours in time
            (False across frames cut from the clip); default all True.
    Returns:
        {flicker_mm: mean over kept tracks and consecutive usable frame pairs (t, t+1) of
         |e(t+1) - e(t)| in mm (NaN without a pair), pairs, tracks (kept), tracks_dropped,
         per_frame (T,): that mean per frame t over pairs (t-1, t), NaN at t = 0}.
    """
    samples = sample_at(error, valid, xy, visible)
    usable, kept = usable_frames(samples, visible, min_frames)
    pair = usable[:, 1:] & usable[:, :-1] & _adjacent(adjacent, usable.shape[1])[None]
    change = np.where(pair, np.abs(np.diff(np.where(usable, samples, 0.0), axis=1)), np.nan) * 1000.0
    n = int(pair.sum())
    per_frame = np.concatenate([[np.nan], _column_stat(change, np.nanmean)])
    return {"flicker_mm": float(np.nanmean(change)) if n else float("nan"), "pairs": n,
            "tracks": int(kept.sum()), "tracks_dropped": int((~kept).sum()), "per_frame": per_frame}


# -- track jitter -------------------------------------------------------------------------------
def acceleration(positions) -> np.ndarray:
    """Second differences p(t+1) - 2 p(t) + p(t-1): (N,T,D) -> (N,T,D), NaN at t = 0 and T-1."""
    p = np.asarray(positions, np.float64)
    out = np.full(p.shape, np.nan)
    out[:, 1:-1] = p[:, 2:] - 2.0 * p[:, 1:-1] + p[:, :-2]
    return out


def acceleration_error(pred, gt, evaluated, adjacent=None) -> np.ndarray:
    """|a_pred - a_gt| per (track, centre frame): (N,T,D) x2, (N,T) bool -> (N,T), NaN unless the
    frames t-1, t, t+1 are all ``evaluated``, neighbours in time (``adjacent`` (T-1,), default
    all True) and both positions are finite there."""
    ok = np.asarray(evaluated, bool) & np.isfinite(pred).all(-1) & np.isfinite(gt).all(-1)
    adj = _adjacent(adjacent, ok.shape[1])
    triple = np.zeros_like(ok)
    triple[:, 1:-1] = ok[:, :-2] & ok[:, 1:-1] & ok[:, 2:] & (adj[:-1] & adj[1:])[None]
    with np.errstate(invalid="ignore"):
        err = np.linalg.norm(acceleration(pred) - acceleration(gt), axis=-1)
    return np.where(triple, err, np.nan)


def _jitter_summary(err, key: str, unit: float) -> dict:
    finite = err[np.isfinite(err)] * unit
    return {key: float(np.median(finite)) if finite.size else float("nan"), "triplets": int(finite.size),
            "per_frame": _column_stat(err * unit, np.nanmedian)}


def track_jitter_2d(pred_xy, gt_xy, gt_visible, query_frame, width: int, height: int,
                    query_mode: str = "first", resolution: int = 256, adjacent=None) -> dict:
    """2D track jitter of one clip, pixels of the ``resolution`` x ``resolution`` space.

    Frames used: GT-visible, and in query mode ``first`` at or after the track's query frame
    (``strided``: every frame).  Predicted visibility is ignored.  pred_xy, gt_xy: (N,T,2)
    pixels of the W x H image.  Returns {jitter_px (median), triplets, per_frame (T,)}.
    """
    vis = np.asarray(gt_visible, bool)
    if query_mode == "first":
        t = np.arange(vis.shape[1])[None, :]
        vis = vis & (t >= np.asarray(query_frame, np.int64)[:, None])
    factor = np.array([resolution / width, resolution / height])
    err = acceleration_error(np.asarray(pred_xy, np.float64) * factor, np.asarray(gt_xy, np.float64) * factor,
                             vis, adjacent)
    return _jitter_summary(err, "jitter_px", 1.0)


def track_jitter_3d(pred_xyz, gt_xyz, gt_visible, scale: float = 1.0, adjacent=None) -> dict:
    """3D track jitter of one clip, mm: ``pred_xyz`` is multiplied by ``scale`` first (the
    tracking_3d task's median scaling).  (N,T,3) camera space, metres; every GT-visible frame.
    Returns {jitter_mm (median), triplets, per_frame (T,)}."""
    err = acceleration_error(np.asarray(pred_xyz, np.float64) * scale, gt_xyz, gt_visible, adjacent)
    return _jitter_summary(err, "jitter_mm", 1000.0)


def _adjacent(adjacent, n_frames: int) -> np.ndarray:
    if adjacent is None:
        return np.ones(max(n_frames - 1, 0), bool)
    adjacent = np.asarray(adjacent, bool)
    if adjacent.shape != (max(n_frames - 1, 0),):
        raise ValueError(f"adjacent must have shape ({n_frames - 1},), got {adjacent.shape}")
    return adjacent


def _column_stat(values, stat) -> np.ndarray:
    """``stat`` (nanmedian or nanmean) over tracks of an (N,T) array -> (T,), NaN for empty frames."""
    values = np.asarray(values, np.float64)
    out = np.full(values.shape[1], np.nan)
    has = np.isfinite(values).any(axis=0)
    if has.any():
        out[has] = stat(values[:, has], axis=0)
    return out
