"""``facebench leaderboard publish|show|site``: ranked tables from results records, and a static site."""

import click


@click.group()
def leaderboard():
    """Publish results records into ranked leaderboards, show one, or build a static site."""


@leaderboard.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default="leaderboards", show_default=True,
              help="Folder holding the leaderboards ({benchmark}-v{version}.csv/.md/.png).")
def publish(results, out):
    """Merge RESULTS.json records into the leaderboards (a method's row is replaced)."""
    from facebench.leaderboard import publish as publish_records

    for path in publish_records(list(results), out=out):
        click.echo(f"wrote {path}")


@leaderboard.command()
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default="leaderboards",
              show_default=True, help="Folder holding the leaderboards.")
@click.option("--all", "all_columns", is_flag=True, help="Show every metric, not only the main ones.")
def show(name, directory, all_columns):
    """Print the leaderboard NAME (e.g. synth-v1, or synth-v1-v1 for one version)."""
    from facebench.leaderboard import show as show_table

    show_table(name, directory, all_columns=all_columns)


@leaderboard.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default="leaderboards",
              show_default=True, help="Folder holding the leaderboards and results/ records.")
@click.option("--out", type=click.Path(file_okay=False), default="site", show_default=True,
              help="Folder the static site is written to.")
@click.option("--reports", type=click.Path(file_okay=False), default=None,
              help="Folder of comparison reports, {benchmark}-v{version}/index.html [default: DIR/reports].")
@click.option("--results", multiple=True, type=click.Path(dir_okay=False),
              help="Another results record to show (repeatable).")
def site(directory, out, reports, results):
    """Write a static site: an index, a sortable page per benchmark version, method cards."""
    from facebench.leaderboard.site import build_site

    click.echo(f"wrote {build_site(directory, out, results=list(results), reports=reports)}")
