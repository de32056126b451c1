"""Inputs of ``facebench predict``: GT clips, a folder of frames, or a video file.

GT clips carry their camera.  A frame folder or a video has none: the intrinsics
come from a field of view (``fov_deg`` across the longer image side, default
:data:`DEFAULT_FOV_DEG`) or from ``K = fx, fy, cx, cy``; the principal point
defaults to the image centre.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError, InputError

DEFAULT_FOV_DEG = 60.0  # across the longer image side; a typical webcam / phone main camera
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")


@dataclass
class Frames:
    """A plain image sequence (no calibration)."""

    name: str  # used in the clip id: user/{name}/cam0
    images: np.ndarray  # (T,H,W,3) uint8
    source: str  # the folder or video path

    @property
    def clip_id(self) -> str:
        return f"user/{self.name}/cam0"


def natural_key(name: str):
    """Sort key: frame2 before frame10."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("._") or "clip"


def _select(n: int, stride: int, max_frames: int | None) -> list[int]:
    idx = list(range(0, n, max(1, stride)))
    return idx[:max_frames] if max_frames else idx


def read_image_folder(folder, stride: int = 1, max_frames: int | None = None) -> Frames:
    """Frames of a folder of images, natural-sorted by file name."""
    from facebench.nersemble.images import read_rgb

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("not a folder of images", folder)
    files = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: natural_key(p.name)
    )
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in the folder", folder)
    frames = [read_rgb(files[i]) for i in _select(len(files), stride, max_frames)]
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise InputError(f"images differ in size ({len(shapes)} sizes, e.g. {sorted(shapes)[:2]})", folder)
    return Frames(_safe_name(folder.name), np.stack(frames), str(folder))


def read_video(path, stride: int = 1, max_frames: int | None = None) -> Frames:
    """Frames of an mp4/mov/avi (decoded once, in order, by the NeRSemble video reader)."""
    from facebench.nersemble.images import VideoCursor, count_video_frames

    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"not a video file (expected {', '.join(VIDEO_SUFFIXES)})", path)
    n = count_video_frames(path)
    if n == 0:
        raise InputError("the video has no frames", path)
    cursor = VideoCursor(path)
    try:
        frames = [cursor.read(i) for i in _select(n, stride, max_frames)]
    finally:
        cursor.close()
    return Frames(_safe_name(path.stem), np.stack(frames), str(path))


def intrinsics(width: int, height: int, fov_deg: float | None = None, K=None) -> np.ndarray:
    """(3,3) K from ``K = (fx, fy, cx, cy)`` or from a field of view across the longer side."""
    if K is not None:
        vals = [float(v) for v in (K.split(",") if isinstance(K, str) else K)]
        if len(vals) != 4 or not all(np.isfinite(vals)) or vals[0] <= 0 or vals[1] <= 0:
            raise FacebenchError(f"--K wants four numbers fx,fy,cx,cy with fx, fy > 0, got {K!r}")
        fx, fy, cx, cy = vals
    else:
        fov = DEFAULT_FOV_DEG if fov_deg is None else float(fov_deg)
        if not 1.0 <= fov <= 170.0:
            raise FacebenchError(f"--fov must be between 1 and 170 degrees, got {fov}")
        fx = fy = 0.5 * max(width, height) / np.tan(np.radians(fov) / 2)
        cx, cy = (width - 1) / 2, (height - 1) / 2
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float64)


HEAD_BOX_WIDTH_M = 0.16  # width in metres of the face detector's box on an adult face (approximate)


def assumed_pose(boxes, K) -> np.ndarray:
    """An assumed T_cam_from_world for an uncalibrated clip: the world is the template's
    canonical frame (+y up, +z out of the face), facing the camera, at the distance where
    a face of HEAD_BOX_WIDTH_M spans the median detected box width.

    boxes (T,4) x0, y0, x1, y1 pixels (NaN rows ignored), K (3,3) -> (4,4).
    """
    ok = np.isfinite(boxes).all(axis=1)
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])  # camera y down, z into the scene
    if not ok.any():
        T[2, 3] = 0.6
        return T
    b = np.median(boxes[ok], axis=0)
    z = K[0, 0] * HEAD_BOX_WIDTH_M / max(b[2] - b[0], 1.0)
    u, v = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    T[:3, 3] = [(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z]
    return T


def face_crop(boxes, height: int, width: int, margin: float = 1.8) -> tuple[int, int, int, int]:
    """One crop (x0, y0, x1, y1) for the whole clip: the union of the face boxes grown by
    ``margin`` about its centre (at least the head with hair and chin), clipped to the image."""
    ok = np.isfinite(boxes).all(axis=1)
    if not ok.any():
        return 0, 0, width, height
    lo, hi = boxes[ok, :2].min(axis=0), boxes[ok, 2:].max(axis=0)
    centre, half = (lo + hi) / 2, (hi - lo).max() * margin / 2
    centre[1] -= 0.1 * half  # the detector's box stops at the brows: include the forehead
    x0, y0 = (np.floor(centre - half)).astype(int)
    x1, y1 = (np.ceil(centre + half)).astype(int) + 1
    return int(max(x0, 0)), int(max(y0, 0)), int(min(x1, width)), int(min(y1, height))


def grid_queries(box, frame: int, n_side: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Query points for an unlabelled clip: an n_side x n_side grid over the central 80% of the
    face box at ``frame``.  -> (query_frame (N,) int32, query_xy (N,2) float32)."""
    x0, y0, x1, y1 = box
    xs = np.linspace(x0 + 0.1 * (x1 - x0), x1 - 0.1 * (x1 - x0), n_side)
    ys = np.linspace(y0 + 0.1 * (y1 - y0), y1 - 0.1 * (y1 - y0), n_side)
    xy = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(np.float32)
    return np.full(len(xy), frame, np.int32), xy
