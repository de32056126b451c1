"""GT shards, schema 1 vs schema 2 side by side: bytes per pixel-frame, read speed, evaluate, ShardDataset.

    nice python benchmarks/bench_shards.py [--gt1 DIR] [--work DIR] [--repeats 3]

The schema 1 folder is the truth GT of ``facebench synth --preset small --seed 31
--truth-gt`` written as schema 1 (``--gt1`` reuses one; otherwise it is rendered
here with ``gt_options={"schema_version": 1}``, minutes);
the schema 2 folder is ``facebench convert`` of it.  In one run, alternating the
two folders on each repeat:

* bytes per pixel-frame: listed shard bytes / sum of T*H*W over clips;
* read: every clip's image, mask, depth, canonical and tracks through ``GTReader``
  (decoding included), pixel-frames per CPU second and per wall second, best of
  ``--repeats``; also per dataset.  Each folder is read twice: with facebench's
  readers (``facebench.io.fastread``: libdeflate and OpenCV/simplejpeg in a thread
  pool) and with ``FACEBENCH_FAST_READ=0`` (HDF5 and Pillow, how every folder was read
  before), so "schema 1 before" is the baseline the read-speed target was set against;
* evaluate: the GT plus noise submitted as predictions (float16 depth and canonical,
  every track key), scored by ``evaluate`` on synth-v1's protocol; evaluate's total
  CPU (wall) time over a pass that only reads what it reads, as in
  benchmarks/bench_evaluate.py;
* ShardDataset: samples (4-frame windows at the stored size) per wall second
  through a DataLoader with 0 and 2 workers.

CPU times are for this process (robust on a shared machine); the DataLoader
figures are wall time.  Prints one JSON line per measurement and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

FIELDS = ("image", "mask", "depth", "canonical")


def pixel_frames(reader) -> int:
    return sum(int(c["T"]) * int(c["H"]) * int(c["W"]) for c in map(reader.clip_info, reader.clip_ids))


def shard_bytes(reader) -> int:
    return sum(int(s["size"]) for s in reader.manifest["shards"])


def time_read(gt: Path, fields, fast: bool = True) -> tuple[float, float]:
    """(CPU, wall) seconds to read ``fields`` of every clip with a fresh reader (files opened inside);
    ``fast=False`` reads through HDF5 and Pillow only (``FACEBENCH_FAST_READ=0``)."""
    import os

    from facebench.io.shards import GTReader

    os.environ["FACEBENCH_FAST_READ"] = "1" if fast else "0"
    try:
        c0, w0 = time.process_time(), time.perf_counter()
        with GTReader(gt) as reader:
            for cid in reader.clip_ids:
                reader.clip(cid, fields=fields)
        return time.process_time() - c0, time.perf_counter() - w0
    finally:
        os.environ.pop("FACEBENCH_FAST_READ", None)


def write_predictions(gt: Path, preds: Path, seed: int = 0) -> None:
    from facebench.io.shards import GTReader

    rng = np.random.default_rng(seed)
    preds.mkdir(parents=True)
    (preds / "meta.json").write_text(json.dumps({"method": "gt+noise", "benchmark": "synth-v1"}))
    with GTReader(gt) as reader:
        for cid in reader.clip_ids:
            c = reader.clip(cid, fields=("depth", "canonical", "tracks"))
            noise = rng.normal(0, 0.002, c.depth.shape).astype(np.float32)
            path = preds / f"{cid}.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, depth=np.nan_to_num(c.depth + noise, nan=1.0).astype(np.float16),
                     canonical=np.nan_to_num(c.canonical + noise[..., None]).astype(np.float16),
                     tracks_xy=c.tracks.xy + 0.5, tracks_visible=c.tracks.visible,
                     tracks_xyz=c.tracks.xyz * 1.01)


def time_evaluate(gt: Path, preds: Path) -> dict:
    from facebench.benchmarks import get_benchmark
    from facebench.evaluate.jobs import load_clip
    from facebench.evaluate.run import evaluate_timed
    from facebench.io.prediction_source import open_predictions
    from facebench.io.shards import GTReader

    c0, w0 = time.process_time(), time.perf_counter()
    with open_predictions(preds) as source, GTReader(gt) as reader:  # what evaluate reads, unscored
        bench = get_benchmark("synth-v1")
        for cid in reader.clip_ids:
            load_clip(source, reader, bench, cid)
    read_cpu, read_wall = time.process_time() - c0, time.perf_counter() - w0
    c0, w0 = time.process_time(), time.perf_counter()
    record, _ = evaluate_timed(preds, gt=gt, benchmark="synth-v1", progress=False)
    total, wall = time.process_time() - c0, time.perf_counter() - w0
    return {"read_s": read_cpu, "total_s": total, "total_over_read": total / max(read_cpu, 1e-9),
            "read_wall_s": read_wall, "wall_s": wall, "wall_over_read": wall / max(read_wall, 1e-9),
            "metrics": record["metrics"]}


def dataset_rate(gt: Path, workers: int, samples: int) -> float:
    import torch

    from facebench.data import ShardDataset

    ds = ShardDataset(gt, window=4, samples=samples, seed=0)
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=workers)
    t0 = time.perf_counter()
    for _ in loader:
        pass
    return samples / (time.perf_counter() - t0)


def main() -> None:
    from facebench.io.gt_convert import convert_gt
    from facebench.io.shards import GTReader

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gt1", type=Path, default=None, help="existing schema 1 GT folder to reuse")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=48, help="ShardDataset samples per measurement")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        work = args.work or Path(tmp)
        gt1 = args.gt1
        if gt1 is None:
            from facebench.synth import synthesize

            gt1 = work / "gt1"
            synthesize(work / "capture", preset="small", seed=31, truth_gt=gt1, progress=False,
                       gt_options={"schema_version": 1})
        gt2 = work / "gt2"
        t0 = time.perf_counter()
        convert_gt(gt1, gt2)
        convert_s = time.perf_counter() - t0
        folders = {1: gt1, 2: gt2}
        rows = {}
        for schema, gt in folders.items():
            with GTReader(gt) as reader:
                assert reader.schema_version == schema, (gt, reader.schema_version)
                rows[schema] = {"schema": schema, "pixel_frames": pixel_frames(reader),
                                "bytes": shard_bytes(reader)}
            rows[schema]["bytes_per_pixel_frame"] = rows[schema]["bytes"] / rows[schema]["pixel_frames"]
        rows[2]["convert_s"] = convert_s
        best: dict = {}
        modes = [(1, False), (1, True), (2, False), (2, True)]  # (schema, facebench's fast readers)
        for _ in range(args.repeats):
            for schema, fast in modes:  # alternate, so load on the machine hits every case alike
                for key, fields in [("all", FIELDS + ("tracks",))] + [(f, (f,)) for f in FIELDS]:
                    c, w = time_read(folders[schema], fields, fast)
                    old = best.get((schema, fast, key), (np.inf, np.inf))
                    best[schema, fast, key] = (min(old[0], c), min(old[1], w))
        for schema, fast in modes:
            n = rows[schema]["pixel_frames"]
            tag = "" if fast else "_before"
            rows[schema][f"read_cpu_s{tag}"] = best[schema, fast, "all"][0]
            rows[schema][f"read_px_per_s{tag}"] = n / best[schema, fast, "all"][0]
            rows[schema][f"read_px_per_wall_s{tag}"] = n / best[schema, fast, "all"][1]
            rows[schema][f"per_field_px_per_s{tag}"] = {f: round(n / best[schema, fast, f][0])
                                                         for f in FIELDS}
        preds = work / "preds"
        write_predictions(gt1, preds)
        for schema, gt in folders.items():
            runs = [time_evaluate(gt, preds) for _ in range(max(1, args.repeats - 1))]
            ev = min(runs, key=lambda r: r["total_s"])
            rows[schema]["evaluate"] = {k: v for k, v in ev.items() if k != "metrics"}
            rows[schema]["canonical_mean_mm"] = ev["metrics"]["canonical"]["mean_mm"]
            rows[schema]["depth_rmse_mm"] = ev["metrics"]["depth"]["rmse_mm"]
        for schema, gt in folders.items():
            for workers in (0, 2):
                rows[schema][f"dataset_samples_per_s_w{workers}"] = dataset_rate(gt, workers, args.samples)
        for row in rows.values():
            print(json.dumps(row, default=float))
        print_table(rows[1], rows[2])


def print_table(one: dict, two: dict) -> None:
    print("\n| | schema 1 before (HDF5, Pillow) | schema 1 | schema 2 | 2 / 1 before | 2 / 1 |"
          "\n|---|---|---|---|---|---|")

    def row(label, a_before, a, b, fmt):
        cells = [fmt.format(a_before) if a_before is not None else "", fmt.format(a), fmt.format(b),
                 f"{b / a_before:.2f}" if a_before is not None else "", f"{b / a:.2f}"]
        print(f"| {label} | " + " | ".join(cells) + " |")

    row("bytes per pixel-frame", None, one["bytes_per_pixel_frame"], two["bytes_per_pixel_frame"], "{:.2f}")
    for unit, key in (("CPU s", "read_px_per_s"), ("wall s", "read_px_per_wall_s")):
        row(f"read every map + tracks, M pixel-frames / {unit}", one[f"{key}_before"] / 1e6, one[key] / 1e6,
            two[key] / 1e6, "{:.2f}")
    print(f"| (schema 2 before: {two['read_px_per_s_before'] / 1e6:.2f} M pixel-frames / CPU s, "
          f"{two['read_px_per_wall_s_before'] / 1e6:.2f} / wall s) | | | | | |")
    for f in FIELDS:
        row(f"read {f} only, M pixel-frames / CPU s", one["per_field_px_per_s_before"][f] / 1e6,
            one["per_field_px_per_s"][f] / 1e6, two["per_field_px_per_s"][f] / 1e6, "{:.1f}")
    for label, key in (("evaluate total / read, CPU", "total_over_read"), ("evaluate total / read, wall",
                                                                            "wall_over_read")):
        row(label, None, one["evaluate"][key], two["evaluate"][key], "{:.2f}")
    for label, key in (("ShardDataset samples/s, 0 workers", "dataset_samples_per_s_w0"),
                       ("ShardDataset samples/s, 2 workers", "dataset_samples_per_s_w2")):
        row(label, None, one[key], two[key], "{:.1f}")
    print(f"| canonical.mean_mm of GT+noise | | {one['canonical_mean_mm']:.4f} | "
          f"{two['canonical_mean_mm']:.4f} | | |")


if __name__ == "__main__":
    main()
