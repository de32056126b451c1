"""``facebench serve``: host benchmarks with hidden GT (web server, users, scoring workers, export)."""

import click

from facebench.server.config import PHASES

DATA = click.option("--data", required=True, type=click.Path(file_okay=False),
                    help="The server's data folder (database, uploads, submissions).")
DB = click.option("--db", default=None, metavar="URL",
                  help="Database URL (postgresql://USER@HOST/DB) [default: $FACEBENCH_SERVER_DB, else SQLite "
                       "in DATA].")
CONFIG = click.option("--config", "config_file", default=None, type=click.Path(dir_okay=False, exists=True),
                      help="Server settings (YAML) [default: DATA/server.yaml if present].")


def _config(data, db=None, config_file=None, **kwargs):
    from facebench.errors import require
    from facebench.server.config import load_config

    for module in ("sqlalchemy", "alembic", "fastapi", "uvicorn", "python_multipart"):
        require(module, "server")

    return load_config(data, db=db, config_file=config_file, **kwargs)


def _database(data, db, config_file=None):
    from facebench.server.run import open_database

    return open_database(_config(data, db, config_file))


@click.group(invoke_without_command=True)
@click.option("--data", type=click.Path(file_okay=False), default=None,
              help="The server's data folder (database, uploads, submissions).")
@click.option("--gt", multiple=True, metavar="BENCHMARK[:PHASE]=GT_DIR",
              help="GT folder of a benchmark and phase (test by default); repeat for more.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port, printed at start).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(0, 64),
              help="Scoring worker processes to start (0: run `facebench serve worker` yourself).")
@DB
@CONFIG
@click.option("--max-upload-mb", type=click.FloatRange(min=0.001), default=None,
              help="Largest upload accepted [default: 256, or max_upload_mb in the config].")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.pass_context
def serve(ctx, data, gt, host, port, workers, db, config_file, max_upload_mb, log_level):
    """Run a benchmark server: participants upload predictions, workers score them against GT that never
    leaves this machine, leaderboards update live.  Subcommands manage users, run workers and export."""
    if ctx.invoked_subcommand is not None:
        return
    if data is None:
        raise click.UsageError("--data is required to start the server")
    from facebench.server.run import serve as run_server

    max_bytes = int(max_upload_mb * (1 << 20)) if max_upload_mb else None
    config = _config(data, db, config_file, gt=gt, max_upload_bytes=max_bytes)
    run_server(config, host=host, port=port, workers=workers, config_file=config_file, log_level=log_level)


@serve.group()
def user():
    """Add, revoke and list the users who may submit."""


@user.command("add")
@click.argument("name")
@DATA
@DB
@click.option("--admin", is_flag=True, help="May see every submission and full test-phase records.")
def user_add(name, data, db, admin):
    """Create NAME (or give an existing one a new token) and print its API token once."""
    from facebench.server.accounts import add_user

    token = add_user(_database(data, db), name, admin=admin)
    click.echo(token)
    click.echo(f"API token for {name}{' (admin)' if admin else ''}: shown once, stored only hashed", err=True)


@user.command("revoke")
@click.argument("name")
@DATA
@DB
def user_revoke(name, data, db):
    """Revoke every API token and browser session of NAME."""
    from facebench.server.accounts import revoke_user

    n = revoke_user(_database(data, db), name)
    click.echo(f"revoked {name} ({n} token(s))")


@user.command("list")
@DATA
@DB
def user_list(data, db):
    """Users, their live token count and whether they are revoked."""
    from facebench.server.accounts import list_users

    for u in list_users(_database(data, db)):
        state = "revoked" if u["revoked_at"] else f"{u['tokens']} token(s)"
        click.echo(f"{u['name']:<24} {'admin' if u['is_admin'] else 'user':<6} {state}")


@serve.command()
@DATA
@DB
@CONFIG
@click.option("--once", is_flag=True, help="Stop when no submission is queued or running.")
@click.option("--parent", type=int, default=None, hidden=True, help="Stop when this process is gone.")
def worker(data, db, config_file, once, parent):
    """Score queued submissions (as many of these as you like, on any machine that reaches the database
    and the data folder)."""
    from facebench.server.db import Database, check_schema
    from facebench.server.jobs import Worker

    config = _config(data, db, config_file)
    database = Database(config.db_url, config.busy_timeout_s)
    check_schema(database)
    Worker(database, config, parent_pid=parent).run(once=once)


@serve.command()
@DATA
@DB
@click.option("--benchmark", required=True, help="Benchmark name.")
@click.option("--phase", type=click.Choice(PHASES), default="test", show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for the records (keep test-phase records private: they hold per-clip scores).")
def export(data, db, benchmark, phase, out):
    """Write the results record of every leaderboard row, for `facebench leaderboard publish`."""
    from facebench.server.board import export_records

    paths = export_records(_database(data, db), benchmark, phase, out)
    for path in paths:
        click.echo(str(path))
    click.echo(f"{len(paths)} record(s); publish with: facebench leaderboard publish {out}/*.json --out "
               "leaderboards", err=True)
