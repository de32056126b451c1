"""The camera check on synthetic NeRSemble captures: its figures on a correct capture, and its CPU time.

    nice .venv/bin/python benchmarks/bench_camera_check.py --preset small --layout v1 --work /tmp/fb/cc
    nice .venv/bin/python benchmarks/bench_camera_check.py --preset small --layout benchmark --work /tmp/fb/cc

Renders (once, reused) a capture of one participant and sequence with ``facebench synth``, reads
the sequence as ``prepare`` does (optionally at ``--resolution``) and runs the check that
``prepare`` runs before fitting; prints the per-camera figures (min / median / max) and the CPU
seconds of reading and of the check (this process; video decoding runs in ffmpeg).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--layout", default="v1", choices=("v1", "benchmark"))
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--resolution", type=int, default=None)
    ap.add_argument("--work", default="/tmp/fb/camera-check")
    args = ap.parse_args()

    from facebench.nersemble import open_capture
    from facebench.prepare.camera_evidence import check_nersemble
    from facebench.prepare.config import PipelineConfig, load_config
    from facebench.prepare.sequence import read_views
    from facebench.synth import synthesize

    root = Path(args.work) / f"{args.preset}-{args.layout}-{args.frames}"
    if not root.exists():
        synthesize(root, preset=args.preset, layout=args.layout, seed=0, participants=["101"],
                   sequences=["EXP-1-head"], frames=args.frames, progress=False, threads=1)
    cfg = PipelineConfig.from_dict(load_config())
    with open_capture(root) as cap:
        ids, serials = cap.frame_ids("101", "EXP-1-head"), cap.cameras("101", "EXP-1-head")
        c0 = time.process_time()
        views = read_views(cap, "101", "EXP-1-head", serials, ids, args.resolution)
        c1 = time.process_time()
        record = check_nersemble(cap, "101", "EXP-1-head", ids, views, cfg)
        c2 = time.process_time()
    out = {"layout": args.layout, "preset": args.preset, "cameras": len(serials),
           "image": list(views.images[0].shape[1:3][::-1]), "frames_checked": record.get("frame_ids"),
           "flag": record["flag"], "read_cpu_s": round(c1 - c0, 2), "check_cpu_s": round(c2 - c1, 2)}
    for name, figure in record.get("figures", {}).items():
        v = np.array([x for x in figure["values"].values() if x is not None])
        out[name] = [round(float(v.min()), 3), round(float(np.median(v)), 3), round(float(v.max()), 3)]
    out["extent_min"] = round(min(record["extent"].values()), 3) if "extent" in record else None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
