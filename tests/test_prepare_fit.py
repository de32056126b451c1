"""Template fitting on clouds sampled from a known deformation of the built-in template."""

import numpy as np
import pytest

from facebench.prepare.fit import FitConfig, fit_sequence, mesh_edges
from facebench.prepare.pointcloud import PointCloud
from facebench.prepare.rigid import frame_from_rig, kabsch, rotation_about


def test_kabsch_recovers_a_rigid_motion():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(50, 3))
    R = rotation_about([1.0, 2.0, 3.0], 0.7)
    t = np.array([0.1, -0.2, 0.3])
    R_est, t_est = kabsch(src, src @ R.T + t)
    np.testing.assert_allclose(R_est, R, atol=1e-10)
    np.testing.assert_allclose(t_est, t, atol=1e-10)


def test_mesh_edges_of_two_triangles():
    edges, degree = mesh_edges(np.array([[0, 1, 2], [2, 1, 3]]), 4)
    assert edges.tolist() == [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]
    assert degree.tolist() == [2, 3, 3, 2]


def test_frame_from_rig_faces_the_frontal_camera():
    from facebench.synth.rig import make_rig

    rig = make_rig(3)
    cams = list(rig.cameras(64, 96).values())
    R = frame_from_rig(cams, list(rig.serials))
    frontal = rig.T_cam_from_world["222200037"]
    forward = R @ [0.0, 0.0, 1.0]
    assert forward @ -frontal[2, :3] > 0.999  # template +z points at the camera
    assert (R @ [0.0, 1.0, 0.0]) @ [0.0, 1.0, 0.0] > 0.99  # synth world is y-up
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)


@pytest.fixture(scope="module")
def truth():
    from facebench.geometry import vertex_normals
    from facebench.synth.rig import make_rig
    from facebench.templates import load

    tmpl = load("facebench-head")
    rng = np.random.default_rng(3)
    T = 3
    params = dict(identity=rng.normal(0, 0.5, tmpl.n_identity),
                  expression=rng.normal(0, 0.5, (T, tmpl.n_expression)),
                  jaw=np.array([[0.05, 0, 0], [0.1, 0, 0], [0.0, 0, 0]]),
                  rotation=np.array([[0.0, 0.15, 0.0], [0.05, 0.1, 0.0], [0.0, 0.05, 0.02]]),
                  translation=np.array([[0.0, 0.0, 0.0], [0.003, 0.001, 0.0], [0.005, 0.0, -0.002]]))
    verts = tmpl.deform(**params)
    rig = make_rig(5)
    cams = list(rig.cameras(64, 96).values())
    clouds = []
    for t in range(T):
        n = vertex_normals(verts[t], tmpl.faces)
        seen = np.isin(tmpl.regions, (1, 2, 3, 4)) & (n[:, 2] > 0.1)  # the frontal hemisphere
        clouds.append(PointCloud(verts[t][seen], n[seen]))
    return tmpl, verts, clouds, cams, list(rig.serials)


def test_fit_without_tracking_recovers_the_surface(truth):
    tmpl, verts, clouds, cams, serials = truth
    fit = fit_sequence(tmpl, clouds, cams, serials, None, FitConfig(iterations=120, offset_iterations=20))
    face = tmpl.regions == 1
    err_mm = np.linalg.norm(fit.vertices[:, face] - verts[:, face], axis=-1) * 1000
    assert fit.vertices.shape == verts.shape and fit.vertices.dtype == np.float32
    assert np.median(err_mm) < 1.0, np.median(err_mm)
    assert np.all(fit.residual_mm < 0.5)
    assert fit.matched.min() > 0.3


def test_fit_from_tracking_init_stays_exact(truth):
    tmpl, verts, clouds, cams, serials = truth
    from facebench.prepare.rigid import matrix_to_axis_angle  # noqa: F401  (init uses axis-angle)

    rng = np.random.default_rng(3)
    init = dict(identity=rng.normal(0, 0.5, tmpl.n_identity),
                expression=rng.normal(0, 0.5, (3, tmpl.n_expression)),
                jaw=np.array([[0.05, 0, 0], [0.1, 0, 0], [0.0, 0, 0]]), neck=np.zeros((3, 3)),
                eyes=np.zeros((3, 6)),
                rotation=np.array([[0.0, 0.15, 0.0], [0.05, 0.1, 0.0], [0.0, 0.05, 0.02]]),
                translation=np.array([[0.0, 0.0, 0.0], [0.003, 0.001, 0.0], [0.005, 0.0, -0.002]]),
                scale=np.ones(1))
    fit = fit_sequence(tmpl, clouds, cams, serials, init, FitConfig(iterations=20, offset_iterations=10))
    face = tmpl.regions == 1
    err_mm = np.linalg.norm(fit.vertices[:, face] - verts[:, face], axis=-1) * 1000
    assert np.median(err_mm) < 0.3
