"""Speed of ``facebench synth`` (images rendered and written per second) and of ``facebench.gtmaps``.

    .venv/bin/python benchmarks/bench_synth.py [--presets small full] [--full-frames 1] [--gtmaps]

Prints images/s per preset and layout (target: small >= 20 images/s on a 2-core
machine) and, with ``--gtmaps``, GT views/s of ``gtmaps.view_maps`` at 512 px
(target >= 4 views/s per core).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _template(name: str = "ict-light"):
    try:
        from facebench.templates import load

        return load(name)
    except (ImportError, AttributeError):  # templates not built yet: the test stand-in
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from synth_standin import standin_template

        print("(facebench.templates.load missing: timing the small test stand-in template)")
        return standin_template()


def bench_preset(template, preset: str, layout: str, frames, sequences: int, workers: int, threads: int):
    from facebench.synth import synthesize

    with tempfile.TemporaryDirectory() as tmp:
        cpu = time.process_time()
        r = synthesize(Path(tmp) / "cap", preset=preset, layout=layout, frames=frames, sequences=sequences,
                       template=template, progress=False, workers=workers, threads=threads)
        cpu = time.process_time() - cpu
    line = (f"synth {preset:5s} {layout:9s} {r.width}x{r.height} workers={workers} threads={threads}:"
            f" {r.n_images} images in"
            f" {r.elapsed_s:.2f} s = {r.images_per_s:.1f} images/s (wall)")
    if workers == 1:
        line += f", {r.n_images / cpu:.1f} images per CPU-second"
    print(line)


def bench_gtmaps(template, size: int = 512, views: int = 8) -> None:
    from facebench import gtmaps
    from facebench.synth.motion import make_identity, make_performance
    from facebench.synth.rig import make_rig
    from facebench.synth.scene import HeadScene, background_image
    from facebench.synth.truth import pixel_labels

    width, height = int(size * 2200 / 3208), size
    identity = make_identity(0, "101", template.n_identity)
    scene = HeadScene(template, identity)
    perf = make_performance(0, "101", "EXP-1-head", np.arange(1), template.n_expression)
    verts = scene.template_vertices(perf)[0]
    fs = scene.frame(verts, perf)
    rig = make_rig(16)
    cams = [rig.camera(s, width, height) for s in rig.serials[:views]]
    renders = [fs.render(c, background_image(0, s, width, height)) for c, s in zip(cams, rig.serials)]
    rng = np.random.default_rng(0)
    noisy = [np.where(r.foreground, r.depth + rng.normal(0, 0.0005, r.depth.shape), np.nan) for r in renders]
    for name, depths, labels in (("exact depth + labels (synth truth)", [r.depth for r in renders],
                                  [pixel_labels(template, r) for r in renders]),
                                 ("0.5 mm noisy depth (prepare)", noisy, [None] * len(renders))):
        t0, c0 = time.perf_counter(), time.process_time()
        for cam, r, d, lab in zip(cams, renders, depths, labels):
            gtmaps.view_maps(template, verts, cam, d, r.foreground, labels=lab)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print(f"gtmaps.view_maps {width}x{height}, {name}: {len(cams) / dt:.1f} views/s wall,"
              f" {len(cams) / dc:.1f} views per CPU-second")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", nargs="+", default=["small", "full"])
    ap.add_argument("--layouts", nargs="+", default=["v1"])
    ap.add_argument("--full-frames", type=int, default=1, help="frames of the full preset (slow)")
    ap.add_argument("--gtmaps", action="store_true")
    ap.add_argument("--workers", type=int, nargs="+", default=[1])
    ap.add_argument("--sequences", type=int, default=1)
    ap.add_argument("--threads", type=int, nargs="+", default=[2])
    ap.add_argument("--template", default="ict-light", help="subject model (ict-light or facebench-head)")
    args = ap.parse_args()
    template = _template(args.template)
    print(f"template: {template}")
    import os

    print(f"load average: {os.getloadavg()}, cpus: {os.cpu_count()}")
    for preset in args.presets:
        for layout in args.layouts:
            for workers in args.workers:
                for threads in args.threads:
                    frames = args.full_frames if preset == "full" else None
                    bench_preset(template, preset, layout, frames, args.sequences, workers, threads)
    if args.gtmaps:
        bench_gtmaps(template)


if __name__ == "__main__":
    main()
