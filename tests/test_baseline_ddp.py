"""Several training processes (torchrun, DDP over gloo on CPU) follow the one-process run.

The global batch of every step is the same whatever the number of processes, and the loss
terms are divided by the whole global batch's counts (facebench.baseline.engine), so two
processes with --batch-size 4 (and, after --resume, two accumulation micro-batches each) must
give the loss trajectory and weights of one process with batch 4, up to float rounding:
logged loss terms to 2e-6 (the log keeps 6 decimals), weights to 1e-6 (measured: 1.2e-7).
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from facebench.baseline.engine import StepBatches, check_split, split_batch
from facebench.baseline.train import train
from facebench.errors import InputError
from tests.baseline_helpers import SMALL, make_gt

ROOT = Path(__file__).resolve().parents[1]
OPTS = dict(batch_size=4, window=2, lr=1e-3, warmup=2, threads=1)


@pytest.fixture(scope="module")
def gt(tmp_path_factory):
    return make_gt(tmp_path_factory.mktemp("gt"), T=4, H=24, W=32)


def _cli_options(**kw) -> list[str]:
    args = []
    for key, value in kw.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def _torchrun(nproc: int, *args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "facebench", "baseline", "train", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


def _losses(run: Path) -> dict[int, dict]:
    with open(run / "train_log.csv", newline="") as fh:
        return {int(r["step"]): r for r in csv.DictReader(fh)}


def test_step_batches_share_the_global_batch():
    whole = list(StepBatches(50, 4, seed=3, start=0, stop=5))
    shares = [list(StepBatches(50, 4, seed=3, start=0, stop=5, rank=r, world=2)) for r in range(2)]
    assert [a + b for a, b in zip(*shares)] == whole
    assert check_split(8, 2, 2) == 2
    with pytest.raises(InputError, match="multiple of processes"):
        check_split(6, 2, 2)
    parts = split_batch({"x": torch.arange(4), "clip_id": ["a", "b", "c", "d"]}, 2)
    assert parts[1]["x"].tolist() == [2, 3] and parts[1]["clip_id"] == ["c", "d"]


def test_accumulation_matches_one_batch(gt, tmp_path):
    one = train(gt, tmp_path / "one", steps=3, log_every=1, model_overrides=SMALL, progress=False, **OPTS)
    acc = train(gt, tmp_path / "acc", steps=3, log_every=1, model_overrides=SMALL, progress=False,
                accumulate=4, **OPTS)
    assert acc["runtime"]["micro_batch"] == 1 and one["runtime"]["device"] == "cpu"
    a, b = _losses(tmp_path / "one"), _losses(tmp_path / "acc")
    for step in (1, 2, 3):
        assert float(b[step]["loss"]) == pytest.approx(float(a[step]["loss"]), abs=2e-6)


def test_two_gloo_processes_follow_one_and_resume(gt, tmp_path):
    """2 processes x (2 steps, then --resume to 4 with --accumulate 2) == 1 process x 4 steps."""
    train(gt, tmp_path / "one", steps=4, log_every=1, checkpoint_every=2, model_overrides=SMALL,
          progress=False, device="cpu", **OPTS)
    model_set = [a for k, v in SMALL.items() for a in ("--model-set", f"{k}={json.dumps(v)}")]
    run = tmp_path / "ddp"
    common = ["--gt", str(gt), "--out", str(run), "--device", "cpu", "--log-every", "1",
              *_cli_options(**OPTS)]
    _torchrun(2, *common, "--steps", "2", "--checkpoint-every", "2", *model_set)
    meta = json.loads((run / "checkpoint.json").read_text())
    assert meta["step"] == 2 and meta["runtime"]["processes"] == 2 and meta["model"]["dim"] == SMALL["dim"]
    _torchrun(2, *common, "--steps", "4", "--resume", "--accumulate", "2")
    meta = json.loads((run / "checkpoint.json").read_text())
    assert meta["step"] == 4 and meta["runtime"]["accumulate"] == 2 and meta["runtime"]["micro_batch"] == 1

    one, ddp = _losses(tmp_path / "one"), _losses(run)
    assert sorted(ddp) == [1, 2, 3, 4]  # rank 0 alone writes the log, each step once
    for step in (1, 2, 3, 4):
        for term in ("loss", "depth_si", "canonical", "canonical_err"):
            assert float(ddp[step][term]) == pytest.approx(float(one[step][term]), abs=2e-6), (step, term)
    wa = load_file(str(tmp_path / "one" / "checkpoint.safetensors"))
    wb = load_file(str(run / "checkpoint.safetensors"))
    for name in wa:
        torch.testing.assert_close(wb[name], wa[name], rtol=0, atol=1e-6, msg=name)
    assert (run / "loss_curve.png").is_file() and not list(run.glob("*.tmp"))
