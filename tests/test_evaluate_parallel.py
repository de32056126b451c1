"""Clip-parallel evaluate: the same results record from every backend and worker count."""

import importlib.util

import numpy as np
import pytest

from facebench.errors import FacebenchError
from facebench.evaluate import evaluate
from facebench.evaluate.jobs import batches
from tests.gt_fixtures import make_gt, write_preds

SKIP = "902/EXP-2/222200038"


def noisy(cid, arrays):
    rng = np.random.default_rng(sum(map(ord, cid)))
    for key in ("depth", "canonical", "tracks_xy", "tracks_xyz"):
        arrays[key] = arrays[key] + rng.normal(0, 0.01, arrays[key].shape).astype(arrays[key].dtype)
    if cid.endswith("37"):
        del arrays["tracks_xyz"]  # a clip lacking a task: worst values with --allow-missing
    return arrays


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("par")
    gt = make_gt(root / "gt", T=5, H=10, W=8, N=6, participants=("901", "902", "903"),
                 sequences=("EXP-1", "EXP-2"))
    preds = write_preds(gt, root / "preds", transform=noisy, skip=(SKIP,))
    serial = evaluate(preds, gt=gt, allow_missing=True, progress=False)
    return gt, preds, serial


def same(a, b):
    """Records equal except for the wall-clock time."""
    a, b = dict(a), dict(b)
    a.pop("elapsed_s"), b.pop("elapsed_s")
    return a == b


def test_serial_record_has_temporal_metrics_and_worst_values(setup):
    _, _, serial = setup
    assert serial["counts"]["missing"] == 1 and serial["counts"]["clips_lacking_tasks"] > 0
    assert serial["metrics"]["canonical"]["jitter_median_mm"] > 0
    assert serial["per_clip"][SKIP]["canonical"]["jitter_median_mm"] is None  # nothing predicted
    assert serial["counts"]["tasks"]["depth"]["flicker_pairs"] > 0


def test_loky_workers_give_the_serial_record(setup):
    gt, preds, serial = setup
    record = evaluate(preds, gt=gt, allow_missing=True, progress=False, workers=2)
    assert same(record, serial)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_record(setup):
    pytest.importorskip("distributed")
    gt, preds, serial = setup
    record = evaluate(preds, gt=gt, allow_missing=True, progress=False, backend="dask", workers=2)
    assert same(record, serial)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="ray is not installed (pip install 'facebench[ray]'); not in `make setup`: heavy")
def test_ray_local_gives_the_serial_record(setup):
    gt, preds, serial = setup
    record = evaluate(preds, gt=gt, allow_missing=True, progress=False, backend="ray", workers=2)
    assert same(record, serial)


def test_errors_in_workers_stay_one_line(setup, tmp_path):
    gt, preds, _ = setup
    with pytest.raises(FacebenchError, match="--scheduler needs --backend dask or ray"):
        evaluate(preds, gt=gt, allow_missing=True, progress=False, scheduler="tcp://x:8786")
    with pytest.raises(FacebenchError, match="unknown backend"):
        evaluate(preds, gt=gt, allow_missing=True, progress=False, backend="spark")
    bad = write_preds(gt, tmp_path / "bad", transform=lambda cid, a: {**a, "depth": a["depth"] * np.nan})
    with pytest.raises(FacebenchError, match="non-finite"):
        evaluate(bad, gt=gt, progress=False, workers=2)


def test_batches_cover_every_clip_in_order():
    ids = [f"c{i}" for i in range(100)]
    for n_jobs in (1, 2, 7, 64):
        parts = batches(ids, n_jobs)
        assert sum(parts, []) == ids and max(map(len, parts)) <= 32
    assert batches([], 4) == []


def test_long_clips_are_not_read_ahead(setup, monkeypatch):
    """Above PREFETCH_MAX_PIXEL_FRAMES a clip is read when its turn comes; the record is the same."""
    from facebench.evaluate import jobs

    gt, preds, serial = setup
    monkeypatch.setattr(jobs, "PREFETCH_MAX_PIXEL_FRAMES", 0)
    loads = []
    real = jobs.load_clip
    monkeypatch.setattr(jobs, "load_clip", lambda *a: loads.append(a[-1]) or real(*a))
    assert same(evaluate(preds, gt=gt, allow_missing=True, progress=False), serial)
    assert len(loads) == len(set(loads)) == serial["counts"]["clips_scored"]


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="Linux only")
def test_worker_peak_memory_is_its_own_not_its_parents():
    """A process started by fork + exec from a large parent reports its own peak, not the parent's
    (ru_maxrss survives exec on Linux; the scale-out figures are per worker)."""
    import subprocess
    import sys

    big = np.ones(400 * 2**20 // 8)  # 400 MiB in this (parent) process
    code = "from facebench.evaluate.jobs import peak_rss_mib; print(peak_rss_mib())"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout)
    assert 1 < child < 300 < big.nbytes / 2**20
