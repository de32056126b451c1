"""``facebench validate``: check a predictions folder or .zip against the GT (SPEC §5)."""

import click


@click.command()
@click.option("--preds", required=True, type=click.Path(exists=True), help="Predictions folder or .zip.")
@click.option("--gt", type=click.Path(file_okay=False), default=None,
              help="GT folder [default: $FACEBENCH_HOME/gt/{benchmark}].")
@click.option("--benchmark", default=None, help="Benchmark name [default: from meta.json].")
def validate(preds, gt, benchmark):
    """Check meta.json, that every GT clip has a file, and each file's keys, shapes, dtypes, finiteness."""
    from facebench.errors import ValidationError
    from facebench.evaluate.validate import validate_predictions

    problems = validate_predictions(preds, gt=gt, benchmark=benchmark, progress=True)
    for line in problems:
        click.echo(line, err=True)
    if problems:
        raise ValidationError(f"{preds} is not a valid submission")
    click.echo(f"{preds}: valid")
