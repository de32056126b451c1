import csv

import pytest
import torch
from safetensors.torch import load_file

from facebench.baseline.checkpoint import load_model, read_meta
from facebench.baseline.train import StepBatches, lr_factor, train
from facebench.errors import InputError
from tests.baseline_helpers import SMALL, make_gt

ARGS = dict(config="tiny", batch_size=2, window=2, lr=1e-3, model_overrides=SMALL, progress=False)


@pytest.fixture(scope="module")
def gt(tmp_path_factory):
    return make_gt(tmp_path_factory.mktemp("gt"), T=4, H=24, W=32)


def test_step_batches_depend_only_on_seed_and_step():
    a = list(StepBatches(10, 3, seed=1, start=0, stop=6))
    b = list(StepBatches(10, 3, seed=1, start=3, stop=6))
    assert a[3:] == b and all(len(x) == 3 for x in a)


def test_lr_schedule():
    assert lr_factor(0, warmup=10, total=100) == pytest.approx(0.1)
    assert lr_factor(10, warmup=10, total=100) == pytest.approx(1.0)
    assert lr_factor(100, warmup=10, total=100) == pytest.approx(0.05)


def test_resume_equals_straight_run(gt, tmp_path):
    straight = train(gt, tmp_path / "a", steps=6, checkpoint_every=3, **ARGS)
    # run c: 3 steps, stop, resume to 6
    train(gt, tmp_path / "c", steps=3, checkpoint_every=3, **ARGS)
    resumed = train(gt, tmp_path / "c", steps=6, resume=True, progress=False)
    assert straight["steps"] == resumed["steps"] == 6
    wa = load_file(str(tmp_path / "a" / "checkpoint.safetensors"))
    wc = load_file(str(tmp_path / "c" / "checkpoint.safetensors"))
    for name in wa:
        torch.testing.assert_close(wa[name], wc[name], rtol=1e-5, atol=1e-6, msg=name)
    with open(tmp_path / "c" / "train_log.csv") as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh)]
    assert steps == [3, 6]  # log_every 10: the last step of each leg is logged, nothing twice
    assert (tmp_path / "c" / "loss_curve.png").stat().st_size > 1000
    meta = read_meta(tmp_path / "c" / "checkpoint.safetensors")
    assert meta["step"] == 6 and meta["model"]["dim"] == SMALL["dim"]
    model, _ = load_model(tmp_path / "c" / "checkpoint.safetensors")
    assert model.config.dim == SMALL["dim"] and not model.training


def test_refuses_to_overwrite_or_resume_nothing(gt, tmp_path):
    train(gt, tmp_path / "r", steps=1, **ARGS)
    with pytest.raises(InputError, match="already holds a checkpoint"):
        train(gt, tmp_path / "r", steps=1, **ARGS)
    with pytest.raises(InputError, match="no checkpoint"):
        train(gt, tmp_path / "empty", steps=1, resume=True)


def test_init_copies_matching_tensors(gt, tmp_path):
    train(gt, tmp_path / "src", steps=2, **ARGS)
    src = tmp_path / "src" / "checkpoint.safetensors"
    # the new run adds a prior and a pose head: the encoder and heads come from src, the rest is new
    args = {**ARGS, "model_overrides": {**SMALL, "prior": True, "pose_head": True}}
    train(gt, tmp_path / "ft", steps=2, checkpoint_every=1, init=src, prior_jitter=(0.005, 2.0),
          keep_checkpoints=True, **{**args, "lr": 1e-12})
    assert read_meta(tmp_path / "ft" / "ck-00001.safetensors")["step"] == 1
    assert (tmp_path / "ft" / "ck-00002.safetensors").is_file()
    meta = read_meta(tmp_path / "ft" / "checkpoint.safetensors")
    assert meta["init"]["checkpoint"] == str(src) and meta["init"]["copied"] > 10
    assert any(n.startswith("pose_head.") for n in meta["init"]["new"])
    assert "encoder.prior_embed.weight" in meta["init"]["new"]
    assert meta["train"]["prior_jitter_m"] == 0.005 and meta["train"]["prior_jitter_deg"] == 2.0
    a, b = load_file(str(src)), load_file(str(tmp_path / "ft" / "checkpoint.safetensors"))
    torch.testing.assert_close(a["encoder.blocks.0.attn.qkv.weight"], b["encoder.blocks.0.attn.qkv.weight"],
                               rtol=1e-6, atol=1e-6)  # lr 1e-12: one step changes nothing
    with pytest.raises(InputError, match="no such checkpoint"):
        train(gt, tmp_path / "bad", steps=1, init=tmp_path / "nope.safetensors", **ARGS)
    with pytest.raises(InputError, match="only one"):
        train(gt, tmp_path / "ft", steps=2, resume=True, init=src, progress=False)


def _recipe(name):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    return recipe


def test_training_recipes_are_consistent():
    """benchmarks/train_tiny_head.py (tiny-head's recipe), benchmarks/train_tiny_ict.py (tiny-ict's,
    from tiny-head) and benchmarks/train_tiny.py (the shipped tiny's, from tiny-ict): every stage's
    data and init exist, no training or validation participant is a test participant of the
    benchmark, and each shipped checkpoint's model is its recipe's last stage's."""
    from facebench.baseline.checkpoint import load_model
    from facebench.baseline.config import get_config
    from facebench.benchmarks import get_benchmark

    head = _recipe("train_tiny_head")
    names = {row[0] for row in head.TRAIN_DATA}
    seen = []
    for name, stage in head.STAGES.items():
        assert set(stage["data"]) <= names
        assert stage.get("init") in (None, *seen)
        get_config("tiny", **stage["model_overrides"])  # valid overrides
        seen.append(name)
    train_ids = {p for _, _, lo, hi, *_ in head.TRAIN_DATA for p in range(lo, hi)}
    val_ids = {p for _, lo, hi, *_ in head.VAL_DATA for p in range(lo, hi)}
    test_ids = {int(p) for p in get_benchmark("synth-v1").source["participants"]}
    assert not train_ids & val_ids and not (train_ids | val_ids) & test_ids
    model, _ = load_model("tiny-head")
    assert model.config == get_config("tiny", **list(head.STAGES.values())[-1]["model_overrides"])

    ict = _recipe("train_tiny_ict")
    train_ids = {p for _, lo, hi, *_ in ict.TRAIN_DATA for p in range(lo, hi)}
    val_ids = {p for _, lo, hi, *_ in ict.VAL_DATA for p in range(lo, hi)}
    test_ids = {int(p) for p in get_benchmark("synth-v2").source["participants"]}
    assert max(train_ids) < 800 <= min(val_ids) and max(val_ids) < 900 and min(test_ids) >= 900
    stages = list(ict.STAGES)
    assert ict.INIT == "tiny-head" and ict.STAGES[stages[0]]["init"] == "tiny-head"
    assert all(ict.STAGES[name]["init"] in stages[:i] for i, name in enumerate(stages) if i)
    assert set(ict.VALIDATE) <= set(stages)
    model, meta = load_model("tiny-ict")
    assert model.config == get_config("tiny", **ict.STAGES[stages[-1]]["model_overrides"])
    assert model.config.template == "ict-light" and meta["init"]["checkpoint"].endswith(".safetensors")

    real = _recipe("train_tiny")
    train_ids = {p for _, lo, hi, *_ in real.DATA for p in range(lo, hi)}
    val_ids = set(range(real.VAL[1], real.VAL[2]))
    assert max(train_ids) < 800 <= min(val_ids) and max(val_ids) < 900
    assert {n for n, *_ in real.DATA} <= {n for n, *_ in ict.TRAIN_DATA}
    stages = list(real.STAGES)
    assert real.INIT == "tiny-ict" and real.STAGES[stages[0]]["init"] == "tiny-ict"
    assert all(real.STAGES[name]["init"] in stages[:i] for i, name in enumerate(stages) if i)
    assert set(real.VALIDATE) <= set(stages)
    model, meta = load_model()  # the shipped tiny
    assert model.config == get_config("tiny", **real.STAGES[stages[-1]]["model_overrides"])
    assert model.config.prior_source == "fit" and meta["train"]["augment"]
    assert meta["init"]["checkpoint"].endswith("tiny-ict.safetensors")  # the recipe's INIT
