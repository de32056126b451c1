import numpy as np
import pytest

import facebench.geometry.closest as closest_module
from facebench.geometry import MeshProximity, closest_points


@pytest.fixture(params=["numpy", "igl"])
def backend(request):
    if request.param == "igl":
        pytest.importorskip("igl")
    return request.param


def brute_force(vertices, faces, points):
    """Reference: every (point, triangle) pair, plane projection if inside else nearest edge point."""
    tri = vertices[faces]  # (F,3,3)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    n = np.cross(b - a, c - a)
    n_unit = n / np.linalg.norm(n, axis=1, keepdims=True)
    p = points[:, None, :]  # (N,1,3)
    foot = p - np.einsum("nfk,fk->nf", p - a, n_unit)[..., None] * n_unit
    inside = np.ones(foot.shape[:2], dtype=bool)
    for u, v in ((a, b), (b, c), (c, a)):
        inside &= np.einsum("nfk,fk->nf", np.cross(v - u, foot - u), n) >= 0
    best = np.where(inside[..., None], foot, np.nan)
    best_d = np.where(inside, np.linalg.norm(p - foot, axis=2), np.inf)
    for u, v in ((a, b), (b, c), (c, a)):
        e = v - u
        w = np.clip(np.einsum("nfk,fk->nf", p - u, e) / np.einsum("fk,fk->f", e, e), 0, 1)
        q = u + w[..., None] * e
        d = np.linalg.norm(p - q, axis=2)
        take = d < best_d
        best_d = np.where(take, d, best_d)
        best = np.where(take[..., None], q, best)
    order = np.argsort(best_d, axis=1)
    i = np.arange(len(points))
    return best_d[i, order[:, 0]], best[i, order[:, 0]], order[:, 0], best_d[i, order[:, 1]]


def noisy_sphere(subdivisions=2, noise=0.01, seed=0):
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.1)
    vertices = np.asarray(mesh.vertices) * (
        1 + noise * np.random.default_rng(seed).normal(size=(len(mesh.vertices), 1))
    )
    return vertices, np.asarray(mesh.faces)


def shell_points(vertices, n, lo, hi, seed):
    rng = np.random.default_rng(seed)
    dirs = rng.normal(size=(n, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return vertices[rng.integers(len(vertices), size=n)] + dirs * rng.uniform(lo, hi, size=(n, 1))


def check_against_brute_force(vertices, faces, points, result):
    d_ref, q_ref, f_ref, second = brute_force(vertices, faces, points)
    np.testing.assert_allclose(np.abs(result.distance), d_ref, rtol=1e-12, atol=1e-14)
    unique = second - d_ref > 1e-9
    np.testing.assert_array_equal(result.face_id[unique], f_ref[unique])
    np.testing.assert_allclose(result.points[unique], q_ref[unique], atol=1e-9)
    # Barycentrics are valid and reconstruct the closest points on the chosen faces.
    b = result.barycentric
    assert (b >= -1e-12).all() and (b <= 1 + 1e-12).all()
    np.testing.assert_allclose(b.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(
        np.einsum("nk,nkc->nc", b, vertices[faces[result.face_id]]), result.points, atol=1e-12
    )


def test_single_triangle_by_hand(backend):
    vertices = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    faces = np.array([[0, 1, 2]])
    points = np.array(
        [
            [0.2, 0.2, 0.5],  # above the interior, normal +z side
            [0.2, 0.2, -0.3],  # below
            [2.0, -1.0, 0.0],  # beyond vertex v1
            [0.5, -1.0, 0.0],  # off edge v0-v1
            [1.0, 1.0, 0.0],  # off edge v1-v2
            [-1.0, 0.5, 0.0],  # off edge v2-v0
        ]
    )
    r = closest_points(vertices, faces, points, backend=backend)
    np.testing.assert_allclose(r.distance, [0.5, -0.3, np.sqrt(2), 1.0, np.sqrt(0.5), 1.0], atol=1e-15)
    np.testing.assert_allclose(
        r.points,
        [[0.2, 0.2, 0], [0.2, 0.2, 0], [1, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0], [0, 0.5, 0]],
        atol=1e-15,
    )
    np.testing.assert_allclose(r.barycentric[0], [0.6, 0.2, 0.2], atol=1e-15)
    np.testing.assert_allclose(r.barycentric[4], [0.0, 0.5, 0.5], atol=1e-15)
    np.testing.assert_array_equal(r.face_id, 0)


@pytest.mark.parametrize("lo,hi", [(0.0, 0.003), (0.0, 0.05), (0.2, 2.0)])
def test_noisy_sphere_matches_brute_force(lo, hi, backend):
    vertices, faces = noisy_sphere()
    points = shell_points(vertices, 300, lo, hi, seed=int(hi * 1000))
    check_against_brute_force(
        vertices, faces, points, MeshProximity(vertices, faces, backend=backend).query(points)
    )


def test_triangle_soup_matches_brute_force(backend):
    # Random triangles of mixed sizes, overlapping and intersecting, plus one degenerate.
    rng = np.random.default_rng(5)
    centres = rng.uniform(-0.1, 0.1, size=(120, 1, 3))
    sizes = rng.choice([0.002, 0.02, 0.1], size=(120, 1, 1))
    vertices = (centres + sizes * rng.normal(size=(120, 3, 3))).reshape(-1, 3)
    faces = np.arange(360).reshape(120, 3)
    vertices[faces[7, 1]] = vertices[faces[7, 0]]  # zero-length edge
    points = rng.uniform(-0.3, 0.3, size=(400, 3))
    result = closest_points(vertices, faces, points, backend=backend)
    assert np.isfinite(result.distance).all()
    keep = np.ones(120, dtype=bool)
    keep[7] = False  # the reference skips the degenerate face's plane test; compare against the rest
    d_ref, *_ = brute_force(vertices, faces[keep], points)
    assert (np.abs(result.distance) <= d_ref + 1e-12).all()
    check_against_brute_force(
        vertices, faces[keep], points, closest_points(vertices, faces[keep], points, backend=backend)
    )


def test_sign_follows_face_normals(backend):
    vertices, faces = noisy_sphere(noise=0.0)  # trimesh's icosphere has outward normals
    rng = np.random.default_rng(1)
    dirs = rng.normal(size=(200, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    outside = closest_points(vertices, faces, dirs * 0.12, backend=backend)
    inside = closest_points(vertices, faces, dirs * 0.05, backend=backend)
    assert (outside.distance > 0).all() and (inside.distance < 0).all()


def test_max_distance_marks_far_points(backend):
    vertices, faces = noisy_sphere()
    points = shell_points(vertices, 400, 0.0, 0.1, seed=3)
    full = closest_points(vertices, faces, points, backend=backend)
    limited = closest_points(vertices, faces, points, max_distance=0.03, backend=backend)
    near = np.abs(full.distance) <= 0.03
    assert near.any() and (~near).any()
    np.testing.assert_array_equal(limited.face_id[~near], -1)
    assert np.isnan(limited.distance[~near]).all() and np.isnan(limited.points[~near]).all()
    np.testing.assert_allclose(limited.distance[near], full.distance[near], rtol=1e-12)
    np.testing.assert_allclose(limited.points[near], full.points[near], atol=1e-12)


def test_small_batches_give_the_same_answer(monkeypatch, backend):
    vertices, faces = noisy_sphere(subdivisions=3)
    points = shell_points(vertices, 500, 0.0, 0.5, seed=4)
    expected = closest_points(vertices, faces, points, backend=backend)
    monkeypatch.setattr(closest_module, "_CHUNK_POINTS", 37)
    monkeypatch.setattr(closest_module, "_MAX_PAIRS", 50)
    monkeypatch.setattr(closest_module, "_MAX_FETCH", 10)
    got = closest_points(vertices, faces, points, backend=backend)
    np.testing.assert_allclose(got.distance, expected.distance, rtol=1e-12)
    np.testing.assert_allclose(got.points, expected.points, atol=1e-12)


def test_tiny_meshes_and_empty_queries(backend):
    vertices = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    faces = np.array([[0, 1, 2], [0, 3, 1]])
    r = closest_points(vertices, faces, np.array([[0.1, 0.5, 0.1], [0.3, -0.5, 0.2]]), backend=backend)
    np.testing.assert_array_equal(r.face_id, [0, 1])
    np.testing.assert_allclose(np.abs(r.distance), [0.1, 0.5])
    empty = closest_points(vertices, faces, np.zeros((0, 3)), backend=backend)
    assert empty.face_id.shape == (0,) and empty.points.shape == (0, 3)


def test_backends_agree_and_auto_picks_one():
    pytest.importorskip("igl")
    vertices, faces = noisy_sphere(subdivisions=3)
    points = shell_points(vertices, 2000, 0.0, 0.05, seed=9)
    a = closest_points(vertices, faces, points, backend="numpy")
    b = closest_points(vertices, faces, points, backend="igl")
    np.testing.assert_allclose(a.distance, b.distance, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a.points, b.points, atol=1e-9)
    assert MeshProximity(vertices, faces).backend == "igl"
    with pytest.raises(ValueError):
        MeshProximity(vertices, faces, backend="fast")


def test_sign_at_a_sharp_ridge_uses_the_edge_and_vertex_pseudo_normals(backend):
    # A tent: two steep wings meeting at a ridge along y, normals pointing out and up.
    vertices = np.array(
        [
            [0.0, -1.0, 0.0],
            [0.0, 1.0, 0.0],  # ridge r0, r1
            [0.2, -1.0, -1.0],
            [0.2, 1.0, -1.0],  # right wing bottom
            [-0.2, -1.0, -1.0],
            [-0.2, 1.0, -1.0],  # left wing bottom
        ]
    )
    faces = np.array([[0, 2, 1], [1, 2, 3], [0, 1, 4], [1, 5, 4]])
    points = np.array(
        [
            [0.15, 0.0, 0.3],  # above the ridge, on the negative side of the left wing's plane
            [-0.15, 0.0, 0.3],
            [0.0, -1.5, 0.3],  # beyond the ridge's end: closest to vertex r0
            [0.0, 0.0, -0.5],  # under the tent: inside a wing
        ]
    )
    r = closest_points(vertices, faces, points, backend=backend)
    inward = -0.5 * 0.2 / np.hypot(1.0, 0.2)
    np.testing.assert_allclose(
        r.distance, [np.hypot(0.15, 0.3), np.hypot(0.15, 0.3), np.hypot(0.5, 0.3), inward]
    )
    np.testing.assert_allclose(r.points[:3], [[0, 0, 0], [0, 0, 0], [0, -1, 0]], atol=1e-15)


def test_sign_on_a_cube_near_edges_and_corners(backend):
    import trimesh

    cube = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    points = np.array([[0.8, 0.8, 0.8], [0.8, 0.8, 0.0], [0.0, -0.9, 0.7], [0.4, 0.4, 0.4], [0.45, 0.0, 0.1]])
    r = closest_points(cube.vertices, cube.faces, points, backend=backend)
    np.testing.assert_allclose(
        r.distance, [np.sqrt(3) * 0.3, np.sqrt(2) * 0.3, np.hypot(0.4, 0.2), -0.1, -0.05], atol=1e-12
    )


def test_mesh_proximity_pickles(backend):
    import pickle

    vertices, faces = noisy_sphere()
    mp = pickle.loads(pickle.dumps(MeshProximity(vertices, faces, backend=backend)))
    assert mp.backend == backend
    points = shell_points(vertices, 50, 0.0, 0.05, seed=11)
    np.testing.assert_allclose(mp.query(points).distance, closest_points(vertices, faces, points).distance)
