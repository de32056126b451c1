"""prepare under faults: SIGKILL at every crash point then resume, a concurrent run, broken inputs.

The kill test chains real ``facebench prepare nersemble`` processes on one output
folder, each killed (SIGKILL, via FACEBENCH_CRASH_AT) at a different crash point,
checks after every kill that nothing partial is visible, then resumes and compares
every dataset and the manifest with an uninterrupted run.
"""

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.capture_faults import (
    BROKEN,
    FAST_CONFIG,
    FAULTS,
    GOOD,
    PARTICIPANT,
    RESOLUTION,
    broken_copy,
    make_capture,
)


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    return make_capture(tmp_path_factory.mktemp("reliability") / "capture")


@pytest.fixture(scope="module")
def reference(capture, tmp_path_factory):
    """An uninterrupted run."""
    from facebench.prepare import prepare_nersemble

    out = tmp_path_factory.mktemp("reference") / "gt"
    summary = prepare_nersemble(capture, out, config=FAST_CONFIG, resolution=RESOLUTION, progress=False)
    assert summary.sequences_done == 2
    return out


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    import yaml

    path = tmp_path_factory.mktemp("config") / "fast.yaml"
    path.write_text(yaml.safe_dump(FAST_CONFIG))
    return path


def prepare_cmd(capture, out, config_file, *extra):
    return [sys.executable, "-m", "facebench", "prepare", "nersemble", "--root", str(capture),
            "--out", str(out), "--config", str(config_file), "--resolution", str(RESOLUTION), *extra]


def assert_nothing_partial_visible(out, reference):
    """Listed shards are intact; a shard under its final name is listed or identical to the reference's."""
    from facebench.io.gt_verify import verify_gt
    from facebench.io.shards import dataset_hashes

    manifest_path = out / "manifest.json"
    listed = set()
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())  # never half-written
        listed = {s["file"] for s in manifest["shards"]}
        report = verify_gt(out)
        assert report.ok, str(report)
    for path in sorted((out / "shards").glob("shard-*.h5")) if (out / "shards").exists() else []:
        rel = f"shards/{path.name}"
        if rel not in listed:
            assert dataset_hashes(path) == dataset_hashes(reference / rel), f"{rel} is partial"
    return listed


def test_sigkill_at_every_crash_point_then_resume_matches_uninterrupted_run(capture, reference, config_file,
                                                                            tmp_path):
    from facebench.faults import CRASH_POINTS
    from facebench.io.shards import dataset_hashes
    from facebench.prepare import prepare_nersemble

    out = tmp_path / "gt"
    # Sequences run in order EMO-1 (shard 0), EXP-1 (shard 1); each run resumes the previous one's state.
    chain = [("manifest-temp-written:1", set()),                     # shard 0 renamed, manifest not replaced
             ("shard-temp-written:2", {"shards/shard-00000.h5"}),   # shard 0 committed, shard 1 temporary
             ("shard-renamed:1", {"shards/shard-00000.h5"}),        # shard 1 renamed, not committed
             ("sequence-committed:1", {"shards/shard-00000.h5", "shards/shard-00001.h5"})]
    assert {c.split(":")[0] for c, _ in chain} == {p for p in CRASH_POINTS if not p.startswith("server-")}
    temporaries = {}
    for crash_at, expect_listed in chain:
        env = {**os.environ, "FACEBENCH_CRASH_AT": crash_at}
        proc = subprocess.run(prepare_cmd(capture, out, config_file), env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == -signal.SIGKILL, (crash_at, proc.stderr[-2000:])
        assert assert_nothing_partial_visible(out, reference) == expect_listed, crash_at
        temporaries[crash_at] = sorted(p.name.split(".tmp-")[0] for p in out.rglob(".*.tmp-*"))
    # each killed run leaves its temporary file; the next run removes it before starting
    assert temporaries == {"manifest-temp-written:1": [".manifest.json"],
                           "shard-temp-written:2": [".shard-00001.h5"],
                           "shard-renamed:1": [], "sequence-committed:1": []}
    (out / "shards" / ".shard-00001.h5.tmp-99999").write_bytes(b"half a shard")
    summary = prepare_nersemble(capture, out, config=FAST_CONFIG, resolution=RESOLUTION, progress=False)
    assert summary.sequences_skipped == 2 and summary.sequences_done == 0
    assert not list((out / "shards").glob(".shard-*.tmp-*")), "resume removes stale temporaries"
    for name in ("shard-00000.h5", "shard-00001.h5"):
        assert dataset_hashes(out / "shards" / name) == dataset_hashes(reference / "shards" / name)
    manifest, expected = (json.loads((d / "manifest.json").read_text()) for d in (out, reference))
    assert manifest == expected


def test_second_concurrent_run_refuses(capture, reference, tmp_path):
    import shutil

    from facebench.errors import FacebenchError
    from facebench.io.shards import GTWriter
    from facebench.prepare import prepare_nersemble

    out = tmp_path / "gt"
    shutil.copytree(reference, out)
    before = (out / "manifest.json").read_bytes()
    holder = GTWriter(out, template={"name": "x", "sha256": "x", "center": [0, 0, 0], "scale": 1.0},
                      dataset="nersemble", config={})
    with holder.locked():  # another writer, as a second process would see it
        with pytest.raises(FacebenchError, match="another facebench process .* is writing here"):
            prepare_nersemble(capture, out, config=FAST_CONFIG, resolution=RESOLUTION, progress=False)
    assert (out / "manifest.json").read_bytes() == before


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_broken_input_fails_with_one_line_naming_the_file(fault, capture, config_file, tmp_path, capsys):
    from facebench.cli import main

    damaged = broken_copy(capture, fault, tmp_path / "capture")
    args = ["prepare", "nersemble", "--root", str(tmp_path / "capture"), "--out", str(tmp_path / "gt"),
            "--config", str(config_file), "--resolution", str(RESOLUTION), "--sequences", BROKEN]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines()
           if line.startswith("facebench:")]
    assert len(err) == 1 and str(damaged) in err[0] and FAULTS[fault][2] in err[0], err
    assert not list((tmp_path / "gt").glob("shards/*.h5")), "no shard from a broken input"


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_on_error_skip_records_the_failure(fault, capture, tmp_path):
    from facebench.io.shards import validate_gt
    from facebench.prepare import prepare_nersemble

    damaged = broken_copy(capture, fault, tmp_path / "capture")
    # The good sequence is left out here (its fit is slow); the next test checks that skip goes on to it.
    summary = prepare_nersemble(tmp_path / "capture", tmp_path / "gt", sequences=[BROKEN], config=FAST_CONFIG,
                                resolution=RESOLUTION, progress=False, on_error="skip")
    assert summary.sequences_done == 0 and [k for k, _ in summary.failures] == [f"{PARTICIPANT}/{BROKEN}"]
    manifest = json.loads((tmp_path / "gt" / "manifest.json").read_text())
    assert [(f["participant"], f["sequence"]) for f in manifest["failures"]] == [(PARTICIPANT, BROKEN)]
    assert str(damaged) in manifest["failures"][0]["error"]
    assert manifest["shards"] == [] and manifest["clips"] == []
    assert not list((tmp_path / "gt").glob("shards/*.h5"))
    assert validate_gt(tmp_path / "gt") == []


def test_on_error_skip_goes_on_with_the_other_sequences(capture, reference, tmp_path):
    from facebench.io.shards import dataset_hashes, validate_gt
    from facebench.prepare import prepare_nersemble

    broken_copy(capture, "depth_wrong_size", tmp_path / "capture")
    summary = prepare_nersemble(tmp_path / "capture", tmp_path / "gt", config=FAST_CONFIG,
                                resolution=RESOLUTION, progress=False, on_error="skip")
    assert summary.sequences_done == 1 and len(summary.failures) == 1
    manifest = json.loads((tmp_path / "gt" / "manifest.json").read_text())
    assert {c["sequence"] for c in manifest["clips"]} == {GOOD}
    assert [f["sequence"] for f in manifest["failures"]] == [BROKEN]
    assert sorted(p.name for p in (tmp_path / "gt" / "shards").glob("*.h5")) == ["shard-00000.h5"]
    assert validate_gt(tmp_path / "gt", check_hashes=True) == []
    good = "shards/shard-00000.h5"
    assert dataset_hashes(tmp_path / "gt" / good) == dataset_hashes(reference / good)
