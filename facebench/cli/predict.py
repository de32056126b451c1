"""``facebench predict METHOD``: any registered method on GT clips, a frame folder or a video."""

import click


class _MethodHelp(click.Command):
    def format_epilog(self, ctx, formatter):
        from facebench.methods import get_method, method_names

        with formatter.section("Methods"):
            formatter.write_dl([(n, get_method(n).description) for n in method_names()])


@click.command(cls=_MethodHelp)
@click.argument("method")
@click.option("--gt", "gt_dir", type=click.Path(file_okay=False), default=None,
              help="GT folder: predict every clip with its own camera (scorable by `evaluate`).")
@click.option("--benchmark", default=None,
              help="Benchmark name (its GT in $FACEBENCH_HOME/gt/NAME unless --gt; named in meta.json).")
@click.option("--images", type=click.Path(file_okay=False), default=None,
              help="A folder of frames (png/jpg), natural-sorted by name.")
@click.option("--video", type=click.Path(dir_okay=False), default=None, help="A video file (mp4, mov, avi).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Predictions folder (SPEC §5) with meta.json and overlay/.")
@click.option("--fov", type=float, default=None,
              help="Plain input: field of view across the longer image side, degrees [default: 60].")
@click.option("--K", "K", default=None, metavar="FX,FY,CX,CY", help="Plain input: intrinsics in pixels.")
@click.option("--stride", type=int, default=1, show_default=True, help="Plain input: use every n-th frame.")
@click.option("--max-frames", type=int, default=None, help="Plain input: stop after this many frames.")
@click.option("--template", default=None,
              help="Template of template-based methods [default: the GT's, else facebench's default].")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="transformer: .safetensors or a shipped name (tiny, tiny-ict, tiny-head) [default: tiny]; "
                   "face-anything: checkpoint.pt.")
@click.option("--iterations", type=int, default=None, help="landmark-fit: optimisation steps [250].")
@click.option("--device", default=None, help="auto, cpu, cuda, cuda:N or mps [default: auto].")
@click.option("--frames-per-window", type=int, default=None, help="transformer: frames seen together.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto",
              show_default=True, help="transformer: forward precision.")
@click.option("--batch-windows", type=int, default=8, show_default=True,
              help="transformer: windows per forward pass.")
@click.option("--compile", "compile_", is_flag=True, help="transformer: torch.compile the model.")
@click.option("--process-res", type=int, default=None, help="face-anything: long side the network sees [504]")
@click.option("--variant", default=None, help="face-anything: DA3 backbone [default: from the checkpoint].")
@click.option("--trust-checkpoint", is_flag=True,
              help="face-anything: allow a full unpickle of the checkpoint (only for files you trust).")
@click.option("--track-distance", type=float, default=0.05, show_default=True,
              help="Canonical match distance (normalized units) below which a tracked point is visible.")
@click.option("--overlay/--no-overlay", default=None,
              help="Write overlay/*.mp4 and a contact sheet [default: on for --images/--video, off for GT].")
def predict(method, gt_dir, benchmark, images, video, out_dir, fov, K, stride, max_frames, template,
            checkpoint, iterations, device, frames_per_window, precision, batch_windows, compile_,
            process_res, variant, trust_checkpoint, track_distance, overlay):
    """Run METHOD (see the list below) and write predictions, tracks and overlays.

    \b
    facebench predict landmark-fit --video clip.mp4 --out out/
    facebench predict transformer --benchmark synth-v1 --out preds/tf
    """
    from facebench.methods import get_method
    from facebench.methods.run import predict as run

    get_method(method)  # an unknown name fails first, with a did-you-mean hint
    extra = {k: v for k, v in (("process_res", process_res), ("variant", variant),
                               ("trust_checkpoint", trust_checkpoint or None)) if v is not None}
    meta = run(method, out_dir, gt=gt_dir, benchmark=benchmark, images=images, video=video, fov=fov, K=K,
               stride=stride, max_frames=max_frames, overlay=overlay, template=template,
               checkpoint=checkpoint,
               iterations=iterations, device=device, frames_per_window=frames_per_window, precision=precision,
               batch_windows=batch_windows, compile=compile_, track_distance=track_distance, extra=extra)
    missing = sum(len(v) for v in meta["params"].get("frames_without_face", {}).values())
    click.echo(f"{meta['method']}: {meta['clips']} clip(s), {meta['frames']} frames "
               f"({missing} without a face), {meta['runtime_s_per_frame'] * 1000:.1f} ms/frame on "
               f"{meta['device']}; wrote {out_dir}/")
    for name, path in meta.get("visuals", {}).items():
        click.echo(f"  {name}: {path}")
