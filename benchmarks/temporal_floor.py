"""The floor of the temporal metrics: a GT folder's own maps and tracks submitted as the prediction.

    nice python benchmarks/temporal_floor.py --gt GT_DIR [--work DIR]

Writes the GT (depth, canonical, tracks) as a predictions folder, scores it with
``evaluate`` (the benchmark named by the GT) and prints the temporal metrics: what a
perfect method scores because of the sampling (bilinear between pixel centres).  Then
scores it again with nearest-pixel sampling, the alternative SPEC §6 rules out, to show
why.  ``facebench prepare synth-v2 --out GT_DIR`` makes the GT this was measured on.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def write_gt_as_predictions(gt: Path, preds: Path) -> None:
    from facebench.io.shards import GTReader

    preds.mkdir(parents=True, exist_ok=True)
    with GTReader(gt) as reader:
        (preds / "meta.json").write_text(json.dumps({"method": "gt", "benchmark": reader.benchmark}))
        for cid in reader.clip_ids:
            c = reader.clip(cid, fields=("depth", "canonical", "tracks"))
            path = preds / f"{cid}.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, depth=np.nan_to_num(c.depth, nan=1.0), canonical=np.nan_to_num(c.canonical),
                     tracks_xy=c.tracks.xy, tracks_visible=c.tracks.visible, tracks_xyz=c.tracks.xyz)


def temporal(record: dict) -> dict:
    from facebench.metrics import temporal as t

    return {f"{task}.{m}": record["metrics"][task].get(m) for task, names in t.METRICS.items()
            if task in record["metrics"] for m in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gt", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    from facebench.evaluate import evaluate
    from facebench.metrics import temporal as t

    with tempfile.TemporaryDirectory(prefix="temporal-floor-") as tmp:
        preds = (args.work or Path(tmp)) / "gt-as-preds"
        write_gt_as_predictions(args.gt, preds)
        record = evaluate(preds, gt=args.gt, progress=False)
        per_clip = [v["canonical"]["jitter_p90_mm"] for v in record["per_clip"].values()
                    if v.get("canonical", {}).get("jitter_p90_mm") is not None]
        print(json.dumps({"sampling": "bilinear", **temporal(record), "clips": len(per_clip),
                          "largest_clip_canonical_p90_mm": max(per_clip, default=None)}))
        bilinear = t.sample_at

        def nearest(values, valid, xy, where):  # the centre of the nearest pixel: weights 1, 0, 0, 0
            return bilinear(values, valid, np.floor(np.asarray(xy) + 0.5), where)

        t.sample_at = nearest
        try:
            record = evaluate(preds, gt=args.gt, progress=False)
            print(json.dumps({"sampling": "nearest", **temporal(record)}))
        finally:
            t.sample_at = bilinear


if __name__ == "__main__":
    main()
