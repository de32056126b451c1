"""``facebench predict METHOD``: run an external model over a benchmark's clips."""

import click


@click.group()
def predict():
    """Write SPEC §5 predictions for every clip of a benchmark with an external model."""


@predict.command("face-anything")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False),
              help="Face Anything checkpoint.pt (DA3 + deformation head).")
@click.option("--gt", default=None, type=click.Path(file_okay=False),
              help="GT folder [default: $FACEBENCH_HOME/gt/BENCHMARK].")
@click.option("--benchmark", default=None, help="Benchmark name [default: the GT's].")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Predictions folder to write.")
@click.option("--device", default="auto", show_default=True, help="auto, cuda, cuda:N or cpu.")
@click.option("--process-res", type=int, default=504, show_default=True,
              help="Long side the network sees (then rounded to multiples of 14).")
@click.option("--variant", type=click.Choice(["da3-small", "da3-base", "da3-large", "da3-giant"]),
              default=None, help="DA3 backbone [default: detected from the checkpoint's tensor shapes].")
@click.option("--trust-checkpoint", is_flag=True,
              help="Allow a full unpickle of the checkpoint (runs code from the file: only for files "
                   "you trust; the official checkpoint.pt needs it).")
def face_anything(checkpoint, gt, benchmark, out, device, process_res, variant, trust_checkpoint):
    """Face Anything (Depth Anything 3 + canonical head): depth (relative), canonical maps, tracks."""
    from facebench.adapters.face_anything import predict_face_anything

    meta = predict_face_anything(checkpoint, gt, out, benchmark=benchmark, device=device,
                                 process_res=process_res, variant=variant, trust_checkpoint=trust_checkpoint)
    click.echo(f"{meta['method']}: {meta['clips']} clips, {meta['frames']} frames, "
               f"{meta['runtime_s_per_frame'] * 1000:.1f} ms/frame on {meta['device']}; wrote {out}/")
