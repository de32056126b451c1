"""The readers on ``facebench synth`` output (tiny preset) in all three layouts."""

import json

import numpy as np
import pytest

from facebench.nersemble import open_capture


def _synth_ready() -> bool:
    try:
        from facebench.synth import synthesize  # noqa: F401
        from facebench.templates.template import Template  # noqa: F401
    except ImportError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _synth_ready(), reason="facebench.synth / facebench.templates not available"
)


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    from facebench.synth import synthesize
    from tests.synth_standin import load_template

    template = load_template()  # the real facebench-head once it lands
    base = tmp_path_factory.mktemp("synth")
    out = {}
    for layout in ("v1", "v2", "benchmark"):
        result = synthesize(
            base / layout, preset="tiny", layout=layout, seed=3, progress=False, template=template
        )
        out[layout] = result
    return out


@pytest.mark.parametrize("layout", ["v1", "v2", "benchmark"])
def test_discovery_matches_generator(captures, layout):
    result = captures[layout]
    with open_capture(result.out) as cap:
        assert cap.layout == layout
        assert cap.participants() == result.participants
        pid = result.participants[0]
        assert cap.sequences(pid) == sorted(result.sequences)
        seq = result.sequences[0]
        assert sorted(cap.cameras(pid, seq)) == sorted(result.serials)
        assert cap.frame_ids(pid, seq).tolist() == list(range(len(result.frame_ids)))
        view = cap.read_view(pid, seq, 0, result.serials[0])
        assert view.image.shape == (result.height, result.width, 3)


def test_K_matches_rig_truth(captures):
    from facebench.geometry import Camera

    result = captures["v1"]
    pid = result.participants[0]
    rig = json.loads((result.truth_dir / pid / "rig.json").read_text())
    serial = result.serials[0]
    full = Camera(rig["intrinsics"], rig["world_2_cam"][serial], *rig["sensor"])
    expected = full.rescaled(result.width, result.height)
    view = open_capture(result.out).read_view(pid, result.sequences[0], 0, serial)
    np.testing.assert_allclose(view.camera.K, expected.K, rtol=1e-12)
    np.testing.assert_allclose(view.camera.T_cam_from_world, expected.T_cam_from_world)


def _blocks(image: np.ndarray) -> np.ndarray:
    h, w = (image.shape[0] // 8) * 8, (image.shape[1] // 8) * 8
    return image[:h, :w].reshape(h // 8, 8, w // 8, 8, 3).mean(axis=(1, 3))


def test_layouts_agree(captures):
    """The same seed renders the same scene: v1 PNGs and benchmark mp4 frames agree closely; v2 adds
    what a video camera does (noise, a cast shadow on the wall, CRF 20), so it agrees on the subject."""
    v1, v2, bench = (open_capture(captures[k].out) for k in ("v1", "v2", "benchmark"))
    result = captures["v1"]
    pid, seq = result.participants[0], result.sequences[0]
    for serial in result.serials:
        a = v1.read_view(pid, seq, 1, serial)
        b = v2.read_view(pid, seq, 1, serial)
        c = bench.read_view(pid, seq, 1, serial)
        # H.264 smooths the rendered grain: compare 8x8 block means
        assert np.abs(_blocks(a.image) - _blocks(c.image)).mean() < 2.0
        subject = a.alpha > 0.5
        assert np.abs(a.image.astype(float) - b.image)[subject].mean() < 8.0  # 64x96: CRF 20 blurs much
        assert np.abs(a.alpha - c.alpha).mean() < 0.02
        valid = np.isfinite(a.depth)
        assert valid.any() and np.all((a.depth[valid] > 0.2) & (a.depth[valid] < 2.0))
    for cap in (v2, bench):
        cap.close()


def test_colour_correction_changes_images(captures):
    result = captures["v2"]
    pid, seq, serial = result.participants[0], result.sequences[0], result.serials[0]
    with open_capture(result.out) as on, open_capture(result.out, color_correction=False) as off:
        assert not np.array_equal(
            on.read_view(pid, seq, 0, serial).image, off.read_view(pid, seq, 0, serial).image
        )


def test_benchmark_extras(captures):
    result = captures["benchmark"]
    pid, seq = result.participants[0], result.sequences[0]
    cap = open_capture(result.out)
    xyz, normals = cap.read_pointcloud(pid, seq, 0)
    assert xyz.shape[1] == 3 and len(xyz) > 100 and normals.shape == xyz.shape
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-3)
    tracking = cap.tracking(pid, seq)
    assert tracking["frames"].tolist() == result.frame_ids
    assert cap.background(pid, result.serials[0]).shape == (result.height, result.width, 3)
