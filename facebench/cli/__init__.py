"""The ``facebench`` command line: a thin layer over the library API.

Commands are loaded lazily from ``COMMANDS`` (name -> "module:attribute"), so
``facebench --help`` imports no heavy dependency (torch, trimesh, h5py).  Each
command module parses its options, calls one public library function and prints.
"""

from __future__ import annotations

import importlib
import sys

import click

from facebench import __version__

# name -> "module:attribute" of a click command or group; add one line per command.
COMMANDS: dict[str, str] = {
    "demo": "facebench.cli.demo:demo",
    "template": "facebench.cli.template:template",
    "benchmarks": "facebench.cli.benchmarks:benchmarks",
    "validate": "facebench.cli.validate:validate",
    "evaluate": "facebench.cli.evaluate:evaluate",
    "tracks-from-canonical": "facebench.cli.tracks_from_canonical:tracks_from_canonical",
    "synth": "facebench.cli.synth:synth",
    "prepare": "facebench.cli.prepare:prepare",
    "baseline": "facebench.cli.baseline:baseline",
    "predict": "facebench.cli.predict:predict",
    "leaderboard": "facebench.cli.leaderboard:leaderboard",
    "info": "facebench.cli.info:info",
    "show": "facebench.cli.show:show",
    "report": "facebench.cli.report:report",
    "verify": "facebench.cli.verify:verify",
    "predictions": "facebench.cli.predictions:predictions",
    "convert": "facebench.cli.convert:convert",
    "inspect-cameras": "facebench.cli.inspect_cameras:inspect_cameras",
    "serve": "facebench.cli.serve:serve",
    "submit": "facebench.cli.submit:submit",
}

# One-line help shown by ``facebench --help`` without importing the command module.
SHORT_HELP: dict[str, str] = {
    "demo": "Run the whole pipeline end to end on built-in synthetic data.",
    "template": "Inspect canonical templates: render a template overview PNG.",
    "benchmarks": "List the benchmarks with their main metric and direction.",
    "validate": "Check a predictions folder or .zip against the GT before scoring.",
    "evaluate": "Score predictions against GT; print a summary and write a results record.",
    "tracks-from-canonical": "Derive tracks for predictions that have canonical maps but no tracks.",
    "synth": "Render a synthetic multi-view capture in NeRSemble layout, with exact truth.",
    "prepare": "Build ground-truth shards from a NeRSemble capture (or the synth-v1 benchmark).",
    "baseline": "Train the reference transformer, or predict with it or a trivial row.",
    "predict": "Run any registered method on GT clips, a frame folder or a video; write overlays.",
    "leaderboard": "Publish results into ranked leaderboards (CSV, Markdown, PNG) or show one.",
    "info": "Summarise a GT folder, a predictions folder or a results record.",
    "show": "Draw one clip (image, depth, canonical, tracks) from GT or predictions as a PNG.",
    "report": "Compare methods on one benchmark: a static HTML page with tables, plots and error maps.",
    "verify": "Re-hash every GT shard and check the folder against the shard schema.",
    "predictions": "Import other models' output files; convert canonical maps between templates.",
    "convert": "Rewrite a schema 1 GT folder as schema 2 (smaller, faster to read); resumable.",
    "inspect-cameras": "Show how a capture's cameras are read: conventions, check figures, overlays.",
    "serve": "Host benchmarks with hidden test GT: web server, users, scoring workers (extra: server).",
    "submit": "Upload predictions to a facebench server; --wait prints the score.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        if ctx.resilient_parsing or _only_listing(ctx):
            return click.Command(name, short_help=SHORT_HELP.get(name, ""))
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name is not None and name not in COMMANDS and not name.startswith("-"):
            from facebench.errors import did_you_mean

            raise click.UsageError(f"no such command {name!r}{did_you_mean(name, COMMANDS)}")
        return super().resolve_command(ctx, args)


def _only_listing(ctx) -> bool:
    """True while click formats the top-level help (it asks every command for its help)."""
    return ctx.parent is None and getattr(ctx, "_facebench_listing", False)


class _Root(LazyGroup):
    def format_commands(self, ctx, formatter):
        ctx._facebench_listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            ctx._facebench_listing = False


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="facebench")
def cli():
    """facebench: ground truth, benchmarks and baselines for 4D face reconstruction."""


def main(argv=None) -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit."""
    from facebench.errors import FacebenchError

    try:
        rv = cli.main(args=argv, prog_name="facebench", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("facebench: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        hint = " (see --help)" if isinstance(exc, click.UsageError) else ""
        click.echo(f"facebench: error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code or 2)
    except FacebenchError as exc:
        click.echo(f"facebench: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("facebench: interrupted", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
