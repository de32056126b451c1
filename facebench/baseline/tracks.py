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

from facebench.evaluate.tracks import sample_canonical

__all__ = ["sample_canonical", "tracks_from_canonical"]


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
