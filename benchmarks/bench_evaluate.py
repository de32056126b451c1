"""Speed of `facebench evaluate`: clips/s, frames/s, and evaluate's total time vs reading alone.

    nice python benchmarks/bench_evaluate.py [--clips 4] [--frames 8] [--tracks 256] [--widths 256 512]

For each width it writes a synthetic GT folder (portrait W x H like NeRSemble,
H = round(W * 3208 / 2200)) and a submission with every key (GT plus noise),
then times, alternating:

* "read": a pass that only reads what evaluate reads (every prediction and the GT
  fields its tasks need, decoded; the same functions evaluate calls);
* "evaluate": the whole of `evaluate` (reading, checks, every metric including the
  temporal ones, the record).  Reading the next clip overlaps scoring this one.

CPU seconds are this process's (all threads; robust on a shared machine), wall
seconds are elapsed time.  Best of --repeats.  Target: evaluate <= 1.5x read.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from facebench.evaluate.run import evaluate_timed
from facebench.io.shards import Clip, GTReader, GTWriter, Sequence, Tracks

TEMPLATE = {"name": "facebench-head", "sha256": "0" * 64, "center": [0.0, 0.0, 0.0], "scale": 0.1}


def fake_clip(rng, serial, T, H, W, N) -> Clip:
    K = np.array([[W * 1.5, 0, (W - 1) / 2], [0, W * 1.5, (H - 1) / 2], [0, 0, 1]])
    yy, xx = np.mgrid[0:H, 0:W]
    inside = ((xx - W / 2) / (0.35 * W)) ** 2 + ((yy - H / 2) / (0.4 * H)) ** 2 < 1
    mask = np.where(inside, np.where(yy < H * 0.6, 1, 2), 0).astype(np.uint8)
    mask = np.broadcast_to(mask, (T, H, W)).copy()
    depth = (1.0 + 0.05 * np.cos(xx / W * 3)[None] + 0.001 * np.arange(T)[:, None, None]).astype(np.float32)
    depth = np.where(mask > 0, depth, np.nan).astype(np.float32)
    canonical = np.stack([(xx - W / 2) / W, (yy - H / 2) / H, np.cos(xx / W)], -1).astype(np.float32)
    canonical = np.where((mask > 0)[..., None], canonical[None], np.nan).astype(np.float32)
    xy = rng.uniform(0, min(W, H) - 1, (N, T, 2)).astype(np.float32)
    z = rng.uniform(0.9, 1.1, (N, T))
    xyz = np.stack([(xy[..., 0] - K[0, 2]) * z / K[0, 0], (xy[..., 1] - K[1, 2]) * z / K[1, 1], z], -1)
    visible = rng.random((N, T)) < 0.8
    visible[:, 0] = True
    tracks = Tracks(np.zeros(N, np.int32), rng.uniform(-1, 1, (N, 3)).astype(np.float32), xy,
                    xyz.astype(np.float32), visible)
    image = np.clip(np.stack([xx * 255 / W, yy * 255 / H, (xx + yy) * 128 / (W + H)], -1)[None]
                    + rng.normal(0, 8, (T, H, W, 3)), 0, 255).astype(np.uint8)
    return Clip(serial=serial, image=image, mask=mask, depth=depth, canonical=canonical, K=K,
                T_cam_from_world=np.eye(4), tracks=tracks)


def build(root: Path, clips: int, T: int, W: int, N: int, dtype=np.float32) -> tuple[Path, Path]:
    """A GT folder of ``clips`` clips and a submission (GT plus noise, maps as ``dtype``)."""
    H = round(W * 3208 / 2200)
    rng = np.random.default_rng(0)
    gt = root / "gt"
    writer = GTWriter(gt, template=TEMPLATE, dataset="synth", config={}, benchmark="synth-v1")
    serials = ("222200037", "222200038")
    for i in range(max(1, clips // len(serials))):
        seq = Sequence("901", f"EXP-{i}", np.arange(T, dtype=np.int32), np.zeros((T, 4, 3), np.float32),
                       [fake_clip(rng, s, T, H, W, N) for s in serials])
        writer.commit(writer.write_sequence(seq, i))
    preds = root / "preds"
    preds.mkdir()
    (preds / "meta.json").write_text(json.dumps({"method": "gt+noise", "benchmark": "synth-v1"}))
    with GTReader(gt) as reader:
        for cid in reader.clip_ids:
            c = reader.clip(cid)
            path = preds / f"{cid}.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            noise = rng.normal(0, 0.002, c.depth.shape).astype(np.float32)
            np.savez(path, depth=(c.depth + noise).astype(dtype),
                     canonical=(c.canonical + noise[..., None]).astype(dtype),
                     tracks_xy=c.tracks.xy + 0.5, tracks_visible=c.tracks.visible,
                     tracks_xyz=c.tracks.xyz * 1.01)
    return gt, preds


def read_only(preds: Path, gt: Path) -> None:
    """Read and decode everything ``evaluate`` reads, without scoring (the reading floor)."""
    from facebench.benchmarks import get_benchmark
    from facebench.evaluate.jobs import load_clip
    from facebench.io.prediction_source import open_predictions

    with open_predictions(preds) as source, GTReader(gt) as reader:
        bench = get_benchmark(reader.benchmark)
        for cid in reader.clip_ids:
            load_clip(source, reader, bench, cid)


def timed(func) -> tuple[float, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    func()
    return time.process_time() - c0, time.perf_counter() - w0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--tracks", type=int, default=256)
    parser.add_argument("--widths", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| W x H | clips | frames | clips/s | frames/s | read CPU s | evaluate CPU s | CPU evaluate / read"
          " | read wall s | evaluate wall s | wall evaluate / read |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for width in args.widths:
        with tempfile.TemporaryDirectory() as tmp:
            gt, preds = build(Path(tmp), args.clips, args.frames, width, args.tracks)
            read_cpu = read_wall = total_cpu = total_wall = float("inf")
            out: dict = {}

            def run_read(gt=gt, preds=preds):
                read_only(preds, gt)

            def run_evaluate(gt=gt, preds=preds, out=out):
                out["record"] = evaluate_timed(preds, gt=gt, progress=False)[0]

            for _ in range(args.repeats):  # alternate, so load on the machine hits both alike
                c, w = timed(run_read)
                read_cpu, read_wall = min(read_cpu, c), min(read_wall, w)
                c, w = timed(run_evaluate)
                total_cpu, total_wall = min(total_cpu, c), min(total_wall, w)
            n_clips = out["record"]["counts"]["clips"]
            n_frames = n_clips * args.frames
            height = round(width * 3208 / 2200)
            print(f"| {width} x {height} | {n_clips} | {n_frames} | {n_clips / total_wall:.1f}"
                  f" | {n_frames / total_wall:.1f} | {read_cpu:.3f} | {total_cpu:.3f}"
                  f" | {total_cpu / read_cpu:.2f}"
                  f" | {read_wall:.3f} | {total_wall:.3f} | {total_wall / read_wall:.2f} |")


if __name__ == "__main__":
    main()
