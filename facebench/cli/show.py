"""``facebench show GT_OR_PREDS CLIP_ID --out fig.png``: one picture of one clip."""

import click


@click.command()
@click.argument("path", type=click.Path(exists=True))
@click.argument("clip_id")
@click.option("--out", type=click.Path(dir_okay=False), default="clip.png", show_default=True,
              help="PNG file to write.")
@click.option("--gt", type=click.Path(file_okay=False), default=None,
              help="GT folder for a predictions folder (default: the benchmark's prepared GT).")
@click.option("--frame", type=int, default=None, help="Frame index (default: the middle frame).")
def show(path, clip_id, out, gt, frame):
    """Draw image | depth | canonical | tracks of CLIP_ID (participant/sequence/serial) from a GT
    or predictions folder, GT next to prediction."""
    from facebench.report import show_clip

    click.echo(f"wrote {show_clip(path, clip_id, out, gt=gt, frame=frame)}")
