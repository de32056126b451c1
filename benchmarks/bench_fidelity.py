"""Fidelity of ``prepare nersemble`` against the synthetic exact truth.

Renders a synthetic capture (with its exact GT shards), runs the prepare
pipeline on the capture, and compares the prepared GT with the truth:

* canonical error (mm, ``1000 * scale * |c - c_true|``) on pixels valid in both,
  median and mean on the face region (truth mask 1), mean on all template
  regions (truth mask 1 or 2);
* track error (px): every prepared track point is a fixed canonical point; its
  true position is that canonical point carried by the true mesh
  (``Template.from_canonical``) and projected; median over points visible in
  the prepared tracks.

    nice .venv/bin/python benchmarks/bench_fidelity.py --preset small
    nice .venv/bin/python benchmarks/bench_fidelity.py --preset small \
        --depth-noise 1 --holes 0.02 --flying-pixels
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--layout", default="v1")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--sequences", type=int, default=1)
    ap.add_argument("--depth-noise", type=float, default=0.0, help="mm")
    ap.add_argument("--holes", type=float, default=0.0)
    ap.add_argument("--flying-pixels", action="store_true")
    ap.add_argument("--config", default=None, help="pipeline YAML overriding pipelines/nersemble.yaml")
    ap.add_argument("--work", default=None, help="keep the capture and GT folders here")
    ap.add_argument("--json", default=None, help="write the figures to this file")
    ap.add_argument("--compare-only", action="store_true", help="compare an earlier --work run")
    ap.add_argument("--template", default="facebench-head",
                    help="subject and fitting template (same model: absolute canonical error); the "
                         "template-free measures for other pairs are in bench_fidelity_matrix.py")
    args = ap.parse_args(argv)

    from facebench.prepare import prepare_nersemble
    from facebench.prepare.fidelity import compare
    from facebench.synth import synthesize
    from facebench.templates import load

    work = Path(args.work or tempfile.mkdtemp(prefix="facebench-fidelity-"))
    template = load(args.template)
    t0 = time.perf_counter()
    if (work / "truth-gt" / "manifest.json").exists():  # reuse a capture rendered by an earlier run
        from facebench.synth.api import PRESETS

        n_cams, width, height = PRESETS[args.preset][:3]
        synth = argparse.Namespace(width=width, height=height, serials=[None] * n_cams)
    else:
        synth = synthesize(work / "capture", preset=args.preset, layout=args.layout, seed=args.seed,
                       sequences=args.sequences, frames=args.frames, depth_noise_mm=args.depth_noise,
                       holes=args.holes, flying_pixels=args.flying_pixels, truth_dir=work / "truth",
                           truth_gt=work / "truth-gt", progress=False, template=args.template)
    t_synth = time.perf_counter() - t0
    if args.compare_only:
        figures = compare(work / "truth-gt", work / "gt", template)
        print(json.dumps(figures, indent=1, default=float))
        return figures
    if (work / "gt").exists():
        import shutil

        shutil.rmtree(work / "gt")
    summary = prepare_nersemble(work / "capture", work / "gt", layout=args.layout, config=args.config,
                                progress=False, template=args.template)
    print(summary)
    figures = compare(work / "truth-gt", work / "gt", template)
    frames = max(1, summary.frames)
    figures.update(preset=args.preset, layout=args.layout, depth_noise_mm=args.depth_noise, holes=args.holes,
                   flying_pixels=args.flying_pixels, frames=summary.frames, synth_s=round(t_synth, 1),
                   prepare_s=round(summary.seconds, 1),
                   fit_s_per_frame=round(summary.stage_seconds.get("fit", 0.0) / frames, 2),
                   stage_s=summary.stage_seconds, fit_residual_mm=summary.fit_residual_mm,
                   capture_size=[synth.width, synth.height], cameras=len(synth.serials))
    print(json.dumps(figures, indent=1, default=float))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, default=float))
    return figures


if __name__ == "__main__":
    main()
