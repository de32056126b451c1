"""evaluate / validate end to end on tiny hand-built GT folders (tests/gt_fixtures.py)."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from facebench.errors import FacebenchError, ValidationError
from facebench.evaluate import evaluate, tracks_from_canonical, tracks_from_canonical_arrays
from facebench.evaluate.validate import validate_predictions
from facebench.io.results import RESULTS_SCHEMA, validate_results
from tests.gt_fixtures import gt_arrays, make_gt, write_preds

MISSING = "901/EXP-1-head/222200038"


@pytest.fixture(scope="module")
def gt(tmp_path_factory):
    return make_gt(tmp_path_factory.mktemp("gt") / "gt")


def test_gt_as_prediction_is_perfect(gt, tmp_path):
    preds = write_preds(gt, tmp_path / "preds")
    record = evaluate(preds, gt=gt, out=tmp_path / "r.json", progress=False)
    m = record["metrics"]
    assert m["depth"]["abs_rel"] == 0 and m["depth"]["rmse_mm"] == 0 and m["depth"]["within_2mm"] == 1
    assert m["canonical"]["mean_mm"] == 0 and m["canonical"]["within_2mm"] == 1
    assert m["tracking_2d"]["delta_avg"] == 1 and m["tracking_2d"]["average_jaccard"] == 1
    assert m["tracking_2d"]["occlusion_accuracy"] == 1
    assert m["tracking_3d"]["apd3d"] == 1 and m["tracking_3d"]["average_jaccard_3d"] == 1
    # temporal: the GT's own error map and tracks do not move (canonical jitter has a sampling
    # floor, large here: these maps are random per pixel)
    assert m["depth"]["flicker_mm"] == 0 and m["tracking_2d"]["jitter_px"] == 0
    assert m["tracking_3d"]["jitter_mm"] == 0 and m["canonical"]["jitter_median_mm"] >= 0
    assert record["protocol"]["canonical"]["temporal"]["min_frames"] == 3
    assert set(record) == set(RESULTS_SCHEMA) and validate_results(record) == []
    assert json.loads((tmp_path / "r.json").read_text()) == record
    assert record["counts"]["coverage"] == 1 and record["counts"]["tasks"]["depth"]["clips_scored"] == 4
    assert record["protocol"]["tracking_2d"]["query_mode"] == "first"
    assert record["protocol"]["depth"]["regions"] == [1, 2, 3]
    assert validate_predictions(preds, gt=gt) == []


def test_zip_submission_with_top_folder(gt, tmp_path):
    preds = write_preds(gt, tmp_path / "preds", keys=("depth",))
    archive = tmp_path / "submission.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in preds.rglob("*"):
            if path.is_file():
                zf.write(path, "mysub/" + path.relative_to(preds).as_posix())
    record = evaluate(archive, gt=gt, progress=False)
    assert record["metrics"]["depth"]["rmse_mm"] == 0 and list(record["metrics"]) == ["depth"]


def shift(key, delta):
    def transform(cid, arrays):
        arrays[key] = arrays[key] + np.asarray(delta, dtype=arrays[key].dtype)
        return arrays
    return transform


def test_known_perturbations(gt, tmp_path):
    # +1 mm depth everywhere: rmse 1 mm, every within_x (x >= 2 mm) 1
    r = evaluate(write_preds(gt, tmp_path / "a", keys=("depth",), transform=shift("depth", 0.001)),
                 gt=gt, progress=False)["metrics"]["depth"]
    assert r["rmse_mm"] == pytest.approx(1.0, rel=1e-3)
    assert r["within_2mm"] == 1 and r["within_10mm"] == 1 and r["delta_1.25"] == 1
    # canonical +0.01 normalized in x with scale 0.1 m: 1 mm
    plus = shift("canonical", [0.01, 0, 0])
    preds = write_preds(gt, tmp_path / "b", keys=("canonical",), transform=plus)
    r = evaluate(preds, gt=gt, progress=False)["metrics"]["canonical"]
    assert r["mean_mm"] == pytest.approx(1.0, rel=1e-3) and r["mean_norm"] == pytest.approx(0.01, rel=1e-3)
    assert r["within_2mm"] == 1
    # 3 px in 256-space (W = 6 px): fails thresholds 1 and 2 -> delta_avg 0.6, AJ 0.6
    # (the exact 2 px boundary case is tested in test_metrics.py without float32 rounding)
    keys = ("tracks_xy", "tracks_visible")
    r = evaluate(write_preds(gt, tmp_path / "c", keys=keys, transform=shift("tracks_xy", [3 * 6 / 256, 0])),
                 gt=gt, progress=False)["metrics"]["tracking_2d"]
    assert r["delta_avg"] == pytest.approx(0.6) and r["average_jaccard"] == pytest.approx(0.6)
    assert r["occlusion_accuracy"] == 1
    # 3D positions twice too far: median scaling undoes it
    def double(cid, arrays):
        arrays["tracks_xyz"] = arrays["tracks_xyz"] * 2
        return arrays
    r = evaluate(write_preds(gt, tmp_path / "d", keys=("tracks_xyz", "tracks_visible"), transform=double),
                 gt=gt, progress=False)["metrics"]["tracking_3d"]
    assert r["apd3d"] == pytest.approx(1.0) and r["epe3d_mm"] == pytest.approx(0.0, abs=1e-3)


def test_missing_clip_is_error_or_worst(gt, tmp_path):
    preds = write_preds(gt, tmp_path / "p", keys=("depth", "canonical"), skip=(MISSING,))
    with pytest.raises(ValidationError, match=f"1 of 4 clips missing, first: {MISSING}"):
        evaluate(preds, gt=gt, progress=False)
    record = evaluate(preds, gt=gt, allow_missing=True, progress=False)
    assert record["counts"]["coverage"] == 0.75 and record["counts"]["missing_clips"] == [MISSING]
    assert record["per_clip"][MISSING]["depth"]["abs_rel"] == 1.0
    assert record["per_clip"][MISSING]["canonical"]["within_2mm"] == 0.0
    assert record["metrics"]["depth"]["abs_rel"] == pytest.approx(0.25)  # (0 + 0 + 0 + 1) / 4
    assert record["metrics"]["canonical"]["within_5mm"] == pytest.approx(0.75)
    assert validate_predictions(preds, gt=gt) == [f"1 of 4 clips missing, first: {MISSING}"]


def test_task_missing_in_one_clip(gt, tmp_path):
    def drop(cid, arrays):
        return {k: v for k, v in arrays.items() if cid != MISSING or k != "depth"}
    preds = write_preds(gt, tmp_path / "p", keys=("depth", "canonical"), transform=drop)
    with pytest.raises(ValidationError, match="1 clips lack tasks"):
        evaluate(preds, gt=gt, progress=False)
    record = evaluate(preds, gt=gt, allow_missing=True, progress=False)
    assert record["per_clip"][MISSING]["depth"]["within_2mm"] == 0.0
    assert record["counts"]["tasks"]["depth"]["clips_failed"] == 1


def test_non_finite_only_matters_where_gt_is_valid(gt, tmp_path):
    def nan_invalid(cid, arrays):
        arrays["depth"] = np.where(np.isnan(arrays["depth"]), np.nan, arrays["depth"])
        arrays["depth"][np.isnan(gt_arrays(gt, cid)["depth"])] = np.inf
        return arrays
    preds = write_preds(gt, tmp_path / "ok", keys=("depth",), transform=nan_invalid)
    assert evaluate(preds, gt=gt, progress=False)["metrics"]["depth"]["abs_rel"] == 0

    def nan_valid(cid, arrays):
        arrays["depth"] = np.nan_to_num(arrays["depth"], nan=1.0)
        arrays["depth"][0, 0, 0] = np.nan  # mask[:, 0, 0] is face: always scored
        return arrays
    preds = write_preds(gt, tmp_path / "bad", keys=("depth",), transform=nan_valid)
    with pytest.raises(ValidationError, match="depth has 1 non-finite values where the GT is valid"):
        evaluate(preds, gt=gt, progress=False)
    problems = validate_predictions(preds, gt=gt)
    assert problems[0] == "4 of 4 clip files have errors:" and len(problems) == 5


def test_benchmark_resolution(gt, tmp_path, monkeypatch):
    meta = {"method": "x", "benchmark": "nersemble-v1"}
    preds = write_preds(gt, tmp_path / "p", keys=("depth",), meta=meta)
    with pytest.raises(FacebenchError, match="holds GT for benchmark 'synth-v1'"):
        evaluate(preds, gt=gt, progress=False)
    with pytest.raises(FacebenchError, match="did you mean"):
        evaluate(preds, gt=gt, benchmark="synth-v9", progress=False)
    preds = write_preds(gt, tmp_path / "q", keys=("depth",))
    monkeypatch.setenv("FACEBENCH_HOME", str(tmp_path / "home"))
    with pytest.raises(FacebenchError, match="no GT for benchmark 'synth-v1'"):
        evaluate(preds, progress=False)
    (tmp_path / "home" / "gt").mkdir(parents=True)
    (tmp_path / "home" / "gt" / "synth-v1").symlink_to(gt)
    assert evaluate(preds, progress=False)["metrics"]["depth"]["rmse_mm"] == 0


def test_tracks_from_canonical_arrays_by_hand():
    T, H, W = 2, 3, 4
    rows, cols = np.mgrid[0:H, 0:W]
    canonical = np.zeros((T, H, W, 3))
    canonical[..., 0] = cols / 10
    canonical[..., 1] = rows / 10
    canonical[1] = np.roll(canonical[1], 1, axis=1)   # frame 1: content moved one pixel right
    canonical[1, :, 0] = np.nan
    queries = np.array([[0.2, 0.1, 0.0], [5.0, 5.0, 5.0]])  # pixel (x=2, y=1) at frame 0; nowhere
    depth = np.full((T, H, W), 2.0)
    K = np.array([[10.0, 0, 1.5], [0, 10.0, 1.0], [0, 0, 1]])
    xy, visible, xyz = tracks_from_canonical_arrays(canonical, queries, depth, K, max_distance=0.02)
    assert xy[0].tolist() == [[2, 1], [3, 1]]
    assert visible.tolist() == [[True, True], [False, False]]
    assert xyz[0, 0] == pytest.approx([(2 - 1.5) * 2 / 10, 0.0, 2.0])
    assert np.isfinite(xy).all() and np.isfinite(xyz).all()


def test_tracks_from_canonical_folder(gt, tmp_path):
    preds = write_preds(gt, tmp_path / "p", keys=("canonical", "depth"))
    counts = tracks_from_canonical(preds, gt=gt, progress=False)
    assert counts == {"updated": 4, "skipped": 0, "missing": 0}
    with np.load(preds / "902/EXP-1-head/222200037.npz") as f:
        assert {"tracks_xy", "tracks_visible", "tracks_xyz", "canonical"} <= set(f.files)
    assert not list(preds.rglob(".*tmp*"))
    record = evaluate(preds, gt=gt, progress=False)
    assert set(record["metrics"]) == {"depth", "canonical", "tracking_2d", "tracking_3d"}
    assert tracks_from_canonical(preds, gt=gt, progress=False)["skipped"] == 4


def test_cli_errors_are_one_line(gt, tmp_path):
    preds = write_preds(gt, tmp_path / "p", keys=("depth",), skip=(MISSING,))
    run = [sys.executable, "-m", "facebench"]
    out = subprocess.run(run + ["evaluate", "--preds", str(preds), "--gt", str(gt)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("facebench: error: 1 of 4 clips missing")
    out = subprocess.run(run + ["validate", "--preds", str(preds), "--gt", str(gt)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and f"1 of 4 clips missing, first: {MISSING}" in out.stderr


def test_scored_mask_regions_by_hand():
    from types import SimpleNamespace

    from facebench.evaluate.scoring import scored_mask

    mask = np.array([[[0, 1, 2, 3, 255]]], np.uint8)
    clip = SimpleNamespace(depth=np.ones((1, 1, 5), np.float32), mask=mask)
    for regions, want in (((1, 2, 3), [0, 1, 1, 1, 0]), ((1, 2), [0, 1, 1, 0, 0]), ((1, 3), [0, 1, 0, 1, 0]),
                          ((3,), [0, 0, 0, 1, 0]), (None, [1, 1, 1, 1, 1])):
        got = scored_mask(clip, "depth", SimpleNamespace(regions=regions))
        assert got[0, 0].astype(int).tolist() == want, regions
