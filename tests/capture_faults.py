"""Broken copies of a tiny synthetic capture, and a fast prepare configuration.

Shared by tests/test_reliability_prepare.py and benchmarks/reliability_report.py.
Every fault damages sequence ``EXP-1-head`` of participant 101 (or the
participant's calibration), so ``EMO-1-shout+laugh`` stays good.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

PARTICIPANT = "101"
BROKEN = "EXP-1-head"
GOOD = "EMO-1-shout+laugh"
SERIAL = "222200037"

# Small fit and maps: the reliability tests check bookkeeping, not fidelity.
FAST_CONFIG = {"fit": {"rigid_yaws_deg": [0], "rigid_pitches_deg": [0], "rigid_iterations": 5,
                       "iterations": 10, "offset_iterations": 2},
               "maps": {"n_tracks": 8}, "shards": {"compression": "none"}}
RESOLUTION = 32


def make_capture(root, frames: int = 2) -> Path:
    """A v1 capture: participant 101, sequences EMO-1-shout+laugh and EXP-1-head, 3 cameras."""
    from facebench.synth import synthesize

    synthesize(root, preset="tiny", layout="v1", seed=3, participants="101", sequences=[GOOD, BROKEN],
               frames=frames, truth_dir=Path(str(root) + "-truth"), progress=False)
    return Path(root)


def _frame(root: Path) -> Path:
    return root / PARTICIPANT / "sequences" / BROKEN / "frame_00001"


def truncated_png(root: Path) -> Path:
    path = _frame(root) / "images-2x-73fps" / f"cam_{SERIAL}.png"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def missing_image(root: Path) -> Path:
    path = _frame(root) / "images-2x-73fps" / f"cam_{SERIAL}.png"
    path.unlink()
    return path


def missing_camera_params(root: Path) -> Path:
    path = root / PARTICIPANT / "camera_params.json"
    path.unlink()
    return path


def malformed_camera_params(root: Path) -> Path:
    path = root / PARTICIPANT / "camera_params.json"
    path.write_text(path.read_text()[:-40])
    return path


def nan_in_calibration(root: Path) -> Path:
    path = root / PARTICIPANT / "camera_params.json"
    params = json.loads(path.read_text())
    params["world_2_cam"][SERIAL][0][3] = float("nan")
    path.write_text(json.dumps(params))
    return path


def depth_wrong_size(root: Path) -> Path:
    from PIL import Image

    path = _frame(root) / "colmap-73fps" / "depth_maps_compressed" / f"cam_{SERIAL}.png"
    depth = np.asarray(Image.open(path))
    Image.fromarray(depth[:-8, :-4]).save(path)
    return path


def empty_sequence(root: Path) -> Path:
    folder = root / PARTICIPANT / "sequences" / BROKEN
    for frame in folder.iterdir():
        shutil.rmtree(frame)
    return folder


# name -> (damage function, what is damaged, the words the error must contain)
FAULTS = {
    "truncated_png": (truncated_png, "half of one colour PNG", "truncated"),
    "missing_image": (missing_image, "one camera's PNG of one frame deleted", "file not found"),
    "missing_camera_params": (missing_camera_params, "camera_params.json deleted", "file not found"),
    "malformed_camera_params": (malformed_camera_params, "camera_params.json cut short", "malformed JSON"),
    "nan_in_calibration": (nan_in_calibration, "NaN in one world_2_cam", "NaN"),
    "depth_wrong_size": (depth_wrong_size, "one depth PNG 8 px shorter, 4 px narrower", "depth map is"),
    "empty_sequence": (empty_sequence, "sequence folder without frames", "empty sequence"),
}
# Faults of the participant's calibration break every sequence, not only EXP-1-head.
PARTICIPANT_FAULTS = {"missing_camera_params", "malformed_camera_params", "nan_in_calibration"}


def broken_copy(capture: Path, fault: str, dest: Path) -> Path:
    """Copy ``capture`` to ``dest`` and apply ``fault``; returns the damaged file or folder."""
    shutil.copytree(capture, dest)
    return FAULTS[fault][0](Path(dest))
