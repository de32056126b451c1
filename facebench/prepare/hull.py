"""A visual hull for captures with images only (``depth: hull``), and where a rig looks.

:func:`visual_hull_cloud` carves a voxel grid with every camera's foreground mask
(:mod:`facebench.prepare.masks`) and keeps the hull's surface voxels that some camera faces,
as a point cloud with normals.

A visual hull cannot see concavities (eye sockets, the mouth corners, under the nose), so a fit
to it is far coarser than a fit to depth: images-only captures get multi-view stereo by default
(``depth: mvs``, docs/PREPARE.md); the hull stays for captures where stereo cannot work.
"""

from __future__ import annotations

import numpy as np

from facebench.prepare.pointcloud import PointCloud


def rig_center(cameras) -> np.ndarray:
    """The point closest (least squares) to every camera's optical axis: where the rig looks."""
    A = np.zeros((3, 3))
    b = np.zeros(3)
    for cam in cameras:
        d = np.asarray(cam.T_cam_from_world)[2, :3]
        P = np.eye(3) - np.outer(d, d)
        A += P
        b += P @ cam.center_world
    return np.linalg.lstsq(A, b, rcond=None)[0]


def visual_hull_cloud(cameras, alphas, center=None, extent: float = 0.4, voxel: float = 0.003,
                      alpha_threshold: float = 0.5, max_facing_deg: float = 70.0) -> PointCloud:
    """Surface of the silhouettes' visual hull inside a cube of side ``extent`` around ``center``.

    A voxel is kept when it projects onto the foreground of every camera whose
    image it falls in.  Surface voxels (an empty 6-neighbour) with a normal
    facing at least one camera within ``max_facing_deg`` are returned; those on
    the cube's faces (unconstrained by the cameras) are dropped.
    """
    from scipy import ndimage

    center = rig_center(cameras) if center is None else np.asarray(center, float)
    n = int(np.ceil(extent / voxel))
    axis = (np.arange(n) - (n - 1) / 2) * voxel
    gx, gy, gz = np.meshgrid(axis, axis, axis, indexing="ij")
    xyz = np.stack([gx, gy, gz], axis=-1).reshape(-1, 3) + center
    occupied = np.ones(len(xyz), bool)
    for cam, alpha in zip(cameras, alphas):
        idx = np.flatnonzero(occupied)
        uv, z = cam.project_world(xyz[idx])
        px = np.rint(uv).astype(np.int64)
        inside = (z > 0) & (px >= 0).all(axis=1) & (px[:, 0] < cam.width) & (px[:, 1] < cam.height)
        fg = np.zeros(len(idx), bool)
        fg[inside] = np.asarray(alpha)[px[inside, 1], px[inside, 0]] >= alpha_threshold
        occupied[idx[inside & ~fg]] = False
    grid = occupied.reshape(n, n, n)
    surface = grid & ~ndimage.binary_erosion(grid, border_value=1)
    inner = np.zeros_like(grid)
    inner[1:-1, 1:-1, 1:-1] = True
    surface &= inner
    smooth = ndimage.gaussian_filter(grid.astype(np.float32), 1.0)
    normals = -np.stack(np.gradient(smooth), axis=-1)[surface]
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    pts = xyz.reshape(n, n, n, 3)[surface]
    centres = np.array([c.center_world for c in cameras])
    to_cam = centres[None] - pts[:, None]
    to_cam /= np.linalg.norm(to_cam, axis=-1, keepdims=True)
    facing = np.einsum("nc,nkc->nk", normals, to_cam).max(axis=1) >= np.cos(np.deg2rad(max_facing_deg))
    return PointCloud(pts[facing], normals[facing])
