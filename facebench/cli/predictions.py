"""``facebench predictions import|convert``: bring other models' outputs into SPEC §5."""

import click


@click.group()
def predictions():
    """Import other models' output files, or convert canonical maps between template spaces."""


def _pairs(values) -> dict:
    out = {}
    for value in values:
        key, sep, src = value.partition("=")
        if not sep or not key or not src:
            raise click.BadParameter(f"{value!r}: expected KEY=SOURCE_KEY", param_hint="--key")
        out[key] = src
    return out


@predictions.command("import")
@click.argument("src", type=click.Path(file_okay=False))
@click.option("--format", "fmt", required=True,
              type=click.Choice(["npy", "png", "pfm", "exr", "da3", "npz"]),
              help="npy/png/pfm/exr: SRC/{clip}/ per-frame depth files; da3: Depth Anything 3 / Face "
                   "Anything raw_predictions.npz; npz: SRC/{clip}.npz with prediction keys.")
@click.option("--gt", required=True, type=click.Path(file_okay=False), help="GT folder the clips come from.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Predictions folder to write.")
@click.option("--benchmark", default=None, help="Benchmark named in meta.json [default: the GT's].")
@click.option("--method", default=None, help="Method name [default: the SRC folder's name].")
@click.option("--depth-scale", type=float, default=None,
              help="Metres per stored depth unit [default: 0.001 for 16-bit PNG, else 1].")
@click.option("--relative/--metric", default=None,
              help="Depth is known only up to scale [default: relative for da3, metric otherwise].")
@click.option("--canonical-space", default=None, help="Template the canonical maps are in (meta.json).")
@click.option("--key", "keys", multiple=True, metavar="KEY=SOURCE_KEY",
              help="Read prediction KEY from the npz key SOURCE_KEY (repeatable).")
def import_(src, fmt, gt, out, benchmark, method, depth_scale, relative, canonical_space, keys):
    """Convert a model's output files under SRC into a predictions folder for the GT's clips."""
    from facebench.io.importers import import_predictions

    meta = import_predictions(fmt, src, gt, out, benchmark=benchmark, method=method, depth_scale=depth_scale,
                              relative=relative, canonical_space=canonical_space, keys=_pairs(keys))
    click.echo(f"{meta['method']}: imported {meta['clips']} clips ({fmt}, depth {meta['depth_scale']}); "
               f"wrote {out}/")


@predictions.command("convert")
@click.argument("preds", type=click.Path(file_okay=False))
@click.option("--canonical-from", required=True, metavar="TEMPLATE",
              help="Template the maps are in: facebench-head, ict-light or flame:/path/flame2023.pkl.")
@click.option("--gt", default=None, type=click.Path(file_okay=False),
              help="GT folder [default: $FACEBENCH_HOME/gt/BENCHMARK].")
@click.option("--benchmark", default=None, help="Benchmark [default: meta.json's].")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Folder to write [default: rewrite PREDS in place].")
@click.option("--canonical-to", default=None, metavar="TEMPLATE",
              help="Target template [default: the GT's; pass flame:/path.pkl for a FLAME benchmark].")
def convert(preds, canonical_from, gt, benchmark, out, canonical_to):
    """Convert canonical maps in PREDS from another template's space into the benchmark's."""
    from facebench.evaluate.convert import convert_canonical

    meta = convert_canonical(preds, canonical_from, gt, out, benchmark=benchmark, canonical_to=canonical_to)
    acc = meta["correspondence"]
    click.echo(f"converted {meta['clips']} clips from {canonical_from} to {meta['canonical_space']} "
               f"(correspondence: landmarks {acc['landmark_mm']['mean']} mm mean, round trip "
               f"{acc['round_trip_mm']['median']} mm median); wrote {out or preds}/")
