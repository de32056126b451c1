"""Speed of the reference transformer: predict frames/s at 256 px and peak memory.

Times the model alone (``run_transformer`` on random frames, long side 256, the
shipped window of 4 frames, template prior included) after one warm-up window: ``tiny`` on CPU, and
``base`` too when CUDA is available.  Peak memory: the process's maximum RSS
on CPU, ``torch.cuda.max_memory_allocated`` on GPU.  Random weights run as
fast as trained ones, so no checkpoint is needed.

    nice .venv/bin/python benchmarks/bench_baseline.py
    .venv/bin/python benchmarks/bench_baseline.py --configs tiny,base --frames 32   # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np


def bench(config: str, device: str, frames: int, size: int, window: int, threads: int | None) -> dict:
    import torch

    from facebench.baseline.config import get_config
    from facebench.baseline.inference import run_transformer
    from facebench.baseline.model import FaceTransformer, count_parameters

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = FaceTransformer(get_config(config, image_size=size)).to(device).eval()
    H, W = size, round(size * 176 / 256)  # portrait, like the NeRSemble sensor
    images = np.random.default_rng(0).integers(0, 256, (frames, H, W, 3), dtype=np.uint8)
    K = np.array([[2.2 * H, 0, (W - 1) / 2], [0, 2.2 * H, (H - 1) / 2], [0, 0, 1]])
    T = np.eye(4)
    T[2, 3] = 1.0  # the head 1 m in front of the camera, as in the rig
    cam = dict(K=K, T_cam_from_world=T)
    run_transformer(model, images[:window], window, size, device, **cam)  # warm-up (renders the prior)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    run_transformer(model, images, window, size, device, **cam)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    row = {"config": config, "device": device, "params_M": round(count_parameters(model) / 1e6, 2),
           "size": f"{W}x{H}", "window": window, "frames": frames, "threads": torch.get_num_threads(),
           "frames_per_s": round(frames / seconds, 2), "ms_per_frame": round(1000 * seconds / frames, 1)}
    if device.startswith("cuda"):
        row["peak_gpu_mem_MiB"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        row["gpu"] = torch.cuda.get_device_name(0)
    else:
        row["peak_rss_MiB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return row


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default=None, help="comma-separated; default tiny (+ base with CUDA)")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=256, help="long image side, pixels")
    ap.add_argument("--window", type=int, default=4, help="frames per forward pass")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    configs = args.configs.split(",") if args.configs else (["tiny", "base"] if cuda else ["tiny"])
    for config in configs:
        device = "cpu" if config == "tiny" and not cuda else ("cuda" if cuda else "cpu")
        print(json.dumps(bench(config, device, args.frames, args.size, args.window, args.threads)))


if __name__ == "__main__":
    main()
