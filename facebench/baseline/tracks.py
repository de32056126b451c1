"""Tracking by nearest-neighbour search in canonical space.

A point's canonical coordinate does not change as the face moves, so a method
that predicts a canonical map per frame tracks any point by finding, in every
frame, the pixel whose predicted canonical coordinate is closest to the point's.

The search itself is ``facebench.evaluate.tracks_from_canonical_arrays``.  The
query coordinate of each track is the *predicted* canonical coordinate at the
track's query pixel in its query frame (a method sees only the query pixel),
so a model's bias in canonical space cancels at the query frame.
"""

from __future__ import annotations

import numpy as np


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


def tracks_from_canonical(canonical, query_canonical, depth=None, K=None, max_distance: float = 0.05):
    """(xy (N,T,2), visible (N,T), xyz (N,T,3)) by canonical nearest neighbours per frame.

    Uses the evaluate helper's pure function, so the baseline tracks exactly as
    ``facebench evaluate --tracks-from-canonical`` would, except for the queries
    (sampled from the prediction, see the module docstring) and the visibility
    threshold ``max_distance`` (normalized units), which suits this model's error.
    """
    from facebench.evaluate.tracks import tracks_from_canonical_arrays

    return tracks_from_canonical_arrays(canonical, query_canonical, depth=depth, K=K,
                                        max_distance=max_distance)
