"""prepare nersemble end to end on tiny synthetic captures: layouts, resume, backends, fidelity."""

import json

import numpy as np
import pytest

FAST = {"fit": {"iterations": 60, "offset_iterations": 10}, "maps": {"n_tracks": 16}}


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """Tiny captures (3 cameras, 64x96, 3 frames, 1 sequence) in each layout, with exact truth."""
    from facebench.synth import synthesize

    root = tmp_path_factory.mktemp("captures")
    out = {}
    for layout in ("v1", "benchmark"):
        synthesize(root / layout, preset="tiny", layout=layout, seed=5, truth_dir=root / f"{layout}-truth",
                   truth_gt=root / f"{layout}-truth-gt" if layout == "v1" else None, progress=False)
        out[layout] = root / layout
    out["truth_gt"] = root / "v1-truth-gt"
    out["truth"] = root / "v1-truth"
    return out


@pytest.fixture(scope="module")
def prepared_v1(captures, tmp_path_factory):
    from facebench.prepare import prepare_nersemble

    gt = tmp_path_factory.mktemp("gt") / "v1"
    summary = prepare_nersemble(captures["v1"], gt, config=FAST, progress=False)
    return gt, summary


def test_v1_shards_validate_and_summary_counts(prepared_v1):
    from facebench.io.shards import GTReader, validate_gt

    gt, summary = prepared_v1
    assert validate_gt(gt) == []
    reader = GTReader(gt)
    assert summary.sequences_done == 1 and summary.clips == 3 and summary.frames == 3
    assert len(reader.clip_ids) == 3
    clip = reader.clip(reader.clip_ids[0])
    assert clip.depth.shape == (3, 96, 64)
    assert (clip.mask == 1).sum() > 100
    assert np.isfinite(clip.canonical[clip.mask == 1]).all()
    assert len(clip.tracks.query_frame) > 0
    assert "prepared 1 sequences (3 clips" in str(summary)


def test_v1_canonical_close_to_exact_truth(prepared_v1, captures):
    from facebench.io.shards import GTReader

    gt, _ = prepared_v1
    truth, prep = GTReader(captures["truth_gt"]), GTReader(gt)
    assert truth.clip_ids == prep.clip_ids
    errs = []
    for cid in truth.clip_ids:
        t, p = truth.clip(cid), prep.clip(cid)
        ok = (t.mask == 1) & np.isfinite(t.canonical).all(-1) & np.isfinite(p.canonical).all(-1)
        errs.append(np.linalg.norm(t.canonical[ok] - p.canonical[ok], axis=-1) * 1000 * truth.scale)
    err = np.concatenate(errs)
    # tiny preset: 64x96 images, 3 cameras, short fit; the small-preset figures are in docs/PREPARE.md
    assert np.median(err) < 4.0, np.median(err)


def test_v1_records_quality_control(prepared_v1, tmp_path):
    from facebench.io.gt_verify import verify_gt
    from facebench.io.shards import GTReader
    from facebench.prepare.qc import FIGURES, FLAGS
    from facebench.report import info, write_report

    gt, summary = prepared_v1
    reader = GTReader(gt)
    pid, seq = reader.sequences()[0]
    entry = reader.sequence_qc(pid, seq)
    assert entry["flag"] in FLAGS and len(entry["frame_flags"]) == 3 and sum(entry["frames"].values()) == 3
    record = reader.sequence_attrs(pid, seq)["qc"]
    assert set(record["figures"]) == set(FIGURES) and record["frame_flags"] == entry["frame_flags"]
    assert all(v is not None and v < 1.0 for v in record["figures"]["cloud_to_mesh_mm"])
    # the camera check ran before the fit: per camera its figure, in the shard and in the manifest
    cameras = record["cameras"]
    assert cameras["flag"] == "pass" and cameras["check"].startswith("depth maps of the other views")
    values = cameras["figures"]["inside_mask"]["values"]
    assert len(values) == len(reader.clip_ids) and min(values.values()) >= 0.8
    assert entry["cameras"]["flag"] == "pass"
    assert entry["cameras"]["figures"]["inside_mask"]["values"] == values
    assert "quality control (frames)" in str(summary)
    line = next(ln for ln in info(gt).splitlines() if "quality control" in ln)
    assert "frames" in line and "pass" in line
    assert "quality control (prepare):" in str(verify_gt(gt))
    page = write_report(gt, out_dir=tmp_path / "report", max_clips=1, progress=False).read_text()
    assert "Quality control (prepare)" in page and "cloud_to_mesh_mm" in page


def test_template_free_fidelity(prepared_v1, captures):
    """The exact truth measured against itself is (near) perfect; the prepared GT is close."""
    from facebench.prepare.fidelity_free import measure
    from facebench.templates import load

    tm = load("ict-light")  # the synth subject's model (with its fine relief) and the fitted template
    exact = measure(captures["truth"], captures["truth_gt"], template=tm, n_points=500)
    assert exact["same_topology"] and exact["occluders"] and exact["coverage"] == 1.0
    # schema 2 stores canonical and depth in fixed point (within a few micrometres)
    assert exact["canonical_abs_median_mm"] < 0.01 and exact["track_epe_p90_px"] < 0.01
    assert exact["track_visibility_agreement"] > 0.99 and exact["depth_error_p90_mm"] < 0.01
    # what remains is bilinear reading of 5 mm pixels (64x96 images): the floor of the measure
    assert exact["consistency_median_mm"] < 0.3
    prepared = measure(captures["truth"], prepared_v1[0], template=tm, n_points=500)
    assert prepared["points_observed"] > 300 and prepared["coverage"] > 0.95
    assert exact["consistency_median_mm"] < prepared["consistency_median_mm"] < 4.0
    assert prepared["track_epe_median_px"] < 3.0 and prepared["canonical_abs_median_mm"] < 4.0
    (drift,) = prepared["frame_drift_mm"].values()
    assert len(drift) == 3 and all(d is not None and d < 4.0 for d in drift)


def test_resume_skips_done_sequences(prepared_v1, captures):
    from facebench.prepare import prepare_nersemble

    gt, _ = prepared_v1
    before = (gt / "manifest.json").read_text()
    again = prepare_nersemble(captures["v1"], gt, config=FAST, progress=False)
    assert again.sequences_done == 0 and again.sequences_skipped == 1
    assert (gt / "manifest.json").read_text() == before


def test_changed_config_redoes_the_sequence(prepared_v1, captures, tmp_path):
    import shutil

    from facebench.prepare import prepare_nersemble

    gt = tmp_path / "gt"
    shutil.copytree(prepared_v1[0], gt)
    changed = {**FAST, "maps": {"n_tracks": 8}}
    summary = prepare_nersemble(captures["v1"], gt, config=changed, progress=False)
    assert summary.sequences_done == 1
    manifest = json.loads((gt / "manifest.json").read_text())
    assert manifest["config"]["pipeline"]["maps"]["n_tracks"] == 8
    assert all(c["N"] <= 8 for c in manifest["clips"])


@pytest.mark.slow
def test_loky_processes_and_dask_give_identical_datasets(tmp_path):
    """Two sequences: loky with 2 worker processes vs a Dask cluster (one thread, in this process)."""
    pytest.importorskip("distributed")
    from distributed import Client

    from facebench.io.shards import dataset_hashes
    from facebench.prepare import prepare_nersemble
    from facebench.synth import synthesize

    synthesize(tmp_path / "cap", preset="tiny", layout="v1", seed=9, sequences=2, frames=2,
               truth_dir=tmp_path / "truth", progress=False)
    loky = prepare_nersemble(tmp_path / "cap", tmp_path / "loky", config=FAST, workers=2, progress=False)
    assert loky.sequences_done == 2
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        prepare_nersemble(tmp_path / "cap", tmp_path / "dask", config=FAST, backend="dask", scheduler=client,
                          progress=False)
    a, b = tmp_path / "loky", tmp_path / "dask"
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    assert ma["clips"] == mb["clips"] and ma["config_hash"] == mb["config_hash"]
    shards = sorted(s["file"] for s in ma["shards"])
    assert shards == ["shards/shard-00000.h5", "shards/shard-00001.h5"]
    for shard in shards:
        assert dataset_hashes(a / shard) == dataset_hashes(b / shard)


def test_benchmark_layout_uses_pointclouds_and_tracking(captures, tmp_path):
    from facebench.io.shards import GTReader, validate_gt
    from facebench.nersemble import open_capture
    from facebench.prepare import prepare_nersemble

    summary = prepare_nersemble(captures["benchmark"], tmp_path / "gt", config=FAST, resolution=48,
                                progress=False)
    assert validate_gt(tmp_path / "gt") == []
    assert summary.clips == 3
    reader = GTReader(tmp_path / "gt")
    cid = reader.clip_ids[0]
    clip = reader.clip(cid)
    assert clip.image.shape == (3, 48, 32, 3) and clip.depth.shape == (3, 48, 32)  # long side 96 -> 48
    pid, seq, serial = cid.split("/")
    full = open_capture(captures["benchmark"]).camera(pid, serial, 64, 96)
    np.testing.assert_allclose(clip.K, full.rescaled(32, 48).K)
    assert (clip.mask > 0).sum() > 50
    import h5py

    with h5py.File(tmp_path / "gt" / reader.clip_info(cid)["shard"], "r") as f:
        assert f[f"{pid}/{seq}"].attrs["fit_init"] == "tracking"


def test_on_error_skip_records_the_failure(captures, tmp_path):
    import shutil

    from facebench.prepare import prepare_nersemble

    root = tmp_path / "broken"
    shutil.copytree(captures["v1"], root)
    for png in root.glob("*/sequences/*/frame_*/colmap-73fps/depth_maps_compressed/*.png"):
        png.unlink()
    summary = prepare_nersemble(root, tmp_path / "gt", config=FAST, progress=False, on_error="skip")
    assert summary.sequences_done == 0 and len(summary.failures) == 1
    manifest = json.loads((tmp_path / "gt" / "manifest.json").read_text())
    assert manifest["failures"][0]["sequence"] == "EXP-1-head"
    # without depth maps, auto falls back to multi-view stereo, which finds nothing in 64x96 views
    assert "points from the mvs depth source" in manifest["failures"][0]["error"]


@pytest.mark.slow
def test_v2_layout_fits_a_visual_hull(tmp_path):
    """``depth: hull``: masks against BACKGROUND and their visual hull stand in for depth."""
    from facebench.io.shards import GTReader, validate_gt
    from facebench.prepare import prepare_nersemble
    from facebench.synth import synthesize

    synthesize(tmp_path / "cap", preset="tiny", layout="v2", seed=5, truth_dir=tmp_path / "truth",
               progress=False)
    summary = prepare_nersemble(tmp_path / "cap", tmp_path / "gt", config={**FAST, "depth": "hull"},
                                progress=False)
    assert validate_gt(tmp_path / "gt") == []
    assert summary.clips == 3
    reader = GTReader(tmp_path / "gt")
    clip = reader.clip(reader.clip_ids[0])
    assert (clip.mask == 1).sum() > 50  # the fitted face is seen inside the silhouette
    attrs = reader.sequence_attrs(*reader.clip_ids[0].split("/")[:2])
    assert attrs["depth_source"] == "hull" and attrs["masks_from"] == "background"
    assert reader.manifest["config"]["pipeline"]["depth"] == "hull"


def test_cli_reports_config_typos_in_one_line(captures, tmp_path, capsys):
    from facebench.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("fit:\n  iteratons: 3\n")
    with pytest.raises(SystemExit) as exc:
        main(["prepare", "nersemble", "--root", str(captures["v1"]), "--out", str(tmp_path / "gt"),
              "--config", str(bad)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean 'iterations'" in err[0]


def test_cli_prepares_then_resumes(captures, tmp_path, capsys):
    import yaml

    from facebench.cli import main

    cfg = tmp_path / "fast.yaml"
    cfg.write_text(yaml.safe_dump(FAST))
    args = ["prepare", "nersemble", "--root", str(captures["benchmark"]), "--out", str(tmp_path / "gt"),
            "--frames", "0:2", "--resolution", "32", "--cameras", "222200037", "--config", str(cfg)]
    for expected in ("prepared 1 sequences (1 clips, 2 frames", "skipped 1 already done"):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 0
        assert expected in capsys.readouterr().out
    manifest = json.loads((tmp_path / "gt" / "manifest.json").read_text())
    assert [c["id"].split("/")[2] for c in manifest["clips"]] == ["222200037"]
    assert manifest["config"]["frames"] == "0:2" and manifest["config"]["resolution"] == 32
    assert manifest["config"]["cameras"] == ["222200037"]
