"""``facebench baseline train|predict``: the reference transformer and trivial rows."""

import click


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
@click.option("--batch-size", type=int, default=None, help="Sequences per step [default: 2].")
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
def train(gt_dir, out_dir, config, steps, resume, seed, batch_size, lr, window, workers, checkpoint_every,
          warmup, threads, prior_jitter, init, keep_checkpoints):
    """Train (or --resume) the reference transformer on GT shards."""
    from facebench.baseline.train import train as run

    summary = run(gt_dir, out_dir, config=config, steps=steps, resume=resume, seed=seed,
                  batch_size=batch_size, lr=lr, window=window, num_workers=workers,
                  checkpoint_every=checkpoint_every, warmup=warmup, threads=threads,
                  prior_jitter=prior_jitter, init=init, keep_checkpoints=keep_checkpoints)
    last = summary["last"]
    click.echo(f"trained {summary['steps']} steps in {summary['elapsed_s']:.0f} s; "
               f"loss {last.get('loss', float('nan')):.4f}, canonical error "
               f"{last.get('canonical_err', float('nan')):.4f} (normalized); run in {summary['run_dir']}/")


@baseline.command()
@click.option("--gt", "gt_dir", required=True, type=click.Path(file_okay=False), help="GT folder to predict.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Predictions folder (SPEC §5).")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="A .safetensors checkpoint [default: the shipped tiny model].")
@click.option("--method", type=click.Choice(["transformer", "mean-depth-plane", "template-frontal"]),
              default="transformer", show_default=True, help="The model, or a trivial reference row.")
@click.option("--frames-per-window", type=int, default=None,
              help="Frames the model sees together [default: its training window].")
@click.option("--device", default=None, help="torch device [default: cuda when available, else cpu].")
@click.option("--benchmark", default=None, help="Benchmark named in meta.json [default: the GT's].")
@click.option("--track-distance", type=float, default=0.05, show_default=True,
              help="Canonical match distance (normalized units) below which a tracked point is visible.")
def predict(gt_dir, out_dir, checkpoint, method, frames_per_window, device, benchmark, track_distance):
    """Write predictions (depth, canonical, confidence, tracks) for every clip of a GT folder."""
    from facebench.baseline.predict import predict as run

    meta = run(gt_dir, out_dir, checkpoint=checkpoint, method=method, frames_per_window=frames_per_window,
               device=device, benchmark=benchmark, max_distance=track_distance)
    click.echo(f"{meta['method']}: {meta['clips']} clips, {meta['frames']} frames, "
               f"{meta['runtime_s_per_frame'] * 1000:.1f} ms/frame on {meta['device']}; wrote {out_dir}/")
