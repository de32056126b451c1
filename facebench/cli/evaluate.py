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
def evaluate(preds, gt, benchmark, out, allow_missing):
    """Score every GT clip; print a summary table."""
    from facebench.evaluate import evaluate as run_evaluate
    from facebench.evaluate.summary import format_results

    record = run_evaluate(preds, gt=gt, benchmark=benchmark, out=out, allow_missing=allow_missing)
    click.echo(format_results(record))
    if out:
        click.echo(f"wrote {out}")
