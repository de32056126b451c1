"""Training loop of the reference transformer: deterministic, resumable, logged.

Batches are a pure function of ``(seed, step)`` (see :class:`StepBatches`), the
model has no dropout, and the optimizer, scheduler and RNG states are saved
with every checkpoint, so a run stopped at step k and resumed gives the same
weights as a run that never stopped.

Run folder::

    RUN/checkpoint.safetensors, checkpoint.json   weights + config/step (latest)
    RUN/train_state.pt                            optimizer, scheduler, RNG (weights-only torch file)
    RUN/train_log.csv                             step, loss terms, lr, elapsed_s
    RUN/loss_curve.png
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np

from facebench.baseline.config import TrainConfig, get_config
from facebench.errors import InputError

LOG_FIELDS = ["step", "loss", "depth_si", "depth_grad", "depth_conf", "canonical", "foreground",
              "canonical_err", "lr", "elapsed_s"]


class StepBatches:
    """Batch sampler: the indices of step ``k`` are drawn from ``default_rng([seed, k])``."""

    def __init__(self, n_items: int, batch_size: int, seed: int, start: int, stop: int):
        self.n_items, self.batch_size, self.seed = n_items, batch_size, seed
        self.start, self.stop = start, stop

    def __len__(self):
        return max(0, self.stop - self.start)

    def __iter__(self):
        for step in range(self.start, self.stop):
            rng = np.random.default_rng([self.seed, step])
            yield rng.integers(self.n_items, size=self.batch_size).tolist()


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up then cosine decay to 5% of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))


def train(gt_dir, out_dir, config: str = "tiny", steps: int | None = None, resume: bool = False,
          seed: int | None = None, batch_size: int | None = None, lr: float | None = None,
          window: int | None = None, num_workers: int | None = None, checkpoint_every: int | None = None,
          model_overrides: dict | None = None, warmup: int | None = None, threads: int | None = None,
          prior_jitter: tuple[float, float] | None = None, init=None, keep_checkpoints: bool = False,
          progress: bool = True) -> dict:
    """Train (or resume) a :class:`FaceTransformer` on the GT shards in ``gt_dir`` (a folder or a list).

    ``threads`` sets torch's CPU threads (1 is much faster on a busy shared machine).
    ``prior_jitter``: (metres, degrees) sigmas of the prior augmentation (see :class:`TrainConfig`).
    ``init``: a checkpoint to start a new run from (fine-tuning): every tensor whose name and
    shape match is copied, new parts (e.g. a pose head) keep their initialisation.
    ``keep_checkpoints``: also keep every checkpoint as ``ck-STEP.safetensors`` (+ .json), to
    choose one on a validation split afterwards.

    Returns a summary dict: steps, final loss terms, seconds, run folder.
    """
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from facebench.baseline.checkpoint import (
        load_training_state,
        read_meta,
        save_checkpoint,
        save_training_state,
    )
    from facebench.baseline.losses import total_loss
    from facebench.baseline.model import FaceTransformer
    from facebench.data import ShardDataset

    out_dir = Path(out_dir)
    ckpt = out_dir / "checkpoint.safetensors"
    given = {k: v for k, v in dict(steps=steps, seed=seed, batch_size=batch_size, lr=lr, window=window,
                                    num_workers=num_workers, checkpoint_every=checkpoint_every,
                                    warmup=warmup).items()
             if v is not None}
    if prior_jitter is not None:
        given["prior_jitter_m"], given["prior_jitter_deg"] = (float(v) for v in prior_jitter)
    if threads:
        torch.set_num_threads(int(threads))
    start, elapsed0 = 0, 0.0
    if resume:
        if not ckpt.is_file():
            raise InputError("--resume: no checkpoint in the run folder", path=out_dir)
        meta = read_meta(ckpt)
        from facebench.baseline.config import ModelConfig

        mcfg = ModelConfig.from_dict(meta["model"])
        tcfg = TrainConfig.from_dict({**meta["train"], **given})
        start, elapsed0 = int(meta["step"]), float(meta.get("elapsed_s", 0.0))
    else:
        if ckpt.is_file():
            raise InputError("run folder already holds a checkpoint; pass --resume or a new --out",
                             path=out_dir)
        mcfg = get_config(config, **(model_overrides or {}))
        tcfg = TrainConfig(**given)
    if init is not None and resume:
        raise InputError("--init starts a new run; --resume continues one: pass only one of them")

    torch.manual_seed(tcfg.seed)
    model = FaceTransformer(mcfg)
    init_note = _load_matching(model, init) if init is not None else (meta.get("init") if resume else None)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, tcfg.warmup, tcfg.steps))
    if resume:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(ckpt)))
        state = load_training_state(out_dir / "train_state.pt")
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        _truncate_log(out_dir / "train_log.csv", start)
    out_dir.mkdir(parents=True, exist_ok=True)

    gt_dirs = [gt_dir] if isinstance(gt_dir, (str, Path)) else list(gt_dir)
    parts = [ShardDataset(g, window=tcfg.window, size=mcfg.image_size, seed=tcfg.seed + i, prior=mcfg.prior,
                          prior_jitter=(tcfg.prior_jitter_m, tcfg.prior_jitter_deg))
             for i, g in enumerate(gt_dirs)]
    dataset = parts[0] if len(parts) == 1 else torch.utils.data.ConcatDataset(parts)
    n_clips = sum(len(p.clips) for p in parts)
    loader = DataLoader(dataset, batch_sampler=StepBatches(len(dataset), tcfg.batch_size, tcfg.seed,
                                                           start, tcfg.steps),
                        num_workers=tcfg.num_workers, persistent_workers=False)

    def checkpoint(step, elapsed):
        meta = {"step": step, "elapsed_s": round(elapsed, 2), "train": tcfg.to_dict(),
                "gt_dir": [str(g) for g in gt_dirs], "clips": n_clips, "last": last}
        if init_note is not None:
            meta["init"] = init_note
        save_checkpoint(ckpt, model, meta)
        if keep_checkpoints:
            save_checkpoint(out_dir / f"ck-{step:05d}.safetensors", model, meta)
        save_training_state(out_dir / "train_state.pt", opt, sched, {"torch": torch.get_rng_state()})

    model.train()
    t0, last = time.perf_counter(), {}
    log_path = out_dir / "train_log.csv"
    new_log = not log_path.is_file()
    with open(log_path, "a", newline="") as fh, tqdm(total=tcfg.steps, initial=start, disable=not progress,
                                                      desc="train", unit="step") as bar:
        writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
        if new_log:
            writer.writeheader()
        step = start
        for batch in loader:
            out = model(batch["image"], batch.get("prior"), rotation=batch["T_cam_from_world"][:, :3, :3])
            loss, terms = total_loss(out, batch, tcfg.loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
            opt.step()
            sched.step()
            step += 1
            elapsed = elapsed0 + time.perf_counter() - t0
            last = {k: round(v, 6) for k, v in terms.items()}
            if step % tcfg.log_every == 0 or step == tcfg.steps:
                writer.writerow({**last, "step": step, "lr": f"{opt.param_groups[0]['lr']:.3e}",
                                 "elapsed_s": round(elapsed, 2)})
                fh.flush()
            bar.set_postfix(loss=f"{terms['loss']:.4f}", canon=f"{terms['canonical_err']:.4f}")
            bar.update(1)
            if step % tcfg.checkpoint_every == 0 or step == tcfg.steps:
                checkpoint(step, elapsed)
    elapsed = elapsed0 + time.perf_counter() - t0
    plot_loss_curve(log_path, out_dir / "loss_curve.png")
    return {"run_dir": str(out_dir), "steps": step, "elapsed_s": round(elapsed, 1), "last": last}


def _load_matching(model, path) -> dict:
    """Copy the tensors of checkpoint ``path`` whose names and shapes match ``model``'s."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise InputError("--init: no such checkpoint", path=path)
    try:
        weights = load_file(str(path))
    except Exception as exc:  # safetensors raises several types for a bad file
        raise InputError(f"--init: not a safetensors checkpoint ({exc})", path=path) from None
    own = model.state_dict()
    take = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
    if not take:
        raise InputError("--init: no tensor of this checkpoint fits the model", path=path)
    model.load_state_dict(take, strict=False)
    return {"checkpoint": str(path), "copied": len(take), "new": sorted(set(own) - set(take))}


def _truncate_log(path: Path, step: int) -> None:
    """Drop log rows written after the checkpoint we resume from."""
    if not path.is_file():
        return
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= step]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def plot_loss_curve(log_path, png_path) -> None:
    """Loss terms against step, log scale where positive."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(log_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for key in ("loss", "depth_si", "depth_grad", "canonical"):
        axes[0].plot(steps, [float(r[key]) for r in rows], label=key)
    axes[0].set_xlabel("step")
    axes[0].set_title("loss terms")
    axes[0].legend()
    axes[1].plot(steps, [float(r["canonical_err"]) for r in rows], color="C4")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("step")
    axes[1].set_title("mean canonical error (normalized units)")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
