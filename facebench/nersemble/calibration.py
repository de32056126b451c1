"""Camera and colour calibration of a NeRSemble capture (SPEC section 3).

``camera_params.json`` holds ``{"world_2_cam": {serial: 4x4}, "intrinsics": 3x3 or
{serial: 3x3}}`` and optionally ``"width"``/``"height"``: the image size the
intrinsics refer to (default: the full 2200 x 3208 sensor).  ``K`` is rescaled to
the size of the image actually read with the pixel-centre-correct rule (the centre
of the top-left pixel is (0, 0)).

Colour correction is an affine map of RGB in [0, 1], stored per camera as a 4x4
(or 3x4) matrix; see :func:`color_affine` for how each shape is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facebench.errors import InputError
from facebench.nersemble.layout import SENSOR_HEIGHT, SENSOR_WIDTH


@dataclass(frozen=True)
class CameraParams:
    """Calibration of one participant: extrinsics and intrinsics per serial.

    ``K_by_serial`` refers to images of size ``width`` x ``height``.
    """

    T_cam_from_world: dict[str, np.ndarray]
    K_by_serial: dict[str, np.ndarray]
    width: int
    height: int
    path: Path

    def K_for(self, serial: str, width: int, height: int) -> np.ndarray:
        """Intrinsics of ``serial`` for an image of ``width`` x ``height`` pixels."""
        from facebench.geometry.camera import check_resize

        if serial not in self.K_by_serial:
            raise InputError(f"no intrinsics for camera {serial}", self.path)
        check_resize((self.width, self.height), (width, height), self.path,
                     "'width'/'height' in camera_params.json or --native-size WxH")
        return scale_intrinsics(self.K_by_serial[serial], (self.width, self.height), (width, height))

    def extrinsics(self, serial: str) -> np.ndarray:
        if serial not in self.T_cam_from_world:
            raise InputError(f"no world_2_cam entry for camera {serial}", self.path)
        return self.T_cam_from_world[serial]


def scale_intrinsics(K, from_size, to_size) -> np.ndarray:
    """Rescale ``K`` (3,3) from images of ``from_size`` (W, H) to ``to_size`` (W, H).

    Pixel-centre-correct: a pixel-corner coordinate ``u + 0.5`` scales by ``W'/W``,
    so ``fx' = sx fx`` and ``cx' = sx (cx + 0.5) - 0.5`` (same for y).
    """
    sx = to_size[0] / from_size[0]
    sy = to_size[1] / from_size[1]
    K = np.array(K, dtype=np.float64)
    out = K.copy()
    out[0, 0], out[0, 1] = K[0, 0] * sx, K[0, 1] * sx
    out[1, 1] = K[1, 1] * sy
    out[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    out[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return out


def load_json(path: Path):
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"malformed JSON ({exc})", path) from None


def _matrix(value, shape, path: Path, what: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} is not a numeric matrix", path) from None
    if array.shape not in shape:
        want = " or ".join("x".join(map(str, s)) for s in shape)
        raise InputError(f"{what} has shape {array.shape}, expected {want}", path)
    if not np.all(np.isfinite(array)):
        raise InputError(f"{what} contains NaN or infinite values", path)
    return array


def _rigid(T: np.ndarray, path: Path, serial) -> np.ndarray:
    """Check that ``T`` is a rotation plus translation (the OpenCV world-to-camera pose)."""
    R = T[:3, :3]
    if not np.allclose(T[3], [0, 0, 0, 1], atol=1e-6):
        raise InputError(f"world_2_cam[{serial}] last row is {T[3].tolist()}, expected [0, 0, 0, 1]", path)
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
        raise InputError(f"world_2_cam[{serial}] is not a rotation plus translation", path)
    return T


def load_camera_params(path, native_size=None) -> CameraParams:
    """Read and check ``camera_params.json``; errors name the file and the camera.

    ``native_size`` (W, H): the image size the intrinsics refer to, when the file does not
    say (``--native-size``); a file that says another size is an error.
    """
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict) or "world_2_cam" not in data or "intrinsics" not in data:
        raise InputError("expected keys 'world_2_cam' and 'intrinsics'", path)
    if not isinstance(data["world_2_cam"], dict) or not data["world_2_cam"]:
        raise InputError("'world_2_cam' must map camera serials to 4x4 matrices", path)
    T = {
        str(serial): _rigid(_matrix(m, [(4, 4)], path, f"world_2_cam[{serial}]"), path, serial)
        for serial, m in data["world_2_cam"].items()
    }
    from facebench.geometry.camera import check_intrinsics

    intrinsics = data["intrinsics"]
    if isinstance(intrinsics, dict):
        K = {
            str(serial): check_intrinsics(_matrix(m, [(3, 3)], path, f"intrinsics[{serial}]"), path,
                                          f"intrinsics[{serial}]")
            for serial, m in intrinsics.items()
        }
    else:
        shared = check_intrinsics(_matrix(intrinsics, [(3, 3)], path, "intrinsics"), path)
        K = {serial: shared for serial in T}
    width = data.get("width", SENSOR_WIDTH)
    height = data.get("height", SENSOR_HEIGHT)
    if not all(isinstance(v, int) and v > 0 for v in (width, height)):
        raise InputError(f"'width'/'height' must be positive integers, got {width!r}/{height!r}", path)
    if native_size is not None:
        stated = (int(native_size[0]), int(native_size[1]))
        if ("width" in data or "height" in data) and stated != (width, height):
            raise InputError(f"the intrinsics are for {width}x{height} images (its 'width'/'height'), "
                             f"--native-size says {stated[0]}x{stated[1]}", path)
        width, height = stated
    return CameraParams(T, K, width, height, path)


def color_affine(matrix, path) -> tuple[np.ndarray, np.ndarray]:
    """``(A (3,3), b (3,))`` such that corrected ``rgb' = rgb @ A + b`` (row vectors in [0, 1]).

    * 4x4 ``M``: the SPEC reading ``[r, g, b, 1] @ M``, first three columns, i.e.
      ``A = M[:3, :3]``, ``b = M[3, :3]``.  NeRSemble's own v1 loader stores the
      offset in ``M[:3, 3]`` instead; that form is accepted too.  A matrix with
      offsets in both places is ambiguous and rejected.
    * 3x4 ``M``: an affine map on column vectors, ``rgb' = M[:, :3] @ rgb + M[:, 3]``.
    * 3x3 ``M``: linear, ``rgb' = rgb @ M``.
    """
    M = _matrix(matrix, [(4, 4), (3, 4), (3, 3)], Path(path), "colour correction")
    if M.shape == (3, 4):
        return M[:, :3].T.copy(), M[:, 3].copy()
    if M.shape == (3, 3):
        return M.copy(), np.zeros(3)
    row_offset, col_offset = M[3, :3], M[:3, 3]
    if np.any(row_offset != 0) and np.any(col_offset != 0):
        raise InputError("colour correction has offsets in both the last row and last column", path)
    return M[:3, :3].copy(), row_offset + col_offset


def load_color_npy(path) -> tuple[np.ndarray, np.ndarray] | None:
    """v1 colour correction ``{serial}.npy``; None when the file is absent."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        matrix = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"unreadable colour correction ({exc})", path) from None
    return color_affine(matrix, path)


def load_color_json(path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """v2 ``color_calibration.json`` ``{serial: matrix}``; empty when the file is absent."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = load_json(path)
    if not isinstance(data, dict):
        raise InputError("expected an object {serial: 4x4 matrix}", path)
    return {str(serial): color_affine(m, path) for serial, m in data.items()}


def apply_color_correction(image, affine) -> np.ndarray:
    """Apply ``(A, b)`` from :func:`color_affine` to a uint8 RGB image; rounds and clips.

    Computed per output channel in float32 on 0..255 values (about 25 ms of CPU for
    a 1100 x 1604 image, less than a float matrix product).
    """
    A, b = affine
    A = np.asarray(A, np.float32)
    b255 = np.asarray(b, np.float64) * 255.0
    x = image.astype(np.float32)
    out = np.empty(image.shape, np.uint8)
    for c in range(3):
        acc = x[..., 0] * A[0, c]
        acc += x[..., 1] * A[1, c]
        acc += x[..., 2] * A[2, c]
        acc += np.float32(b255[c])
        np.rint(acc, out=acc)
        np.clip(acc, 0, 255, out=acc)
        out[..., c] = acc
    return out
