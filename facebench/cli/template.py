"""``facebench template show``: render a template overview grid to a PNG."""

import click


@click.group()
def template():
    """Inspect canonical templates (facebench-head, FLAME)."""


@template.command()
@click.option("--template", "name", default="facebench-head", show_default=True,
              help="Template name, or flame:/path/to/flame2023.pkl.")
@click.option("--out", type=click.Path(dir_okay=False), default="template.png", show_default=True,
              help="PNG file to write.")
@click.option("--size", type=int, default=256, show_default=True, help="Pixels per panel.")
def show(name, out, size):
    """Render neutral, identity and expression variations, canonical colours and regions."""
    from facebench.templates import load
    from facebench.templates.figure import template_figure

    tpl = load(name)
    template_figure(tpl, out, size=size)
    click.echo(f"{tpl.name}: V={tpl.n_vertices} F={len(tpl.faces)} n_identity={tpl.n_identity} "
               f"n_expression={tpl.n_expression} sha256={tpl.sha256[:12]} -> {out}")
