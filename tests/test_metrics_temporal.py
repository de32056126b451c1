"""Temporal metrics (SPEC §6): hand-checkable values, and an independent implementation.

The reference functions below follow SPEC's words with plain Python loops over tracks,
frames and the four neighbouring pixel centres; they share no code with
facebench.metrics.temporal, which is vectorised.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facebench.metrics import HIGHER_IS_BETTER, SECONDARY, temporal


# ------------------------------------------------------------------ reference (loops)
def ref_sample(values, valid, x, y, t):
    """SPEC: nearest pixel (ties up) must be scored; bilinear over scored neighbours, renormalised."""
    T, H, W = valid.shape
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    xn, yn = math.floor(x + 0.5), math.floor(y + 0.5)
    if not (0 <= xn < W and 0 <= yn < H) or not valid[t, yn, xn]:
        return None
    x0, y0 = math.floor(x), math.floor(y)
    total, acc = 0.0, 0.0
    for xi in (x0, x0 + 1):
        for yi in (y0, y0 + 1):
            w = (1 - abs(x - xi)) * (1 - abs(y - yi))
            if 0 <= xi < W and 0 <= yi < H and valid[t, yi, xi] and w > 0:
                total += w
                acc = acc + w * np.asarray(values[t, yi, xi], np.float64)
    return acc / total


def ref_samples(values, valid, xy, visible):
    N, T = visible.shape
    out = {}
    for i in range(N):
        for t in range(T):
            if visible[i, t]:
                s = ref_sample(values, valid, float(xy[i, t, 0]), float(xy[i, t, 1]), t)
                if s is not None and np.all(np.isfinite(s)):
                    out[i, t] = s
    return out


def ref_canonical_jitter(pred, valid, xy, visible, scale):
    samples = ref_samples(pred, valid, xy, visible)
    per_track = []
    for i in range(visible.shape[0]):
        vals = [samples[i, t] for t in range(visible.shape[1]) if (i, t) in samples]
        if len(vals) < 3:
            continue
        mean = sum(vals) / len(vals)
        per_track.append(1000 * scale * sum(float(np.linalg.norm(v - mean)) for v in vals) / len(vals))
    if not per_track:
        return math.nan, math.nan
    return float(np.median(per_track)), float(np.percentile(per_track, 90))


def ref_depth_flicker(error, valid, xy, visible):
    samples = ref_samples(error, valid, xy, visible)
    changes = []
    for i in range(visible.shape[0]):
        frames = [t for t in range(visible.shape[1]) if (i, t) in samples]
        if len(frames) < 3:
            continue
        changes += [1000 * abs(float(samples[i, t + 1] - samples[i, t]))
                    for t in frames if (i, t + 1) in samples]
    return float(np.mean(changes)) if changes else math.nan


def ref_track_jitter(pred, gt, use):
    errors = []
    N, T = use.shape
    for i in range(N):
        for t in range(1, T - 1):
            if use[i, t - 1] and use[i, t] and use[i, t + 1]:
                a_p = pred[i, t + 1] - 2 * pred[i, t] + pred[i, t - 1]
                a_g = gt[i, t + 1] - 2 * gt[i, t] + gt[i, t - 1]
                errors.append(float(np.linalg.norm(a_p - a_g)))
    return float(np.median(errors)) if errors else math.nan


# ------------------------------------------------------------------ by hand
def test_bilinear_sampling_by_hand():
    values = np.array([[[0.0, 1.0], [2.0, 3.0]]])  # (1,2,2)
    valid = np.ones((1, 2, 2), bool)
    xy = np.array([[[0.5, 0.5]], [[0.25, 0.0]], [[0.75, 0.0]], [[-0.6, 0.0]], [[np.nan, 0.0]]])
    where = np.ones((5, 1), bool)
    got = temporal.sample_at(values, valid, xy, where)[:, 0]
    assert got[:3] == pytest.approx([1.5, 0.25, 0.75])
    assert np.isnan(got[3]) and np.isnan(got[4])  # outside the image; not finite
    valid[0, 0, 1] = False                         # the pixel (x=1, y=0) is not scored
    got = temporal.sample_at(values, valid, xy, where)[:, 0]
    assert got[1] == pytest.approx(0.0)           # only (0,0) left: renormalised to its value
    assert np.isnan(got[2])                       # its nearest pixel is the unscored one
    assert got[0] == pytest.approx((0.25 * 0 + 0.25 * 2 + 0.25 * 3) / 0.75)
    assert np.isnan(temporal.sample_at(values, valid, xy, np.zeros((5, 1), bool))).all()


def test_canonical_jitter_by_hand():
    # one track at a fixed pixel; the map there reads 0, 1, 2 mm along x (scale 0.1 m: 0.01 = 1 mm)
    pred = np.zeros((3, 2, 2, 3))
    pred[:, :, :, 0] = np.array([0.0, 0.01, 0.02])[:, None, None]
    valid = np.ones((3, 2, 2), bool)
    xy = np.full((1, 3, 2), 0.5)
    vis = np.ones((1, 3), bool)
    out = temporal.canonical_jitter(pred, valid, xy, vis, scale=0.1)
    # mean 1 mm; distances 1, 0, 1 -> 2/3 mm
    assert out["jitter_median_mm"] == pytest.approx(2 / 3)
    assert out["jitter_p90_mm"] == pytest.approx(2 / 3)
    assert out["per_frame"] == pytest.approx([1, 0, 1])
    # a constant bias is not jitter
    assert temporal.canonical_jitter(pred * 0 + 0.3, valid, xy, vis, 0.1)["jitter_median_mm"] == 0
    # the clip's alignment is applied to the samples: doubling doubles the jitter
    out2 = temporal.canonical_jitter(pred, valid, xy, vis, 0.1, transform=lambda c: 2 * c)
    assert out2["jitter_median_mm"] == pytest.approx(4 / 3)
    # visible in 2 frames only: the track is left out and the clip has no value
    vis2 = np.array([[True, False, True]])
    out = temporal.canonical_jitter(pred, valid, xy, vis2, scale=0.1)
    assert np.isnan(out["jitter_median_mm"]) and out["tracks"] == 0 and out["tracks_dropped"] == 1


def test_canonical_jitter_median_and_p90_over_tracks():
    # ten tracks, each at its own pixel column; track k alternates 0 / 2k mm -> spread k mm
    T, W = 4, 10
    pred = np.zeros((T, 1, W, 3))
    for k in range(W):
        pred[1::2, 0, k, 1] = 0.02 * k
    xy = np.stack(np.broadcast_arrays(np.arange(W)[:, None] * 1.0, np.zeros((W, T))), -1)
    out = temporal.canonical_jitter(pred, np.ones((T, 1, W), bool), xy, np.ones((W, T), bool), 0.1)
    assert out["per_track_mm"] == pytest.approx(np.arange(W, dtype=float))
    assert out["jitter_median_mm"] == pytest.approx(4.5)
    assert out["jitter_p90_mm"] == pytest.approx(np.percentile(np.arange(10), 90))  # 8.1, linear


def test_depth_flicker_by_hand_and_gaps():
    # error 0, 1, 1, 3 mm over four frames at the track: changes 1, 0, 2 -> mean 1 mm
    error = np.zeros((4, 3, 3))
    error[:, 1, 1] = [0.0, 0.001, 0.001, 0.003]
    valid = np.ones((4, 3, 3), bool)
    xy = np.full((1, 4, 2), 1.0)
    vis = np.ones((1, 4), bool)
    out = temporal.depth_flicker(error, valid, xy, vis)
    assert out["flicker_mm"] == pytest.approx(1.0) and out["pairs"] == 3
    assert np.isnan(out["per_frame"][0]) and out["per_frame"][1:] == pytest.approx([1, 0, 2])
    # occluded in frame 2: only the pair (0, 1) remains
    vis[0, 2] = False
    assert temporal.depth_flicker(error, valid, xy, vis)["flicker_mm"] == pytest.approx(1.0)
    # frames 0 and 1 were not neighbours in time (a cut): no pair at all
    out = temporal.depth_flicker(error, valid, xy, vis, adjacent=np.array([False, True, True]))
    assert np.isnan(out["flicker_mm"]) and out["pairs"] == 0
    # an exact prediction has no flicker
    assert temporal.depth_flicker(np.zeros((4, 3, 3)), valid, xy, np.ones((1, 4), bool))["flicker_mm"] == 0


def test_track_jitter_by_hand():
    gt = np.zeros((1, 4, 2))
    zigzag = np.array([[[0, 0], [1, 0], [0, 0], [1, 0]]], float)   # accelerations -2, +2 px in x
    vis = np.ones((1, 4), bool)
    out = temporal.track_jitter_2d(zigzag, gt, vis, [0], 256, 256)
    assert out["jitter_px"] == pytest.approx(2.0) and out["triplets"] == 2
    # x is measured after scaling to 256: a 512-wide image halves it
    assert temporal.track_jitter_2d(zigzag, gt, vis, [0], 512, 256)["jitter_px"] == pytest.approx(1.0)
    # a steady drift is an error, not jitter
    drift = np.array([[[0, 0], [1, 0], [2, 0], [3, 0]]], float)
    assert temporal.track_jitter_2d(drift, gt, vis, [0], 256, 256)["jitter_px"] == 0
    # query mode first: frames before the query frame are not used
    out = temporal.track_jitter_2d(zigzag, gt, vis, [1], 256, 256)
    assert out["triplets"] == 1
    assert temporal.track_jitter_2d(zigzag, gt, vis, [1], 256, 256, query_mode="strided")["triplets"] == 2
    # 3D: 1 mm zigzag, median scaling applied first
    gt3 = np.zeros((1, 4, 3)) + [0, 0, 1.0]
    pred3 = gt3 + zigzag[..., [0, 1, 1]] * [0.001, 0, 0]
    assert temporal.track_jitter_3d(pred3, gt3, vis)["jitter_mm"] == pytest.approx(2.0)
    assert temporal.track_jitter_3d(pred3 / 2, gt3, vis, scale=2.0)["jitter_mm"] == pytest.approx(2.0)
    # an occluded middle frame leaves no triplet
    vis[0, 1] = vis[0, 2] = False
    out = temporal.track_jitter_3d(pred3, gt3, vis)
    assert np.isnan(out["jitter_mm"]) and out["triplets"] == 0


def test_temporal_metrics_are_secondary_and_lower_is_better():
    assert "canonical.jitter_median_mm" in SECONDARY and "tracking_2d.jitter_px" in SECONDARY
    for task, names in temporal.METRICS.items():
        assert all(HIGHER_IS_BETTER[task][m] is False for m in names)


def test_a_temporal_metric_cannot_be_a_main_metric(tmp_path):
    import yaml

    from facebench.benchmarks import get_benchmark, load_benchmark
    from facebench.errors import InputError

    data = yaml.safe_load(get_benchmark("synth-v2").path.read_text())
    data["tasks"]["canonical"]["main_metric"] = "jitter_median_mm"
    data["main_metric"] = "canonical.jitter_median_mm"
    path = tmp_path / "benchmark.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match="secondary"):
        load_benchmark(path)


# ------------------------------------------------------------------ against the reference
@st.composite
def clips(draw):
    T = draw(st.integers(1, 6))
    H, W, N = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(0, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    valid = rng.random((T, H, W)) < draw(st.floats(0.3, 1.0))
    xy = np.stack([rng.uniform(-1, W, (N, T)), rng.uniform(-1, H, (N, T))], -1)
    if N and draw(st.booleans()):
        xy[0] = np.round(xy[0] * 2) / 2   # exact pixel centres and half-way points
    visible = rng.random((N, T)) < draw(st.floats(0.3, 1.0))
    return rng, valid, xy, visible


@settings(max_examples=120, deadline=None)
@given(clips())
def test_canonical_jitter_matches_reference(clip):
    rng, valid, xy, visible = clip
    pred = rng.uniform(-1, 1, valid.shape + (3,))
    out = temporal.canonical_jitter(pred, valid, xy, visible, scale=0.1)
    median, p90 = ref_canonical_jitter(pred, valid, xy, visible, 0.1)
    np.testing.assert_allclose([out["jitter_median_mm"], out["jitter_p90_mm"]], [median, p90], rtol=1e-9)


@settings(max_examples=120, deadline=None)
@given(clips())
def test_depth_flicker_matches_reference(clip):
    rng, valid, xy, visible = clip
    error = rng.normal(0, 0.01, valid.shape)
    out = temporal.depth_flicker(error, valid, xy, visible)
    np.testing.assert_allclose(out["flicker_mm"], ref_depth_flicker(error, valid, xy, visible), rtol=1e-9)


@settings(max_examples=120, deadline=None)
@given(clips(), st.integers(0, 5))
def test_track_jitter_matches_reference(clip, q):
    rng, valid, xy, visible = clip
    N, T = visible.shape
    pred = xy + rng.normal(0, 2, xy.shape)
    query = np.minimum(np.full(N, q), max(T - 1, 0))
    out = temporal.track_jitter_2d(pred, xy, visible, query, 256, 256)
    use = visible & (np.arange(T)[None] >= query[:, None])
    np.testing.assert_allclose(out["jitter_px"], ref_track_jitter(pred, xy, use), rtol=1e-9)
    gt3 = np.concatenate([xy, np.ones((N, T, 1))], -1) * 0.01
    pred3 = gt3 + rng.normal(0, 0.001, gt3.shape)
    out = temporal.track_jitter_3d(pred3, gt3, visible)
    np.testing.assert_allclose(out["jitter_mm"], 1000 * ref_track_jitter(pred3, gt3, visible), rtol=1e-9)


def test_gather_reads_channel_first_views_like_plain_arrays():
    from facebench.metrics._frames import gather

    rng = np.random.default_rng(3)
    cf = rng.normal(size=(3, 3, 5, 4)).astype(np.float32)      # (T,C,H,W) memory
    view = np.moveaxis(cf, 1, -1)                               # (T,H,W,C), as the reader returns it
    valid = rng.random((3, 5, 4)) < 0.5
    frame, counts, a = gather(valid, view)
    _, _, b = gather(valid, np.ascontiguousarray(view))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, view[valid])
