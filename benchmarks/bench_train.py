"""Training and inference throughput of the reference transformer: a table.

For each model config (``tiny``, ``base``), device, precision and number of processes, one
fresh worker process (``torchrun`` for several) times ``--steps`` training steps of
:func:`facebench.baseline.engine.train_step` (forward, backward, clip, AdamW; DDP under
torchrun) after ``--warmup`` untimed ones, on synthetic batches held in memory (random frames
and template-prior channels, all GT valid), so the figure is the model's, not the data
loader's.  Reported: global training samples/s (a sample is a window of ``--window`` frames at
the config's training size, or ``--size``), peak memory per process (max RSS on CPU,
``torch.cuda.max_memory_allocated`` on GPU), scaling efficiency (samples/s of N processes /
(N x one process's)) and, for single-process rows, inference frames/s of the model's forward
pass at ``--infer-size`` px (long side; windows of ``--window`` frames, ``--infer-batch``
windows per pass).  Random weights run as fast as trained ones.

    nice -n 10 python benchmarks/bench_train.py --devices cpu --procs 1,2       # CPU scaling
    python benchmarks/bench_train.py --devices cuda --precisions fp32,bf16      # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def synthetic_batch(n: int, window: int, height: int, width: int, generator) -> dict:
    """A collated training batch of ``n`` windows with every GT pixel valid."""
    import torch

    shape = (n, window, height, width)
    prior = torch.cat([1.0 + 0.05 * torch.rand(n, window, 1, height, width, generator=generator),
                       torch.rand(n, window, 3, height, width, generator=generator) * 2 - 1,
                       torch.ones(n, window, 1, height, width)], dim=2)
    T = torch.eye(4).expand(n, 4, 4).clone()
    T[:, 2, 3] = 1.0
    return {"image": torch.rand(n, window, 3, height, width, generator=generator), "prior": prior,
            "depth": 1.0 + 0.05 * torch.rand(shape, generator=generator),
            "depth_valid": torch.ones(shape, dtype=torch.bool),
            "canonical": torch.rand(n, window, 3, height, width, generator=generator) * 2 - 1,
            "canonical_valid": torch.ones(shape, dtype=torch.bool), "T_cam_from_world": T}


def portrait(size: int, patch: int) -> tuple[int, int]:
    """(H, W) with long side ``size``, NeRSemble's aspect (W/H = 11/16), W a multiple of the patch."""
    return size, max(patch, round(size * 11 / 16 / patch) * patch)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def worker(a) -> dict:
    """One measurement, in this process (one rank of a torchrun launch, or alone)."""
    import torch

    from facebench.baseline.config import TrainConfig, get_config
    from facebench.baseline.engine import check_split, train_step
    from facebench.baseline.model import FaceTransformer, count_parameters
    from facebench.baseline.runtime import Dist, autocast, compile_model, configure_backends

    if a.threads:
        torch.set_num_threads(a.threads)
    dist = Dist.start(a.device)
    configure_backends(dist.device)
    cfg = get_config(a.config, **({"image_size": a.size} if a.size else {}))
    torch.manual_seed(0)
    model = FaceTransformer(cfg).to(dist.device)
    compile_model(model, a.compile)
    trained = dist.wrap(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    H, W = portrait(cfg.image_size, cfg.patch)
    share = check_split(a.batch, dist.world, a.accumulate) * a.accumulate
    batch = synthetic_batch(share, a.window, H, W, torch.Generator().manual_seed(dist.rank))
    weights = TrainConfig().loss
    if dist.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t_first = time.perf_counter()
    for _ in range(a.warmup):
        train_step(trained, opt, batch, weights, dist=dist, accumulate=a.accumulate, precision=a.precision)
    _sync(dist.device)
    t0 = time.perf_counter()
    for _ in range(a.steps):
        train_step(trained, opt, batch, weights, dist=dist, accumulate=a.accumulate, precision=a.precision)
    _sync(dist.device)
    seconds = time.perf_counter() - t0
    row = {"config": a.config, "params_M": round(count_parameters(model) / 1e6, 1), "device": dist.device,
           "precision": a.precision, "compile": a.compile, "procs": dist.world, "batch": a.batch,
           "window": a.window, "train_px": f"{W}x{H}", "steps": a.steps,
           "warmup_s": round(t0 - t_first, 1), "samples_per_s": round(a.batch * a.steps / seconds, 3)}
    if dist.device.startswith("cuda"):
        row["peak_mem_MiB"] = round(torch.cuda.max_memory_allocated() / 2**20)
    else:
        row["peak_mem_MiB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if dist.world == 1 and a.infer_frames:
        Hi, Wi = portrait(a.infer_size, cfg.patch)
        nw = max(1, a.infer_frames // a.window)
        x = synthetic_batch(min(nw, a.infer_batch), a.window, Hi, Wi, torch.Generator().manual_seed(1))
        x = {k: x[k].to(dist.device) for k in ("image", "prior", "T_cam_from_world")}
        model.eval()
        if dist.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        with torch.inference_mode(), autocast(dist.device, a.precision):
            model(x["image"], x["prior"], rotation=x["T_cam_from_world"][:, :3, :3])  # warm-up
            _sync(dist.device)
            t0, done = time.perf_counter(), 0
            while done < nw:
                model(x["image"], x["prior"], rotation=x["T_cam_from_world"][:, :3, :3])
                done += len(x["image"])
            _sync(dist.device)
        row["infer_px"] = f"{Wi}x{Hi}"
        row["infer_frames_per_s"] = round(done * a.window / (time.perf_counter() - t0), 2)
        if dist.device.startswith("cuda"):
            row["infer_peak_mem_MiB"] = round(torch.cuda.max_memory_allocated() / 2**20)
    dist.close()
    return row


def launch(a, config: str, device: str, precision: str, procs: int, compile_: bool) -> dict:
    """Run one measurement in a fresh process (torchrun for several); returns its row."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "row.json"
        args = [str(Path(__file__).resolve()), "--worker", "--config", config, "--device", device,
                "--precision", precision, "--batch", str(a.batch_for(config)), "--window", str(a.window),
                "--steps", str(a.steps), "--warmup", str(a.warmup), "--accumulate", str(a.accumulate),
                "--infer-size", str(a.infer_size), "--infer-frames", str(a.infer_frames),
                "--infer-batch", str(a.infer_batch), "--out", str(out)]
        args += ["--size", str(a.size)] if a.size else []
        args += ["--threads", str(a.threads)] if a.threads else []
        args += ["--compile"] if compile_ else []
        if procs > 1:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={procs}", *args]
        else:
            cmd = [sys.executable, *args]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=a.timeout)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            return {"config": config, "device": device, "precision": precision, "procs": procs,
                    "compile": compile_, "error": " | ".join(tail)[-300:]}
        return json.loads(out.read_text())


COLUMNS = ["config", "params_M", "device", "precision", "compile", "procs", "batch", "train_px",
           "samples_per_s", "scaling", "peak_mem_MiB", "infer_px", "infer_frames_per_s", "error"]


def table(rows: list[dict]) -> str:
    cols = [c for c in COLUMNS if any(c in r for r in rows)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="tiny,base")
    ap.add_argument("--devices", default=None, help="comma-separated [default: cuda if present, else cpu]")
    ap.add_argument("--precisions", default=None,
                    help="comma-separated [default: fp32 on CPU, fp32,bf16 on CUDA]")
    ap.add_argument("--procs", default="1", help="comma-separated process counts, e.g. 1,2")
    ap.add_argument("--compile-configs", default="", help="configs also timed with --compile (bf16 on CUDA)")
    ap.add_argument("--batch", default="2", help="global batch; one number or config=N pairs (tiny=8,base=4)")
    ap.add_argument("--window", type=int, default=4)
    ap.add_argument("--size", type=int, default=None, help="training long side [default: the config's]")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--accumulate", type=int, default=1)
    ap.add_argument("--infer-size", type=int, default=512)
    ap.add_argument("--infer-frames", type=int, default=8, help="0 skips inference")
    ap.add_argument("--infer-batch", type=int, default=4, help="windows per inference forward pass")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per measurement")
    ap.add_argument("--json", default=None, help="also write the rows here")
    # worker-only
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--device", help=argparse.SUPPRESS)
    ap.add_argument("--precision", help=argparse.SUPPRESS)
    ap.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        a.batch = int(a.batch)
        row = worker(a)
        if int(os.environ.get("RANK", "0")) == 0:
            Path(a.out).write_text(json.dumps(row))
        return

    import torch

    per = dict(p.split("=") for p in a.batch.split(",")) if "=" in a.batch else {}
    a.batch_for = lambda c: int(per.get(c, 2)) if per else int(a.batch)
    devices = a.devices.split(",") if a.devices else (["cuda"] if torch.cuda.is_available() else ["cpu"])
    rows = []
    for device in devices:
        precisions = a.precisions.split(",") if a.precisions else (
            ["fp32", "bf16"] if device.startswith("cuda") else ["fp32"])
        for config in a.configs.split(","):
            for precision in precisions:
                base_rate = None
                for procs in (int(p) for p in a.procs.split(",")):
                    row = launch(a, config, device, precision, procs, False)
                    if procs == 1:
                        base_rate = row.get("samples_per_s")
                    elif base_rate and "samples_per_s" in row:
                        row["scaling"] = round(row["samples_per_s"] / (procs * base_rate), 2)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            if config in a.compile_configs.split(","):
                precision = "bf16" if device.startswith("cuda") else "fp32"
                rows.append(launch(a, config, device, precision, 1, True))
                print(json.dumps(rows[-1]), flush=True)
    print(table(rows))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
