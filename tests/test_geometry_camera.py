import numpy as np
import pytest

from facebench.geometry import Camera


def rotation(axis, angle):
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def make_camera(width=40, height=30):
    K = np.array([[50.0, 0.0, 19.5], [0.0, 60.0, 14.5], [0.0, 0.0, 1.0]])
    T = np.eye(4)
    T[:3, :3] = rotation([0.3, 1.0, 0.2], 0.4)
    T[:3, 3] = [0.1, -0.05, 1.2]
    return Camera(K, T, width, height)


def test_identity_camera_projects_by_hand():
    K = np.array([[100.0, 0.0, 50.0], [0.0, 100.0, 40.0], [0.0, 0.0, 1.0]])
    cam = Camera(K, np.eye(4), 100, 80)
    # x = 0.1 m right at 2 m depth: u = 100 * 0.1 / 2 + 50 = 55; y = -0.2: v = 100 * -0.2 / 2 + 40 = 30.
    np.testing.assert_allclose(cam.project([0.1, -0.2, 2.0]), [55.0, 30.0])
    np.testing.assert_allclose(cam.unproject([55.0, 30.0], 2.0), [0.1, -0.2, 2.0])
    np.testing.assert_allclose(cam.center_world, [0, 0, 0])


def test_extrinsics_by_hand():
    # Camera 2 m behind the origin on -z, looking along +z: world (0, 0, 0) is at z = 2.
    T = np.eye(4)
    T[2, 3] = 2.0
    cam = Camera(np.eye(3), T, 10, 10)
    np.testing.assert_allclose(cam.world_to_cam([0.0, 0.0, 0.0]), [0, 0, 2])
    np.testing.assert_allclose(cam.center_world, [0, 0, -2])
    uv, z = cam.project_world([[1.0, 0.5, 0.0]])
    np.testing.assert_allclose(uv, [[0.5, 0.25]])
    np.testing.assert_allclose(z, [2.0])


def test_world_cam_round_trip():
    cam = make_camera()
    xyz = np.random.default_rng(0).normal(size=(7, 5, 3))
    np.testing.assert_allclose(cam.cam_to_world(cam.world_to_cam(xyz)), xyz, atol=1e-12)
    c = cam.world_to_cam(cam.center_world)
    np.testing.assert_allclose(c, 0, atol=1e-12)


def test_project_unproject_round_trip():
    cam = make_camera()
    rng = np.random.default_rng(1)
    uv = rng.uniform(0, 40, size=(100, 2))
    z = rng.uniform(0.5, 3.0, size=100)
    xyz_cam = cam.unproject(uv, z)
    np.testing.assert_allclose(xyz_cam[:, 2], z)
    np.testing.assert_allclose(cam.project(xyz_cam), uv, atol=1e-10)
    xyz_world = cam.cam_to_world(xyz_cam)
    uv2, z2 = cam.project_world(xyz_world)
    np.testing.assert_allclose(uv2, uv, atol=1e-10)
    np.testing.assert_allclose(z2, z, atol=1e-12)


def test_unproject_depth_keeps_nan_and_pixel_centres():
    cam = make_camera(4, 3)
    depth = np.full((3, 4), 2.0)
    depth[1, 2] = np.nan
    xyz = cam.unproject_depth(depth)
    assert xyz.shape == (3, 4, 3)
    assert np.isnan(xyz[1, 2]).all()
    assert np.isfinite(np.delete(xyz.reshape(-1, 3), 1 * 4 + 2, axis=0)).all()
    # Pixel (x=3, y=0) projects back to itself.
    np.testing.assert_allclose(cam.project(xyz[0, 3]), [3.0, 0.0], atol=1e-12)
    with pytest.raises(ValueError):
        cam.unproject_depth(np.ones((4, 3)))


def test_pixel_rays_parameter_is_z_depth():
    cam = make_camera(8, 6)
    origin, dirs = cam.pixel_rays()
    assert dirs.shape == (6, 8, 3)
    np.testing.assert_allclose(origin, cam.center_world)
    points = origin + 1.7 * dirs
    xyz_cam = cam.world_to_cam(points)
    np.testing.assert_allclose(xyz_cam[..., 2], 1.7, atol=1e-12)
    np.testing.assert_allclose(cam.project(xyz_cam), cam.pixel_uv(), atol=1e-9)


def test_rescaled_keeps_pixel_centres():
    # Halving a 4-pixel row: old pixel centres 0.5 and 2.5 (between pixel pairs) become 0 and 1.
    K = np.array([[10.0, 0.0, 1.5], [0.0, 10.0, 1.5], [0.0, 0.0, 1.0]])
    cam = Camera(K, np.eye(4), 4, 4)
    half = cam.rescaled(2, 2)
    np.testing.assert_allclose(half.K, [[5.0, 0.0, 0.5], [0.0, 5.0, 0.5], [0.0, 0.0, 1.0]])
    cam = make_camera(40, 30)
    other = cam.rescaled(100, 45)
    xyz = np.random.default_rng(2).normal(size=(20, 3)) * 0.1 + [0, 0, 1.5]
    uv, _ = cam.project_world(xyz)
    uv2, _ = other.project_world(xyz)
    np.testing.assert_allclose(uv2[:, 0], (uv[:, 0] + 0.5) * 2.5 - 0.5, atol=1e-9)
    np.testing.assert_allclose(uv2[:, 1], (uv[:, 1] + 0.5) * 1.5 - 0.5, atol=1e-9)
    assert (other.width, other.height) == (100, 45)


def test_cropped_shifts_pixels():
    cam = make_camera(40, 30)
    crop = cam.cropped(5, 7, 20, 10)
    xyz = np.random.default_rng(3).normal(size=(20, 3)) * 0.1 + [0, 0, 1.5]
    uv, _ = cam.project_world(xyz)
    uv2, _ = crop.project_world(xyz)
    np.testing.assert_allclose(uv2, uv - [5, 7], atol=1e-12)
    assert (crop.width, crop.height) == (20, 10)


def test_camera_validates_shapes_and_is_frozen():
    with pytest.raises(ValueError):
        Camera(np.eye(2), np.eye(4), 10, 10)
    with pytest.raises(ValueError):
        Camera(np.eye(3), np.eye(3), 10, 10)
    cam = Camera(np.eye(3), np.eye(4)[:3], 10, 10)  # (3,4) extrinsics are completed
    assert cam.T_cam_from_world.shape == (4, 4)
    with pytest.raises(AttributeError):
        cam.width = 3
