"""Canonical alignment (none | similarity | affine): exact recovery, degenerate fits, benchmark option."""

import dataclasses

import numpy as np
import pytest

from facebench.benchmarks import get_benchmark, load_benchmark
from facebench.errors import InputError
from facebench.metrics.align import depth_alignment_problem, fit_alignment
from facebench.metrics.canonical_align import (
    MIN_ALIGN_PIXELS,
    align_canonical,
    fit_canonical_alignment,
)


def rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


@pytest.fixture
def points():
    return np.random.default_rng(0).uniform(-1, 1, (200, 3))


def test_similarity_recovers_a_known_transform_in_closed_form(points):
    rng = np.random.default_rng(1)
    R, s, t = rotation(rng), 1.7, np.array([0.3, -0.2, 0.1])
    pred = (points - t) @ R / s                  # so that gt = s R pred + t
    fit = fit_canonical_alignment(pred, points, "similarity")
    assert fit.problem is None and fit.scale == pytest.approx(s)
    assert np.abs(fit.apply(pred) - points).max() < 1e-12
    assert np.allclose(fit.matrix / fit.scale @ (fit.matrix / fit.scale).T, np.eye(3))   # a rotation


def test_affine_recovers_a_known_transform_and_similarity_does_not(points):
    A = np.array([[1.2, 0.1, 0.0], [0.0, 0.8, 0.2], [0.1, 0.0, 1.1]])
    t = np.array([0.05, 0.0, -0.1])
    pred = (points - t) @ np.linalg.inv(A).T
    affine = fit_canonical_alignment(pred, points, "affine")
    assert affine.problem is None and np.abs(affine.apply(pred) - points).max() < 1e-12
    assert affine.scale == pytest.approx(np.cbrt(np.linalg.det(A)))
    similarity = fit_canonical_alignment(pred, points, "similarity")
    assert np.abs(similarity.apply(pred) - points).max() > 1e-2      # shear is not a similarity


def test_none_is_the_identity(points):
    fit = fit_canonical_alignment(points + 1, points, "none")
    assert fit.problem is None and np.array_equal(fit.apply(points), points)
    with pytest.raises(ValueError, match="unknown canonical alignment"):
        fit_canonical_alignment(points, points, "rigid")


def test_align_canonical_fits_over_valid_pixels_only():
    rng = np.random.default_rng(2)
    gt = rng.uniform(-1, 1, (2, 6, 5, 3))
    valid = rng.random((2, 6, 5)) < 0.7
    pred = 2.0 * gt + 0.5
    pred[~valid] = 100.0                           # unscored pixels do not disturb the fit
    aligned, fit = align_canonical(pred, gt, valid, "similarity")
    assert fit.scale == pytest.approx(0.5) and fit.n_pixels == valid.sum()
    assert np.abs(aligned[valid] - gt[valid]).max() < 1e-12


@pytest.mark.parametrize("case, mode, expected", [
    ("few", "similarity", "scored pixels"),
    ("point", "similarity", "rank 0"),
    ("line", "similarity", "rank 1"),
    ("plane", "affine", "rank 2"),
    ("mirror", "affine", "non-positive scale"),
    ("uncorrelated", "similarity", "non-positive scale"),
    ("tiny", "similarity", "extreme scale"),
    ("huge", "affine", "extreme scale"),
])
def test_degenerate_fits_say_why_and_are_not_applied(points, case, mode, expected):
    gt = points
    if case == "few":
        gt = points[:MIN_ALIGN_PIXELS - 1]
        pred = gt * 2
    elif case == "point":
        pred = np.zeros_like(gt)
    elif case == "line":
        pred = np.outer(np.linspace(-1, 1, len(gt)), [1.0, 2.0, 3.0])
    elif case == "plane":
        pred = gt.copy()
        pred[:, 2] = 0.0
    elif case == "mirror":
        pred = gt * np.array([-1.0, 1.0, 1.0])
    elif case == "uncorrelated":                   # GT columns orthogonal to the centred prediction
        pred = gt
        basis = np.column_stack([np.ones(len(gt)), pred - pred.mean(0)])
        gt = np.random.default_rng(3).normal(size=gt.shape)
        gt = gt - basis @ np.linalg.lstsq(basis, gt, rcond=None)[0]
    elif case == "tiny":
        pred = gt * 1000.0                         # scale 0.001 < 0.01
    else:
        pred = gt / 1000.0
    fit = fit_canonical_alignment(pred, gt, mode)
    assert fit.problem is not None and expected in fit.problem and mode in fit.problem
    assert np.array_equal(fit.apply(pred), pred)   # a degenerate fit is the identity


def test_similarity_accepts_a_planar_prediction(points):
    pred = points.copy()
    pred[:, 2] = 0.0
    assert fit_canonical_alignment(pred, points, "similarity").problem is None


def test_depth_alignment_problems():
    counts = np.array([50, 50, 0])
    d = np.concatenate([np.full(50, 2.0), np.linspace(1, 2, 50)])
    g = np.concatenate([np.linspace(0.5, 1.5, 50), np.linspace(1, 2, 50)])
    s, _ = fit_alignment(d, g, counts, "scale_shift")          # frame 0 constant: s = 0
    problem = depth_alignment_problem(s, counts, "scale_shift")
    assert "non-positive scale in 1 frames (first: frame 0" in problem
    s, _ = fit_alignment(-d, g, counts, "median")
    assert "non-positive" in depth_alignment_problem(s, counts, "median")
    assert depth_alignment_problem(np.ones(3), np.array([50, 3, 0]), "median").startswith(
        "median depth alignment: 1 frames with < 10 scored pixels (first: frame 1, 3)")
    assert depth_alignment_problem(np.zeros(3), counts, "none") is None
    s, _ = fit_alignment(2 * g, g, counts, "median")
    assert depth_alignment_problem(s, counts, "median") is None


def test_benchmark_alignment_option(tmp_path):
    bench = get_benchmark("synth-v1")
    assert bench.task("canonical").alignment == "none"       # no key: none, echoed
    assert bench.task("canonical").protocol()["alignment"] == "none"
    text = bench.path.read_text()
    bad = tmp_path / "benchmark.yaml"
    bad.write_text(text.replace("    regions: [1, 2]\n", "    regions: [1, 2]\n    alignment: similarty\n"))
    with pytest.raises(InputError, match="unknown canonical alignment 'similarty'.*similarity"):
        load_benchmark(bad)
    good = tmp_path / "ok" / "benchmark.yaml"
    good.parent.mkdir()
    good.write_text(text.replace("    regions: [1, 2]\n", "    regions: [1, 2]\n    alignment: affine\n"))
    assert load_benchmark(good).task("canonical").alignment == "affine"


def with_canonical_alignment(mode):
    bench = get_benchmark("synth-v1")
    tasks = dict(bench.tasks)
    tasks["canonical"] = dataclasses.replace(tasks["canonical"], alignment=mode)
    return dataclasses.replace(bench, tasks=tasks)


def test_evaluate_scores_after_similarity_and_echoes_the_protocol(tmp_path, monkeypatch):
    from facebench.evaluate import evaluate
    from facebench.leaderboard.records import load_record
    from tests.gt_fixtures import make_gt, write_preds

    gt = make_gt(tmp_path / "gt")
    R = rotation(np.random.default_rng(4))

    def foreign(cid, arrays):                     # another canonical space: rotated, scaled, shifted
        arrays["canonical"] = (0.5 * arrays["canonical"] @ R.T + 0.2).astype(np.float32)
        return arrays

    preds = write_preds(gt, tmp_path / "p", keys=("canonical",), transform=foreign)
    plain = evaluate(preds, gt=gt, progress=False)
    assert plain["metrics"]["canonical"]["mean_mm"] > 10
    assert plain["protocol"]["canonical"]["alignment"] == "none"
    monkeypatch.setattr("facebench.benchmarks.get_benchmark",
                        lambda name: with_canonical_alignment("similarity"))
    record = evaluate(preds, gt=gt, progress=False, out=tmp_path / "r.json")
    assert record["metrics"]["canonical"]["mean_mm"] < 1e-3
    assert record["protocol"]["canonical"]["alignment"] == "similarity" and record["flags"] == []
    assert load_record(tmp_path / "r.json").row()["alignment"] == "canonical=similarity"
