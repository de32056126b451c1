"""``facebench info PATH``: summarise a GT folder, a predictions folder or a results record."""

import click


@click.command()
@click.argument("path", type=click.Path(exists=True))
def info(path):
    """Summarise PATH: a GT folder, a predictions folder or a results record (.json)."""
    from facebench.report import info as describe

    click.echo(describe(path))
