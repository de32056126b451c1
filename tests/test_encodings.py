"""GT schema 2 encodings (SPEC §4): error bounds, NaN kept, exact masks and tracks, bound metadata checked."""

import json

import h5py
import numpy as np
import pytest

from facebench.io import encodings
from facebench.io.shards import GTReader, GTWriter, validate_gt
from tests.gt_factory import TEMPLATE_INFO, make_sequence


def _canonical(rng, lo, hi, shape=(3, 20, 16)):
    c = rng.uniform(lo, hi, shape + (3,)).astype(np.float32)
    c[:, :3] = np.nan  # whole invalid pixels
    c[0, 5, 5, 1] = np.nan  # and a single NaN component
    c[1, 4, 4] = hi  # the range's ends are hit exactly
    c[2, 4, 4] = lo
    return c


@pytest.mark.parametrize("scale", [0.03, 0.0954, 0.2, 1.0])
@pytest.mark.parametrize("span", [(-1.0, 1.0), (-2.5, 1.7), (-6.0, 6.0)])
def test_canonical_within_bound_for_any_scale_and_range(scale, span):
    values = _canonical(np.random.default_rng(0), *span)
    stored, attrs = encodings.encode_fixed(values, "canonical", scale)
    decoded = encodings.read_dataset(_Stored(stored, attrs))
    np.testing.assert_array_equal(np.isnan(decoded), np.isnan(values))  # NaN per component
    err_mm = 1000 * scale * np.linalg.norm(np.nan_to_num(decoded - values), axis=-1)
    assert err_mm.max() <= 0.005 and attrs["max_error"] == pytest.approx(err_mm.max(), rel=1e-6)
    assert encodings.implied_bound(attrs, scale) <= 0.005
    assert decoded.dtype == np.float32 and decoded.shape == values.shape
    assert stored.shape == (3, 3, 20, 16)  # channel-first on disk, and in memory (a view: no copy)
    assert np.moveaxis(decoded, -1, 1).flags.c_contiguous


def test_canonical_uses_16_bits_when_the_ranges_allow():
    # facebench-head's scale and the per-axis ranges of `synth --preset small`: y spans 4.1, x and z less
    rng = np.random.default_rng(1)
    values = np.stack([rng.uniform(-1.1, 1.1, (2, 8, 8)), rng.uniform(-2.47, 1.62, (2, 8, 8)),
                       rng.uniform(-1.9, 0.6, (2, 8, 8))], -1).astype(np.float32)
    stored, attrs = encodings.encode_fixed(values, "canonical", 0.0954)
    assert stored.dtype == np.uint16 and attrs["max_error"] <= 0.005
    stored, _ = encodings.encode_fixed(values * 3, "canonical", 0.0954)  # too wide for 16 bits
    assert stored.dtype == np.uint32


@pytest.mark.parametrize("encoder", ["rounded", "fixed_point"])
@pytest.mark.parametrize("span", [(0.3, 0.35), (0.5, 3.0), (1.0, 31.0)])
def test_depth_within_one_micrometre(span, encoder):
    values = np.random.default_rng(2).uniform(*span, (4, 10, 12)).astype(np.float32)
    values[:, 0] = np.nan
    values[1, 1, 1] = span[1]
    encode = encodings.encode_rounded if encoder == "rounded" else encodings.encode_fixed
    stored, attrs = encode(values, "depth")
    decoded = encodings.read_dataset(_Stored(stored, attrs))
    np.testing.assert_array_equal(np.isnan(decoded), np.isnan(values))
    err = np.nanmax(np.abs(decoded.astype(np.float64) - values))
    assert err <= 1e-6 and attrs["max_error"] == err and encodings.implied_bound(attrs) <= 1e-6
    if encoder == "rounded":  # plain float32 on multiples of 2^-19 m: low mantissa bits are zero
        assert stored.dtype == np.float32 and attrs["step"] == 2.0 ** -19
        np.testing.assert_array_equal(np.nan_to_num(stored / attrs["step"]) % 1, 0)
    else:
        assert stored.dtype == (np.uint16 if span[1] - span[0] < 0.1 else np.uint32)
    window = encodings.read_dataset(_Stored(stored, attrs), slice(1, 3))
    np.testing.assert_array_equal(window, decoded[1:3])


def test_all_nan_and_inf_maps():
    nan = np.full((2, 3, 4), np.nan, np.float32)
    stored, attrs = encodings.encode_fixed(nan, "depth")
    assert np.isnan(encodings.read_dataset(_Stored(stored, attrs))).all()
    inf = np.ones((2, 3, 4), np.float32)
    inf[0, 0, 0] = np.inf
    assert encodings.encode_fixed(inf, "depth") is None  # the writer then stores float32 as it is
    assert encodings.encode_rounded(inf) is None
    far = np.full((1, 2, 2), 40.0, np.float32) + np.float32(3e-6)  # float32 spacing at 40 m is 3.8 um,
    stored, attrs = encodings.encode_rounded(far)  # already a multiple of 2^-19: kept exactly
    assert attrs["max_error"] == 0 and np.array_equal(stored, far)


@pytest.mark.parametrize("codec", ["png", "raw", "jpeg"])
def test_image_codecs(tmp_path, codec):
    seq = make_sequence(H=40, W=32)
    yy, xx = np.mgrid[0:40, 0:32]
    smooth = np.stack([xx * 6, yy * 5, (xx + yy) * 3], -1).astype(np.uint8)
    seq.clips[0].image = np.broadcast_to(smooth, (3, 40, 32, 3)).copy()
    w = GTWriter(tmp_path, template=TEMPLATE_INFO, dataset="unit", config={}, image_codec=codec)
    w.commit(w.write_sequence(seq, 0))
    with GTReader(tmp_path) as r:
        image = r.clip(r.clip_ids[0], fields=("image",)).image
        window = r.read(r.clip_ids[0], "image", slice(1, 3))
    assert image.dtype == np.uint8 and image.shape == (3, 40, 32, 3)
    np.testing.assert_array_equal(window, image[1:3])
    if codec == "jpeg":
        mse = np.mean((image.astype(float) - smooth) ** 2)
        assert 10 * np.log10(255 ** 2 / max(mse, 1e-9)) > 35
    else:
        np.testing.assert_array_equal(image, seq.clips[0].image)
    assert validate_gt(tmp_path) == []


def test_writer_keeps_masks_and_tracks_exact_and_inf_maps_as_float(tmp_path):
    seq = make_sequence()
    seq.clips[0].depth[1, 2, 3] = np.inf
    w = GTWriter(tmp_path, template=TEMPLATE_INFO, dataset="unit", config={})
    w.commit(w.write_sequence(seq, 0))
    with GTReader(tmp_path) as r:
        a, b = (r.clip(cid) for cid in r.clip_ids)
    np.testing.assert_array_equal(a.depth, seq.clips[0].depth)  # inf: stored exactly as float32
    for clip, ref in ((a, seq.clips[0]), (b, seq.clips[1])):
        np.testing.assert_array_equal(clip.mask, ref.mask)
        np.testing.assert_array_equal(clip.tracks.xyz, ref.tracks.xyz)
        np.testing.assert_array_equal(clip.tracks.visible, ref.tracks.visible)
    with h5py.File(tmp_path / "shards/shard-00000.h5") as f:
        cams = f["901/EXP-1-head/cameras"]
        assert "encoding" not in cams["222200037/depth"].attrs
        assert cams["222200038/depth"].attrs["encoding"] == "rounded"
        assert cams["222200038/depth"].dtype == np.float32  # readable without decoding
    assert validate_gt(tmp_path) == []


def _tamper(gt, name, **attrs):
    with h5py.File(gt / "shards/shard-00000.h5", "r+") as f:
        f[f"901/EXP-1-head/cameras/222200037/{name}"].attrs.update(attrs)


@pytest.mark.parametrize("name, attrs, message", [
    ("canonical", {"max_error": 0.02}, "canonical max_error 0.02 mm exceeds its bound 0.005"),
    ("canonical", {"error_bound": 0.05, "max_error": 0.001}, "canonical error bound 0.05 mm exceeds SPEC's"),
    ("canonical", {"step": np.array([1e-3, 1e-3, 1e-3])}, "canonical step allows"),
    ("canonical", {"shape": np.array([3, 12, 8, 4])}, "canonical stores shape"),
    ("depth", {"step": 2.0 ** -18}, "depth step allows 1.91e-06 m, over its bound 1e-06"),
    ("depth", {"error_units": "mm"}, "depth error bound 1e-06 mm exceeds SPEC's 1e-06 m"),
    ("mask", {"encoding": "fixed_point"}, "mask may not be stored as fixed_point"),
])
def test_validator_checks_bound_metadata(tmp_path, name, attrs, message):
    w = GTWriter(tmp_path, template=TEMPLATE_INFO, dataset="unit", config={})
    w.commit(w.write_sequence(make_sequence(), 0))
    _tamper(tmp_path, name, **attrs)
    problems = [p for p in validate_gt(tmp_path) if "size differs from the manifest" not in p]
    assert len(problems) == 1 and message in problems[0], problems


def test_schema_1_folder_still_reads_validates_and_resumes_only_as_schema_1(tmp_path):
    from facebench.errors import FacebenchError
    from facebench.io.gt_verify import verify_gt

    w = GTWriter(tmp_path, template=TEMPLATE_INFO, dataset="unit", config={}, schema_version=1)
    w.commit(w.write_sequence(make_sequence(sequence="A"), 0))
    assert verify_gt(tmp_path).ok and GTReader(tmp_path).schema_version == 1
    with pytest.raises(FacebenchError, match="holds schema_version 1 shards"):
        GTWriter(tmp_path, template=TEMPLATE_INFO, dataset="unit", config={}).is_done("901", "A")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["schema_version"] = 9
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    from facebench.errors import InputError

    with pytest.raises(InputError, match="schema_version 9 is not one this facebench reads"):
        GTReader(tmp_path)


def test_info_shows_encoding_and_bytes_per_pixel_frame(tmp_path):
    from facebench.report import info

    w = GTWriter(tmp_path, template=TEMPLATE_INFO, dataset="unit", config={})
    w.commit(w.write_sequence(make_sequence(), 0))
    text = info(tmp_path)
    size = (tmp_path / "shards/shard-00000.h5").stat().st_size
    assert f"bytes/pixel-frame: {size / (2 * 3 * 12 * 8):.2f}" in text
    assert "canonical  fixed point uint16" in text and "(bound 0.005 mm)" in text
    assert "image      jpeg quality 95" in text and "mask       uint8 shuffle+gzip (exact)" in text


class _Stored:
    """A stand-in for an h5py dataset holding an encoded array."""

    def __init__(self, array, attrs):
        self.array, self.attrs, self.name = array, attrs, "x"

    def __getitem__(self, sel):
        return self.array[sel]
