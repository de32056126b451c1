"""``facebench inspect-cameras ROOT``: print how a capture's cameras are read, draw them on the photos."""

import click

from facebench.cli.prepare import parse_size


@click.command("inspect-cameras")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.option("--dataset", type=click.Choice(["nersemble", "multiface", "ava256"]), default=None,
              help="The capture's dataset (detected from the files when omitted).")
@click.option("--out", type=click.Path(file_okay=False), default="inspect-cameras", show_default=True,
              help="Folder for one overlay per view and contact_sheet.png.")
@click.option("--participant", default=None, help="Participant id (default: the first).")
@click.option("--sequence", default=None, help="Sequence name (default: the participant's first).")
@click.option("--frame", type=int, default=None, help="Frame id (default: the sequence's middle frame).")
@click.option("--native-size", default=None, metavar="WxH", callback=parse_size,
              help="Image size the intrinsics refer to, as for `prepare`.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Pipeline YAML overrides (its camera_check section).")
def inspect_cameras(root, dataset, out, participant, sequence, frame, native_size, config_file):
    """Print each camera's conventions and check figures; write an overlay per view and a contact sheet."""
    from facebench.prepare.inspect_cameras import inspect_cameras as run

    click.echo(str(run(root, out, dataset=dataset, participant=participant, sequence=sequence, frame=frame,
                       native_size=native_size, config=config_file)))
