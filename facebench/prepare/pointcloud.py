"""World point clouds for fitting: fuse per-camera depth maps, clean them, thin them.

A fused cloud is built in three steps, each a pure function over arrays:

1. :func:`view_points` unprojects one camera's depth map inside its alpha mask,
   dropping pixels at depth discontinuities (the "flying pixels" that stereo
   and depth sensors leave between foreground and background) and computing a
   normal per pixel from the depth map's neighbours (oriented towards the camera).
2. :func:`voxel_downsample` thins the union of the views to one averaged
   point per voxel.
3. :func:`consistency_mask` checks every point against the cameras: a point
   that a camera sees *through* (it lies clearly in front of that camera's
   observed depth, or lands on its background) is in free space and is dropped.
4. :func:`remove_outliers` (statistical: mean distance to the k nearest neighbours).

:func:`fuse_views` chains them; :func:`cloud_from_points` cleans a point cloud
read from disk (the benchmark layout's ``.pcd``), estimating normals when the
file has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class FusionConfig:
    """Knobs of :func:`fuse_views` (all lengths in metres)."""

    alpha_threshold: float = 0.5  # alpha in [0, 1] above which a pixel is foreground
    edge_threshold: float = 0.01  # relative depth jump to a neighbour that marks a flying pixel
    consistency_margin: float = 0.01  # a point this far in front of another view's depth is free space
    silhouette_erode: int = 2  # pixels of alpha-mask tolerance in the silhouette test
    outlier_k: int = 8
    outlier_std: float = 2.5  # drop points whose mean k-NN distance > mean + std_ratio * std
    voxel_size: float = 0.002  # fitting cloud resolution; 0 keeps every point
    normal_k: int = 16  # neighbours for normals of clouds read without them
    hull_extent: float = 0.4  # v2: side of the visual-hull cube around the rig's focus
    hull_voxel: float = 0.003  # v2: visual-hull voxel size


@dataclass
class PointCloud:
    """A world-space cloud: ``xyz_world`` (N,3) float64 and unit ``normals_world`` (N,3)."""

    xyz_world: np.ndarray
    normals_world: np.ndarray

    def __len__(self) -> int:
        return len(self.xyz_world)

    @cached_property
    def tree(self) -> cKDTree:
        """Nearest-neighbour index over ``xyz_world`` (built on first use)."""
        return cKDTree(self.xyz_world)


def depth_edges(depth: np.ndarray, rel_threshold: float) -> np.ndarray:
    """(H,W) bool, True where a 4-neighbour differs by more than ``rel_threshold * depth``.

    Invalid (NaN) neighbours count as discontinuities, so the rim of every hole
    and of the silhouette is dropped too.
    """
    d = np.asarray(depth, dtype=np.float64)
    padded = np.pad(d, 1, constant_values=np.nan)
    edge = np.zeros(d.shape, dtype=bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        nb = padded[dy:dy + d.shape[0], dx:dx + d.shape[1]]
        with np.errstate(invalid="ignore"):
            edge |= ~(np.abs(nb - d) <= rel_threshold * d)
    return edge


def depth_normals_cam(xyz_cam: np.ndarray) -> np.ndarray:
    """(H,W,3) unit normals of a camera-space point map, facing the camera; NaN where undefined."""
    dx = np.full_like(xyz_cam, np.nan)
    dy = np.full_like(xyz_cam, np.nan)
    dx[:, 1:-1] = xyz_cam[:, 2:] - xyz_cam[:, :-2]
    dy[1:-1] = xyz_cam[2:] - xyz_cam[:-2]
    n = np.cross(dx, dy)
    with np.errstate(invalid="ignore", divide="ignore"):
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
        flip = np.sum(n * xyz_cam, axis=-1) > 0
    n[flip] *= -1
    return n


def view_points(camera, depth: np.ndarray, alpha: np.ndarray | None, config: FusionConfig = FusionConfig()):
    """Foreground points of one view: ``(xyz_world (N,3), normals_world (N,3), pixel (N,2) int)``.

    ``depth`` (H,W) metres with NaN invalid; ``alpha`` (H,W) in [0,1] or None (all foreground).
    """
    depth = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    if alpha is not None:
        valid &= np.asarray(alpha) >= config.alpha_threshold
    d = np.where(valid, depth, np.nan)
    valid &= ~depth_edges(d, config.edge_threshold)
    xyz_cam = camera.unproject_depth(d)
    normals_cam = depth_normals_cam(xyz_cam)
    valid &= np.isfinite(normals_cam).all(axis=-1)
    rows, cols = np.nonzero(valid)
    R = np.asarray(camera.T_cam_from_world, dtype=np.float64)[:3, :3]
    xyz_world = camera.cam_to_world(xyz_cam[rows, cols])
    normals_world = normals_cam[rows, cols] @ R  # R^T n, row-vector form
    return xyz_world, normals_world, np.stack([cols, rows], axis=1)


def clear_background(alpha: np.ndarray | None, config: FusionConfig = FusionConfig()) -> np.ndarray | None:
    """(H,W) bool: pixels that are background even after ``silhouette_erode`` pixels of tolerance."""
    if alpha is None:
        return None
    background = np.asarray(alpha) < config.alpha_threshold
    if config.silhouette_erode <= 0:
        return background
    from scipy.ndimage import binary_erosion

    return binary_erosion(background, iterations=config.silhouette_erode, border_value=1)


def consistency_mask(xyz_world: np.ndarray, source: int, cameras, depths, backgrounds,
                     config: FusionConfig = FusionConfig()) -> np.ndarray:
    """(N,) bool: False for points of camera ``source`` that another camera sees through.

    A point violates camera j when it projects inside j's image, in front of the
    camera, and either lands clearly on j's background (``backgrounds[j]``, from
    :func:`clear_background`; None skips the test) or lies more than
    ``consistency_margin`` in front of j's observed depth.
    """
    keep = np.ones(len(xyz_world), dtype=bool)
    for j, cam in enumerate(cameras):
        if j == source or len(xyz_world) == 0:
            continue
        uv, z = cam.project_world(xyz_world)
        px = np.rint(uv).astype(np.int64)
        inside = (z > 0) & (px >= 0).all(axis=1) & (px[:, 0] < cam.width) & (px[:, 1] < cam.height)
        idx = np.nonzero(inside)[0]
        cx, cy = px[idx, 0], px[idx, 1]
        bad = np.zeros(len(idx), dtype=bool)
        if backgrounds is not None and backgrounds[j] is not None:
            bad |= backgrounds[j][cy, cx]
        if depths[j] is not None:
            observed = np.asarray(depths[j])[cy, cx]
            with np.errstate(invalid="ignore"):
                bad |= z[idx] < observed - config.consistency_margin
        keep[idx[bad]] = False
    return keep


def remove_outliers(xyz: np.ndarray, k: int = 8, std_ratio: float = 2.5) -> np.ndarray:
    """(N,) bool inlier mask: mean distance to the k nearest neighbours <= mean + std_ratio * std."""
    if len(xyz) <= k + 1 or k <= 0:
        return np.ones(len(xyz), dtype=bool)
    dist, _ = cKDTree(xyz).query(xyz, k=k + 1)
    mean_dist = dist[:, 1:].mean(axis=1)
    return mean_dist <= mean_dist.mean() + std_ratio * mean_dist.std()


def voxel_downsample(xyz: np.ndarray, normals: np.ndarray, voxel_size: float):
    """One point per occupied voxel: the mean position and the renormalised mean normal.

    Deterministic (voxels in lexicographic order of their integer coordinates).
    """
    if voxel_size <= 0 or len(xyz) == 0:
        return xyz, normals
    keys = np.floor(xyz / voxel_size).astype(np.int64)
    keys -= keys.min(axis=0)
    dims = keys.max(axis=0) + 1
    flat = (keys[:, 0] * dims[1] + keys[:, 1]) * dims[2] + keys[:, 2]  # lexicographic order of (x, y, z)
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    n_vox = len(counts)
    sums = np.stack([np.bincount(inverse, xyz[:, i], n_vox) for i in range(3)], axis=1)
    nsum = np.stack([np.bincount(inverse, normals[:, i], n_vox) for i in range(3)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        nsum /= np.linalg.norm(nsum, axis=1, keepdims=True)
    ok = np.isfinite(nsum).all(axis=1)
    return (sums / counts[:, None])[ok], nsum[ok]


def fuse_views(cameras, depths, alphas=None, config: FusionConfig = FusionConfig()) -> PointCloud:
    """Fuse per-camera depth maps into one cleaned, downsampled world cloud.

    ``cameras``: list of geometry.Camera; ``depths``: list of (H,W) metres, NaN
    invalid (None for a camera without depth); ``alphas``: list of (H,W) in [0,1] or None.
    """
    alphas = [None] * len(cameras) if alphas is None else alphas
    backgrounds = [clear_background(a, config) for a in alphas]
    xyzs, normals = [], []
    for i, cam in enumerate(cameras):
        if depths[i] is None:
            continue
        xyz, nrm, _ = view_points(cam, depths[i], alphas[i], config)
        xyzs.append(xyz)
        normals.append(nrm)
    if not xyzs:
        return PointCloud(np.zeros((0, 3)), np.zeros((0, 3)))
    # The free-space test runs on the thinned cloud (a few times fewer points than pixels),
    # against every camera: a surface point never lies in front of its own camera's depth.
    xyz, nrm = voxel_downsample(np.concatenate(xyzs), np.concatenate(normals), config.voxel_size)
    keep = consistency_mask(xyz, -1, cameras, depths, backgrounds, config)
    xyz, nrm = xyz[keep], nrm[keep]
    keep = remove_outliers(xyz, config.outlier_k, config.outlier_std)
    return PointCloud(np.ascontiguousarray(xyz[keep]), np.ascontiguousarray(nrm[keep]))


def clean_cloud(xyz: np.ndarray, normals: np.ndarray, config: FusionConfig = FusionConfig()) -> PointCloud:
    """Voxel downsampling, then statistical outlier removal (on the thinned cloud: much cheaper)."""
    xyz, normals = voxel_downsample(xyz, normals, config.voxel_size)
    keep = remove_outliers(xyz, config.outlier_k, config.outlier_std)
    return PointCloud(np.ascontiguousarray(xyz[keep]), np.ascontiguousarray(normals[keep]))


def estimate_normals(xyz: np.ndarray, k: int, viewpoints: np.ndarray) -> np.ndarray:
    """(N,3) PCA normals from k neighbours, oriented towards the nearest of ``viewpoints`` (M,3)."""
    k = min(k, len(xyz))
    _, idx = cKDTree(xyz).query(xyz, k=k)
    nb = xyz[idx] - xyz[idx].mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", nb, nb)
    _, vecs = np.linalg.eigh(cov)
    n = vecs[:, :, 0]
    vp = np.asarray(viewpoints, dtype=np.float64).reshape(-1, 3)
    nearest = vp[cKDTree(vp).query(xyz)[1]]
    flip = np.sum(n * (nearest - xyz), axis=1) < 0
    n[flip] *= -1
    return n


def cloud_from_points(xyz_world: np.ndarray, normals_world: np.ndarray | None, viewpoints: np.ndarray,
                      config: FusionConfig = FusionConfig()) -> PointCloud:
    """Clean a cloud read from disk (e.g. a benchmark ``.pcd``); estimate normals when absent."""
    xyz = np.asarray(xyz_world, dtype=np.float64)
    finite = np.isfinite(xyz).all(axis=1)
    if normals_world is not None:
        normals = np.asarray(normals_world, dtype=np.float64)
        finite &= np.isfinite(normals).all(axis=1) & (np.linalg.norm(normals, axis=1) > 1e-9)
    xyz = xyz[finite]
    if normals_world is None:
        normals = estimate_normals(xyz, config.normal_k, viewpoints)
    else:
        normals = normals[finite] / np.linalg.norm(normals[finite], axis=1, keepdims=True)
    return clean_cloud(xyz, normals, config)
