"""The prediction format (SPEC §5): schema, safe loader, validator.

A submission is a folder, or a ``.zip`` of one::

    meta.json                           {"method": ..., "benchmark": ..., optional fields}
    {participant}/{sequence}/{serial}.npz

Submissions come from strangers, so every file is read defensively (see
:mod:`facebench.io.safe_npz`): no pickle, sizes checked before decompression,
no symlinks or paths leaving the folder.  Every problem is one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facebench.errors import ValidationError, did_you_mean
from facebench.io.prediction_source import PredictionSource, open_predictions


@dataclass(frozen=True)
class PredKey:
    """One array of a prediction ``.npz``: shape pattern, dtype kind, the task it enables."""

    name: str
    shape: tuple
    kind: str            # "float" or "bool"
    tasks: tuple
    doc: str

    @property
    def pattern(self) -> str:
        return "(" + ",".join(str(s) for s in self.shape) + ")"


PREDICTION_KEYS = (
    PredKey("depth", ("T", "H", "W"), "float", ("depth",),
            "z-depth in metres (or up to the benchmark's depth alignment)"),
    PredKey("canonical", ("T", "H", "W", 3), "float", ("canonical",),
            "normalized canonical coordinates (SPEC §2)"),
    PredKey("confidence", ("T", "H", "W"), "float", (), "per-pixel confidence, stored, not scored"),
    PredKey("tracks_xy", ("N", "T", 2), "float", ("tracking_2d",),
            "pixel positions (x, y) of the GT's N query points"),
    PredKey("tracks_visible", ("N", "T"), "bool", ("tracking_2d", "tracking_3d"),
            "predicted visibility (needed with tracks_xy or tracks_xyz)"),
    PredKey("tracks_xyz", ("N", "T", 3), "float", ("tracking_3d",),
            "camera-space positions, metres (median-scaled before scoring)"),
)
KEYS = {k.name: k for k in PREDICTION_KEYS}
TASK_KEYS = {"depth": ("depth",), "canonical": ("canonical",),
             "tracking_2d": ("tracks_xy", "tracks_visible"), "tracking_3d": ("tracks_xyz", "tracks_visible")}
FLOAT_DTYPES = ("float16", "float32", "float64")

# meta.json: field -> (required, accepted Python types, doc)
META_FIELDS = {
    "method": (True, (str,), "method name, shown on leaderboards"),
    "benchmark": (True, (str,), "benchmark name, e.g. synth-v1"),
    "description": (False, (str,), "one line about the method"),
    "url": (False, (str,), "paper or code link"),
    "params": (False, (int, float, str, dict), "parameter count or a dict of settings"),
    "runtime_s_per_frame": (False, (int, float), "seconds per frame"),
    "device": (False, (str,), "hardware the runtime was measured on"),
    "depth_scale": (False, (str,), "`metric` (default) or `relative`: depth known only up to scale"),
    "canonical_space": (False, (str,), "template whose canonical space the maps are in (default: the "
                        "benchmark's)"),
}
META_CHOICES = {"depth_scale": ("metric", "relative")}
META_MAX_BYTES = 1 << 20
NPY_SLACK = 4096  # header bytes allowed on top of the data


@dataclass(frozen=True)
class ClipShape:
    """Sizes of a GT clip the prediction must match."""

    T: int
    H: int
    W: int
    N: int

    def shape_of(self, key: str) -> tuple:
        return tuple(getattr(self, s) if isinstance(s, str) else s for s in KEYS[key].shape)

    def byte_limits(self) -> dict[str, int]:
        """Most bytes each key's ``.npy`` may hold: float64 of the expected shape plus a header."""
        return {k: int(np.prod(self.shape_of(k), dtype=np.int64)) * 8 + NPY_SLACK for k in KEYS}


def check_meta(meta) -> dict:
    """meta.json content if valid, else ValidationError naming the first problem."""
    if not isinstance(meta, dict):
        raise ValidationError(f"meta.json must hold a JSON object, not {type(meta).__name__}")
    for name, (required, types, _) in META_FIELDS.items():
        if name not in meta:
            if required:
                raise ValidationError(f"meta.json: missing required field {name!r}")
            continue
        value = meta[name]
        if isinstance(value, bool) or not isinstance(value, types):
            want = " or ".join(t.__name__ for t in types)
            raise ValidationError(f"meta.json: {name!r} must be {want}, not {type(value).__name__}")
        if isinstance(value, float) and not np.isfinite(value):
            raise ValidationError(f"meta.json: {name!r} must be finite")
        if name in META_CHOICES and value not in META_CHOICES[name]:
            raise ValidationError(f"meta.json: {name!r} must be one of {', '.join(META_CHOICES[name])}, "
                                  f"not {value!r}")
    try:
        import json

        json.dumps(meta, allow_nan=False)
    except ValueError:
        raise ValidationError("meta.json holds NaN or Infinity (not valid JSON)") from None
    for name in ("method", "benchmark"):
        if not meta[name].strip():
            raise ValidationError(f"meta.json: {name!r} is empty")
    extra = sorted(set(meta) - set(META_FIELDS))
    if extra:
        raise ValidationError(f"meta.json: unknown field {extra[0]!r}{did_you_mean(extra[0], META_FIELDS)}"
                              f" (allowed: {', '.join(META_FIELDS)})")
    return meta


def _header_check(clip_id: str, shape: ClipShape):
    def check(key, got_shape, dtype):
        spec = KEYS[key]
        if spec.kind == "bool" and dtype != np.bool_:
            raise ValidationError(f"{clip_id}: {key} has dtype {dtype}, expected bool")
        if spec.kind == "float" and dtype.name not in FLOAT_DTYPES:
            raise ValidationError(f"{clip_id}: {key} has dtype {dtype}, expected float32 (or float16/64)")
        want = shape.shape_of(key)
        if tuple(got_shape) != want:
            raise ValidationError(f"{clip_id}: {key} has shape {tuple(got_shape)}, expected {want} "
                                  f"{spec.pattern}")
    return check


def load_prediction(source, clip_id: str, shape) -> dict[str, np.ndarray]:
    """Arrays of one clip's prediction, checked for keys, dtypes and shapes (not finiteness,
    which needs the GT: see :func:`check_finite`).  Floats come back as float32 or float64.

    Args:
        source: a :class:`PredictionSource` (see :func:`open_predictions`) or a folder / .zip path.
        clip_id: ``{participant}/{sequence}/{serial}``.
        shape: a :class:`ClipShape`, or the GT manifest's clip entry (a dict with T, H, W, N).
    """
    if not isinstance(source, PredictionSource):
        with open_predictions(source) as opened:
            return load_prediction(opened, clip_id, shape)
    if isinstance(shape, dict):
        shape = ClipShape(int(shape["T"]), int(shape["H"]), int(shape["W"]), int(shape.get("N", 0)))
    data = source.open_clip(clip_id, limit=sum(shape.byte_limits().values()) + NPY_SLACK)
    from facebench.io.safe_npz import read_npz

    arrays = read_npz(data, shape.byte_limits(), clip_id, check=_header_check(clip_id, shape))
    if not arrays:
        raise ValidationError(f"{clip_id}: the .npz holds no arrays")
    if "tracks_visible" in arrays and "tracks_xy" not in arrays and "tracks_xyz" not in arrays:
        raise ValidationError(f"{clip_id}: tracks_visible without tracks_xy or tracks_xyz")
    for key in ("tracks_xy", "tracks_xyz"):
        if key in arrays and "tracks_visible" not in arrays:
            raise ValidationError(f"{clip_id}: {key} needs tracks_visible (N,T) bool")
    return {k: (v.astype(np.float32) if v.dtype == np.float16 else v) for k, v in arrays.items()}


def tasks_of(arrays: dict) -> set[str]:
    """Tasks a loaded prediction enables."""
    return {task for task, keys in TASK_KEYS.items() if all(k in arrays for k in keys)}


def check_finite(clip_id: str, key: str, values: np.ndarray, where: np.ndarray) -> None:
    """ValidationError if ``values`` is NaN/inf anywhere ``where`` (leading dims) is True."""
    bad = ~np.isfinite(values[where])  # (M,...) at the scored positions only
    count = int(np.count_nonzero(bad.reshape(len(bad), -1).any(axis=1))) if bad.size else 0
    if count:
        raise ValidationError(f"{clip_id}: {key} has {count} non-finite values where the GT is valid")


def schema_markdown() -> str:
    """The prediction-format tables of docs/FORMATS.md, generated from the schema above."""
    lines = ["| key | shape | dtype | enables | meaning |", "|---|---|---|---|---|"]
    for k in PREDICTION_KEYS:
        dtype = "bool" if k.kind == "bool" else "float32 (float16/64 accepted)"
        lines.append(f"| `{k.name}` | {k.pattern} | {dtype} | {', '.join(k.tasks) or '-'} | {k.doc} |")
    lines += ["", "| meta.json field | required | type | meaning |", "|---|---|---|---|"]
    for name, (required, types, doc) in META_FIELDS.items():
        names = {"str": "string", "int": "number", "float": "number", "dict": "object"}
        kinds = " or ".join(dict.fromkeys(names[t.__name__] for t in types))
        lines.append(f"| `{name}` | {'yes' if required else 'no'} | {kinds} | {doc} |")
    return "\n".join(lines) + "\n"
