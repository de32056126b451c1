"""Camera conventions misread on purpose, written into a capture's own calibration file.

Each mistake is what a user (or a converter) typically gets wrong, applied to every camera
of the file, in the file's own format; independent of facebench's readers:

* ``scaled``: intrinsics for images of another size (fx, fy, cx, cy halved: ``K`` kept after
  the images were resized, or a ``K`` already rescaled that the reader rescales again);
* ``swapped``: camera-to-world written where world-to-camera is expected;
* ``units``: translations in the other unit (NeRSemble expects metres: millimetres written;
  Multiface and Ava-256 expect millimetres: metres written);
* ``transposed``: the rotation written transposed (the translation kept).

Full-matrix transposes (a 4x4 extrinsic, or ``K``) are refused by the readers themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

MISTAKES = ("scaled", "swapped", "units", "transposed")
#: what the one-line reason must say for each mistake
WORDS = {"scaled": "scaled intrinsics", "swapped": "world_2_cam and cam_2_world swapped",
         "units": "units:", "transposed": "transposed rotation"}


def wrong_K(K, mistake: str) -> np.ndarray:
    K = np.array(K, np.float64)
    if mistake == "scaled":
        K[:2] *= 0.5
    return K


def wrong_T(T, mistake: str, unit_factor: float) -> np.ndarray:
    """A 4x4 world-to-camera matrix with ``mistake``; ``unit_factor`` multiplies translations."""
    T = np.array(T, np.float64)
    if mistake == "swapped":
        return np.linalg.inv(T)
    if mistake == "units":
        T[:3, 3] *= unit_factor
    if mistake == "transposed":
        T[:3, :3] = T[:3, :3].T.copy()
    return T


def nersemble(root: Path, mistake: str, serials=None) -> None:
    """``{pid}/camera_params.json`` (or ``calibration/``) of every participant under ``root``."""
    root = Path(root)
    for path in list(root.glob("*/camera_params.json")) + list(root.glob("*/calibration/camera_params.json")):
        params = json.loads(path.read_text())
        for serial, T in params["world_2_cam"].items():
            if serials is None or serial in serials:
                params["world_2_cam"][serial] = wrong_T(T, mistake, 1000.0).tolist()
        if isinstance(params["intrinsics"], dict):
            params["intrinsics"] = {s: wrong_K(K, mistake).tolist() if serials is None or s in serials else K
                                    for s, K in params["intrinsics"].items()}
        else:
            params["intrinsics"] = wrong_K(params["intrinsics"], mistake).tolist()
        path.write_text(json.dumps(params))


def multiface(capture: Path, mistake: str, names=None) -> None:
    """``KRT`` of one Multiface capture folder: blocks of name, K (3 lines), distortion, [R | t] mm."""
    path = Path(capture) / "KRT"
    lines = path.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        name = lines[i].strip()
        rows = [[float(x) for x in line.split()] for line in lines[i + 1:i + 8]]
        K, dist, Rt = np.array(rows[0:3]), rows[3], np.array(rows[4:7])
        if names is None or name in names:
            K = wrong_K(K, mistake)
            Rt = wrong_T(np.vstack([Rt, [0, 0, 0, 1]]), mistake, 1e-3)[:3]
        out += [name] + [" ".join(f"{x:.10g}" for x in r) for r in K] + [" ".join(f"{x:g}" for x in dist)]
        out += [" ".join(f"{x:.10g}" for x in r) for r in Rt] + [""]
        i += 8
    path.write_text("\n".join(out) + "\n")


def ava256(decoder: Path, mistake: str, names=None) -> None:
    """``camera_calibration.json`` of one Ava-256 capture (``K`` and ``T`` stored transposed, mm)."""
    path = Path(decoder) / "camera_calibration.json"
    calib = json.loads(path.read_text())
    for item in calib["KRT"]:
        if names is None or item["cameraId"] in names:
            item["K"] = wrong_K(np.array(item["K"]).T, mistake).T.tolist()
            item["T"] = wrong_T(np.array(item["T"]).T, mistake, 1e-3).T.tolist()
    path.write_text(json.dumps(calib))
