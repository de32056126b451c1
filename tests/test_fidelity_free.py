"""Hand-checkable parts of the template-free fidelity measure (the end-to-end run is in
tests/test_prepare_pipeline.py::test_template_free_fidelity)."""

import numpy as np

from facebench.prepare.fidelity_free import _bilinear, _spread, sample_face_points


def test_spread_is_mean_distance_to_the_group_mean():
    keys = np.array([0, 0, 1, 1, 1, 2])
    values = np.array([[0, 0, 0], [2, 0, 0], [0, 0, 0], [0, 3, 0], [0, 0, 3], [5, 5, 5]], float)
    groups, spread = _spread(keys, values)
    assert groups.tolist() == [0, 1]  # a group seen once has no spread
    assert spread[0] == 1.0
    m = np.array([0, 1, 1.0])
    expected = np.mean([np.linalg.norm(v - m) for v in values[2:5]])
    assert np.isclose(spread[1], expected)


def test_bilinear_is_exact_on_linear_maps_and_needs_all_four_neighbours():
    H, W = 6, 8
    y, x = np.mgrid[0:H, 0:W].astype(float)
    image = np.stack([x, y, 2 * x + 3 * y], -1)
    ok = np.ones((H, W), bool)
    uv = np.array([[1.25, 2.5], [6.9, 4.1], [0.0, 0.0]])
    out = _bilinear(image, uv, ok)
    assert np.allclose(out, np.stack([uv[:, 0], uv[:, 1], 2 * uv[:, 0] + 3 * uv[:, 1]], -1))
    ok[3, 2] = False  # a neighbour of the first point
    out = _bilinear(image, uv, ok)
    assert np.isnan(out[0]).all() and np.isfinite(out[1:]).all()
    assert np.isnan(_bilinear(image, np.array([[7.5, 1.0], [-0.5, 1.0]]), ok)).all()  # outside


def test_sampled_points_lie_on_the_face_region():
    from facebench.templates import load

    tm = load("facebench-head")
    face, bary = sample_face_points(tm, 500, seed=3)
    assert (tm.face_regions[face] == 1).all()
    assert (bary >= 0).all() and np.allclose(bary.sum(1), 1)
    again = sample_face_points(tm, 500, seed=3)
    assert np.array_equal(face, again[0]) and np.array_equal(bary, again[1])
