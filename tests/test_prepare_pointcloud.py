"""Point-cloud fusion on an analytic scene: a 10 cm sphere seen by three cameras 1 m away."""

import numpy as np
import pytest

from facebench.prepare import pointcloud as pc

RADIUS = 0.1


def _look_at(center):
    z = -np.asarray(center, float) / np.linalg.norm(center)
    x = np.cross(z, [0.0, -1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ np.asarray(center, float)
    return T


def _camera(azimuth_deg, size=96):
    from facebench.geometry.camera import Camera

    a = np.deg2rad(azimuth_deg)
    K = np.array([[300.0, 0, (size - 1) / 2], [0, 300.0, (size - 1) / 2], [0, 0, 1]])
    return Camera(K, _look_at([np.sin(a), 0.0, np.cos(a)]), size, size)


def _sphere_depth(cam):
    """Exact z-depth of the sphere (NaN off it) and a wall 2 m behind it."""
    origin, dirs = cam.pixel_rays()
    b = np.einsum("hwc,c->hw", dirs, origin)
    a = np.einsum("hwc,hwc->hw", dirs, dirs)
    c = origin @ origin - RADIUS**2
    disc = b * b - a * c
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / a
    return np.where(disc > 0, t, np.nan)


@pytest.fixture(scope="module")
def scene():
    cams = [_camera(a) for a in (-40, 0, 40)]
    depths = [_sphere_depth(c) for c in cams]
    alphas = [np.isfinite(d).astype(np.float32) for d in depths]
    return cams, depths, alphas


def test_depth_edges_marks_jumps_and_holes():
    d = np.full((4, 5), 1.0)
    d[:, 3:] = 1.5
    d[0, 0] = np.nan
    edges = pc.depth_edges(d, 0.01)
    assert edges[:, 2].all() and edges[:, 3].all()  # both sides of the jump
    assert edges[0, 1] and edges[1, 0]  # neighbours of the hole
    assert not edges[2, 1]


def test_fused_points_lie_on_the_sphere(scene):
    cams, depths, alphas = scene
    cloud = pc.fuse_views(cams, depths, alphas, pc.FusionConfig(voxel_size=0.0))
    r = np.linalg.norm(cloud.xyz_world, axis=1)
    assert len(cloud) > 3000
    assert np.abs(r - RADIUS).max() < 1e-3
    # normals point outwards (towards the cameras), within a few degrees
    cos = np.sum(cloud.normals_world * cloud.xyz_world / r[:, None], axis=1)
    assert np.median(cos) > 0.995


def test_flying_pixels_and_free_space_points_are_removed(scene):
    cams, depths, alphas = scene
    noisy = [d.copy() for d in depths]
    rng = np.random.default_rng(0)
    # flying pixels: a ring of pixels just outside the silhouette, halfway to a 2 m wall
    from scipy.ndimage import binary_dilation

    ring = binary_dilation(np.isfinite(depths[1]), iterations=2) & ~np.isfinite(depths[1])
    noisy[1][ring] = 1.5
    alpha1 = alphas[1].copy()
    alpha1[ring] = 1.0  # the matting also got them wrong
    # a few floaters in front of the surface inside the silhouette
    inside = np.argwhere(np.isfinite(depths[1]))
    pick = inside[rng.choice(len(inside), 20, replace=False)]
    noisy[1][pick[:, 0], pick[:, 1]] -= 0.05
    cloud = pc.fuse_views(cams, noisy, [alphas[0], alpha1, alphas[2]], pc.FusionConfig(voxel_size=0.0))
    r = np.linalg.norm(cloud.xyz_world, axis=1)
    assert np.abs(r - RADIUS).max() < 2e-3


def test_voxel_downsample_is_deterministic_average():
    xyz = np.array([[0.0001, 0, 0], [0.0009, 0, 0], [0.0031, 0, 0]])
    nrm = np.array([[0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0]])
    out, n = pc.voxel_downsample(xyz, nrm, 0.002)
    np.testing.assert_allclose(out, [[0.0005, 0, 0], [0.0031, 0, 0]])
    np.testing.assert_allclose(n[0], [0, np.sqrt(0.5), np.sqrt(0.5)])


def test_cloud_from_points_estimates_outward_normals():
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(4000, 3))
    xyz = RADIUS * xyz / np.linalg.norm(xyz, axis=1, keepdims=True)
    xyz[0] = [1.0, 1.0, 1.0]  # an outlier far away
    cams = np.array([[0, 0, 1.0], [0, 0, -1.0], [1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]])
    cloud = pc.cloud_from_points(xyz, None, cams, pc.FusionConfig(voxel_size=0.0))
    assert len(cloud) == 3999
    cos = np.sum(cloud.normals_world * cloud.xyz_world / RADIUS, axis=1)
    assert np.median(cos) > 0.99
