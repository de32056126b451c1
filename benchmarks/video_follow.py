"""Do the transformer's foreground and canonical maps follow the face on a real video?

There is no GT on the development videos, so the reference is landmark-fit's prediction of the
same video (its fitted template, driven by FaceMesh landmarks, is drawn where the face is: on the
real-footage contact sheets of docs/PREDICT.md it follows every turn).  Per frame:

* ``coverage``: share of landmark-fit's face-region pixels (region 1) that the transformer's
  foreground (> 0.5) holds; a map left behind while the head moves drops it;
* ``canonical``: median distance between the two methods' canonical coordinates on those pixels,
  in mm of the template (both ict-light, normalized units times the template's scale).

    facebench predict landmark-fit --video V.mp4 --out build/video/lf
    python benchmarks/video_follow.py V.mp4 --landmark-fit build/video/lf
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def follow_stats(foreground, canonical, lf_regions, lf_canonical, mm_per_unit: float) -> dict:
    """Per-frame agreement of a foreground/canonical prediction with a reference face region."""
    cov, can = [], []
    for t in range(len(foreground)):
        face = lf_regions[t] == 1
        if not face.any():
            cov.append(np.nan), can.append(np.nan)
            continue
        fg = foreground[t] > 0.5
        cov.append(float((fg & face).sum() / face.sum()))
        both = fg & face & np.isfinite(canonical[t]).all(-1) & np.isfinite(lf_canonical[t]).all(-1)
        d = np.linalg.norm(canonical[t][both] - lf_canonical[t][both], axis=-1)
        can.append(float(np.median(d) * mm_per_unit) if d.size else np.nan)
    return {"coverage": np.array(cov), "canonical_mm": np.array(can)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("--landmark-fit", type=Path, required=True,
                    help="landmark-fit's predictions of the video")
    ap.add_argument("--checkpoint", default="tiny")
    args = ap.parse_args(argv)

    from facebench.methods import make_method
    from facebench.methods.run import predict_plain
    from facebench.methods.sources import read_video

    frames = read_video(args.video)
    stem = args.video.stem
    with np.load(args.landmark_fit / "user" / stem / "cam0.npz") as z:
        lf_canonical = z["canonical"]
    lf_regions = np.load(args.landmark_fit / "user" / stem / "cam0.regions.npy")
    method = make_method("transformer", checkpoint=args.checkpoint)
    out, _, seconds = predict_plain(method, frames)
    mm_per_unit = 1000 * float(method.canonical_frame[1])  # both methods: the template's normalization
    s = follow_stats(out["foreground"], out["canonical"], lf_regions, lf_canonical, mm_per_unit)
    ok = np.isfinite(s["coverage"])
    print(f"{args.video.name}: {len(ok)} frames, {int(ok.sum())} with landmark-fit's face; "
          f"{seconds / len(ok):.2f} s/frame; canonical space {method.canonical_template}")
    for key, fmt in (("coverage", "{:.3f}"), ("canonical_mm", "{:.1f}")):
        v = s[key][np.isfinite(s[key])]
        print(f"  {key:13s} min {fmt.format(v.min())}  median {fmt.format(np.median(v))}  "
              f"max {fmt.format(v.max())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
