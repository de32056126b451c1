"""facebench convert: schema 1 -> 2, same scores within the bounds, resumable after a SIGKILL, atomic."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from facebench.io.gt_convert import convert_gt
from facebench.io.shards import GTReader, dataset_hashes
from tests.gt_fixtures import TEMPLATE, make_gt, write_preds

SHARDS = ["shards/shard-00000.h5", "shards/shard-00001.h5"]


@pytest.fixture(scope="module")
def gt1(tmp_path_factory):
    return make_gt(tmp_path_factory.mktemp("convert") / "gt1", H=16, W=12, schema_version=1)


@pytest.fixture(scope="module")
def gt2(gt1, tmp_path_factory):
    out = tmp_path_factory.mktemp("convert") / "gt2"
    convert_gt(gt1, out)
    return out


def test_converted_folder_holds_the_same_clips_within_bounds(gt1, gt2):
    from facebench.io.gt_verify import verify_gt

    assert verify_gt(gt2).ok
    m1, m2 = (json.loads((d / "manifest.json").read_text()) for d in (gt1, gt2))
    assert (m1["schema_version"], m2["schema_version"]) == (1, 2)
    for key in ("clips", "template", "config", "config_hash", "benchmark", "dataset", "failures"):
        assert m2[key] == m1[key], key
    assert m2["converted_from"] == {"manifest_sha256": GTReader(gt1).manifest_sha256, "schema_version": 1}
    assert [s["source"] for s in m2["shards"]] == [s["sha256"] for s in m1["shards"]]
    with GTReader(gt1) as r1, GTReader(gt2) as r2:
        for cid in r1.clip_ids:
            a, b = r1.clip(cid), r2.clip(cid)
            np.testing.assert_array_equal(np.isnan(a.depth), np.isnan(b.depth))
            assert np.nanmax(np.abs(a.depth - b.depth)) <= 1e-6
            np.testing.assert_array_equal(np.isnan(a.canonical), np.isnan(b.canonical))
            err_mm = 1000 * TEMPLATE["scale"] * np.linalg.norm(a.canonical - b.canonical, axis=-1)
            assert np.nanmax(err_mm) <= 0.005
            np.testing.assert_array_equal(a.mask, b.mask)
            for name in ("query_frame", "query_canonical", "xy", "xyz", "visible"):
                np.testing.assert_array_equal(getattr(a.tracks, name), getattr(b.tracks, name))
        for p, s in r1.sequences():
            for x, y in zip(r1.sequence_vertices(p, s), r2.sequence_vertices(p, s)):
                np.testing.assert_array_equal(x, y)


def test_same_predictions_score_the_same_within_bounds(gt1, gt2, tmp_path):
    from facebench.evaluate import evaluate

    rng = np.random.default_rng(3)

    def noisy(cid, arrays):
        depth, canonical = arrays["depth"], arrays["canonical"]
        return {"depth": depth + rng.normal(0, 0.01, depth.shape).astype(np.float32),
                "canonical": canonical + rng.normal(0, 0.05, canonical.shape).astype(np.float32),
                "tracks_xy": arrays["tracks_xy"] + 1.5, "tracks_visible": arrays["tracks_visible"],
                "tracks_xyz": arrays["tracks_xyz"] * 1.02}

    preds = write_preds(gt1, tmp_path / "preds", transform=noisy)
    one, two = (evaluate(preds, gt=gt, progress=False) for gt in (gt1, gt2))
    assert one["gt_manifest_sha256"] != two["gt_manifest_sha256"]
    m1, m2 = one["metrics"], two["metrics"]
    assert abs(m1["canonical"]["mean_mm"] - m2["canonical"]["mean_mm"]) <= 0.005
    assert abs(m1["canonical"]["median_mm"] - m2["canonical"]["median_mm"]) <= 0.005
    assert abs(m1["depth"]["rmse_mm"] - m2["depth"]["rmse_mm"]) <= 0.001
    assert m1["depth"]["abs_rel"] == pytest.approx(m2["depth"]["abs_rel"], abs=2e-6)
    for task in ("tracking_2d", "tracking_3d"):  # tracks are stored exactly
        assert m1[task] == m2[task]


def test_convert_cli_and_refusals(gt1, gt2, tmp_path, capsys):
    from facebench.cli import main
    from facebench.errors import FacebenchError

    with pytest.raises(SystemExit) as done:
        main(["convert", str(gt1), "--out", str(tmp_path / "png"), "--image-codec", "png", "--quiet"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "converted 2 shards (0 already done)" in out and "schema 2 ground truth in" in out
    with GTReader(gt1) as r1, GTReader(tmp_path / "png") as r2:  # png: images exact
        np.testing.assert_array_equal(r1.read(r1.clip_ids[0], "image"), r2.read(r1.clip_ids[0], "image"))
    again = convert_gt(gt1, tmp_path / "png")
    assert (again.converted, again.skipped) == (0, 2)
    with pytest.raises(FacebenchError, match="already schema_version 2"):
        convert_gt(gt2, tmp_path / "x")
    with pytest.raises(FacebenchError, match="outside the GT folder"):
        convert_gt(gt1, gt1 / "sub")


def _convert_cmd(src, out):
    return [sys.executable, "-m", "facebench", "convert", str(src), "--out", str(out), "--quiet"]


def test_sigkill_then_resume_matches_an_uninterrupted_conversion(gt1, gt2, tmp_path):
    out = tmp_path / "gt2"
    # shard 0 complete under its temporary name -> shard 0 committed, shard 1 not started
    for crash_at, listed in (("shard-temp-written:1", []), ("sequence-committed:1", SHARDS[:1])):
        env = {**os.environ, "FACEBENCH_CRASH_AT": crash_at}
        proc = subprocess.run(_convert_cmd(gt1, out), env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == -signal.SIGKILL, (crash_at, proc.stderr[-2000:])
        path = out / "manifest.json"
        manifest = json.loads(path.read_text()) if path.exists() else {"shards": []}
        assert [s["file"] for s in manifest["shards"]] == listed, crash_at
    assert list((out / "shards").glob(".shard-*.tmp-*")) == []  # the second run removed the first's
    proc = subprocess.run(_convert_cmd(gt1, out), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "converted 1 shards (1 already done)" in proc.stdout, proc.stderr
    assert (out / "manifest.json").read_bytes() == (gt2 / "manifest.json").read_bytes()
    for rel in SHARDS:
        assert dataset_hashes(out / rel) == dataset_hashes(gt2 / rel)
