"""``facebench demo``: the main job end to end on built-in synthetic data."""

import click


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo-out", show_default=True,
              help="Folder for everything the demo writes.")
def demo(out):
    """Run the whole pipeline end to end on built-in synthetic data."""
    from facebench.demo import run_demo

    run_demo(out)
