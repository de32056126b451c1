"""``facebench report``: one static HTML page comparing methods on one benchmark."""

import click


@click.command()
@click.option("--gt", required=True, type=click.Path(file_okay=False),
              help="GT folder the results were scored against.")
@click.option("--results", "results_opt", multiple=True, type=click.Path(dir_okay=False),
              help="A results record (repeatable); further records may follow as arguments.")
@click.argument("more", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default="report", show_default=True,
              help="Folder for index.html, panels/ and plots/.")
@click.option("--max-clips", type=int, default=None, help="Draw panels for the first N clips only.")
@click.option("--frame", type=int, default=None, help="Frame shown in panels [default: the middle one].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def report(gt, results_opt, more, out, max_clips, frame, quiet):
    """Compare methods: `facebench report --gt DIR --results A.json B.json ... --out DIR`.

    Each results record must name its predictions folder (`facebench evaluate` records it);
    methods whose predictions are gone keep their tables but get no panels.
    """
    from facebench.errors import FacebenchError
    from facebench.report import write_comparison

    paths = [*results_opt, *more]
    if not paths:
        raise FacebenchError("no results records: pass --results A.json [B.json ...]")
    from facebench.io.landmark_gt import is_landmark_gt

    if is_landmark_gt(gt):  # real photos with human 2D labels: landmark overlays
        from facebench.report.landmarks import write_landmark_report

        index = write_landmark_report(gt, paths, out)
    else:
        index = write_comparison(gt, paths, out_dir=out, max_clips=max_clips, frame=frame,
                                 progress=not quiet)
    click.echo(f"wrote {index}")
