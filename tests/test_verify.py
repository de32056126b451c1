"""facebench verify: re-hashes every listed shard, checks SPEC §4, exits non-zero on any mismatch."""

import json
import shutil

import numpy as np
import pytest

from tests.gt_fixtures import make_gt


@pytest.fixture(scope="module")
def good_gt(tmp_path_factory):
    return make_gt(tmp_path_factory.mktemp("verify") / "gt")


@pytest.fixture
def gt(good_gt, tmp_path):
    return shutil.copytree(good_gt, tmp_path / "gt")


def run_cli(args, capsys):
    from facebench.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_intact_folder_verifies(gt, capsys):
    from facebench.io.gt_verify import verify_gt

    report = verify_gt(gt)
    assert report.ok and [s.status for s in report.shards] == ["ok", "ok"] and report.n_clips == 4
    code, out, err = run_cli(["verify", str(gt), "--quiet"], capsys)
    assert code == 0 and "verify: OK" in out and err == ""


def flip_one_byte(path, offset=-100):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_one_flipped_byte_is_a_sha256_mismatch(gt, capsys):
    from facebench.io.gt_verify import verify_gt

    flip_one_byte(gt / "shards" / "shard-00001.h5")
    report = verify_gt(gt)
    assert not report.ok
    assert [(s.file, s.status) for s in report.bad_shards] == [("shards/shard-00001.h5", "sha256")]
    code, out, err = run_cli(["verify", str(gt), "--quiet"], capsys)
    assert code == 2 and "BAD  shards/shard-00001.h5  sha256" in out and "verify: FAILED (1 problems)" in out
    assert err.strip() == f"facebench: error: {gt}: verification failed"


def test_missing_and_truncated_shards(gt):
    from facebench.io.gt_verify import verify_gt

    (gt / "shards" / "shard-00000.h5").unlink()
    path = gt / "shards" / "shard-00001.h5"
    path.write_bytes(path.read_bytes()[:1000])
    report = verify_gt(gt)
    assert [s.status for s in report.shards] == ["missing", "size"]
    unreadable = "1 item: shard is not a readable HDF5 file (first: shards/shard-00001.h5)"
    assert report.schema_problems == [unreadable]


def test_manifest_edited_to_match_a_garbage_shard_is_caught_by_the_schema_check(gt):
    from facebench.io.gt_verify import verify_gt
    from facebench.io.shards import file_sha256

    path = gt / "shards" / "shard-00000.h5"
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))
    manifest = json.loads((gt / "manifest.json").read_text())
    manifest["shards"][0]["sha256"] = file_sha256(path)
    (gt / "manifest.json").write_text(json.dumps(manifest))
    report = verify_gt(gt)
    assert [s.status for s in report.shards] == ["unreadable", "ok"] and not report.ok


def test_dataset_with_wrong_dtype_is_a_schema_problem(gt):
    import h5py

    from facebench.io.gt_verify import verify_gt
    from facebench.io.shards import file_sha256

    path = gt / "shards" / "shard-00000.h5"
    with h5py.File(path, "r+") as f:
        group = f["901/EXP-1-head/cameras/222200037"]
        depth = group["depth"][()]
        del group["depth"]
        group["depth"] = depth.astype(np.float64)
    manifest = json.loads((gt / "manifest.json").read_text())  # re-hashed: only the schema check can see it
    manifest["shards"][0].update(sha256=file_sha256(path), size=path.stat().st_size)
    (gt / "manifest.json").write_text(json.dumps(manifest))
    report = verify_gt(gt)
    assert all(s.status == "ok" for s in report.shards)
    assert len(report.schema_problems) == 1 and "depth" in report.schema_problems[0]
    assert "float64" in report.schema_problems[0] and not report.ok


def test_unlisted_shards_and_temporaries_are_reported_not_failed(gt):
    from facebench.io.gt_verify import verify_gt

    shutil.copy(gt / "shards" / "shard-00000.h5", gt / "shards" / "shard-00007.h5")
    (gt / "shards" / ".shard-00008.h5.tmp-4242").write_bytes(b"partial")
    report = verify_gt(gt)
    assert report.ok
    assert report.unlisted == ["shards/shard-00007.h5"]
    assert report.temporaries == ["shards/.shard-00008.h5.tmp-4242"]
    assert "ignored by readers: shards/shard-00007.h5" in str(report)


def test_not_a_gt_folder(tmp_path, capsys):
    code, out, _ = run_cli(["verify", str(tmp_path), "--quiet"], capsys)
    assert code == 2 and "no manifest.json" in out
