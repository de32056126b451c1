"""``facebench benchmarks``: list the shipped benchmarks."""

import click


@click.command()
def benchmarks():
    """List the benchmarks (datasets/*/benchmark.yaml) with their main metric."""
    from facebench.benchmarks import list_benchmarks
    from facebench.evaluate.summary import format_benchmarks

    click.echo(format_benchmarks(list_benchmarks()))
