"""Fast shard reading (facebench.io.fastread): the same bytes as HDF5 and Pillow, whatever the path."""

import importlib.util

import h5py
import numpy as np
import pytest

from facebench.io import fastread
from facebench.io.encodings import encode_images
from facebench.io.shards import GTReader
from tests.gt_fixtures import make_gt


def natural_frames(T=3, H=37, W=29, seed=0):
    """Smooth gradients plus noise and an edge: what a face crop looks like to a JPEG coder."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    base = np.stack([xx * 7, yy * 5, (xx + yy) * 3], -1)[None] + rng.normal(0, 12, (T, H, W, 3))
    base[:, H // 2:, W // 3] += 90
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.fixture
def h5(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "x.h5"
    depth = rng.uniform(0.5, 1.5, (5, 7, 6)).astype(np.float32)
    depth[:, :2] = np.nan
    with h5py.File(path, "w") as f:
        f.create_dataset("depth", data=depth, chunks=(1, 7, 6), compression="gzip", shuffle=True)
        f.create_dataset("canonical", data=rng.integers(0, 65535, (5, 3, 7, 6), dtype=np.uint16),
                         chunks=(1, 3, 7, 6), compression="gzip", shuffle=True)
        f.create_dataset("legacy", data=rng.normal(size=(5, 7, 6, 3)).astype(np.float32),
                         chunks=(1, 7, 6, 3), compression="gzip", shuffle=True)
        f.create_dataset("mask", data=rng.integers(0, 4, (5, 7, 6), dtype=np.uint8), chunks=(1, 7, 6),
                         compression="gzip", shuffle=True)
        f.create_dataset("plain_gzip", data=rng.normal(size=(5, 7, 6)), chunks=(1, 7, 6), compression="gzip")
        f.create_dataset("two_frames", data=depth, chunks=(2, 7, 6), compression="gzip", shuffle=True)
        f.create_dataset("lzf", data=depth, chunks=(1, 7, 6), compression="lzf")
        f.create_dataset("contiguous", data=depth)
    with h5py.File(path, "r") as f:
        yield f


@pytest.mark.parametrize("name", ["depth", "canonical", "legacy", "mask", "plain_gzip"])
@pytest.mark.parametrize("frames", [slice(None), slice(1, 4), slice(None, None, 2), slice(4, 9)])
@pytest.mark.parametrize("threads", ["1", "3"])
def test_frame_chunks_read_exactly_as_hdf5(h5, name, frames, threads, monkeypatch):
    monkeypatch.setenv("FACEBENCH_DECODE_THREADS", threads)
    got = fastread.read_frames(h5[name], frames)
    want = h5[name][frames]
    assert got is not None and got.dtype == want.dtype
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))  # bit for bit, NaNs too


@pytest.mark.parametrize("name", ["two_frames", "lzf", "contiguous"])
def test_other_layouts_are_left_to_hdf5(h5, name):
    assert fastread.read_frames(h5[name]) is None


def test_switched_off_reads_through_hdf5(h5, monkeypatch):
    monkeypatch.setenv("FACEBENCH_FAST_READ", "0")
    assert fastread.read_frames(h5["depth"]) is None


def test_unshuffle_by_hand():
    values = np.array([0x0102, 0xA0B0, 0xFFFF], np.uint16)
    shuffled = np.array([0x02, 0xB0, 0xFF, 0x01, 0xA0, 0xFF], np.uint8)   # low bytes, then high bytes
    assert fastread.unshuffle(shuffled, 2, np.empty(3, "<u2")).tolist() == values.tolist()


DECODERS = {
    "simplejpeg": lambda b: __import__("simplejpeg").decode_jpeg(b, colorspace="RGB"),
    "cv2": lambda b: __import__("cv2").imdecode(b, __import__("cv2").IMREAD_COLOR_RGB),
}


@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_jpeg_decoders_give_pillows_pixels(decoder):
    if importlib.util.find_spec(decoder) is None:
        pytest.skip(f"{decoder} is not installed")
    blobs, _ = encode_images(natural_frames(), "jpeg")
    for blob in blobs:
        np.testing.assert_array_equal(DECODERS[decoder](blob), fastread._pillow_decode(blob))


def test_noise_frames_encode(tmp_path):
    """Pillow's optimized JPEG overflows its buffer on noise-like frames; the writer copes."""
    noise = np.random.default_rng(0).integers(0, 256, (2, 96, 80, 3), dtype=np.uint8)
    blobs, attrs = encode_images(noise, "jpeg")
    assert len(blobs) == 2 and fastread.decode_images(blobs, attrs["shape"], "jpeg").shape == noise.shape


def test_whole_gt_folder_reads_the_same_either_way(tmp_path, monkeypatch):
    gt = make_gt(tmp_path / "gt", T=4, H=23, W=17, N=5)
    with h5py.File(next((gt / "shards").glob("*.h5")), "a") as f:  # natural frames: JPEG at q95
        for cam in f["901/EXP-1-head/cameras"].values():
            blobs, _ = encode_images(natural_frames(4, 23, 17), "jpeg")
            for t, blob in enumerate(blobs):
                cam["image"][t] = blob
    clips = {}
    for fast in ("1", "0"):
        monkeypatch.setenv("FACEBENCH_FAST_READ", fast)
        with GTReader(gt) as reader:
            clips[fast] = [reader.clip(c) for c in reader.clip_ids]
    for a, b in zip(clips["1"], clips["0"]):
        for name in ("image", "mask", "depth", "canonical"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.shape == y.shape and x.dtype == y.dtype
            np.testing.assert_array_equal(np.ascontiguousarray(x).view(np.uint8),
                                          np.ascontiguousarray(y).view(np.uint8))
