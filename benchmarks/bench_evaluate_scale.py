"""Scale-out `evaluate`: the same record on every backend, and worker memory that does not grow with the GT.

    nice python benchmarks/bench_evaluate_scale.py [--clips 64 512] [--long-frames 96] [--workers 2]

For each clip count it writes a synthetic GT folder of that many clips (256 x 373, 8
frames, 256 tracks, as benchmarks/bench_evaluate.py) and a submission with every key,
then scores it serially, with ``--workers`` loky processes and with a Dask
LocalCluster of ``--workers`` processes (and Ray when it is installed), each run in a
fresh Python process.  It checks that every record equals the serial one (but for the
elapsed time) and reports the wall time and the peak resident memory of the largest
worker process (``VmHWM``, see ``facebench.evaluate.jobs.peak_rss_mib``; the scoring
process itself for the serial run).  ``--long-frames`` adds one GT of 2 clips of that
many frames: worker memory follows the clip, not the number of clips.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def one(gt: str, preds: str, backend: str, workers: int, out: str) -> None:
    """Run in a fresh process: score once, write the record and the timing to ``out``."""
    from facebench.evaluate.run import evaluate_timed

    t0 = time.perf_counter()
    record, timing = evaluate_timed(preds, gt=gt, progress=False, backend=backend, workers=workers)
    wall = time.perf_counter() - t0
    record.pop("elapsed_s")
    Path(out).write_text(json.dumps({"record": record, "wall_s": wall, **timing}))


def run(gt: Path, preds: Path, backend: str, workers: int, work: Path) -> dict:
    out = work / f"{backend}-{workers}.json"
    subprocess.run([sys.executable, __file__, "--one", str(gt), str(preds), backend, str(workers), str(out)],
                   check=True)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, nargs="+", default=[64, 512])
    parser.add_argument("--long-frames", type=int, default=96)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--one", nargs=5, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        gt, preds, backend, workers, out = args.one
        one(gt, preds, backend, int(workers), out)
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_evaluate import build

    backends = [("loky", 1), ("loky", args.workers), ("dask", args.workers)]
    if importlib.util.find_spec("ray") is not None:
        backends.append(("ray", args.workers))
    print("| GT | clips | frames per clip | backend | workers | wall s | peak RSS per worker MiB"
          " | record = serial |")
    print("|---|---|---|---|---|---|---|---|")
    cases = [(n, 8) for n in args.clips] + ([(2, args.long_frames)] if args.long_frames else [])
    for n_clips, frames in cases:
        with tempfile.TemporaryDirectory(prefix="bench-eval-scale-") as tmp:
            work = Path(tmp)
            t0 = time.perf_counter()
            gt, preds = build(work, n_clips, frames, 256, 256, dtype=np.float16)
            size = sum(p.stat().st_size for p in (gt / "shards").glob("*.h5")) / 2**20
            print(f"<!-- built {n_clips} clips in {time.perf_counter() - t0:.0f} s, {size:.0f} MiB -->")
            serial = None
            for backend, workers in backends:
                res = run(gt, preds, backend, workers, work)
                serial = serial or res["record"]
                same = res["record"] == serial
                print(f"| {size:.0f} MiB | {n_clips} | {frames} | {backend} | {workers} | {res['wall_s']:.1f}"
                      f" | {res['max_rss_mib']:.0f} | {'yes' if same else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
