"""Failure flags: outlier rule by hand, degenerate alignments end to end, the record's schema."""

import dataclasses
import re

import numpy as np
import pytest

from facebench.benchmarks import get_benchmark
from facebench.evaluate import evaluate
from facebench.evaluate.flags import OUTLIER_Z, modified_z, outlier_flags
from facebench.io.results import validate_results
from tests.gt_fixtures import make_gt, write_preds

BROKEN = "902/EXP-1-head/222200037"


def test_modified_z_by_hand():
    # median 2, |x - median| = 1 1 0 1 8 -> MAD 1: z = 0.6745 (x - 2)
    assert modified_z([1, 3, 2, 1, 10]) == pytest.approx(0.6745 * np.array([-1, 1, 0, -1, 8]))
    # MAD 0: the mean absolute deviation stands in (8 / 5 = 1.6)
    assert modified_z([2, 2, 2, 2, 10]) == pytest.approx([0, 0, 0, 0, 8 / (1.253314 * 1.6)])
    assert not modified_z([3, 3, 3, 3, 3]).any() and not modified_z([np.nan, np.nan]).any()


def test_outliers_on_the_worse_side_only():
    values = {f"p/s/{i}": v for i, v in enumerate([10, 11, 9, 10.5, 9.5, 100, 0.1])}
    flags = outlier_flags(values, "canonical", "mean_mm", higher_is_better=False)
    assert [f["clip"] for f in flags] == ["p/s/5"]                  # 0.1 mm is better, not flagged
    assert flags[0]["kind"] == "outlier" and "mean_mm 100 is an outlier" in flags[0]["reason"]
    aj = {f"p/s/{i}": v for i, v in enumerate([0.5, 0.52, 0.48, 0.51, 0.49, 0.01, 0.99])}
    assert [f["clip"] for f in outlier_flags(aj, "tracking_2d", "average_jaccard", True)] == ["p/s/5"]
    assert outlier_flags(dict(list(values.items())[-4:]), "canonical", "mean_mm", False) == []  # < 5 clips
    z = modified_z(list(values.values()))
    assert z[5] > OUTLIER_Z > z[:5].max()
    # a perfect method's rounding-level spread (1e-13 mm) is no failure, however large its z
    rounding = {f"p/s/{i}": v for i, v in enumerate([3e-14, 3e-14, 2.9e-14, 3.1e-14, 3e-14, 9.8e-14])}
    assert modified_z(list(rounding.values()))[5] > OUTLIER_Z
    assert outlier_flags(rounding, "canonical", "mean_mm", higher_is_better=False) == []


@pytest.fixture(scope="module")
def gt(tmp_path_factory):
    return make_gt(tmp_path_factory.mktemp("gt") / "gt", participants=("901", "902", "903"))


def test_an_outlier_clip_is_flagged_and_kept_in_the_mean(gt, tmp_path):
    rng = np.random.default_rng(0)
    noise = {}

    def perturb(cid, arrays):
        delta = 0.5 if cid == BROKEN else 0.01 * (1 + rng.random())
        noise[cid] = delta
        arrays["canonical"] = arrays["canonical"] + np.float32(delta)
        return arrays

    preds = write_preds(gt, tmp_path / "p", keys=("canonical",), transform=perturb)
    record = evaluate(preds, gt=gt, progress=False, out=tmp_path / "r.json")
    assert [(f["clip"], f["task"], f["kind"]) for f in record["flags"]] == [(BROKEN, "canonical", "outlier")]
    assert record["counts"]["flagged_clips"] == 1 and validate_results(record) == []
    per_clip = [v["canonical"]["mean_mm"] for v in record["per_clip"].values()]
    assert record["metrics"]["canonical"]["mean_mm"] == pytest.approx(np.mean(per_clip))   # not dropped
    assert "modified z-score of mean_mm > 3.5" in record["protocol"]["canonical"]["outlier_flags"]
    assert record["predictions"] == str(preds.resolve())
    from facebench.evaluate.summary import format_results
    from facebench.report import info

    assert f"1 clips flagged (kept in the means; first: {BROKEN} canonical: mean_mm" in format_results(record)
    assert re.search(r"flagged clips: +1\n", info(tmp_path / "r.json"))


def bench_with(**alignments):
    bench = get_benchmark("synth-v1")
    tasks = dict(bench.tasks)
    for task, mode in alignments.items():
        tasks[task] = dataclasses.replace(tasks[task], alignment=mode)
    return dataclasses.replace(bench, tasks=tasks)


def test_degenerate_alignments_are_flagged_with_the_reason(gt, tmp_path, monkeypatch):
    def collapse(cid, arrays):
        if cid == BROKEN:
            arrays["canonical"] = np.zeros_like(arrays["canonical"])     # one point: rank 0
            arrays["depth"] = np.full_like(arrays["depth"], 1.0)          # constant: scale_shift s = 0
        return arrays

    preds = write_preds(gt, tmp_path / "p", keys=("depth", "canonical"), transform=collapse)
    monkeypatch.setattr("facebench.benchmarks.get_benchmark",
                        lambda name: bench_with(canonical="similarity", depth="scale_shift"))
    record = evaluate(preds, gt=gt, progress=False)
    alignment = [f for f in record["flags"] if f["kind"] == "alignment"]
    assert [(f["clip"], f["task"]) for f in alignment] == [(BROKEN, "depth"), (BROKEN, "canonical")]
    assert "rank 0" in alignment[1]["reason"] and "non-positive scale" in alignment[0]["reason"]
    assert record["counts"]["flagged_clips"] == 1
    others = [v["canonical"]["mean_mm"] for c, v in record["per_clip"].items() if c != BROKEN]
    assert max(others) < 1e-3                                      # GT under similarity: perfect
    assert record["per_clip"][BROKEN]["canonical"]["mean_mm"] == pytest.approx(_unaligned_mm(gt, BROKEN))


def _unaligned_mm(gt, cid):
    """mean_mm of an all-zero prediction: per frame mean of 1000 * scale |c_gt|, mean over frames."""
    from facebench.evaluate.scoring import scored_mask
    from facebench.io.shards import GTReader

    with GTReader(gt) as reader:
        clip = reader.clip(cid)
    valid = scored_mask(clip, "canonical", get_benchmark("synth-v1").task("canonical"))
    return np.mean([100.0 * np.linalg.norm(clip.canonical[t][valid[t]], axis=-1).mean()
                    for t in range(len(valid))])


def test_results_validator_checks_flags():
    record = {"schema_version": 1, "facebench_version": "0", "benchmark": {"name": "b", "version": 1},
              "gt_manifest_sha256": "a" * 64, "method": {"method": "m"}, "metrics": {},
              "per_clip": {"1/a/x": {}}, "counts": {}, "protocol": {}, "elapsed_s": 1.0}
    assert validate_results(record) == []                           # records from before flags
    record["flags"] = [{"clip": "1/a/x", "task": "depth", "kind": "outlier", "reason": "r"}]
    assert validate_results(record) == []
    record["flags"].append({"clip": "9/z/z", "task": "depth", "kind": "outlier", "reason": "r"})
    record["flags"].append({"clip": "1/a/x", "task": "depth", "kind": "weird", "reason": "r"})
    assert validate_results(record) == ["2 malformed flags (first: index 1; each is {clip, task, kind: "
                                        "alignment|outlier, reason} naming a clip of per_clip)"]
