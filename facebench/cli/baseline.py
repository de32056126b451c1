"""``facebench baseline train|predict``: the reference transformer and trivial rows."""

import json

import click

DEVICE = click.Choice(["auto", "cpu", "cuda", "mps"], case_sensitive=False)
PRECISION = click.Choice(["auto", "fp32", "bf16"], case_sensitive=False)


def _model_set(pairs) -> dict:
    """``KEY=VALUE`` model-config overrides; VALUE is JSON (``dim=64``, ``prior=false``) or a string."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--model-set")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


@click.group()
def baseline():
    """Train the reference transformer or write predictions with it (or a trivial row)."""


@baseline.command()
@click.option("--gt", "gt_dir", required=True, multiple=True, type=click.Path(file_okay=False),
              help="GT folder (manifest.json + shards/) to train on; repeat for several.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder: checkpoints, train_log.csv, loss_curve.png.")
@click.option("--config", default="tiny", show_default=True, help="Model size: tiny (CPU) or base (GPU).")
@click.option("--steps", type=int, default=None, help="Total optimisation steps [default: 2000].")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--seed", type=int, default=None, help="Seed for weights and batch order [default: 0].")
@click.option("--batch-size", type=int, default=None,
              help="Sequences per step, over all processes [default: 2].")
@click.option("--lr", type=float, default=None, help="Peak learning rate [default: 4e-4].")
@click.option("--window", type=int, default=None, help="Frames per training sequence [default: 4].")
@click.option("--workers", type=int, default=None, help="DataLoader worker processes [default: 0].")
@click.option("--checkpoint-every", type=int, default=None, help="Steps between checkpoints [default: 250].")
@click.option("--warmup", type=int, default=None, help="Linear warm-up steps [default: 100].")
@click.option("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy machine).")
@click.option("--prior-jitter", nargs=2, type=float, default=None, metavar="METRES DEGREES",
              help="Render each sample's template prior with the template moved by a random rigid "
                   "transform of these sigmas [default: 0 0].")
@click.option("--init", "init", type=click.Path(dir_okay=False), default=None,
              help="Start from this checkpoint's weights (fine-tuning; matching tensors only).")
@click.option("--keep-checkpoints", is_flag=True,
              help="Also keep every checkpoint as ck-STEP.safetensors (to pick one on validation data).")
@click.option("--device", type=DEVICE, default="auto", show_default=True,
              help="auto: CUDA when present (each torchrun rank takes cuda:LOCAL_RANK), else CPU.")
@click.option("--precision", type=PRECISION, default="auto", show_default=True,
              help="auto: bf16 autocast on CUDA, fp32 elsewhere.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model (needs a C++ compiler).")
@click.option("--accumulate", type=int, default=1, show_default=True,
              help="Micro-batches per step and process; the global --batch-size stays the same.")
@click.option("--log-every", type=int, default=None, help="Steps between train_log.csv rows [default: 10].")
@click.option("--model-set", multiple=True, metavar="KEY=VALUE",
              help="Override a model config field of a new run (experiments, tests), e.g. dim=64.")
def train(gt_dir, out_dir, config, steps, resume, seed, batch_size, lr, window, workers, checkpoint_every,
          warmup, threads, prior_jitter, init, keep_checkpoints, device, precision, compile_, accumulate,
          log_every, model_set):
    """Train (or --resume) the reference transformer on GT shards.

    Several processes: torchrun --nproc-per-node N -m facebench baseline train ... (same options;
    DDP, NCCL on CUDA, gloo on CPU; --batch-size is the global batch).
    """
    from facebench.baseline.train import train as run

    summary = run(gt_dir, out_dir, config=config, steps=steps, resume=resume, seed=seed,
                  batch_size=batch_size, lr=lr, window=window, num_workers=workers,
                  checkpoint_every=checkpoint_every, warmup=warmup, threads=threads,
                  prior_jitter=prior_jitter, init=init, keep_checkpoints=keep_checkpoints,
                  device=device, precision=precision, compile=compile_, accumulate=accumulate,
                  log_every=log_every, model_overrides=_model_set(model_set) or None)
    if not summary["main"]:  # under torchrun, rank 0 reports
        return
    last = summary["last"]
    click.echo(f"trained {summary['steps']} steps in {summary['elapsed_s']:.0f} s; "
               f"loss {last.get('loss', float('nan')):.4f}, canonical error "
               f"{last.get('canonical_err', float('nan')):.4f} (normalized); run in {summary['run_dir']}/")


@baseline.command()
@click.option("--gt", "gt_dir", required=True, type=click.Path(file_okay=False), help="GT folder to predict.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Predictions folder (SPEC §5).")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="A .safetensors checkpoint or a shipped name (tiny, tiny-ict, tiny-head) [default: tiny].")
@click.option("--method", type=click.Choice(["transformer", "mean-depth-plane", "template-frontal"]),
              default="transformer", show_default=True, help="The model, or a trivial reference row.")
@click.option("--frames-per-window", type=int, default=None,
              help="Frames the model sees together [default: its training window].")
@click.option("--device", type=DEVICE, default="auto", show_default=True,
              help="auto: CUDA when present, else CPU.")
@click.option("--precision", type=PRECISION, default="auto", show_default=True,
              help="auto: bf16 autocast on CUDA, fp32 elsewhere.")
@click.option("--batch-windows", type=int, default=8, show_default=True,
              help="Windows of a clip run together in one forward pass.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model (needs a C++ compiler).")
@click.option("--benchmark", default=None, help="Benchmark named in meta.json [default: the GT's].")
@click.option("--track-distance", type=float, default=0.05, show_default=True,
              help="Canonical match distance (normalized units) below which a tracked point is visible.")
def predict(gt_dir, out_dir, checkpoint, method, frames_per_window, device, precision, batch_windows,
            compile_, benchmark, track_distance):
    """Write predictions (depth, canonical, confidence, tracks) for every clip of a GT folder."""
    from facebench.baseline.predict import predict as run

    meta = run(gt_dir, out_dir, checkpoint=checkpoint, method=method, frames_per_window=frames_per_window,
               device=device, benchmark=benchmark, max_distance=track_distance, precision=precision,
               batch_windows=batch_windows, compile=compile_)
    click.echo(f"{meta['method']}: {meta['clips']} clips, {meta['frames']} frames, "
               f"{meta['runtime_s_per_frame'] * 1000:.1f} ms/frame on {meta['device']}; wrote {out_dir}/")
