"""How much of the template prior's canonical error is global?  (docs/BASELINE.md, pose head)

For every frame of a GT folder the ``template-frontal`` canonical map is compared with the GT on
the face (regions 1-2), as the benchmark scores it, and again after the best per-frame
correction of each kind, fitted to the GT (an oracle, not a method):

* ``offset``:  one constant added to the prior's canonical coordinates;
* ``rigid``:   a rotation and translation of them (Kabsch);
* ``affine``:  a general affine map (12 numbers, what the pose head predicts).

    python benchmarks/prior_error.py build/train-tiny/gt-val1 build/train-tiny/gt-val2 [--every 3]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def frame_errors(gt_canonical: np.ndarray, prior: np.ndarray) -> dict[str, float]:
    """Mean Euclidean error (normalized units) of ``prior`` (N,3) against ``gt_canonical`` (N,3),
    as is and after the best per-frame offset, rigid and affine corrections."""
    from facebench.prepare.rigid import kabsch

    d = gt_canonical - prior
    R, t = kabsch(prior.astype(np.float64), gt_canonical.astype(np.float64))
    A = np.c_[prior, np.ones(len(prior))]
    X, *_ = np.linalg.lstsq(A, gt_canonical, rcond=None)
    norm = lambda e: float(np.linalg.norm(e, axis=1).mean())  # noqa: E731
    return {"prior": norm(d), "offset": norm(d - d.mean(axis=0)),
            "rigid": norm(prior @ R.T + t - gt_canonical), "affine": norm(A @ X - gt_canonical)}


def main(argv=None) -> int:
    from facebench.baseline.prior import renormalize
    from facebench.baseline.trivial import template_frontal
    from facebench.io.shards import GTReader
    from facebench.templates import load

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gt", nargs="+", help="GT folders (facebench-head template)")
    ap.add_argument("--every", type=int, default=3, help="use every N-th clip [default: 3]")
    args = ap.parse_args(argv)
    template = load("facebench-head")
    rows = []
    for gt in args.gt:
        reader = GTReader(gt)
        for cid in reader.clip_ids[::args.every]:
            clip = reader.clip(cid, fields=("mask", "canonical"))
            T, H, W = clip.mask.shape
            prior = template_frontal((1, H, W), clip.K, clip.T_cam_from_world, template)["canonical"][0]
            # the prior is in the template's normalization, the GT in its own: compare in the GT's
            prior = renormalize(prior, template.center, template.scale, reader.center, reader.scale)
            for t in range(T):
                face = np.isin(clip.mask[t], (1, 2)) & np.isfinite(clip.canonical[t]).all(axis=-1)
                if face.sum() >= 20:
                    rows.append(frame_errors(clip.canonical[t][face], prior[face]))
        scale_mm = reader.scale * 1000
    print(f"{len(rows)} frames; mean canonical error on the face, mm:")
    for key in ("prior", "offset", "rigid", "affine"):
        print(f"  {key:7s} {np.mean([r[key] for r in rows]) * scale_mm:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
