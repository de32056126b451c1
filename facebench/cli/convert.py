"""``facebench convert``: rewrite a schema 1 GT folder as schema 2 (smaller, faster to read)."""

import click

from facebench.io.encodings import DEFAULT_IMAGE_CODEC, IMAGE_CODECS, JPEG_QUALITY


@click.command()
@click.argument("gt_dir", type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="New GT folder to write (or resume).")
@click.option("--image-codec", type=click.Choice(IMAGE_CODECS), default=DEFAULT_IMAGE_CODEC,
              show_default=True,
              help="jpeg (lossy, smallest), png (lossless) or raw (lossless uint8 + gzip, fastest to read).")
@click.option("--jpeg-quality", type=click.IntRange(50, 100), default=JPEG_QUALITY, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def convert(gt_dir, out, image_codec, jpeg_quality, quiet):
    """Convert GT_DIR (schema 1) into --out (schema 2: maps within SPEC §4's error bounds); resumable."""
    from facebench.io.gt_convert import convert_gt

    click.echo(str(convert_gt(gt_dir, out, image_codec=image_codec, jpeg_quality=jpeg_quality,
                              progress=not quiet)))
