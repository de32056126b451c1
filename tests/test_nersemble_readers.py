"""NeRSemble readers on tiny hand-built captures in the three layouts (SPEC section 3)."""

import numpy as np
import pytest

from facebench.nersemble import detect_layout, open_capture, parse_frames
from tests.nersemble_builders import (
    FRONT,
    PID,
    SEQ,
    SERIALS,
    build_v1,
    build_v2,
    depth_metres,
    lzf_literals,
    pcd_header,
    rgb_pattern,
)


@pytest.fixture(scope="module")
def v1_root(tmp_path_factory):
    return build_v1(tmp_path_factory.mktemp("v1"))


@pytest.fixture(scope="module")
def v2_root(tmp_path_factory):
    return build_v2(tmp_path_factory.mktemp("v2"))


@pytest.fixture(scope="module")
def bench_root(tmp_path_factory):
    root = build_v2(tmp_path_factory.mktemp("bench"), benchmark=True)
    pcd_dir = root / PID / "sequences" / SEQ / "pointclouds"
    pcd_dir.mkdir(parents=True)
    # frame 0: ASCII, fields in an unusual order, float64 normals
    ascii_body = "0.5 1 0 0 0.1 0.2\n0 0 1 0.25 0.3 0.4\n"
    (pcd_dir / "frame_00000.pcd").write_bytes(
        pcd_header(
            ["normal_x", "normal_y", "normal_z", "x", "y", "z"],
            [8, 8, 8, 4, 4, 4],
            "FFFFFF",
            2,
            "ascii",
        )
        + ascii_body.encode()
    )
    # frame 1: binary float32 x y z plus a uint8 field that must be skipped correctly
    rec = np.zeros(3, dtype=[("x", "<f4"), ("label", "u1"), ("y", "<f4"), ("z", "<f4")])
    rec["x"], rec["y"], rec["z"], rec["label"] = [1, 2, 3], [4, 5, 6], [7, 8, 9], [9, 9, 9]
    (pcd_dir / "frame_00001.pcd").write_bytes(
        pcd_header(["x", "label", "y", "z"], [4, 1, 4, 4], "FUFF", 3, "binary") + rec.tobytes()
    )
    # frame 2: binary_compressed, column-major fields, LZF literal runs
    xyz = np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0], [np.nan, 0, 0]], np.float32)
    normals = np.eye(3, dtype=np.float32)
    columns = b"".join(np.ascontiguousarray(a).tobytes() for a in [*xyz.T, *normals.T])
    packed = lzf_literals(columns)
    names = ["x", "y", "z", "normal_x", "normal_y", "normal_z"]
    (pcd_dir / "frame_00002.pcd").write_bytes(
        pcd_header(names, [4] * 6, "FFFFFF", 3, "binary_compressed")
        + np.array([len(packed), len(columns)], "<u4").tobytes()
        + packed
    )
    return root


# --- discovery ---------------------------------------------------------------------------------


LAYOUT_FIXTURES = [("v1_root", "v1"), ("v2_root", "v2"), ("bench_root", "benchmark")]


@pytest.mark.parametrize(("fixture", "layout"), LAYOUT_FIXTURES)
def test_layout_detected_and_discovery(request, fixture, layout):
    root = request.getfixturevalue(fixture)
    assert detect_layout(root) == layout
    cap = open_capture(root)
    assert cap.layout == layout
    assert cap.participants() == [PID]
    assert cap.sequences(PID) == [SEQ]  # BACKGROUND is not a sequence
    # NeRSemble index order: 220700191 (index 6) before 222200037 (index 8)
    assert cap.cameras(PID, SEQ) == ["220700191", "222200037"]
    expected = [0, 3, 6] if layout == "v1" else [0, 1, 2, 3, 4]
    ids = cap.frame_ids(PID, SEQ)
    assert ids.dtype == np.int32 and ids.tolist() == expected


def test_unknown_serials_sort_after_known(tmp_path):
    from facebench.nersemble.layout import sort_serials

    assert sort_serials(["b", "222200037", "a", "222200042"]) == ["222200042", "222200037", "a", "b"]


# --- v1 ----------------------------------------------------------------------------------------


def test_v1_view_values(v1_root):
    cap = open_capture(v1_root, "v1")
    view = cap.read_view(PID, SEQ, 3, SERIALS[0])  # no colour correction for this camera
    np.testing.assert_array_equal(view.image, rgb_pattern(3, 0, 20, 30))
    assert view.alpha.dtype == np.float32 and view.alpha.shape == (30, 20)
    assert view.alpha[0, 0] == 0.0 and view.alpha[0, 19] == 1.0
    truth = depth_metres(3, 20, 30)
    assert np.isnan(view.depth[0, 0])
    valid = ~np.isnan(view.depth)
    assert valid.sum() == 20 * 30 - 1
    # quantization step is 1/32767 m, so rounding error <= half a step
    assert np.max(np.abs(view.depth[valid] - truth[valid])) <= 0.5 / 32767 + 1e-6


def test_v1_colour_correction_applied(v1_root):
    view = open_capture(v1_root).read_view(PID, SEQ, 0, FRONT)
    raw = rgb_pattern(0, 1, 20, 30).astype(np.float64) / 255
    expected = np.stack([0.5 * raw[..., 0] + 0.1, raw[..., 2], raw[..., 1]], axis=-1)
    expected = np.clip(expected * 255, 0, 255)
    assert np.abs(view.image - expected).max() <= 0.5 + 1e-3  # rounded to the nearest level
    raw_view = open_capture(v1_root, color_correction=False).read_view(PID, SEQ, 0, FRONT)
    np.testing.assert_array_equal(raw_view.image, rgb_pattern(0, 1, 20, 30))


def test_v1_K_scaled_from_sensor(v1_root):
    cam = open_capture(v1_root).read_view(PID, SEQ, 0, FRONT).camera
    assert (cam.width, cam.height) == (20, 30)
    # fx = 4000 * 20/2200; the sensor centre (1099.5, 1603.5) maps to the image centre (9.5, 14.5)
    np.testing.assert_allclose(cam.K[0, 0], 4000 * 20 / 2200)
    np.testing.assert_allclose(cam.K[1, 1], 4000 * 30 / 3208)
    np.testing.assert_allclose(cam.K[:2, 2], [9.5, 14.5])
    np.testing.assert_allclose(cam.T_cam_from_world[:3, 3], [0.01, -0.02, 1.0])
    full = open_capture(v1_root).camera(PID, FRONT)
    assert (full.width, full.height) == (2200, 3208)
    np.testing.assert_allclose(full.K[:2, 2], [1099.5, 1603.5])


def test_v1_iter_views_and_background(v1_root):
    cap = open_capture(v1_root)
    views = list(cap.iter_views(PID, SEQ, SERIALS[0], [6, 0]))
    assert [v.frame_id for v in views] == [6, 0]
    np.testing.assert_array_equal(views[0].image, rgb_pattern(6, 0, 20, 30))
    bg = cap.background(PID, FRONT)
    assert bg.shape == (30, 20, 3) and abs(int(bg[5, 5, 0]) - 77) <= 2
    assert cap.background(PID, SERIALS[0]) is None
    assert cap.tracking(PID, SEQ) is None and cap.read_pointcloud(PID, SEQ, 0) is None


# --- v2 ----------------------------------------------------------------------------------------


def test_v2_frames_colour_and_K(v2_root):
    with open_capture(v2_root) as cap:
        # random access, backwards, then forwards: each frame has its own flat colour
        for t in (3, 1, 4, 0):
            view = cap.read_view(PID, SEQ, t, SERIALS[0])
            assert view.image.shape == (48, 32, 3) and view.alpha is None and view.depth is None
            assert np.abs(view.image[24, 16].astype(int) - [20 + 40 * t, 100, 30]).max() <= 3
        front = cap.read_view(PID, SEQ, 2, FRONT)
        # colour calibration G' = G - 0.2: 100 -> 49
        assert np.abs(front.image[24, 16].astype(int) - [100, 49, 90]).max() <= 3
        # per-serial intrinsics given for 1100 x 1604, scaled to 32 x 48
        K = front.camera.K
        np.testing.assert_allclose([K[0, 0], K[1, 1]], [2000 * 32 / 1100, 2000 * 48 / 1604])
        np.testing.assert_allclose(K[:2, 2], [15.5, 23.5])
        assert cap.camera(PID, SERIALS[0]).K[0, 0] == 2200.0


def test_v2_iter_views_sequential(v2_root):
    with open_capture(v2_root, "v2") as cap:
        views = list(cap.iter_views(PID, SEQ, SERIALS[1]))
        assert [v.frame_id for v in views] == [0, 1, 2, 3, 4]
        reds = [int(v.image[10, 10, 0]) for v in views]
        assert all(abs(r - (20 + 40 * t)) <= 3 for t, r in enumerate(reds))


def test_capture_pickles_without_open_decoders(v2_root):
    import pickle

    with open_capture(v2_root) as cap:
        cap.read_view(PID, SEQ, 1, FRONT)
        clone = pickle.loads(pickle.dumps(cap))
        assert clone.read_view(PID, SEQ, 1, FRONT).image.shape == (48, 32, 3)
        clone.close()


# --- benchmark ---------------------------------------------------------------------------------


def test_benchmark_alpha_from_video(bench_root):
    with open_capture(bench_root) as cap:
        for t in (0, 1):
            alpha = cap.read_view(PID, SEQ, t, FRONT).alpha
            assert alpha.dtype == np.float32 and alpha.shape == (48, 32)
            assert abs(float(alpha.mean()) - (1.0 if t % 2 else 0.0)) < 0.02


def test_benchmark_pointclouds(bench_root):
    cap = open_capture(bench_root)
    xyz, normals = cap.read_pointcloud(PID, SEQ, 0)
    np.testing.assert_allclose(xyz, [[0, 0.1, 0.2], [0.25, 0.3, 0.4]], atol=1e-7)
    np.testing.assert_allclose(normals, [[0.5, 1, 0], [0, 0, 1]])
    xyz, normals = cap.read_pointcloud(PID, SEQ, 1)
    np.testing.assert_array_equal(xyz, [[1, 4, 7], [2, 5, 8], [3, 6, 9]])
    assert normals is None
    xyz, normals = cap.read_pointcloud(PID, SEQ, 2)  # the NaN point is dropped
    np.testing.assert_allclose(xyz, [[0.1, 0.2, 0.3], [1, 2, 3]], rtol=1e-6)
    np.testing.assert_array_equal(normals, [[1, 0, 0], [0, 1, 0]])
    assert cap.read_pointcloud(PID, SEQ, 3) is None


def test_benchmark_tracking(bench_root):
    tracking = open_capture(bench_root).tracking(PID, SEQ)
    assert tracking["frames"].dtype == np.int32 and tracking["frames"].tolist() == [0, 3, 6, 9, 12]
    assert tracking["expression"].shape == (5, 100) and tracking["shape"].shape == (1, 300)
    assert tracking["rotation_matrices"].shape == (5, 3, 3)


def test_lzf_back_reference():
    from facebench.nersemble.pcd import lzf_decompress

    # literal "abc", then copy 5 bytes from 3 back (overlapping): "abcabcab"
    assert lzf_decompress(b"\x02abc" + bytes([3 << 5, 2]), 8) == b"abcabcab"
    # long match: length field 7 + extra byte 1 -> 7 + 1 + 2 = 10 bytes of "a"
    assert lzf_decompress(b"\x00a" + bytes([7 << 5, 1, 0]), 11) == b"a" * 11


# --- filtering ---------------------------------------------------------------------------------


def test_parse_frames():
    ids = np.arange(0, 20, dtype=np.int32)
    assert parse_frames("2:10:3").select(ids).tolist() == [2, 5, 8]
    assert parse_frames("15:").select(ids).tolist() == [15, 16, 17, 18, 19]
    assert parse_frames("::5").select(ids).tolist() == [0, 5, 10, 15]
    assert parse_frames("7").select(ids).tolist() == [7]
    assert parse_frames(None).select(ids).tolist() == ids.tolist()
    assert parse_frames("3:9:3").select([0, 3, 6, 9]).tolist() == [3, 6]  # ids, not positions


def test_select(v1_root):
    cap = open_capture(v1_root)
    (sel,) = cap.select(participants=[17], cameras=FRONT, frames="1:")
    assert (sel.participant, sel.sequence, sel.serials) == (PID, SEQ, [FRONT])
    assert sel.frame_ids.tolist() == [3, 6]
    assert cap.select(frames="100:") == []
    assert [s.frame_ids.tolist() for s in cap.select(frames=6)] == [[6]]


def test_v2_frame_major_loop(v2_root):
    """For each frame, every camera: one decoder per video stays open and in step."""
    with open_capture(v2_root) as cap:
        for t in cap.frame_ids(PID, SEQ):
            for i, serial in enumerate(cap.cameras(PID, SEQ)):
                pixel = cap.read_view(PID, SEQ, t, serial).image[20, 12].astype(int)
                expected_blue = 30 + 60 * SERIALS.index(serial)
                assert abs(pixel[0] - (20 + 40 * t)) <= 3 and abs(pixel[2] - expected_blue) <= 3, (t, i)
        assert len(cap._videos) == 2
