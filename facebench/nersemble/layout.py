"""Where each file of a NeRSemble capture lives, for the three layouts of SPEC section 3.

A :class:`Layout` turns (participant, sequence, frame, serial) into paths and lists
what is on disk; it reads no file contents.  The three layouts:

* ``v1``: one folder per frame, PNG images, alpha maps and COLMAP depth maps;
  calibration ``{pid}/camera_params.json``; colour correction per sequence.
* ``v2``: one mp4 per camera; calibration ``{pid}/calibration/``.
* ``benchmark``: v2 plus alpha-map videos, per-frame point clouds and a FLAME 2023
  tracking file.
"""

from __future__ import annotations

import re
from pathlib import Path

from facebench.errors import InputError

LAYOUTS = ("v1", "v2", "benchmark")

# Full sensor size (width, height) that NeRSemble intrinsics refer to by default.
SENSOR_WIDTH, SENSOR_HEIGHT = 2200, 3208
FPS = 73
# The 16 NeRSemble camera serials in camera-index order (222200037 is frontal).
SERIALS = (
    "222200042", "222200044", "222200046", "222200040", "222200036", "222200048",
    "220700191", "222200041", "222200037", "222200038", "222200047", "222200043",
    "222200049", "222200039", "222200045", "221501007",
)  # fmt: skip
BACKGROUND = "BACKGROUND"

_FRAME_DIR = re.compile(r"^frame_(\d+)$")
_CAM_FILE = re.compile(r"^cam_(.+)\.(png|jpg|jpeg|mp4)$", re.IGNORECASE)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def sort_serials(serials) -> list[str]:
    """Known NeRSemble serials in camera-index order, then unknown ones lexicographically."""
    known = [s for s in SERIALS if s in set(serials)]
    return known + sorted(set(serials) - set(SERIALS))


def _subdirs(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _first_existing(paths) -> Path:
    """The first of ``paths`` that exists, else the first one (for the error message)."""
    paths = list(paths)
    return next((p for p in paths if p.exists()), paths[0])


class Layout:
    """Paths of one capture root in one layout (``"v1"``, ``"v2"`` or ``"benchmark"``)."""

    def __init__(self, root: Path, name: str):
        if name not in LAYOUTS:
            raise InputError(f"unknown layout {name!r}; expected one of {', '.join(LAYOUTS)}")
        self.root = Path(root)
        self.name = name
        self.is_video = name != "v1"

    # --- per participant -------------------------------------------------------------
    def participant_dir(self, pid: str) -> Path:
        return self.root / pid

    def camera_params(self, pid: str) -> Path:
        if self.is_video:
            return self.root / pid / "calibration" / "camera_params.json"
        return self.root / pid / "camera_params.json"

    def color_calibration(self, pid: str, seq: str, serial: str) -> Path:
        """v1: a per-sequence ``.npy`` per camera; v2/benchmark: one JSON per participant."""
        if self.is_video:
            return self.root / pid / "calibration" / "color_calibration.json"
        return self.root / pid / "annotations" / seq / "color_correction" / f"{serial}.npy"

    def sequence_dir(self, pid: str, seq: str) -> Path:
        return self.root / pid / "sequences" / seq

    def background(self, pid: str, serial: str) -> Path:
        folder = self.sequence_dir(pid, BACKGROUND)
        return _first_existing(folder / f"image_{serial}{suffix}" for suffix in (".jpg", ".png", ".jpeg"))

    # --- v1 frame folders ------------------------------------------------------------
    def frame_dir(self, pid: str, seq: str, frame_id: int) -> Path:
        return self.sequence_dir(pid, seq) / f"frame_{int(frame_id):05d}"

    def image(self, pid: str, seq: str, frame_id: int, serial: str) -> Path:
        if self.is_video:
            return self.sequence_dir(pid, seq) / "images" / f"cam_{serial}.mp4"
        folder = self.frame_dir(pid, seq, frame_id) / "images-2x-73fps"
        return _first_existing(folder / f"cam_{serial}{suffix}" for suffix in IMAGE_SUFFIXES)

    def alpha(self, pid: str, seq: str, frame_id: int, serial: str) -> Path | None:
        if self.name == "v2":
            return None
        if self.is_video:
            return self.sequence_dir(pid, seq) / "alpha_maps" / f"cam_{serial}.mp4"
        folder = self.frame_dir(pid, seq, frame_id) / "alpha_map-73fps"
        return _first_existing(folder / f"cam_{serial}{suffix}" for suffix in IMAGE_SUFFIXES)

    def depth(self, pid: str, seq: str, frame_id: int, serial: str) -> Path | None:
        if self.is_video:
            return None
        folder = self.frame_dir(pid, seq, frame_id) / "colmap-73fps" / "depth_maps_compressed"
        return folder / f"cam_{serial}.png"

    # --- benchmark extras ------------------------------------------------------------
    def pointcloud(self, pid: str, seq: str, frame_id: int) -> Path | None:
        if self.name != "benchmark":
            return None
        return self.sequence_dir(pid, seq) / "pointclouds" / f"frame_{int(frame_id):05d}.pcd"

    def tracking(self, pid: str, seq: str) -> Path | None:
        if self.name != "benchmark":
            return None
        return self.sequence_dir(pid, seq) / "tracking" / "flame2023_tracking.npz"

    # --- discovery ---------------------------------------------------------------------
    def participants(self) -> list[str]:
        return [name for name in _subdirs(self.root) if name.isdigit()]

    def sequences(self, pid: str) -> list[str]:
        return [name for name in _subdirs(self.root / pid / "sequences") if name != BACKGROUND]

    def frame_dirs(self, pid: str, seq: str) -> list[int]:
        """v1: frame ids of the ``frame_XXXXX`` folders, ascending."""
        ids = []
        for name in _subdirs(self.sequence_dir(pid, seq)):
            match = _FRAME_DIR.match(name)
            if match:
                ids.append(int(match.group(1)))
        return sorted(ids)

    def camera_files(self, folder: Path) -> list[str]:
        """Serials of the ``cam_{serial}.*`` files in ``folder``."""
        if not folder.is_dir():
            return []
        serials = []
        for path in folder.iterdir():
            match = _CAM_FILE.match(path.name)
            if match:
                serials.append(match.group(1))
        return sort_serials(serials)


def detect_layout(root) -> str:
    """Guess the layout of a capture root from what is on disk.

    v1 has ``{pid}/camera_params.json``; v2 and benchmark have
    ``{pid}/calibration/camera_params.json``, and benchmark sequences also hold
    ``alpha_maps/``, ``pointclouds/`` or ``tracking/``.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("capture root is not a folder", root)
    probe = Layout(root, "v1")
    participants = probe.participants()
    if not participants:
        inside = any((root / name).exists() for name in ("camera_params.json", "calibration", "sequences"))
        hint = "; this looks like one participant's folder: pass its parent" if inside else ""
        raise InputError(f"no participant folders (3-digit names such as 017) found{hint}", root)
    for pid in participants:
        if (root / pid / "camera_params.json").is_file():
            return "v1"
        if (root / pid / "calibration").is_dir():
            for seq in probe.sequences(pid):
                seq_dir = probe.sequence_dir(pid, seq)
                if any((seq_dir / name).is_dir() for name in ("alpha_maps", "pointclouds", "tracking")):
                    return "benchmark"
            return "v2"
        if any(probe.frame_dirs(pid, seq) for seq in probe.sequences(pid)):
            return "v1"
    raise InputError(
        "cannot tell the NeRSemble layout (no camera_params.json or calibration/ folder); "
        "pass layout='v1'|'v2'|'benchmark'",
        root,
    )
