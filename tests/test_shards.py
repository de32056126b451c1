import json

import h5py
import numpy as np
import pytest

from facebench.errors import FacebenchError, InputError
from facebench.io.schema import markdown_table
from facebench.io.shards import GTReader, GTWriter, dataset_hashes, validate_gt
from tests.gt_factory import TEMPLATE_INFO, make_sequence


def _writer(out, **config):
    return GTWriter(out, template=TEMPLATE_INFO, dataset="unit", config={"k": 1, **config})


def _writer1(out, **config):
    return GTWriter(out, template=TEMPLATE_INFO, dataset="unit", config={"k": 1, **config}, schema_version=1)


@pytest.mark.parametrize("schema", [1, 2])
def test_write_read_round_trip(tmp_path, schema):
    seq = make_sequence()
    w = _writer(tmp_path) if schema == 2 else _writer1(tmp_path)
    w.commit(w.write_sequence(seq, 0))
    r = GTReader(tmp_path)
    assert r.clip_ids == ["901/EXP-1-head/222200037", "901/EXP-1-head/222200038"]
    info = r.clip_info("901/EXP-1-head/222200037")
    assert (info["T"], info["H"], info["W"], info["N"]) == (3, 12, 8, 5)
    clip = r.clip("901/EXP-1-head/222200038")
    ref = seq.clips[1]
    if schema == 1:  # schema 1 stores every array as it is
        np.testing.assert_array_equal(clip.depth, ref.depth)
        np.testing.assert_array_equal(clip.canonical, ref.canonical)
        np.testing.assert_array_equal(clip.image, ref.image)
    else:  # schema 2: within SPEC §4's bounds, NaN exactly where they were
        np.testing.assert_array_equal(np.isnan(clip.depth), np.isnan(ref.depth))
        assert np.nanmax(np.abs(clip.depth - ref.depth)) <= 1e-6
        np.testing.assert_array_equal(np.isnan(clip.canonical), np.isnan(ref.canonical))
        err_mm = 1000 * TEMPLATE_INFO["scale"] * np.linalg.norm(clip.canonical - ref.canonical, axis=-1)
        assert np.nanmax(err_mm) <= 0.005
        assert clip.image.shape == ref.image.shape and clip.image.dtype == np.uint8
    assert clip.depth.dtype == clip.canonical.dtype == np.float32
    np.testing.assert_array_equal(clip.mask, ref.mask)
    for name in ("query_frame", "query_canonical", "xy", "xyz", "visible"):
        np.testing.assert_array_equal(getattr(clip.tracks, name), getattr(ref.tracks, name))
    assert clip.tracks.visible.dtype == bool and clip.K.dtype == np.float64
    frame_ids, vertices = r.sequence_vertices("901", "EXP-1-head")
    np.testing.assert_array_equal(vertices, seq.vertices)
    assert r.read("901/EXP-1-head/222200037", "depth", slice(1, 3)).shape == (2, 12, 8)
    assert validate_gt(tmp_path) == []
    assert validate_gt(tmp_path, check_hashes=True) == []
    with h5py.File(tmp_path / "shards/shard-00000.h5") as f:
        assert f.attrs["schema_version"] == schema and f.attrs["units"] == "metres"
    assert json.loads((tmp_path / "manifest.json").read_text())["schema_version"] == schema


def test_writes_are_deterministic(tmp_path):
    entries = []
    for name in ("a", "b"):
        w = _writer(tmp_path / name)
        entries.append(w.write_sequence(make_sequence(), 3))
        w.commit(entries[-1])
    assert entries[0]["sha256"] == entries[1]["sha256"]
    assert (tmp_path / "a/manifest.json").read_bytes() == (tmp_path / "b/manifest.json").read_bytes()
    assert dataset_hashes(tmp_path / "a/shards/shard-00003.h5") == dataset_hashes(
        tmp_path / "b/shards/shard-00003.h5")


def test_uncommitted_shard_is_invisible_and_resume(tmp_path):
    w = _writer(tmp_path)
    w.commit(w.write_sequence(make_sequence(sequence="A"), 0))
    w.write_sequence(make_sequence(sequence="B"), 1)  # written, never committed (a crash)
    r = GTReader(tmp_path)
    assert {c.split("/")[1] for c in r.clip_ids} == {"A"}
    assert w.is_done("901", "A") and not w.is_done("901", "B")
    assert not _writer(tmp_path, k=2).is_done("901", "A")  # changed config: redo
    assert not list((tmp_path / "shards").glob(".*tmp*"))


def test_validator_counts_problems(tmp_path):
    w = _writer(tmp_path)
    seq = make_sequence(serials=("1", "2", "3"))
    w.commit(w.write_sequence(seq, 0))
    with h5py.File(tmp_path / "shards/shard-00000.h5", "a") as f:
        for serial in ("1", "2"):
            g = f[f"901/EXP-1-head/cameras/{serial}"]
            del g["depth"]
            g["depth"] = np.zeros((3, 12, 8), np.float64)
    problems = validate_gt(tmp_path)
    dtype = [p for p in problems if "depth has dtype" in p]
    assert dtype == ["2 items: depth has dtype float64, expected float32 (first: 901/EXP-1-head/1)"]
    # the file changed under the manifest: sizes/hashes no longer match
    assert any("sha256" in p or "size" in p for p in validate_gt(tmp_path, check_hashes=True))


def test_validator_missing_shard_and_bad_manifest(tmp_path):
    w = _writer(tmp_path)
    w.commit(w.write_sequence(make_sequence(), 0))
    (tmp_path / "shards/shard-00000.h5").unlink()
    assert validate_gt(tmp_path) == ["1 item: shard file missing (first: shards/shard-00000.h5)"]
    (tmp_path / "manifest.json").write_text("{not json")
    assert "malformed manifest" in validate_gt(tmp_path)[0]
    with pytest.raises(InputError, match="no manifest.json"):
        GTReader(tmp_path / "shards")


def test_writer_refuses_wrong_shapes(tmp_path):
    seq = make_sequence()
    seq.clips[0].depth = seq.clips[0].depth[:, :5]
    with pytest.raises(ValueError, match="depth has H=5"):
        _writer(tmp_path).write_sequence(seq, 0)
    assert not (tmp_path / "shards/shard-00000.h5").exists()


def test_lock_refuses_second_writer(tmp_path):
    w = _writer(tmp_path)
    with w.locked():
        with pytest.raises(FacebenchError, match="another facebench process"):
            with _writer(tmp_path).locked():
                pass
    with _writer(tmp_path).locked():  # released
        pass


def test_template_mismatch_refused(tmp_path):
    w = _writer(tmp_path)
    w.commit(w.write_sequence(make_sequence(), 0))
    other = GTWriter(tmp_path, template={**TEMPLATE_INFO, "sha256": "1" * 64}, dataset="u", config={})
    with pytest.raises(FacebenchError, match="different sha256"):
        other.is_done("901", "EXP-1-head")


def test_failures_recorded_and_cleared(tmp_path):
    w = _writer(tmp_path)
    w.record_failure("901", "EXP-1-head", "truncated PNG")
    assert json.loads((tmp_path / "manifest.json").read_text())["failures"][0]["error"] == "truncated PNG"
    w.commit(w.write_sequence(make_sequence(), 0))
    assert json.loads((tmp_path / "manifest.json").read_text())["failures"] == []


def test_schema_table_lists_every_dataset():
    table = markdown_table()
    for name in ("vertices", "canonical", "tracks/visible", "T_cam_from_world", "canonical_scale"):
        assert name in table


def test_formats_doc_is_generated_from_the_schemas():
    from pathlib import Path

    from facebench.io.formats_doc import update

    docs = Path(__file__).resolve().parents[1] / "docs" / "FORMATS.md"
    text = docs.read_text()
    assert markdown_table() in text
    assert update(text) == text, "docs/FORMATS.md is stale: run python -m facebench.io.formats_doc"


def test_reader_keeps_few_shards_open(tmp_path, monkeypatch):
    """Reading every clip of many shards keeps at most MAX_OPEN_SHARDS files open (least recently
    used closed) and reads the same arrays as a reader that keeps them all."""
    from facebench.io import gt_reader
    from tests.gt_fixtures import make_gt

    gt = make_gt(tmp_path / "gt", participants=("901", "902", "903"), sequences=("EXP-1", "EXP-2"))
    with GTReader(gt) as reader:
        expected = {cid: reader.clip(cid) for cid in reader.clip_ids}
        assert len(reader._files) == 6
    monkeypatch.setattr(gt_reader, "MAX_OPEN_SHARDS", 2)
    with GTReader(gt) as reader:
        for _ in range(2):  # the second pass reopens closed shards
            for cid in reversed(reader.clip_ids):
                clip = reader.clip(cid)
                assert len(reader._files) <= 2
                np.testing.assert_array_equal(clip.depth, expected[cid].depth)
                np.testing.assert_array_equal(clip.tracks.xy, expected[cid].tracks.xy)
        handles = list(reader._files.values())
    assert all(not h.id.valid for h in handles)  # closed with the reader
