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
    frame = np.nonzero(valid.reshape(len(valid), -1))[0]
    counts = np.bincount(frame, minlength=len(valid))
    return (frame, counts, *(np.asarray(m)[valid] for m in maps))


def frame_mean(values: np.ndarray, frame: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of ``values`` (M,) per frame -> (T,) float64, NaN for frames without pixels."""
    sums = np.bincount(frame, weights=values, minlength=len(counts))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def frame_median(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of ``values`` (M,) per frame (values ordered by frame) -> (T,), NaN when empty."""
    out = np.full(len(counts), np.nan)
    ends = np.cumsum(counts)
    for t, (start, end) in enumerate(zip(ends - counts, ends)):
        if end > start:
            out[t] = np.median(values[start:end])
    return out
