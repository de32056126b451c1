"""Maps and tracks from a fitted template mesh per frame (camera space).

Used by ``landmark-fit`` (and any method that ends with a template mesh per frame):
depth is the ray-cast z-depth of the mesh; canonical is the template's canonical
coordinate of the hit point (:meth:`Template.canonical_at` on the hit face and
barycentrics); regions is the hit face's template region.  A track is the surface
point under its query pixel at the query frame (the exact ray hit, or the nearest
rendered pixel's point when the ray misses the mesh), carried by its face and
barycentrics to every frame, projected, and visible where it is the first surface
hit along its ray (depth test) and inside the image.
"""

from __future__ import annotations

import numpy as np

VISIBILITY_TOLERANCE_M = 0.005


def render_fit(template, vertices_cam, K, shape, query_frame, query_xy, fill: bool) -> dict:
    """vertices_cam (T,V,3) metres, camera space; shape (T,H,W); queries (N,), (N,2).

    ``fill``: give pixels off the mesh the nearest rendered value (for scoring, where every GT
    pixel needs a finite prediction); otherwise they are NaN.  Returns depth, canonical,
    confidence (2 on the mesh, 1 filled, NaN off), regions (uint8, 0 off the mesh),
    tracks_xy (N,T,2), tracks_visible (N,T), tracks_xyz (N,T,3).
    """
    from facebench.geometry import Camera, Raycaster

    T, H, W = shape
    camera = Camera(K=np.asarray(K, np.float64), T_cam_from_world=np.eye(4), width=W, height=H)
    depth = np.full((T, H, W), np.nan, np.float32)
    canonical = np.full((T, H, W, 3), np.nan, np.float32)
    regions = np.zeros((T, H, W), np.uint8)
    face_ids = np.full((T, H, W), -1, np.int32)
    bary = np.zeros((T, H, W, 3), np.float32)
    casters = []
    for t in range(T):
        caster = Raycaster(vertices_cam[t], template.faces)
        r = caster.render(camera)
        casters.append(caster)
        hit = r.hit
        depth[t][hit] = r.depth[hit]
        canonical[t][hit] = template.canonical_at(r.face_id[hit], r.barycentric[hit])
        regions[t][hit] = template.face_regions[r.face_id[hit]]
        face_ids[t], bary[t] = r.face_id, r.barycentric
    hit_all = face_ids >= 0
    confidence = np.where(hit_all, 2.0, np.nan).astype(np.float32)
    xy, visible, xyz = surface_tracks(
        template, vertices_cam, casters, face_ids, bary, camera, query_frame, query_xy, depth
    )
    if fill:
        from facebench.baseline.trivial import _fill_nearest

        for t in range(T):
            if hit_all[t].any():
                depth[t] = _fill_nearest(depth[t], hit_all[t])
                canonical[t] = _fill_nearest(canonical[t], hit_all[t])
        confidence = np.where(hit_all, 2.0, 1.0).astype(np.float32)
    return {
        "depth": depth,
        "canonical": canonical,
        "confidence": confidence,
        "regions": regions,
        "tracks_xy": xy,
        "tracks_visible": visible,
        "tracks_xyz": xyz,
    }


def surface_tracks(template, vertices_cam, casters, face_ids, bary, camera, query_frame, query_xy, depth):
    """(xy (N,T,2) f32, visible (N,T) bool, xyz (N,T,3) f32) of surface points under the queries."""
    T = len(vertices_cam)
    H, W = face_ids.shape[1:]
    N = len(query_frame)
    faces = np.zeros(N, np.int64)
    weights = np.zeros((N, 3))
    ok = np.zeros(N, bool)
    for t in np.unique(query_frame):
        sel = np.flatnonzero(query_frame == t)
        origin, _ = camera.pixel_rays()
        dirs = np.concatenate([query_xy[sel], np.ones((len(sel), 1))], axis=1) @ camera.K_inv.T
        _, f, b = casters[t].intersect(np.repeat(origin[None], len(dirs), axis=0), dirs)
        hit = f >= 0
        faces[sel[hit]], weights[sel[hit]], ok[sel[hit]] = f[hit], b[hit], True
        miss = sel[~hit]
        if miss.size and (face_ids[t] >= 0).any():  # nearest rendered pixel's surface point
            rows, cols = np.nonzero(face_ids[t] >= 0)
            d2 = (cols[None] - query_xy[miss, :1]) ** 2 + (rows[None] - query_xy[miss, 1:]) ** 2
            k = d2.argmin(axis=1)
            faces[miss], weights[miss], ok[miss] = (
                face_ids[t][rows[k], cols[k]],
                bary[t][rows[k], cols[k]],
                True,
            )
    tri = template.faces[faces]  # (N,3)
    xyz = np.einsum("nk,tnkc->ntc", weights, vertices_cam[:, tri])  # (N,T,3)
    uv = camera.project(xyz)
    xy = np.where(np.isfinite(uv), uv, 0.0).astype(np.float32)
    u, v = np.round(uv[..., 0]), np.round(uv[..., 1])
    inside = (u >= 0) & (u <= W - 1) & (v >= 0) & (v <= H - 1) & (xyz[..., 2] > 0)
    ui, vi = np.clip(u, 0, W - 1).astype(int), np.clip(v, 0, H - 1).astype(int)
    seen = depth[np.arange(T)[None], vi, ui]
    visible = inside & ok[:, None] & (np.nan_to_num(seen, nan=-1.0) >= xyz[..., 2] - VISIBILITY_TOLERANCE_M)
    return xy, visible, xyz.astype(np.float32)
