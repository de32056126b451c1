"""``facebench demo``: the main job end to end on built-in synthetic data."""

import click


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo-out", show_default=True,
              help="Folder for everything the demo writes (a rerun reuses the capture).")
@click.option("--preset", type=click.Choice(["tiny", "small"]), default="small", show_default=True,
              help="Synthetic capture size: tiny (3 cameras, seconds) or small (16 cameras, minutes).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(out, preset, quiet):
    """Run the whole pipeline end to end on built-in synthetic data.

    synthesize a capture with exact truth -> prepare GT with the real pipeline ->
    compare the prepared GT with the truth -> predict with the shipped transformer and
    trivial rows -> evaluate -> publish a leaderboard -> write an HTML report.
    """
    from facebench.demo import run_demo

    run_demo(out, preset=preset, progress=not quiet)
