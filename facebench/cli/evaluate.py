"""``facebench evaluate``: score predictions against GT and write a results record."""

import click


@click.command()
@click.option("--preds", required=True, type=click.Path(exists=True), help="Predictions folder or .zip.")
@click.option("--gt", type=click.Path(file_okay=False), default=None,
              help="GT folder [default: $FACEBENCH_HOME/gt/{benchmark}].")
@click.option("--benchmark", default=None, help="Benchmark name [default: meta.json, else the GT].")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the results record here.")
@click.option("--allow-missing", is_flag=True,
              help="Score missing clips as failures (worst values) instead of stopping.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Clips scored in parallel (1: in this process).")
@click.option("--backend", type=click.Choice(["loky", "dask", "ray"]), default="loky", show_default=True,
              help="Where parallel scoring runs: local processes, a Dask or a Ray cluster.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler (tcp://host:8786) or Ray address; Dask without it starts a LocalCluster.")
def evaluate(preds, gt, benchmark, out, allow_missing, workers, backend, scheduler):
    """Score every GT clip; print a summary table.  The record is the same for every backend."""
    from facebench.evaluate import evaluate as run_evaluate
    from facebench.evaluate.summary import format_results

    record = run_evaluate(preds, gt=gt, benchmark=benchmark, out=out, allow_missing=allow_missing,
                          backend=backend, workers=workers, scheduler=scheduler)
    click.echo(format_results(record))
    if out:
        click.echo(f"wrote {out}")
