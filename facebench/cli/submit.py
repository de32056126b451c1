"""``facebench submit``: upload predictions to a facebench server; ``submit status ID`` asks about one."""

import json

import click

SERVER = click.option("--server", required=True, envvar="FACEBENCH_SERVER", metavar="URL",
                      help="The server, e.g. https://bench.example.org [env FACEBENCH_SERVER].")
TOKEN = click.option("--token", required=True, envvar="FACEBENCH_TOKEN",
                     help="Your API token [env FACEBENCH_TOKEN].")
TIMEOUT = click.option("--timeout", default=3600.0, show_default=True, type=click.FloatRange(min=1),
                       help="Seconds to wait for the score with --wait.")


class _SubmitGroup(click.Group):
    """``facebench submit PREDS ...`` is short for ``facebench submit upload PREDS ...``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["upload", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_SubmitGroup)
def submit():
    """Upload a predictions folder or .zip to a facebench server (`facebench submit PREDS --server URL
    --token TOKEN [--wait]`), or ask about a submission (`facebench submit status ID`)."""


@submit.command()
@click.argument("preds", type=click.Path(exists=True))
@SERVER
@TOKEN
@click.option("--benchmark", default=None, help="Benchmark name [default: meta.json's].")
@click.option("--phase", type=click.Choice(["test", "validation"]), default="test", show_default=True)
@click.option("--wait", is_flag=True, help="Wait for the score; print the results as JSON (exit 0 when "
                                           "scored, non-zero with the reason when not).")
@TIMEOUT
def upload(preds, server, token, benchmark, phase, wait, timeout):
    """Upload PREDS; print the submission id (with --wait, the results record as JSON)."""
    from facebench.server.client import Client

    client = Client(server, token)
    sub = _call(lambda: client.submit(preds, benchmark=benchmark, phase=phase, progress=True))
    quota = sub.get("quota", {})
    click.echo(f"submission {sub['id']} queued ({sub['benchmark']}, {sub['phase']}, method {sub['method']}; "
               f"{_quota(quota)})", err=True)
    if not wait:
        click.echo(sub["id"])
        return
    _finish(client, sub["id"], timeout)


@submit.command()
@click.argument("submission_id")
@SERVER
@TOKEN
@click.option("--wait", is_flag=True, help="Wait until it is scored or failed.")
@TIMEOUT
def status(submission_id, server, token, wait, timeout):
    """State and results of one of your submissions, as JSON."""
    from facebench.server.client import Client

    client = Client(server, token)
    if wait:
        _finish(client, submission_id, timeout)
        return
    click.echo(json.dumps(_call(lambda: client.status(submission_id)), indent=1))


def _finish(client, sub_id, timeout):
    from facebench.errors import FacebenchError

    def say(sub):
        click.echo(f"submission {sub_id}: {sub['state']}", err=True)

    sub = _call(lambda: client.wait(sub_id, timeout, on_state=say))
    if sub["state"] != "scored":
        raise FacebenchError(f"submission {sub_id} failed: {sub.get('error') or 'no reason given'}")
    click.echo(json.dumps(sub["results"], indent=1))


def _call(fn):
    from facebench.server.client import ServerError

    try:
        return fn()
    except ServerError as exc:
        if len(exc.problems) > 1:
            for line in exc.problems:
                click.echo(line, err=True)
        raise


def _quota(quota: dict) -> str:
    parts = []
    if quota.get("per_day") is not None:
        parts.append(f"{quota['used_today']} of {quota['per_day']} in 24 h")
    if quota.get("total") is not None:
        parts.append(f"{quota['used_total']} of {quota['total']} in total")
    return "quota: " + (", ".join(parts) if parts else "no limit")
