import numpy as np

from facebench.geometry import Camera, Raycaster, render_mesh


def plane_mesh(z, half=1.0, n=4):
    """A square of side 2*half at world depth z, split into 2 n^2 triangles facing -z."""
    xs = np.linspace(-half, half, n + 1)
    gx, gy = np.meshgrid(xs, xs)
    vertices = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, z)], axis=1)
    faces = []
    for i in range(n):
        for j in range(n):
            a = i * (n + 1) + j
            faces += [[a, a + n + 1, a + 1], [a + 1, a + n + 1, a + n + 2]]
    return vertices, np.array(faces)


def tilted_camera(width=64, height=48):
    K = np.array([[60.0, 0.0, 31.5], [0.0, 60.0, 23.5], [0.0, 0.0, 1.0]])
    return Camera(K, np.eye(4), width, height)


def test_plane_at_known_depth_renders_exactly():
    vertices, faces = plane_mesh(z=1.25, half=2.0)
    cam = tilted_camera()
    render = render_mesh(vertices, faces, cam)
    assert render.hit.all()
    np.testing.assert_allclose(render.depth, 1.25, rtol=0, atol=1e-7)
    assert render.depth.dtype == np.float32 and render.face_id.dtype == np.int32
    # Barycentrics reconstruct each pixel's hit point, which projects to the pixel centre.
    tri = vertices[faces[render.face_id]]  # (H,W,3,3)
    xyz = np.einsum("hwk,hwkc->hwc", render.barycentric.astype(np.float64), tri)
    np.testing.assert_allclose(xyz, cam.unproject_depth(np.full((48, 64), 1.25)), atol=1e-6)
    assert (render.barycentric >= -1e-6).all()
    np.testing.assert_allclose(render.barycentric.sum(-1), 1.0, atol=1e-6)


def test_plane_seen_by_rotated_camera_has_exact_depth():
    # Camera at (0, 0, -1) rotated 20 degrees about y; plane z = 0.5 world.
    a = np.deg2rad(20)
    R_world_from_cam = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    T = np.eye(4)
    T[:3, :3] = R_world_from_cam.T
    T[:3, 3] = -R_world_from_cam.T @ [0.0, 0.0, -1.0]
    cam = Camera(tilted_camera().K, T, 64, 48)
    vertices, faces = plane_mesh(z=0.5, half=5.0)
    render = Raycaster(vertices, faces).render(cam)
    assert render.hit.all()
    xyz_world = cam.cam_to_world(cam.unproject_depth(render.depth.astype(np.float64)))
    np.testing.assert_allclose(xyz_world[..., 2], 0.5, atol=1e-6)


def test_tetrahedron_face_ids_and_misses():
    # Tetrahedron with one face in the plane z = 1 facing the camera (face 0) and apex behind.
    vertices = np.array([[-0.5, -0.5, 1.0], [0.5, -0.5, 1.0], [0.0, 0.5, 1.0], [0.0, 0.0, 2.0]])
    faces = np.array([[0, 2, 1], [0, 1, 3], [1, 2, 3], [2, 0, 3]])
    rc = Raycaster(vertices, faces)
    origins = np.zeros((4, 3))
    dirs = np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 1.0], [0.0, 0.0, -1.0], [3.0, 0.0, 1.0]])
    t, face_id, bary = rc.intersect(origins, dirs)
    np.testing.assert_array_equal(face_id, [0, 0, -1, -1])
    np.testing.assert_allclose(t[:2], [1.0, 1.0])
    assert np.isinf(t[2:]).all()
    # Hit point (0, 0, 1) = b0 v0 + b1 v2 + b2 v1 for face [0, 2, 1].
    np.testing.assert_allclose(bary[0] @ vertices[faces[0]], [0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(bary[0], [0.25, 0.5, 0.25], atol=1e-12)
    # From behind the apex, looking back: the first hit is a side face, not the base.
    t, face_id, _ = rc.intersect([[0.0, 0.0, 3.0]], [[0.0, 0.0, -1.0]])
    assert face_id[0] in (1, 2, 3)
    np.testing.assert_allclose(t, [1.0])


def test_cube_face_ids_from_six_directions():
    import trimesh

    cube = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    vertices, faces = np.asarray(cube.vertices), np.asarray(cube.faces)
    normals = np.asarray(cube.face_normals)
    rc = Raycaster(vertices, faces)
    axes = np.vstack([np.eye(3), -np.eye(3)])
    origins = 3.0 * axes + 0.1 * np.array([0.3, 0.2, 0.1])  # off the diagonals
    t, face_id, _ = rc.intersect(origins, -axes)
    np.testing.assert_allclose(normals[face_id], axes, atol=1e-12)
    np.testing.assert_allclose(t, 2.5 + 0.1 * axes @ [0.3, 0.2, 0.1], atol=1e-12)


def test_render_many_and_miss_values():
    vertices, faces = plane_mesh(z=1.0, half=0.2)
    cam = tilted_camera()
    renders = Raycaster(vertices, faces).render_many([cam, cam.rescaled(32, 24)])
    assert renders[0].depth.shape == (48, 64) and renders[1].depth.shape == (24, 32)
    r = renders[0]
    assert r.hit.any() and not r.hit.all()
    assert np.isnan(r.depth[~r.hit]).all()
    assert (r.face_id[~r.hit] == -1).all()
    assert (r.barycentric[~r.hit] == 0).all()
    # Half-width 0.2 m at 1 m with f = 60 px: hits within 12 px of the centre column 31.5.
    cols = np.flatnonzero(r.hit.any(axis=0))
    assert cols.min() == 20 and cols.max() == 43


def test_without_embreex_the_fallback_or_a_clear_error(monkeypatch):
    import sys

    import pytest

    from facebench.errors import FacebenchError

    monkeypatch.setitem(sys.modules, "embreex", None)
    vertices, faces = plane_mesh(z=1.0, half=0.5, n=2)
    try:
        import rtree  # noqa: F401
    except ImportError:
        with pytest.raises(FacebenchError, match="embreex"):
            Raycaster(vertices, faces)
        return
    t, face_id, _ = Raycaster(vertices, faces).intersect([[0.1, 0.2, 0.0]], [[0.0, 0.0, 1.0]])
    np.testing.assert_allclose(t, [1.0])
    assert face_id[0] >= 0


def test_camera_and_raycaster_pickle_for_worker_processes():
    import pickle

    vertices, faces = plane_mesh(z=1.0, half=0.5, n=2)
    cam = tilted_camera().rescaled(16, 12)
    rc = pickle.loads(pickle.dumps(Raycaster(vertices, faces)))
    cam2 = pickle.loads(pickle.dumps(cam))
    np.testing.assert_array_equal(cam2.K, cam.K)
    np.testing.assert_allclose(rc.render(cam2).depth, 1.0, atol=1e-7)
