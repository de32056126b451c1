"""prepare's quality control: good fits pass, deliberately broken ones are flagged; exclude_qc."""

import copy
import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from facebench.prepare.config import default_config
from facebench.prepare.qc import judge, sequence_qc

T = 6


@pytest.fixture(scope="module")
def good():
    """A perfect fit of the built-in head over T frames (smooth head turn, mild expression) and its
    clouds (the data-region vertices and normals of the true mesh)."""
    from facebench.geometry import vertex_normals
    from facebench.prepare.pointcloud import PointCloud
    from facebench.templates import load

    tm = load("facebench-head")
    rng = np.random.default_rng(0)
    identity = rng.normal(0, 0.5, tm.n_identity)
    expression = 0.3 * np.sin(np.linspace(0, 1.5, T))[:, None] * rng.normal(0, 1, tm.n_expression)[None]
    rotation = np.stack([np.zeros(T), np.radians(np.linspace(-10, 10, T)), np.zeros(T)], 1)
    translation = np.tile([0.0, 0.02, 0.0], (T, 1))
    verts = tm.deform(identity=identity, expression=expression, rotation=rotation, translation=translation)
    data = np.isin(tm.regions, (1, 3, 4))
    clouds = [PointCloud(v[data], vertex_normals(v, tm.faces)[data]) for v in verts]
    fit = SimpleNamespace(vertices=verts.astype(np.float32), residual_mm=np.full(T, 0.05),
                          matched=np.full(T, 0.9), stats={},
                          params={"identity": identity, "scale": np.ones(1), "rotation": rotation})
    return tm, fit, clouds, default_config()["qc"]


def _flags(tm, fit, clouds, thresholds):
    return sequence_qc(tm, fit, clouds, None, np.arange(T) * 8, thresholds)


def _turn_frame(fit, t, degrees):
    bad = copy.deepcopy(fit)
    v = bad.vertices[t].astype(np.float64)
    c = v.mean(axis=0)
    R = Rotation.from_euler("y", degrees, degrees=True).as_matrix()
    bad.vertices[t] = ((v - c) @ R.T + c).astype(np.float32)
    return bad


def test_good_fit_passes(good):
    q = _flags(*good)
    assert q["flag"] == "pass", q["reasons"]
    assert q["frames"] == {"pass": T, "warn": 0, "fail": 0}
    assert max(q["figures"]["cloud_to_mesh_mm"]) < 0.1
    assert max(q["figures"]["pose_jump_deg"]) < 1.0  # constant turn rate: perfectly predicted
    assert all(0.9 < r < 1.2 for r in q["figures"]["face_area_ratio"])
    json.dumps(q)  # stored as a shard attribute


def test_wrong_pose_40_degrees_fails_only_its_frame(good):
    tm, fit, clouds, thr = good
    q = _flags(tm, _turn_frame(fit, 2, 40.0), clouds, thr)
    assert q["flag"] == "fail" and q["frame_flags"][2] == "fail"
    assert [f for t, f in enumerate(q["frame_flags"]) if t != 2] == ["pass"] * (T - 1)
    reasons = " ".join(q["reasons"]["16"])
    assert "cloud_to_mesh_mm" in reasons and "pose_jump_deg" in reasons
    assert q["figures"]["pose_jump_deg"][2] > 35


def test_pose_off_by_16_5_degrees_fails(good):
    """The failure an independent check found (one frame 16.5 deg off, residual 0.09 mm) is flagged."""
    tm, fit, clouds, thr = good
    q = _flags(tm, _turn_frame(fit, 3, 16.5), clouds, thr)
    assert q["frame_flags"][3] == "fail" and q["figures"]["fit_residual_mm"][3] < 0.1
    assert q["frame_flags"].count("pass") == T - 1


def test_cloud_rotated_40_degrees_fails(good):
    """The fit stays put but the data moved: the cloud -> mesh direction sees it."""
    from facebench.prepare.pointcloud import PointCloud

    tm, fit, clouds, thr = good
    R = Rotation.from_euler("y", 40, degrees=True).as_matrix()
    c = clouds[4].xyz_world.mean(axis=0)
    moved = list(clouds)
    moved[4] = PointCloud((clouds[4].xyz_world - c) @ R.T + c, clouds[4].normals_world @ R.T)
    q = _flags(tm, fit, moved, thr)
    assert q["frame_flags"][4] == "fail"
    assert q["figures"]["cloud_inlier_fraction"][4] < 0.5


def test_collapsed_expression_fails(good):
    tm, fit, clouds, thr = good
    bad = copy.deepcopy(fit)
    face = tm.regions == 1
    v = bad.vertices[3].astype(np.float64)
    c = v[face].mean(axis=0)
    v[face] = c + 0.4 * (v[face] - c)  # the face shrinks towards its centre
    bad.vertices[3] = v.astype(np.float32)
    q = _flags(tm, bad, clouds, thr)
    assert q["frame_flags"][3] == "fail"
    assert q["figures"]["face_area_ratio"][3] < 0.6
    assert any("face_area_ratio" in r for r in q["reasons"]["24"])


def test_judge_directions_and_null_thresholds():
    figures = {"a_mm": [0.1, 1.0, 5.0, np.nan], "b_fraction": [0.9, 0.2, 0.9, 0.9]}
    thresholds = {"a_mm": {"warn": 0.5, "fail": 2.0}, "b_fraction": {"warn_below": 0.5, "fail_below": None}}
    q = judge(figures, thresholds, [10, 11, 12, 13])
    assert q["frame_flags"] == ["pass", "warn", "fail", "pass"]  # NaN (not measured) never fails
    assert q["frames"] == {"pass": 2, "warn": 1, "fail": 1} and q["flag"] == "fail"
    assert len(q["reasons"]["11"]) == 2 and "12" in q["reasons"]
    assert q["figures"]["a_mm"][3] is None


def test_exclude_qc_leaves_failed_frames_unscored(tmp_path, monkeypatch):
    import facebench.benchmarks as benchmarks
    from facebench.evaluate import evaluate
    from tests.gt_fixtures import make_gt, write_preds

    gt = make_gt(tmp_path / "gt", T=3)
    manifest = json.loads((gt / "manifest.json").read_text())
    for shard in manifest["shards"]:
        for s in shard["sequences"]:
            s["qc"] = {"flag": "fail", "frames": {"pass": 2, "warn": 0, "fail": 1},
                       "frame_flags": ["pass", "fail", "pass"]}
    (gt / "manifest.json").write_text(json.dumps(manifest))

    def spoil_frame_1(cid, arrays):
        arrays["depth"][1] += 0.5
        arrays["canonical"][1] += 0.5
        arrays["tracks_xy"][:, 1] += 50
        return arrays

    preds = write_preds(gt, tmp_path / "preds", transform=spoil_frame_1)
    plain = evaluate(preds, gt=gt, progress=False)
    assert plain["metrics"]["depth"]["abs_rel"] > 0.1
    assert plain["protocol"]["depth"]["exclude_qc"] == "none"
    real = benchmarks.get_benchmark
    monkeypatch.setattr(benchmarks, "get_benchmark",
                        lambda name: dataclasses.replace(real(name), exclude_qc="fail"))
    record = evaluate(preds, gt=gt, progress=False)
    m = record["metrics"]
    assert m["depth"]["abs_rel"] == 0 and m["canonical"]["mean_mm"] == 0
    assert m["tracking_2d"]["delta_avg"] == 1
    assert record["protocol"]["canonical"]["exclude_qc"] == "fail"
    assert record["counts"]["qc_excluded_frames"] == 4  # 4 clips x 1 frame


def test_benchmark_rejects_unknown_exclude_qc(tmp_path):
    from facebench.benchmarks import get_benchmark, load_benchmark
    from facebench.errors import InputError

    text = get_benchmark("synth-v1").path.read_text() + "\nexclude_qc: sometimes\n"
    (tmp_path / "benchmark.yaml").write_text(text)
    with pytest.raises(InputError, match="exclude_qc"):
        load_benchmark(tmp_path / "benchmark.yaml")
