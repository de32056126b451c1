"""Reading speed of the NeRSemble readers: views per second for v1 PNG folders and v2 mp4s.

A v1 view is image + alpha + 16-bit depth PNGs plus colour correction; a v2
view is one decoded mp4 frame plus colour correction.  Captures come from
``facebench synth`` (``--source synth``, the default when it is importable) or
from a plain generator here (``--source plain``: smooth noise images).

    nice .venv/bin/python benchmarks/bench_readers.py [--preset small] [--source synth|plain]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def plain_capture(root: Path, layout: str, n_cams: int, n_frames: int, width: int, height: int) -> None:
    """A capture with smooth random images, following SPEC section 3 paths."""
    import imageio.v2 as imageio
    from PIL import Image

    rng = np.random.default_rng(0)
    serials = [f"2222000{36 + i:02d}" for i in range(n_cams)]
    pid, seq = "101", "EXP-1-head"
    base = root / pid
    params = {
        "world_2_cam": {s: np.eye(4).tolist() for s in serials},
        "intrinsics": [[4000.0, 0, 1099.5], [0, 4000.0, 1603.5], [0, 0, 1]],
    }
    calib = base if layout == "v1" else base / "calibration"
    calib.mkdir(parents=True)
    (calib / "camera_params.json").write_text(json.dumps(params))
    M = np.eye(4)
    M[3, :3] = 0.02
    if layout != "v1":
        (calib / "color_calibration.json").write_text(json.dumps({s: M.tolist() for s in serials}))
    y, x = np.mgrid[0:height, 0:width]
    for i, serial in enumerate(serials):
        frames = []
        for t in range(n_frames):
            noise = rng.integers(0, 24, (height, width, 3))
            rgb = np.stack([x * 200 // width, y * 200 // height, np.full_like(x, 10 * i + t)], -1) + noise
            frames.append(rgb.astype(np.uint8))
        if layout == "v1":
            np.save(_mkdir(base / "annotations" / seq / "color_correction") / f"{serial}.npy", M)
            for t, rgb in enumerate(frames):
                frame = base / "sequences" / seq / f"frame_{t:05d}"
                Image.fromarray(rgb).save(_mkdir(frame / "images-2x-73fps") / f"cam_{serial}.png")
                alpha = ((x > width // 4) * 255).astype(np.uint8)
                Image.fromarray(alpha).save(_mkdir(frame / "alpha_map-73fps") / f"cam_{serial}.png")
                q = (32767 * (0.8 + 0.0002 * x + 0.0001 * y) + 1).astype(np.uint16)
                depth_dir = _mkdir(frame / "colmap-73fps" / "depth_maps_compressed")
                Image.fromarray(q).save(depth_dir / f"cam_{serial}.png")
        else:
            path = _mkdir(base / "sequences" / seq / "images") / f"cam_{serial}.mp4"
            options = {"quality": None, "macro_block_size": 1, "ffmpeg_params": ["-crf", "10"], "fps": 73}
            with imageio.get_writer(path, codec="libx264", ffmpeg_log_level="error", **options) as writer:
                for rgb in frames:
                    writer.append_data(rgb)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def time_views(root: Path, layout: str, random_order: bool = False) -> dict:
    """Read every view of every camera; views/s over the whole capture."""
    from facebench.nersemble import open_capture

    n, size, t0 = 0, None, time.perf_counter()
    with open_capture(root, layout) as cap:
        for pid in cap.participants():
            for seq in cap.sequences(pid):
                ids = cap.frame_ids(pid, seq)
                order = np.random.default_rng(0).permutation(ids) if random_order else ids
                for serial in cap.cameras(pid, seq):
                    for view in cap.iter_views(pid, seq, serial, order):
                        size = [view.camera.width, view.camera.height]
                        n += 1
    elapsed = time.perf_counter() - t0
    order_name = "random" if random_order else "sequential"
    return {"layout": layout, "order": order_name, "views": n, "size": size,
            "seconds": round(elapsed, 3), "views_per_s": round(n / elapsed, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=["synth", "plain"], default="synth")
    parser.add_argument("--preset", default="small", help="synth preset (tiny, small, full)")
    parser.add_argument("--cameras", type=int, default=4, help="plain: number of cameras")
    parser.add_argument("--frames", type=int, default=8, help="frames per camera")
    parser.add_argument("--width", type=int, default=256, help="plain: image width")
    parser.add_argument("--height", type=int, default=374, help="plain: image height")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-readers-") as tmp:
        tmp = Path(tmp)
        results = []
        for layout in ("v1", "v2"):
            root = tmp / layout
            if args.source == "synth":
                try:
                    from facebench.synth import synthesize
                    from facebench.templates import load  # noqa: F401
                except ImportError as exc:
                    parser.error(
                        f"--source synth needs facebench.synth and its template ({exc}); use --source plain"
                    )
                synthesize(root, preset=args.preset, layout=layout, frames=args.frames, progress=False,
                           truth_dir=tmp / f"{layout}-truth")  # fmt: skip
            else:
                plain_capture(root, layout, args.cameras, args.frames, args.width, args.height)
            results.append(time_views(root, layout))
            if layout == "v2":
                results.append(time_views(root, layout, random_order=True))
        for row in results:
            print(json.dumps({"source": args.source, **row}))


if __name__ == "__main__":
    main()
