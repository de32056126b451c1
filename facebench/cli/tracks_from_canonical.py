"""``facebench tracks-from-canonical``: derive tracks from predicted canonical maps."""

import click


@click.command("tracks-from-canonical")
@click.option("--preds", required=True, type=click.Path(exists=True, file_okay=False),
              help="Predictions folder (files are updated in place, atomically).")
@click.option("--gt", type=click.Path(file_okay=False), default=None,
              help="GT folder (query points) [default: $FACEBENCH_HOME/gt/{benchmark}].")
@click.option("--benchmark", default=None, help="Benchmark name [default: from meta.json].")
@click.option("--max-distance", type=float, default=None,
              help="Canonical match distance for visibility, normalized units [default: 0.02].")
def tracks_from_canonical(preds, gt, benchmark, max_distance):
    """Add tracks_xy/tracks_visible (+ tracks_xyz with depth) to predictions that have canonical maps."""
    from facebench.evaluate.tracks import MAX_DISTANCE
    from facebench.evaluate.tracks import tracks_from_canonical as run

    counts = run(preds, gt=gt, benchmark=benchmark,
                 max_distance=MAX_DISTANCE if max_distance is None else max_distance)
    click.echo(f"{counts['updated']} clips updated, {counts['skipped']} skipped (no canonical or "
               f"already tracked), {counts['missing']} missing")
