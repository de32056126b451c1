"""Foreground masks of an images-only capture against the renderer's alpha of the same render.

``facebench synth`` renders the same subject, motion and cameras in both layouts when given the
same settings: the v1 capture carries alpha mattes, the v2 capture only videos and BACKGROUND
images.  This script computes prepare's masks (:func:`facebench.prepare.masks.foreground_masks`,
the pipeline's ``masks`` settings) on the v2 capture and scores them against the v1 alpha
(IoU, false foreground and missed subject as shares of the subject's area), per camera::

    nice .venv/bin/python benchmarks/bench_masks.py --v2 CAP_V2 --v1 CAP_V1 [--no-segmentation]

(bench_fidelity_matrix.py --layout v1 v2 leaves both under its --work folder.)
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main(argv=None) -> dict:
    from facebench.nersemble import open_capture
    from facebench.prepare.config import default_config
    from facebench.prepare.masks import MaskConfig, foreground_masks
    from facebench.prepare.sequence import _background

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--v2", required=True, help="the images-only capture")
    ap.add_argument("--v1", required=True, help="the same render with alpha mattes")
    ap.add_argument("--no-segmentation", action="store_true", help="background difference only")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    c2, c1 = open_capture(args.v2), open_capture(args.v1)
    pid = c2.participants()[0]
    seq = c2.sequences(pid)[0]
    knobs = dict(default_config()["masks"])
    if args.no_segmentation:
        knobs["segmentation"] = False
    cfg = MaskConfig(**knobs)
    rows, t0 = {}, time.process_time()
    for serial in c2.cameras(pid, seq):
        frames = c1.frame_ids(pid, seq)
        v2 = list(c2.iter_views(pid, seq, serial, range(len(frames))))  # video frame index
        v1 = list(c1.iter_views(pid, seq, serial, frames))
        images = np.stack([v.image for v in v2])
        plate = _background(c2, pid, seq, serial, (images.shape[2], images.shape[1]))
        mask = foreground_masks(images, plate, cfg) > 0.5
        alpha = np.stack([v.alpha for v in v1]) > 0.5
        area = alpha.sum()
        iou = (mask & alpha).sum((1, 2)) / (mask | alpha).sum((1, 2))
        rows[serial] = {"iou": round(float(iou.mean()), 4),
                        "false_foreground": round(float((mask & ~alpha).sum() / area), 4),
                        "missed": round(float((~mask & alpha).sum() / area), 4)}
        print(serial, json.dumps(rows[serial]), flush=True)
    out = {"v2": args.v2, "v1": args.v1, "segmentation": cfg.segmentation,
           "mean_iou": round(float(np.mean([r["iou"] for r in rows.values()])), 4),
           "cpu_s_per_image": round((time.process_time() - t0) / max(1, len(rows) * len(frames)), 3),
           "cameras": rows}
    print(json.dumps({k: v for k, v in out.items() if k != "cameras"}))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
