"""``facebench synth``: synthetic multi-view captures in NeRSemble layout, with exact truth."""

import click


@click.command()
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Capture folder to write.")
@click.option("--preset", type=click.Choice(["tiny", "small", "medium", "full"]), default="tiny",
              show_default=True, help="tiny: 3 cameras 64x96 3 frames; small: 16 cameras 256x374 8 frames; "
              "medium: 16 cameras 550x802 6 frames; full: 1100x1604.")
@click.option("--cameras", type=int, default=None,
              help="Use N of the 16 cameras (the frontal one and N-1 spread over the arc).")
@click.option("--layout", type=click.Choice(["v1", "v2", "benchmark"]), default="v1", show_default=True,
              help="NeRSemble on-disk layout (SPEC §3). v2 is the public release: x264 videos (CRF 20) "
              "with sensor noise and cast shadows, BACKGROUND plates at another exposure, nothing else.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of identities, motion, rig and noise.")
@click.option("--participants", default=None, help="Comma-separated 3-digit ids, e.g. 101,102.")
@click.option("--n-participants", type=int, default=None, help="Use ids 101..100+N (training range).")
@click.option("--sequences", default=None,
              help="Comma-separated sequence names, or a count N (first N of the catalog).")
@click.option("--frames", type=int, default=None, help="Frames per sequence (default: the preset's).")
@click.option("--stride", type=int, default=1, show_default=True, help="Timesteps between frames (73 fps).")
@click.option("--depth-noise", "depth_noise_mm", type=float, default=0.0, show_default=True,
              help="Gaussian depth noise, millimetres.")
@click.option("--holes", type=float, default=0.0, show_default=True,
              help="Fraction of foreground depth removed in random blobs.")
@click.option("--flying-pixels", is_flag=True, help="Interpolated depths at silhouettes.")
@click.option("--truth", "truth_dir", type=click.Path(file_okay=False), default=None,
              help="Truth folder (default OUT-truth; never inside OUT).")
@click.option("--truth-gt", "truth_gt", type=click.Path(file_okay=False), default=None,
              help="Also write exact GT shards (SPEC §4) here.")
@click.option("--template", default=None,
              help="Subject model: ict-light (default; scanned heads with fine detail) or facebench-head.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Processes rendering sequences in parallel (same output for any number).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def synth(out, preset, cameras, layout, seed, participants, n_participants, sequences, frames, stride,
          depth_noise_mm, holes, flying_pixels, truth_dir, truth_gt, template, workers, quiet):
    """Render a synthetic capture in NeRSemble layout, with exact truth."""
    from facebench.errors import FacebenchError
    from facebench.synth import synthesize
    from facebench.templates import DEFAULT_TEMPLATE

    if participants is not None and n_participants is not None:
        raise FacebenchError("give --participants or --n-participants, not both")
    r = synthesize(out, preset=preset, layout=layout, seed=seed, participants=participants,
                   n_participants=n_participants, sequences=sequences, frames=frames, stride=stride,
                   depth_noise_mm=depth_noise_mm, holes=holes, flying_pixels=flying_pixels,
                   truth_dir=truth_dir, truth_gt=truth_gt, template=template or DEFAULT_TEMPLATE,
                   workers=workers, progress=not quiet, cameras=cameras)
    counts = (f"{len(r.participants)} participants x {len(r.sequences)} sequences x {len(r.frame_ids)} frames"
              f" x {len(r.serials)} cameras, {r.width}x{r.height}, layout {r.layout}")
    click.echo(f"wrote {r.n_images} images ({counts}) to {r.out} in {r.elapsed_s:.1f} s"
               f" ({r.images_per_s:.1f} images/s)")
    click.echo(f"truth: {r.truth_dir}")
    if r.gt_dir is not None:
        click.echo(f"GT shards: {r.gt_dir}")
