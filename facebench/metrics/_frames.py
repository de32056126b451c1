"""Per-frame reductions over the scored pixels only (shared by depth and canonical metrics).

Scored pixels are gathered once into 1-D arrays with their frame index; means are
``bincount`` sums, so no metric touches the unscored part of a frame.
"""

from __future__ import annotations

import numpy as np


def gather(valid: np.ndarray, *maps: np.ndarray):
    """(frame index (M,), counts (T,), each map's values at the valid pixels (M,...)).

    valid: (T,H,W) bool; maps: (T,H,W,...) arrays.  Pixels come out frame by frame.
    """
    valid = np.asarray(valid, dtype=bool)
    flat = np.flatnonzero(valid)  # integer take is faster than boolean indexing of 4-D maps
    frame = flat // max(1, valid[0].size) if len(valid) else flat
    counts = np.bincount(frame, minlength=len(valid))
    out = []
    for m in maps:
        m = np.asarray(m)
        channels = _channel_first(m, valid.ndim)
        if channels is not None:  # a (T,H,W,C) view of (T,C,H,W) memory (decoded canonical maps)
            out.append(_take_channel_first(channels, flat, frame, valid[0].size))
        else:
            out.append(np.take(m.reshape((valid.size,) + m.shape[valid.ndim:]), flat, axis=0))
    return (frame, counts, *out)


def _channel_first(m: np.ndarray, ndim: int):
    """The contiguous (T,C,H,W) array behind a (T,H,W,C) view, or None (reshaping such a view
    would copy the whole map)."""
    if m.ndim != ndim + 1 or m.flags.c_contiguous:
        return None
    cf = np.moveaxis(m, -1, 1)
    return cf if cf.flags.c_contiguous else None


def _take_channel_first(cf: np.ndarray, flat: np.ndarray, frame: np.ndarray, plane: int) -> np.ndarray:
    """Values (M,C) at frame-major pixel indices ``flat`` of channel-first ``cf`` (T,C,H,W)."""
    n_channels = cf.shape[1]
    base = flat + frame * (n_channels - 1) * plane  # index of channel 0 in (T,C,H,W) memory
    buffer = cf.reshape(-1)
    out = np.empty((len(flat), n_channels), cf.dtype)
    for c in range(n_channels):
        np.take(buffer, base + c * plane, out=out[:, c])
    return out


def frame_mean(values: np.ndarray, frame: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of ``values`` (M,) per frame (values ordered by frame) -> (T,) float64, NaN when empty.

    ``frame`` is accepted for clarity of the call sites; contiguity makes it unnecessary.
    """
    values = np.asarray(values)
    if values.dtype == bool:
        values = values.view(np.uint8)
    sums = np.zeros(len(counts))
    has = counts > 0
    if has.any():
        starts = (np.cumsum(counts) - counts)[has]
        sums[has] = np.add.reduceat(values, starts, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(has, sums / np.maximum(counts, 1), np.nan)


def keep_finite(frame, counts, gt, *others):
    """Drop gathered pixels whose GT is not finite: returns (frame, counts, gt, *others)."""
    ok = np.isfinite(gt) if gt.ndim == 1 else np.isfinite(gt).all(axis=-1)
    if ok.all():
        return (frame, counts, gt, *others)
    frame = frame[ok]
    return (frame, np.bincount(frame, minlength=len(counts)), gt[ok], *(o[ok] for o in others))


def frame_median(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of ``values`` (M,) per frame (values ordered by frame) -> (T,), NaN when empty."""
    out = np.full(len(counts), np.nan)
    ends = np.cumsum(counts)
    for t, (start, end) in enumerate(zip(ends - counts, ends)):
        if end > start:
            out[t] = np.median(values[start:end])
    return out
