"""``facebench leaderboard publish|show``: ranked tables from results records."""

import click


@click.group()
def leaderboard():
    """Publish results records into ranked leaderboards, or show one."""


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
