"""``facebench verify``: re-hash every shard of a GT folder and check it against SPEC §4."""

import click


@click.command()
@click.argument("gt_dir", type=click.Path(file_okay=False))
@click.option("--quiet", is_flag=True, help="No progress bar.")
def verify(gt_dir, quiet):
    """Recheck every shard's sha256 and the SPEC §4 schema; exit non-zero on any mismatch."""
    from facebench.errors import ValidationError
    from facebench.io.gt_verify import verify_gt

    report = verify_gt(gt_dir, progress=not quiet)
    click.echo(str(report))
    if not report.ok:
        raise ValidationError(f"{gt_dir}: verification failed")
