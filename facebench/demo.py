"""The end-to-end demo (grows as the toolkit does)."""

from pathlib import Path

import click


def run_demo(out) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    click.echo(f"facebench demo: output in {out}/")
