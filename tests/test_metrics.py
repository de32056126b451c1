"""Hand-checkable values for every metric in facebench.metrics (SPEC §6)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from facebench.metrics import canonical, depth, higher_is_better, tracking_2d, tracking_3d
from facebench.metrics.align import align_depth


def one_frame(values):
    return np.asarray(values, dtype=np.float64)[None]


# ---------------------------------------------------------------- depth
def test_depth_by_hand():
    gt = one_frame([[1.0, 2.5], [3.0, 4.0]])
    pred = one_frame([[1.0, 2.0], [3.0, 4.4]])
    valid = np.ones_like(gt, dtype=bool)
    m = depth.depth_metrics(pred, gt, valid)
    # |d-g|/g = 0, 0.2, 0, 0.1 -> mean 0.075
    assert m["abs_rel"] == pytest.approx([0.075])
    # (d-g)^2 = 0, .25, 0, .16 -> mean .1025 -> 1000 sqrt(.1025)
    assert m["rmse_mm"] == pytest.approx([1000 * np.sqrt(0.1025)])
    # ratios 1, 1.25, 1, 1.1: 1.25 is not < 1.25 -> 3 of 4
    assert m["delta_1.25"] == pytest.approx([0.75])
    # |d-g| = 0, .5, 0, .4 m -> 2 of 4 within 2/5/10 mm
    assert m["within_2mm"] == pytest.approx([0.5])
    assert m["within_10mm"] == pytest.approx([0.5])


def test_depth_invalid_pixels_and_empty_frames():
    gt = np.array([[[1.0, np.nan]], [[np.nan, np.nan]]])  # frame 1 has nothing valid
    pred = np.array([[[1.1, 50.0]], [[1.0, 1.0]]])
    m = depth.depth_metrics(pred, gt, np.ones_like(gt, dtype=bool))
    assert m["abs_rel"][0] == pytest.approx(0.1)
    assert np.isnan(m["abs_rel"][1])
    # a region mask removes pixels too
    m = depth.depth_metrics(pred, gt, np.array([[[False, True]], [[True, True]]]))
    assert np.isnan(m["abs_rel"]).all()


def test_depth_plus_one_mm():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 1.5, size=(3, 4, 5))
    valid = np.ones_like(gt, dtype=bool)
    m = depth.depth_metrics(gt + 0.001, gt, valid)
    assert m["rmse_mm"] == pytest.approx(np.ones(3))
    for key in ("within_2mm", "within_5mm", "within_10mm", "delta_1.25"):
        assert m[key] == pytest.approx(np.ones(3))
    assert m["abs_rel"] == pytest.approx((0.001 / gt).mean(axis=(1, 2)))


def test_depth_plus_one_cm_and_negative_prediction():
    gt = one_frame([[1.0, 1.0]])
    m = depth.depth_metrics(gt + 0.01, gt, np.ones_like(gt, dtype=bool))
    assert m["rmse_mm"] == pytest.approx([10.0])
    assert m["within_5mm"] == pytest.approx([0.0]) and m["within_10mm"][0] in (0.0, 1.0)
    m = depth.depth_metrics(one_frame([[-1.0, 1.0]]), gt, np.ones_like(gt, dtype=bool))
    assert m["delta_1.25"] == pytest.approx([0.5])  # d <= 0 never counts


def test_alignment_by_hand():
    gt = one_frame([[1.0, 2.0, 3.0]])
    valid = np.ones_like(gt, dtype=bool)
    aligned, s, b = align_depth(2 * gt, gt, valid, "median")
    assert s == pytest.approx([0.5]) and aligned == pytest.approx(gt)
    aligned, s, b = align_depth(3 * gt + 1, gt, valid, "scale_shift")
    assert s == pytest.approx([1 / 3]) and b == pytest.approx([-1 / 3]) and aligned == pytest.approx(gt)
    # constant prediction: the best constant is the GT mean
    aligned, s, b = align_depth(np.full_like(gt, 7.0), gt, valid, "scale_shift")
    assert aligned == pytest.approx(np.full_like(gt, 2.0))
    # scale_shift output is clipped to 1 mm
    aligned, _, _ = align_depth(one_frame([[1.0, 2.0, 3.0]]), one_frame([[0.0, -1.0, -2.0]]), valid,
                                "scale_shift")
    assert aligned.min() == pytest.approx(1e-3)
    with pytest.raises(ValueError):
        align_depth(gt, gt, valid, "affine")


def test_worst_depth():
    gt = one_frame([[3.0, 4.0]])
    w = depth.worst_depth_metrics(gt, np.ones_like(gt, dtype=bool))
    assert w["abs_rel"] == 1.0 and w["within_2mm"] == 0.0
    assert w["rmse_mm"] == pytest.approx(1000 * np.sqrt(12.5))


positive = arrays(np.float64, (2, 3, 3), elements=st.floats(0.2, 5.0))


@settings(max_examples=60, deadline=None)
@given(positive, positive, st.floats(0.01, 100.0))
def test_median_alignment_is_scale_invariant(pred, gt, a):
    valid = np.ones_like(gt, dtype=bool)
    m1 = depth.depth_metrics(pred, gt, valid, "median")
    m2 = depth.depth_metrics(a * pred, gt, valid, "median")
    for key in depth.METRICS:
        np.testing.assert_allclose(m1[key], m2[key], rtol=1e-6, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(positive, positive, st.floats(0.01, 100.0), st.floats(-10.0, 10.0))
def test_scale_shift_alignment_is_affine_invariant(pred, gt, a, b):
    valid = np.ones_like(gt, dtype=bool)
    m1 = depth.depth_metrics(pred, gt, valid, "scale_shift")
    m2 = depth.depth_metrics(a * pred + b, gt, valid, "scale_shift")
    for key in ("abs_rel", "rmse_mm"):
        np.testing.assert_allclose(m1[key], m2[key], rtol=1e-5, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(positive, st.floats(0.01, 100.0), st.floats(-1.0, 1.0))
def test_aligned_gt_scores_perfectly(gt, a, b):
    valid = np.ones_like(gt, dtype=bool)
    for mode, pred in (("median", a * gt), ("scale_shift", a * gt + b), ("none", gt)):
        m = depth.depth_metrics(pred, gt, valid, mode)
        assert np.all(m["abs_rel"] < 1e-6) and np.all(m["within_2mm"] == 1.0)


# ---------------------------------------------------------------- canonical
def test_canonical_by_hand():
    gt = np.zeros((1, 1, 3, 3))
    pred = gt.copy()
    pred[0, 0, 0, 0] = 0.01  # 0.01 normalized * 0.1 m = 1 mm
    pred[0, 0, 1, 1] = 0.03  # 3 mm
    gt[0, 0, 2] = np.nan     # invalid pixel, not scored
    m = canonical.canonical_metrics(pred, gt, np.ones((1, 1, 3), bool), scale=0.1)
    assert m["mean_mm"] == pytest.approx([2.0])
    assert m["median_mm"] == pytest.approx([2.0])
    assert m["mean_norm"] == pytest.approx([0.02])
    assert m["within_2mm"] == pytest.approx([0.5])   # 1 < 2, 3 is not
    assert m["within_5mm"] == pytest.approx([1.0])


def test_canonical_gt_is_perfect_and_worst():
    gt = np.random.default_rng(1).uniform(-1, 1, (2, 3, 4, 3))
    m = canonical.canonical_metrics(gt, gt, np.ones((2, 3, 4), bool), scale=0.12)
    assert np.all(m["mean_mm"] == 0) and np.all(m["within_2mm"] == 1)
    w = canonical.worst_canonical_metrics(0.1)
    assert w["mean_mm"] == pytest.approx(200 * np.sqrt(3)) and w["within_10mm"] == 0


# ---------------------------------------------------------------- tracking 2D
def track(points):
    return np.asarray(points, dtype=np.float64)[None]


def test_tracking_2d_by_hand():
    gt_xy = track([[10, 10], [10, 10], [10, 10]])
    pred_xy = track([[10, 10], [11.5, 10], [13, 10]])  # errors 0, 1.5, 3 px
    vis = np.ones((1, 3), bool)
    m = tracking_2d.tracking_2d_metrics(pred_xy, vis, gt_xy, vis, [0], 256, 256)
    # frames 1 and 2 are scored (query mode first); 1.5 is within 2,4,8,16; 3 within 4,8,16
    assert m["delta_avg"] == pytest.approx((0 + 0.5 + 1 + 1 + 1) / 5)
    # jaccard: th 1: 0/(2+2); th 2: 1/(2+1); th >= 4: 2/2
    assert m["average_jaccard"] == pytest.approx((0 + 1 / 3 + 1 + 1 + 1) / 5)
    assert m["occlusion_accuracy"] == 1.0
    assert m["epe_px_median"] == pytest.approx(2.25)
    assert m["n_points"] == 2


def test_tracking_2d_occlusion_by_hand():
    gt_xy = track([[5, 5]] * 3)
    gt_vis = np.array([[True, True, False]])
    pred_vis = np.array([[True, False, False]])
    m = tracking_2d.tracking_2d_metrics(gt_xy, pred_vis, gt_xy, gt_vis, [0], 256, 256)
    assert m["occlusion_accuracy"] == pytest.approx(0.5)  # frame 1 wrong, frame 2 right
    assert m["delta_avg"] == 1.0                          # ignores predicted visibility
    assert m["average_jaccard"] == 0.0                    # the visible point was called occluded
    # a point predicted visible where GT is occluded is a false positive
    m = tracking_2d.tracking_2d_metrics(gt_xy, np.ones((1, 3), bool), gt_xy, gt_vis, [0], 256, 256)
    assert m["average_jaccard"] == pytest.approx(0.5)     # 1 TP / (1 GT visible + 1 FP)


def test_tracking_2d_resolution_scaling_and_strict_threshold():
    gt_xy = track([[100, 100], [100, 100]])
    vis = np.ones((1, 2), bool)
    # 2 px in 256-space: thresholds 1 and 2 fail (strict <), 4, 8, 16 pass
    m = tracking_2d.tracking_2d_metrics(gt_xy + [2, 0], vis, gt_xy, vis, [0], 256, 256)
    assert m["delta_avg"] == pytest.approx(0.6)
    # 4 px in x of a 512-wide image is 2 px in 256-space
    m = tracking_2d.tracking_2d_metrics(gt_xy + [4, 0], vis, gt_xy, vis, [0], 512, 256)
    assert m["delta_avg"] == pytest.approx(0.6)
    # 4 px in y of a 256-tall image stays 4 px: thresholds 8 and 16 only
    m = tracking_2d.tracking_2d_metrics(gt_xy + [0, 4], vis, gt_xy, vis, [0], 512, 256)
    assert m["delta_avg"] == pytest.approx(0.4)


def test_tracking_2d_query_frame_and_empty():
    gt_xy = track([[0, 0]] * 3)
    pred = gt_xy.copy()
    pred[0, 0] = [100, 100]  # wrong only at and before the query frame: not scored
    pred[0, 1] = [100, 100]
    vis = np.ones((1, 3), bool)
    m = tracking_2d.tracking_2d_metrics(pred, vis, gt_xy, vis, [1], 256, 256)
    assert m["delta_avg"] == 1.0 and m["n_points"] == 1
    m = tracking_2d.tracking_2d_metrics(pred, vis, gt_xy, vis, [2], 256, 256)
    assert np.isnan(m["delta_avg"]) and m["n_points"] == 0
    assert tracking_2d.evaluation_frames(np.array([0]), 3, "strided").tolist() == [[False, True, True]]


# ---------------------------------------------------------------- tracking 3D
def test_tracking_3d_by_hand():
    K = np.array([[256.0, 0, 127.5], [0, 256.0, 127.5], [0, 0, 1]])
    gt = track([[0, 0, 2.0], [0, 0, 2.0]])
    vis = np.ones((1, 2), bool)
    # 1 cm at 2 m depth with f=256 is 1.28 px: within 2, 4, 8, 16, not 1
    m = tracking_3d.tracking_3d_metrics(gt + [0.01, 0, 0], vis, gt, vis, K, 256, 256, scaling="none")
    assert m["apd3d"] == pytest.approx(0.8)
    assert m["average_jaccard_3d"] == pytest.approx(0.8)
    assert m["epe3d_mm"] == pytest.approx(10.0)
    assert m["occlusion_accuracy"] == 1.0
    # the same camera at 512x1024 with f=512: K is rescaled so the short side is 256
    K2 = K * np.array([[2], [2], [1]])
    m2 = tracking_3d.tracking_3d_metrics(gt + [0.01, 0, 0], vis, gt, vis, K2, 512, 1024, scaling="none")
    assert m2["apd3d"] == pytest.approx(0.8)


def test_tracking_3d_median_scaling_and_occlusion():
    K = np.diag([256.0, 256.0, 1.0])
    gt = np.random.default_rng(2).uniform(-0.2, 0.2, (4, 5, 3)) + [0, 0, 1.0]
    vis = np.ones((4, 5), bool)
    m = tracking_3d.tracking_3d_metrics(3 * gt, vis, gt, vis, K, 256, 256)
    assert m["scale"] == pytest.approx(1 / 3)
    assert m["apd3d"] == pytest.approx(1.0) and m["average_jaccard_3d"] == pytest.approx(1.0)
    assert m["epe3d_mm"] == pytest.approx(0.0, abs=1e-9)
    pred_vis = vis.copy()
    pred_vis[0] = False  # 5 of 20 points called occluded
    m = tracking_3d.tracking_3d_metrics(gt, pred_vis, gt, vis, K, 256, 256)
    assert m["occlusion_accuracy"] == pytest.approx(0.75)
    assert m["apd3d"] == 1.0 and m["average_jaccard_3d"] == pytest.approx(0.75)
    w = tracking_3d.worst_tracking_3d_metrics(gt, vis)
    assert w["apd3d"] == 0 and w["epe3d_mm"] > 900


def test_directions():
    assert higher_is_better("canonical.mean_mm") is False
    assert higher_is_better("tracking_2d.average_jaccard") is True
    with pytest.raises(KeyError):
        higher_is_better("depth.bogus")
