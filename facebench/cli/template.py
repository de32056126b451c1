"""``facebench template show``: render a template overview grid to a PNG."""

import click


@click.group()
def template():
    """Inspect canonical templates (ict-light, facebench-head, FLAME)."""


@template.command()
@click.option("--template", "name", default=None,
              help="Template name (default: ict-light), or flame:/path/to/flame2023.pkl.")
@click.argument("template_name", required=False)
@click.option("--out", type=click.Path(dir_okay=False), default="template.png", show_default=True,
              help="PNG file to write.")
@click.option("--size", type=int, default=256, show_default=True, help="Pixels per panel.")
def show(name, template_name, out, size):
    """Render neutral, identity and expression variations, canonical colours and regions."""
    from facebench.templates import DEFAULT_TEMPLATE, load
    from facebench.templates.figure import template_figure

    tpl = load(name or template_name or DEFAULT_TEMPLATE)
    template_figure(tpl, out, size=size)
    click.echo(f"{tpl.name}: V={tpl.n_vertices} F={len(tpl.faces)} n_identity={tpl.n_identity} "
               f"n_expression={tpl.n_expression} sha256={tpl.sha256[:12]} -> {out}")
    if getattr(tpl, "license_path", None):
        click.echo(f"{tpl.source}; licence: {tpl.license_path}")
