"""Trivial reference rows: floors that any real method must beat.

Both use only the clip's camera (K, T_cam_from_world) and fixed priors, never
the clip's images or GT maps:

* ``mean-depth-plane``: every pixel at the z-depth of the world origin in the
  camera (where the rig points: captures centre the head there), canonical
  coordinate 0 (the template centre) everywhere, tracks that stay at their
  query pixel and are always visible.
* ``template-frontal``: the neutral template (mean identity, neutral
  expression, zero pose) placed at the world origin and rendered from the
  clip's camera; depth and canonical maps are that one fixed projection for
  every frame (pixels the template misses take the nearest rendered value).
  Tracks come from nearest-neighbour search in this static canonical map.
"""

from __future__ import annotations

import numpy as np


def origin_depth(T_cam_from_world) -> float:
    """z-depth of the world origin in camera space, in metres (at least 0.1)."""
    return max(float(np.asarray(T_cam_from_world)[2, 3]), 0.1)


def mean_depth_plane(shape, T_cam_from_world) -> dict:
    """Maps for ``mean-depth-plane``: shape = (T,H,W)."""
    T, H, W = shape
    z = origin_depth(T_cam_from_world)
    return {"depth": np.full((T, H, W), z, np.float32),
            "canonical": np.zeros((T, H, W, 3), np.float32),
            "confidence": np.ones((T, H, W), np.float32)}


def static_tracks(query_frame, xy_query, depth_value: float, K, n_frames: int):
    """Tracks that never move: (xy (N,T,2), visible (N,T), xyz (N,T,3))."""
    N = len(query_frame)
    xy = np.repeat(np.asarray(xy_query, np.float32)[:, None], n_frames, axis=1)
    rays = np.concatenate([xy, np.ones((N, n_frames, 1), np.float32)], axis=2) @ np.linalg.inv(K).T
    return xy, np.ones((N, n_frames), bool), (rays * depth_value).astype(np.float32)


def _fill_nearest(values, hit):
    """Fill pixels where ``hit`` is False with the value of the nearest hit pixel."""
    from scipy.ndimage import distance_transform_edt

    if hit.all() or not hit.any():
        return values
    _, (iy, ix) = distance_transform_edt(~hit, return_indices=True)
    return values[iy, ix]


def template_frontal(shape, K, T_cam_from_world, template=None) -> dict:
    """Maps for ``template-frontal``: the neutral template rendered from the clip's camera."""
    from facebench.geometry import Camera, render_mesh
    from facebench.templates import load

    T, H, W = shape
    template = template if template is not None else load()
    camera = Camera(K=np.asarray(K, np.float64), T_cam_from_world=np.asarray(T_cam_from_world, np.float64),
                    width=W, height=H)
    render = render_mesh(np.asarray(template.canonical_vertices, np.float64), template.faces, camera)
    hit = render.hit
    depth = np.full((H, W), origin_depth(T_cam_from_world), np.float32)
    canonical = np.zeros((H, W, 3), np.float32)
    if hit.any():
        depth[hit] = render.depth[hit]
        canonical[hit] = template.canonical_at(render.face_id[hit], render.barycentric[hit])
        depth = _fill_nearest(depth, hit)
        canonical = _fill_nearest(canonical, hit)
    confidence = np.where(hit, 2.0, 1.0).astype(np.float32)
    return {"depth": np.broadcast_to(depth, (T, H, W)).copy(),
            "canonical": np.broadcast_to(canonical, (T, H, W, 3)).copy(),
            "confidence": np.broadcast_to(confidence, (T, H, W)).copy()}
