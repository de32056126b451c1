"""Tiny NeRSemble captures written file by file, following SPEC section 3 paths literally.

Deliberately independent of facebench.nersemble (no shared constants or writers),
so the reader is checked against the spec, not against itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

PID, SEQ = "017", "EXP-1-head"
SERIALS = ("220700191", "222200037")  # index order puts 222200037 (index 8) after 220700191 (6)
FRONT = "222200037"

# Intrinsics for the full 2200 x 3208 sensor, principal point at the image centre.
K_SENSOR = [[4000.0, 0.0, 1099.5], [0.0, 4000.0, 1603.5], [0.0, 0.0, 1.0]]


def T_cam_from_world(i: int) -> list:
    T = np.eye(4)
    T[:3, 3] = [0.01 * i, -0.02, 1.0]
    return T.tolist()


def rgb_pattern(frame_id: int, cam_index: int, width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 10 + frame_id, y * 5, np.full_like(x, 50 * cam_index + 20)], axis=-1)
    return image.astype(np.uint8)


def depth_metres(frame_id: int, width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return 0.8 + 0.001 * x + 0.0005 * y + 0.01 * frame_id


def depth_codes(depth_m: np.ndarray) -> np.ndarray:
    q = np.rint(depth_m * 32767.0) + 1  # (2^16 - 2) / 2 codes per metre, 0 reserved
    q[0, 0] = 0  # one invalid pixel
    return q.astype(np.uint16)


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def build_v1(root: Path, frames=(0, 3, 6), width=20, height=30) -> Path:
    """v1: frame folders with images, alpha, depth; shared intrinsics; colour correction for FRONT."""
    p = root / PID
    p.mkdir(parents=True)
    params = {"world_2_cam": {s: T_cam_from_world(i) for i, s in enumerate(SERIALS)}, "intrinsics": K_SENSOR}
    (p / "camera_params.json").write_text(json.dumps(params))
    for t in frames:
        frame_dir = p / "sequences" / SEQ / f"frame_{t:05d}"
        for i, serial in enumerate(SERIALS):
            write_png(frame_dir / "images-2x-73fps" / f"cam_{serial}.png", rgb_pattern(t, i, width, height))
            alpha = np.zeros((height, width), np.uint8)
            alpha[:, width // 2 :] = 255
            write_png(frame_dir / "alpha_map-73fps" / f"cam_{serial}.png", alpha)
            codes = depth_codes(depth_metres(t, width, height))
            write_png(frame_dir / "colmap-73fps" / "depth_maps_compressed" / f"cam_{serial}.png", codes)
    # colour correction for FRONT only: R' = 0.5 R + 0.1, G' = B, B' = G (4x4 on row vectors)
    M = np.eye(4)
    M[0, 0] = 0.5
    M[3, 0] = 0.1
    M[1:3, 1:3] = [[0, 1], [1, 0]]
    cc = p / "annotations" / SEQ / "color_correction"
    cc.mkdir(parents=True)
    np.save(cc / f"{FRONT}.npy", M)
    bg = p / "sequences" / "BACKGROUND"
    bg.mkdir(parents=True)
    Image.fromarray(np.full((height, width, 3), 77, np.uint8)).save(bg / f"image_{FRONT}.jpg", quality=100)
    return root


def write_mp4(path: Path, frames) -> None:
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(path, fps=73, codec="libx264", quality=10, macro_block_size=16) as writer:
        for frame in frames:
            writer.append_data(frame)


def flat_frames(n: int, width: int, height: int, cam_index: int):
    """Flat colours that change with the frame index, robust to yuv420 chroma subsampling."""
    return [np.full((height, width, 3), (20 + 40 * t, 100, 30 + 60 * cam_index), np.uint8) for t in range(n)]


def build_v2(root: Path, n_frames=5, width=32, height=48, benchmark=False) -> Path:
    """v2: per-camera mp4s; per-serial intrinsics given for a 1100 x 1604 image; JSON colour calibration."""
    p = root / PID
    calib = p / "calibration"
    calib.mkdir(parents=True)
    K_half = [[2000.0, 0.0, 549.5], [0.0, 2000.0, 801.5], [0.0, 0.0, 1.0]]
    K_other = [[2200.0, 0.0, 549.5], [0.0, 2200.0, 801.5], [0.0, 0.0, 1.0]]
    params = {
        "world_2_cam": {s: T_cam_from_world(i) for i, s in enumerate(SERIALS)},
        "intrinsics": {SERIALS[0]: K_other, SERIALS[1]: K_half},
        "width": 1100,
        "height": 1604,
    }
    (calib / "camera_params.json").write_text(json.dumps(params))
    M = np.eye(4)
    M[3, :3] = [0.0, -0.2, 0.0]  # G' = G - 0.2 for FRONT
    (calib / "color_calibration.json").write_text(json.dumps({FRONT: M.tolist()}))
    seq_dir = p / "sequences" / SEQ
    for i, serial in enumerate(SERIALS):
        write_mp4(seq_dir / "images" / f"cam_{serial}.mp4", flat_frames(n_frames, width, height, i))
    if benchmark:
        for serial in SERIALS:
            alpha = [np.full((height, width, 3), 255 if t % 2 else 0, np.uint8) for t in range(n_frames)]
            write_mp4(seq_dir / "alpha_maps" / f"cam_{serial}.mp4", alpha)
        write_tracking(seq_dir / "tracking" / "flame2023_tracking.npz", n_frames)
    return root


def write_tracking(path: Path, T: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    np.savez(
        path,
        shape=rng.normal(size=(1, 300)).astype(np.float32),
        expression=rng.normal(size=(T, 100)).astype(np.float32),
        rotation=np.zeros((T, 3), np.float32),
        rotation_matrices=np.tile(np.eye(3, dtype=np.float32), (T, 1, 1)),
        translation=np.zeros((T, 3), np.float32),
        jaw=np.zeros((T, 3), np.float32),
        neck=np.zeros((T, 3), np.float32),
        eyes=np.zeros((T, 6), np.float32),
        scale=np.ones((1, 1), np.float32),
        frames=np.arange(T, dtype=np.int64) * 3,
    )


def pcd_header(fields, sizes, types, n, data, counts=None) -> bytes:
    counts = counts or [1] * len(fields)
    lines = [
        "# .PCD v0.7 - Point Cloud Data file format",
        "VERSION 0.7",
        "FIELDS " + " ".join(fields),
        "SIZE " + " ".join(map(str, sizes)),
        "TYPE " + " ".join(types),
        "COUNT " + " ".join(map(str, counts)),
        f"WIDTH {n}",
        "HEIGHT 1",
        "VIEWPOINT 0 0 0 1 0 0 0",
        f"POINTS {n}",
        f"DATA {data}",
    ]
    return ("\n".join(lines) + "\n").encode("ascii")


def lzf_literals(data: bytes) -> bytes:
    """A valid LZF stream made only of literal runs (at most 32 bytes each)."""
    out = bytearray()
    for i in range(0, len(data), 32):
        chunk = data[i : i + 32]
        out.append(len(chunk) - 1)
        out += chunk
    return bytes(out)
