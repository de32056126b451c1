"""Speed of ``prepare nersemble``: fitting s/frame, GT-map views/s at 512 px, end-to-end frames/s.

Renders a synthetic capture, runs the whole pipeline once (end-to-end frames/s
and the time of each stage), then times the GT-map stage alone on cameras
rescaled to a 512-pixel long side (observed depth = the fitted surface rendered
into each camera).  Single process; run it with ``nice`` on a shared machine.

    nice .venv/bin/python benchmarks/bench_prepare.py --preset small --frames 8
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def gt_map_views_per_s(template, vertices, cameras, long_side: int, repeat_frames: int = 2) -> float:
    """(wall, CPU) views per second of ``gtmaps.view_maps`` at ``long_side`` px (depth: fitted mesh)."""
    from facebench import gtmaps
    from facebench.geometry import Raycaster
    from facebench.prepare.sequence import target_size

    views, spent, spent_cpu = 0, 0.0, 0.0
    for cam in cameras:
        big = cam.rescaled(*target_size(cam.width, cam.height, long_side))
        for t in range(min(repeat_frames, len(vertices))):
            depth = Raycaster(vertices[t], template.faces).render(big).depth
            fg = np.isfinite(depth)
            t0, c0 = time.perf_counter(), time.process_time()
            gtmaps.view_maps(template, vertices[t], big, depth, fg)
            spent += time.perf_counter() - t0
            spent_cpu += time.process_time() - c0
            views += 1
    return views / spent, views / spent_cpu


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--long-side", type=int, default=512)
    ap.add_argument("--work", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--template", default="ict-light", help="subject and fitting template")
    args = ap.parse_args(argv)

    from facebench.io.shards import GTReader
    from facebench.prepare import prepare_nersemble
    from facebench.synth import synthesize
    from facebench.templates import load

    work = Path(args.work or tempfile.mkdtemp(prefix="facebench-speed-"))
    if (work / "truth" / "synth.json").exists():  # reuse a capture rendered by an earlier run
        meta = json.loads((work / "truth" / "synth.json").read_text())
        synth = argparse.Namespace(width=meta["width"], height=meta["height"],
                                   participants=meta["participants"], sequences=meta["sequences"])
    else:
        synth = synthesize(work / "capture", preset=args.preset, layout="v1", seed=args.seed, sequences=1,
                           frames=args.frames, truth_dir=work / "truth", progress=False,
                           template=args.template)
    if (work / "gt").exists():
        import shutil

        shutil.rmtree(work / "gt")
    summary = prepare_nersemble(work / "capture", work / "gt", progress=False, template=args.template)
    template = load(args.template)
    reader = GTReader(work / "gt")
    pid, seq = synth.participants[0], synth.sequences[0]
    _, vertices = reader.sequence_vertices(pid, seq)
    from facebench.geometry import Camera

    cams = []
    for cid in reader.clip_ids:
        c = reader.clip(cid)
        cams.append(Camera(c.K, c.T_cam_from_world, c.shape[2], c.shape[1]))
    vps, vps_cpu = gt_map_views_per_s(template, vertices, cams, args.long_side)
    st, cpu = summary.stage_seconds, summary.stage_cpu_seconds
    n = summary.frames
    figures = {
        "template": args.template, "preset": args.preset, "frames": n, "cameras": len(cams),
        "capture_size": [synth.width, synth.height], "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "fit_s_per_frame": {"wall": st["fit"] / n, "cpu": cpu["fit"] / n},
        "fuse_s_per_frame": {"wall": st["fuse"] / n, "cpu": cpu["fuse"] / n},
        "read_s_per_frame": {"wall": st["read"] / n, "cpu": cpu["read"] / n},
        "maps_views_per_s_capture_res": {"wall": summary.views / st["maps"],
                                         "cpu": summary.views / cpu["maps"]},
        f"maps_views_per_s_{args.long_side}px": {"wall": vps, "cpu": vps_cpu},
        "end_to_end_frames_per_s": {"wall": n / summary.seconds, "cpu": n / sum(cpu.values())},
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return figures


if __name__ == "__main__":
    main()
