"""Training loop of the reference transformer: deterministic, resumable, logged.

Batches are a pure function of ``(seed, step)`` (see :class:`StepBatches`), the
model has no dropout, and the optimizer, scheduler and RNG states are saved
with every checkpoint, so a run stopped at step k and resumed gives the same
weights as a run that never stopped.

Under ``torchrun --nproc-per-node N -m facebench baseline train ...`` every rank trains its
share of the same global batches with DistributedDataParallel (:mod:`facebench.baseline.engine`),
so N processes, or ``accumulate`` micro-batches, follow the one-process loss trajectory; rank 0
alone writes the run folder.

Run folder::

    RUN/checkpoint.safetensors, checkpoint.json   weights + config/step (latest)
    RUN/train_state.pt                            optimizer, scheduler, RNG (weights-only torch file)
    RUN/train_log.csv                             step, loss terms, lr, elapsed_s
    RUN/loss_curve.png
"""

from __future__ import annotations

import contextlib
import csv
import math
import time
from pathlib import Path

from facebench.baseline.config import TrainConfig, get_config
from facebench.baseline.engine import StepBatches
from facebench.errors import InputError

__all__ = ["LOG_FIELDS", "StepBatches", "lr_factor", "plot_loss_curve", "train"]

LOG_FIELDS = ["step", "loss", "depth_si", "depth_grad", "depth_conf", "canonical", "foreground",
              "canonical_err", "lr", "elapsed_s"]


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
          progress: bool = True, device: str | None = "auto", precision: str | None = "auto",
          compile: bool = False, accumulate: int = 1, log_every: int | None = None,
          augment: bool | None = None) -> dict:
    """Train (or resume) a :class:`FaceTransformer` on the GT shards in ``gt_dir`` (a folder or a list).

    ``threads`` sets torch's CPU threads (1 is much faster on a busy shared machine).
    ``prior_jitter``: (metres, degrees) sigmas of the prior augmentation (see :class:`TrainConfig`).
    ``init``: a checkpoint to start a new run from (fine-tuning): every tensor whose name and
    shape match is copied, new parts (e.g. a pose head) keep their initialisation.
    ``keep_checkpoints``: also keep every checkpoint as ``ck-STEP.safetensors`` (+ .json), to
    choose one on a validation split afterwards.
    ``device`` / ``precision`` / ``compile``: see :mod:`facebench.baseline.runtime`.
    ``augment``: domain randomisation of the training windows (:mod:`facebench.baseline.augment`).
    ``accumulate``: micro-batches per step on each process (the global batch stays ``batch_size``).
    Under torchrun (``WORLD_SIZE`` > 1) the run is one of several DDP processes.

    Returns a summary dict: steps, final loss terms, seconds, run folder.
    """
    import torch

    from facebench.baseline.checkpoint import read_meta
    from facebench.baseline.engine import check_split
    from facebench.baseline.runtime import Dist, configure_backends, resolve_precision

    out_dir = Path(out_dir)
    ckpt = out_dir / "checkpoint.safetensors"
    given = {k: v for k, v in dict(steps=steps, seed=seed, batch_size=batch_size, lr=lr, window=window,
                                    num_workers=num_workers, checkpoint_every=checkpoint_every,
                                    warmup=warmup, log_every=log_every, augment=augment).items()
             if v is not None}
    if prior_jitter is not None:
        given["prior_jitter_m"], given["prior_jitter_deg"] = (float(v) for v in prior_jitter)
    if init is not None and resume:
        raise InputError("--init starts a new run; --resume continues one: pass only one of them")
    if threads:
        torch.set_num_threads(int(threads))
    start, elapsed0, meta = 0, 0.0, None
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
        overrides = dict(model_overrides or {})
        if "template" not in overrides:  # the model's canonical space is its training GT's
            from facebench.io.shards import GTReader

            first = gt_dir if isinstance(gt_dir, (str, Path)) else list(gt_dir)[0]
            overrides["template"] = GTReader(first).template_name
        mcfg = get_config(config, **overrides)
        tcfg = TrainConfig(**given)
    dist = Dist.start(device)
    try:
        micro = check_split(tcfg.batch_size, dist.world, int(accumulate))
        precision = resolve_precision(precision, dist.device)
        configure_backends(dist.device)
        runtime = {"device": dist.device, "precision": precision, "processes": dist.world,
                   "accumulate": int(accumulate), "micro_batch": micro, "compile": bool(compile)}
        return _run(gt_dir, out_dir, mcfg, tcfg, dist, runtime, start=start, elapsed0=elapsed0,
                    resume_meta=meta if resume else None, init=init, keep_checkpoints=keep_checkpoints,
                    progress=progress)
    finally:
        dist.close()


def _run(gt_dir, out_dir: Path, mcfg, tcfg: TrainConfig, dist, runtime: dict, *, start: int,
         elapsed0: float, resume_meta: dict | None, init, keep_checkpoints: bool, progress: bool) -> dict:
    """The training loop of :func:`train`, once its settings are resolved."""
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from facebench.baseline.checkpoint import load_training_state, save_checkpoint, save_training_state
    from facebench.baseline.engine import train_step
    from facebench.baseline.model import FaceTransformer
    from facebench.baseline.runtime import compile_model
    from facebench.data import ShardDataset

    ckpt, resume = out_dir / "checkpoint.safetensors", resume_meta is not None
    torch.manual_seed(tcfg.seed)
    model = FaceTransformer(mcfg)
    init_note = _load_matching(model, init) if init is not None else (resume_meta or {}).get("init")
    if resume:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(ckpt)))
    model.to(dist.device)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, tcfg.warmup, tcfg.steps))
    if resume:
        state = load_training_state(out_dir / "train_state.pt")
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        if dist.main:
            _truncate_log(out_dir / "train_log.csv", start)
    if dist.main:
        out_dir.mkdir(parents=True, exist_ok=True)
    trained = dist.wrap(compile_model(model, runtime["compile"]))

    gt_dirs = [gt_dir] if isinstance(gt_dir, (str, Path)) else list(gt_dir)
    parts = [ShardDataset(g, window=tcfg.window, size=mcfg.image_size, seed=tcfg.seed + i, prior=mcfg.prior,
                          prior_jitter=(tcfg.prior_jitter_m, tcfg.prior_jitter_deg),
                          prior_template=mcfg.template, prior_source=mcfg.prior_source,
                          augment=tcfg.augment)
             for i, g in enumerate(gt_dirs)]
    dataset = parts[0] if len(parts) == 1 else torch.utils.data.ConcatDataset(parts)
    n_clips = sum(len(p.clips) for p in parts)
    workers = tcfg.num_workers
    loader = DataLoader(dataset, batch_sampler=StepBatches(len(dataset), tcfg.batch_size, tcfg.seed, start,
                                                           tcfg.steps, rank=dist.rank, world=dist.world),
                        num_workers=workers, pin_memory=dist.device.startswith("cuda"),
                        prefetch_factor=4 if workers else None, persistent_workers=False)

    def checkpoint(step, elapsed):
        meta = {"step": step, "elapsed_s": round(elapsed, 2), "train": tcfg.to_dict(),
                "gt_dir": [str(g) for g in gt_dirs], "clips": n_clips, "last": last, "runtime": runtime}
        if init_note is not None:
            meta["init"] = init_note
        save_checkpoint(ckpt, model, meta)
        if keep_checkpoints:
            save_checkpoint(out_dir / f"ck-{step:05d}.safetensors", model, meta)
        save_training_state(out_dir / "train_state.pt", opt, sched, {"torch": torch.get_rng_state()})

    trained.train()
    t0, last = time.perf_counter(), {}
    log_path = out_dir / "train_log.csv"
    step = start
    with contextlib.ExitStack() as stack:
        writer = fh = None
        if dist.main:
            new_log = not log_path.is_file()
            fh = stack.enter_context(open(log_path, "a", newline=""))
            writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
            if new_log:
                writer.writeheader()
        bar = stack.enter_context(tqdm(total=tcfg.steps, initial=start, desc="train", unit="step",
                                       disable=not (progress and dist.main)))
        for batch in loader:
            terms = train_step(trained, opt, batch, tcfg.loss, dist=dist, accumulate=runtime["accumulate"],
                               precision=runtime["precision"], grad_clip=tcfg.grad_clip)
            sched.step()
            step += 1
            elapsed = elapsed0 + time.perf_counter() - t0
            last = {k: round(x, 6) for k, x in terms.items()}
            if dist.main and (step % tcfg.log_every == 0 or step == tcfg.steps):
                writer.writerow({**last, "step": step, "lr": f"{opt.param_groups[0]['lr']:.3e}",
                                 "elapsed_s": round(elapsed, 2)})
                fh.flush()
            bar.set_postfix(loss=f"{terms['loss']:.4f}", canon=f"{terms['canonical_err']:.4f}")
            bar.update(1)
            if dist.main and (step % tcfg.checkpoint_every == 0 or step == tcfg.steps):
                checkpoint(step, elapsed)
    elapsed = elapsed0 + time.perf_counter() - t0
    if dist.main:
        plot_loss_curve(log_path, out_dir / "loss_curve.png")
    dist.barrier()  # the run folder is complete when any rank returns
    return {"run_dir": str(out_dir), "steps": step, "elapsed_s": round(elapsed, 1), "last": last,
            "runtime": runtime, "main": dist.main}


def _load_matching(model, path) -> dict:
    """Copy the tensors of checkpoint ``path`` whose names and shapes match ``model``'s."""
    from safetensors.torch import load_file

    from facebench.baseline.checkpoint import resolve_checkpoint

    path = resolve_checkpoint(path)
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
