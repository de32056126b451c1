"""The prediction loader against hostile and malformed submissions (issue 10)."""

import io
import json
import os
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from facebench.errors import FacebenchError, InputError, ValidationError
from facebench.io.predictions import ClipShape, load_prediction, open_predictions, schema_markdown

SHAPE = ClipShape(T=2, H=3, W=4, N=2)
CLIP = "901/EXP-1-head/222200037"
META = {"method": "m", "benchmark": "synth-v1"}


def good_arrays():
    return {"depth": np.ones((2, 3, 4), np.float32), "tracks_xy": np.zeros((2, 2, 2), np.float32),
            "tracks_visible": np.ones((2, 2), bool)}


def submission(root, arrays=None, meta=META, raw=None):
    root.mkdir(parents=True, exist_ok=True)
    if meta is not None:
        (root / "meta.json").write_text(json.dumps(meta) if not isinstance(meta, str) else meta)
    path = root / f"{CLIP}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        path.write_bytes(raw)
    else:
        np.savez(path, **(good_arrays() if arrays is None else arrays))
    return root


def load(root):
    with open_predictions(root) as src:
        src.meta()
        return load_prediction(src, CLIP, SHAPE)


def test_good_and_fortran_order(tmp_path):
    arrays = good_arrays()
    arrays["depth"] = np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4))
    out = load(submission(tmp_path, arrays))
    assert out["depth"].tolist() == np.arange(24).reshape(2, 3, 4).tolist()
    # a path and a manifest clip entry work too
    again = load_prediction(tmp_path, CLIP, {"T": 2, "H": 3, "W": 4, "N": 2})
    assert again["depth"].tolist() == out["depth"].tolist() and again["tracks_visible"].dtype == bool


@pytest.mark.parametrize("arrays, message", [
    ({"depth": np.array([{"x": 1}] * 24, dtype=object).reshape(2, 3, 4)}, "object arrays are refused"),
    ({"depth": np.ones((2, 3, 5), np.float32)}, "depth has shape (2, 3, 5), expected (2, 3, 4) (T,H,W)"),
    ({"depth": np.ones((2, 3, 4), np.int32)}, "depth has dtype int32, expected float32"),
    ({"tracks_visible": np.ones((2, 2), np.uint8), "tracks_xy": np.zeros((2, 2, 2))},
     "tracks_visible has dtype uint8, expected bool"),
    ({"depht": np.ones((2, 3, 4))}, "unexpected key 'depht' (did you mean 'depth'?)"),
    ({"tracks_xy": np.zeros((2, 2, 2))}, "tracks_xy needs tracks_visible"),
    ({}, "holds no arrays"),
])
def test_bad_arrays_are_one_line(tmp_path, arrays, message):
    with pytest.raises(ValidationError) as err:
        load(submission(tmp_path, arrays))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("meta, message", [
    (None, "meta.json is missing"),
    ("{not json", "meta.json is not valid JSON"),
    ({"benchmark": "synth-v1"}, "missing required field 'method'"),
    ({"method": "m", "benchmark": "synth-v1", "runtime_s_per_fame": 1}, "did you mean 'runtime_s_per_frame'"),
    ({"method": 3, "benchmark": "synth-v1"}, "'method' must be str"),
    ([1, 2], "must hold a JSON object"),
    ("[" * 100000, "nested too deeply"),
    ('{"method": "m", "benchmark": "synth-v1", "params": {"lr": NaN}}', "holds NaN or Infinity"),
])
def test_bad_meta_is_one_line(tmp_path, meta, message):
    with pytest.raises(ValidationError, match=None) as err:
        load(submission(tmp_path, meta=meta))
    assert message in str(err.value)


def test_zip_bomb_refused_without_inflating(tmp_path):
    path = tmp_path / "bomb.npz"
    header = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("depth.npy", "w", force_zip64=True) as fh:
            fh.write(header.ljust(128, b" "))
            chunk = bytes(1 << 20)
            for _ in range(20):  # 20 MB of zeros, ~20 kB compressed
                fh.write(chunk)
    assert path.stat().st_size < 25_000
    submission(tmp_path / "s", raw=path.read_bytes())
    with bounded_memory(5 << 20):
        with pytest.raises(ValidationError, match="declares 20971648 bytes, more than the 4288 its"):
            load(tmp_path / "s")
    # a bigger bomb is already refused by its compressed size
    big = good_arrays()
    big["depth"] = np.zeros((100, 300, 400), np.float32)
    root = submission(tmp_path / "t", raw=_compressed(big))
    del big
    with bounded_memory(5 << 20):
        with pytest.raises(ValidationError, match="more than the 29824 it may hold"):
            load(root)


def _compressed(arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


class bounded_memory:
    """Asserts that the block allocates less than ``limit`` bytes at its peak."""

    def __init__(self, limit):
        self.limit = limit

    def __enter__(self):
        tracemalloc.start()

    def __exit__(self, *exc):
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < self.limit, f"peak allocation {peak} bytes"


def test_lying_size_header_is_bounded(tmp_path):
    data = bytearray(_compressed({"depth": np.zeros((50, 100, 1000), np.float32)}))  # 20 MB inflated
    assert len(data) < 25_000
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local + central size fields
        at = data.find(sig)
        data[at + offset:at + offset + 4] = struct.pack("<I", 100)
    submission(tmp_path, raw=bytes(data))
    with bounded_memory(5 << 20):
        with pytest.raises(ValidationError, match="depth"):
            load(tmp_path)


def test_symlinks_refused(tmp_path):
    outside = tmp_path / "outside.npz"
    np.savez(outside, **good_arrays())
    root = submission(tmp_path / "a")
    (root / f"{CLIP}.npz").unlink()
    os.symlink(outside, root / f"{CLIP}.npz")
    with pytest.raises(ValidationError, match="symbolic link"):
        load(root)
    root = submission(tmp_path / "b")
    os.symlink(tmp_path / "a" / "901", root / "902")  # a linked folder
    with pytest.raises(ValidationError, match="symbolic link"):
        open_predictions(root).clip_ids()


def make_zip(path, names):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.json", json.dumps(META))
        for name in names:
            zf.writestr(name, b"x")
    return path


@pytest.mark.parametrize("name, message", [
    ("../evil.npz", "leaves the archive folder"),
    ("/etc/evil.npz", "absolute path"),
    ("a/../../evil.npz", "leaves the archive folder"),
    ("C:/evil.npz", "absolute path"),
    ("a\\evil.npz", "unsafe name"),
])
def test_zip_with_unsafe_entry_refused(tmp_path, name, message):
    with pytest.raises(ValidationError, match=message):
        open_predictions(make_zip(tmp_path / "s.zip", [name]))


def test_zip_symlink_entry_and_duplicates_refused(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("901/link.npz")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ValidationError, match="symbolic link"):
        open_predictions(path)
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.json", "{}")
        zf.writestr("meta.json", "{}")
    with pytest.raises(ValidationError, match="appears twice"):
        open_predictions(path)


def test_not_a_submission(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_predictions(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InputError, match="not a predictions folder or .zip"):
        open_predictions(tmp_path / "x.txt")
    with pytest.raises(FacebenchError):
        load(submission(tmp_path / "t", raw=b"PK\x03\x04garbage"))


def test_schema_table_is_in_the_docs():
    from pathlib import Path

    table = schema_markdown()
    for key in ("depth", "canonical", "confidence", "tracks_xy", "tracks_visible", "tracks_xyz"):
        assert f"| `{key}` |" in table
    docs = Path(__file__).resolve().parents[1] / "docs" / "FORMATS.md"
    assert table in docs.read_text(), "docs/FORMATS.md is stale: run python -m facebench.io.formats_doc"
