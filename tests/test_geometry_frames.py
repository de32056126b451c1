import numpy as np

from facebench.geometry import triangle_frames, vertex_normals


def test_frame_of_a_simple_triangle():
    vertices = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    frames = triangle_frames(vertices, [[0, 1, 2]])
    np.testing.assert_allclose(frames[0], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], atol=1e-15)
    # Reversed winding flips the normal and the bitangent, keeps the tangent.
    frames = triangle_frames(vertices, [[0, 2, 1]])
    np.testing.assert_allclose(frames[0], [[0, 1, 0], [1, 0, 0], [0, 0, -1]], atol=1e-15)


def test_frames_orthonormal_and_right_handed():
    rng = np.random.default_rng(0)
    vertices = rng.normal(size=(60, 3))
    faces = rng.integers(0, 60, size=(200, 3))
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    frames = triangle_frames(vertices, faces)
    np.testing.assert_allclose(
        frames @ frames.transpose(0, 2, 1), np.broadcast_to(np.eye(3), frames.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(frames), 1.0, atol=1e-12)
    e1 = vertices[faces[:, 1]] - vertices[faces[:, 0]]
    np.testing.assert_allclose(frames[:, 0], e1 / np.linalg.norm(e1, axis=1, keepdims=True), atol=1e-12)
    # Local coordinates round-trip: d -> F d -> F^T (F d).
    d = rng.normal(size=(len(faces), 3))
    local = np.einsum("fij,fj->fi", frames, d)
    np.testing.assert_allclose(np.einsum("fji,fj->fi", frames, local), d, atol=1e-12)


def test_degenerate_triangles_give_finite_orthonormal_frames():
    vertices = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    faces = np.array([[0, 1, 2], [0, 0, 3], [1, 1, 1]])  # collinear, zero edge, single point
    frames = triangle_frames(vertices, faces)
    assert np.isfinite(frames).all()
    np.testing.assert_allclose(
        frames @ frames.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(frames), 1.0, atol=1e-12)
    np.testing.assert_allclose(frames[0, 0], [1, 0, 0])  # tangent still along v0 -> v1
    np.testing.assert_allclose(frames[1, 0], [0, 0, 1])  # falls back to the other edge


def test_vertex_normals_area_weighted():
    # Two triangles sharing vertex 0: a big one facing +z and a small one facing +x.
    vertices = np.array(
        [
            [0.0, 0.0, 0.0],
            [2.0, 0.0, 0.0],
            [0.0, 2.0, 0.0],  # area 2, normal +z
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],  # with v0: area 0.5, normal +x
            [9.0, 9.0, 9.0],  # unused
        ]
    )
    faces = np.array([[0, 1, 2], [0, 3, 4]])
    n = vertex_normals(vertices, faces)
    expected = np.array([0.5, 0.0, 2.0]) / np.hypot(0.5, 2.0)
    np.testing.assert_allclose(n[0], expected, atol=1e-15)
    np.testing.assert_allclose(n[1], [0, 0, 1])
    np.testing.assert_allclose(n[4], [1, 0, 0])
    np.testing.assert_allclose(n[5], [0, 0, 0])


def test_sphere_vertex_normals_point_outward():
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=2)
    n = vertex_normals(mesh.vertices, mesh.faces)
    np.testing.assert_allclose(np.einsum("ij,ij->i", n, mesh.vertices), 1.0, atol=2e-2)


def test_pseudo_normals_of_a_cube():
    import trimesh

    from facebench.geometry.frames import pseudo_normals

    cube = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    vertex, edge = pseudo_normals(cube.vertices, cube.faces)
    # Each corner: three faces meet at right angles (the two triangles of a square
    # share the corner's 90 degrees), so the pseudo-normal is (pi/2) * (sum of axes).
    np.testing.assert_allclose(vertex, np.pi / 2 * np.sign(cube.vertices), atol=1e-12)
    assert edge.shape == (12, 3, 3)
    # Every edge is shared by two faces: a square's diagonal gives twice its normal,
    # a cube edge the sum of two axis normals; both have length 2 or sqrt(2).
    lengths = np.linalg.norm(edge, axis=2)
    assert np.all(np.isclose(lengths, 2.0) | np.isclose(lengths, np.sqrt(2)))
