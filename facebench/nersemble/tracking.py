"""FLAME 2023 tracking files of the NeRSemble benchmark (``tracking/flame2023_tracking.npz``).

Keys and shapes (SPEC section 3), T tracked frames:

=================== ========= ==================================================
key                 shape     meaning
=================== ========= ==================================================
shape               (1, 300)  identity coefficients
expression          (T, 100)  expression coefficients
rotation            (T, 3)    head rotation, XYZ Euler angles in radians
rotation_matrices   (T, 3, 3) the same rotation as matrices
translation         (T, 3)    metres
jaw, neck           (T, 3)    joint rotations (axis-angle)
eyes                (T, 6)    left and right eye rotations
scale               (1, 1)    world = scale * R x + translation
frames              (T,)      the frame id of each row
=================== ========= ==================================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facebench.errors import InputError

# key -> expected trailing shape; None marks the leading frame axis T.
TRACKING_KEYS: dict[str, tuple] = {
    "shape": (1, None),
    "expression": (None, None),
    "rotation": (None, 3),
    "rotation_matrices": (None, 3, 3),
    "translation": (None, 3),
    "jaw": (None, 3),
    "neck": (None, 3),
    "eyes": (None, 6),
    "scale": (1, 1),
    "frames": (None,),
}
_PER_FRAME = ("expression", "rotation", "rotation_matrices", "translation", "jaw", "neck", "eyes", "frames")


def load_tracking(path) -> dict[str, np.ndarray]:
    """Read and check a tracking npz; ``frames`` comes back as int32.

    Missing keys, ranks that do not match the table above, per-frame arrays of
    different lengths and non-finite values are :class:`InputError`\\ s naming the file.
    Extra keys are kept.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"unreadable tracking file ({exc})", path) from None
    missing = [key for key in TRACKING_KEYS if key not in data]
    if missing:
        raise InputError(f"tracking file lacks keys {', '.join(missing)}", path)
    for key, want in TRACKING_KEYS.items():
        got = data[key].shape
        if len(got) != len(want) or any(w is not None and g != w for g, w in zip(got, want)):
            shown = "x".join("T" if w is None else str(w) for w in want)
            raise InputError(f"tracking key {key!r} has shape {got}, expected {shown}", path)
        if not np.all(np.isfinite(data[key])):
            raise InputError(f"tracking key {key!r} contains NaN or infinite values", path)
    lengths = {key: data[key].shape[0] for key in _PER_FRAME}
    if len(set(lengths.values())) != 1:
        raise InputError(f"tracking arrays differ in frame count: {lengths}", path)
    data["frames"] = data["frames"].astype(np.int32)
    return data
