"""Writers for NeRSemble's three on-disk layouts (SPEC §3): v1 frame folders, v2 videos, benchmark.

    v1:        {pid}/camera_params.json
               {pid}/sequences/{seq}/frame_{t:05d}/images-2x-73fps/cam_{serial}.png
               {pid}/sequences/{seq}/frame_{t:05d}/alpha_map-73fps/cam_{serial}.png
               {pid}/sequences/{seq}/frame_{t:05d}/colmap-73fps/depth_maps_compressed/cam_{serial}.png
               {pid}/annotations/{seq}/color_correction/{serial}.npy
    v2:        {pid}/calibration/camera_params.json, {pid}/calibration/color_calibration.json
               {pid}/sequences/{seq}/images/cam_{serial}.mp4
    benchmark: v2 plus {pid}/sequences/{seq}/alpha_maps/cam_{serial}.mp4,
               {pid}/sequences/{seq}/pointclouds/frame_{t:05d}.pcd,
               {pid}/sequences/{seq}/tracking/flame2023_tracking.npz
    all:       {pid}/sequences/BACKGROUND/image_{serial}.jpg

Colour: every camera gets a small colour distortion ``D`` (4x4 affine on
row-vector RGB in [0,1]: ``[rgb_seen, 1] = [rgb_true, 1] @ D``), baked into its
images; the files store the correction ``M = inv(D)`` so that
``[rgb_seen, 1] @ M`` recovers the true colours (up to 8-bit rounding).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

LAYOUTS = ("v1", "v2", "benchmark")
# x264 constant rate factor: v2 as the public release (18-23), the benchmark layout near-lossless
VIDEO_CRF = {"v2": 20, "benchmark": 10}


def color_distortion(seed: int, serial: str) -> np.ndarray:
    """The 4x4 row-vector affine colour distortion ``D`` of one camera (near identity)."""
    rng = np.random.default_rng([seed, zlib.crc32(serial.encode()), 57])
    D = np.eye(4)
    # rows sum to <= 1 so that no colour clips and the correction is exact up to rounding
    D[:3, :3] = np.diag(rng.uniform(0.85, 0.93, 3)) + rng.uniform(-0.025, 0.025, (3, 3)) * (1 - np.eye(3))
    D[3, :3] = rng.uniform(0.0, 0.02, 3)
    return D


def apply_color(rgb: np.ndarray, D: np.ndarray) -> np.ndarray:
    """(…,3) uint8 through the row-vector affine ``D`` (4x4), back to uint8."""
    x = rgb.astype(np.float32) / 255.0
    y = x @ D[:3, :3].astype(np.float32) + D[3, :3].astype(np.float32)
    return np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)


class CaptureWriter:
    """Writes one capture folder in ``layout``; call the methods in capture order."""

    def __init__(self, root, layout: str = "v1", fps: int = 73):
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
        self.root = Path(root)
        self.layout = layout
        self.fps = fps
        self._videos: dict[tuple[str, str], object] = {}
        self._executor = None
        self._pending: list = []
        self._seq_dir: Path | None = None

    # -- participant --------------------------------------------------------------------------------

    def participant(self, pid: str, rig, corrections: dict[str, np.ndarray],
                    backgrounds: dict[str, np.ndarray], size: tuple[int, int] | None = None) -> None:
        """Calibration, colour calibration and BACKGROUND images of participant ``pid``; ``size``
        (W, H) of the images (their intrinsics are stated when they are not the sensor resized)."""
        from PIL import Image

        base = self.root / pid
        params = rig.camera_params(*(size or (None, None)))
        if self.layout == "v1":
            _write_json(base / "camera_params.json", params)
        else:
            _write_json(base / "calibration" / "camera_params.json", params)
            _write_json(base / "calibration" / "color_calibration.json",
                        {s: corrections[s].tolist() for s in rig.serials})
        bg_dir = base / "sequences" / "BACKGROUND"
        bg_dir.mkdir(parents=True, exist_ok=True)
        for serial, img in backgrounds.items():
            Image.fromarray(img).save(bg_dir / f"image_{serial}.jpg", quality=95)

    # -- sequence -----------------------------------------------------------------------------------

    def begin_sequence(self, pid: str, seq: str, corrections: dict[str, np.ndarray]) -> None:
        self._seq_dir = self.root / pid / "sequences" / seq
        self._seq_dir.mkdir(parents=True, exist_ok=True)
        if self.layout == "v1":
            cc = self.root / pid / "annotations" / seq / "color_correction"
            cc.mkdir(parents=True, exist_ok=True)
            for serial, M in corrections.items():
                np.save(cc / f"{serial}.npy", M.astype(np.float64))

    def view(self, frame_id: int, serial: str, rgb: np.ndarray, alpha: np.ndarray,
             depth_q: np.ndarray | None) -> None:
        """One camera at one frame: image (colour-distorted uint8), alpha (uint8), depth codes (uint16)."""
        from PIL import Image

        if self.layout == "v1":
            frame = self._seq_dir / f"frame_{frame_id:05d}"
            for sub, arr in (("images-2x-73fps", rgb), ("alpha_map-73fps", alpha),
                             ("colmap-73fps/depth_maps_compressed", depth_q)):
                if arr is None:
                    continue
                d = frame / sub
                d.mkdir(parents=True, exist_ok=True)
                # PNG encoding releases the GIL: a writer thread overlaps it with rendering
                self._pending.append(self._pool().submit(
                    Image.fromarray(arr).save, d / f"cam_{serial}.png", compress_level=1))
            if len(self._pending) > 48:
                self._drain(24)
            return
        self._video("images", serial).append_data(rgb)
        if self.layout == "benchmark":
            self._video("alpha_maps", serial).append_data(np.repeat(alpha[..., None], 3, axis=2))

    def pointcloud(self, frame_id: int, xyz_world: np.ndarray, normals_world: np.ndarray) -> None:
        if self.layout == "benchmark":
            write_pcd(self._seq_dir / "pointclouds" / f"frame_{frame_id:05d}.pcd", xyz_world, normals_world)

    def _pool(self):
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synth-png")
        return self._executor

    def _drain(self, keep: int = 0) -> None:
        """Wait for queued PNG writes until at most ``keep`` remain (re-raising their errors)."""
        while len(self._pending) > keep:
            self._pending.pop(0).result()

    def end_sequence(self, tracking: dict | None = None) -> None:
        self._drain()
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        for writer in self._videos.values():
            writer.close()
        self._videos.clear()
        if self.layout == "benchmark" and tracking is not None:
            path = self._seq_dir / "tracking" / "flame2023_tracking.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, **tracking)

    def _video(self, kind: str, serial: str):
        key = (kind, serial)
        if key not in self._videos:
            import imageio.v2 as imageio

            path = self._seq_dir / kind / f"cam_{serial}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._videos[key] = imageio.get_writer(
                path, fps=self.fps, codec="libx264", quality=None, macro_block_size=1,
                pixelformat="yuv420p",
                ffmpeg_params=["-crf", str(VIDEO_CRF[self.layout]), "-preset", "veryfast"],
                ffmpeg_log_level="error")
        return self._videos[key]


def tracking_npz(identity_shape: np.ndarray, perf, rotation_matrices: np.ndarray,
                 translation: np.ndarray, scale: float = 1.0) -> dict:
    """The ``flame2023_tracking.npz`` arrays (SPEC §3), sized to the template's parameter counts."""
    T = len(perf.frame_ids)
    return {
        "shape": identity_shape.reshape(1, -1).astype(np.float32),
        "expression": perf.expression.astype(np.float32),
        "rotation": perf.rotation.astype(np.float32),
        "rotation_matrices": rotation_matrices.astype(np.float32),
        "translation": translation.astype(np.float32),
        "jaw": perf.jaw.astype(np.float32),
        "neck": perf.neck.astype(np.float32),
        "eyes": perf.eyes.astype(np.float32).reshape(T, 6),
        "scale": np.full((1, 1), scale, np.float32),
        "frames": perf.frame_ids.astype(np.int32),
    }


def write_pcd(path, xyz: np.ndarray, normals: np.ndarray) -> None:
    """Binary PCD v0.7 with float32 fields x y z normal_x normal_y normal_z."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.concatenate([xyz, normals], axis=1).astype("<f4")
    n = len(data)
    header = ("# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\n"
              "FIELDS x y z normal_x normal_y normal_z\nSIZE 4 4 4 4 4 4\nTYPE F F F F F F\n"
              f"COUNT 1 1 1 1 1 1\nWIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA binary\n")
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(data.tobytes())


def read_pcd(path) -> dict[str, np.ndarray]:
    """Fields of a binary or ascii PCD file with float32 fields, as {name: (N,)}."""
    raw = Path(path).read_bytes()
    header = {}
    pos = 0
    while True:
        end = raw.index(b"\n", pos)
        line = raw[pos:end].decode("ascii").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *vals = line.split()
        header[key] = vals
        if key == "DATA":
            break
    fields, n = header["FIELDS"], int(header["POINTS"][0])
    if header["DATA"][0] == "binary":
        arr = np.frombuffer(raw[pos:pos + 4 * len(fields) * n], "<f4").reshape(n, len(fields))
    else:
        arr = np.loadtxt(raw[pos:].decode().splitlines(), dtype=np.float32, ndmin=2)
    return {name: arr[:, i] for i, name in enumerate(fields)}


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
