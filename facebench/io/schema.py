"""The GT shard schema (SPEC §4) as data: one table that the writer, the validator and
the docs all read, so they cannot drift apart.

Shapes use symbols: ``T`` frames, ``H``/``W`` stored resolution, ``V`` template
vertices, ``N`` tracks.  A symbol takes one value per clip (``V`` per sequence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GT_SCHEMA_VERSION = 2  # what GTWriter writes by default
READABLE_SCHEMAS = (1, 2)  # what GTReader reads


@dataclass(frozen=True)
class Field:
    """One HDF5 dataset: its path below the group, shape pattern, dtype and meaning."""

    name: str
    shape: tuple
    dtype: str
    doc: str

    def check(self, array_shape, array_dtype, sizes: dict) -> str | None:
        """Problem with an array of this shape/dtype given known symbol sizes, or None.

        Unknown symbols in ``sizes`` are bound to the observed values (so the first
        field of a clip fixes T, H, W for the rest).
        """
        if np.dtype(array_dtype) != np.dtype(self.dtype):
            return f"{self.name} has dtype {np.dtype(array_dtype)}, expected {self.dtype}"
        if len(array_shape) != len(self.shape):
            return f"{self.name} has shape {tuple(array_shape)}, expected {self.pattern}"
        for got, want in zip(array_shape, self.shape):
            if isinstance(want, int):
                if got != want:
                    return f"{self.name} has shape {tuple(array_shape)}, expected {self.pattern}"
            elif sizes.setdefault(want, got) != got:
                return (f"{self.name} has {want}={got} but the clip has {want}={sizes[want]} "
                        f"(shape {tuple(array_shape)}, expected {self.pattern})")
        return None

    @property
    def pattern(self) -> str:
        return "(" + ",".join(str(s) for s in self.shape) + ")"


SEQUENCE_FIELDS = (
    Field("frame_ids", ("T",), "int32", "source timestep ids"),
    Field("vertices", ("T", "V", 3), "float32", "fitted template, world metres (the GT warp)"),
)

CLIP_FIELDS = (
    Field("image", ("T", "H", "W", 3), "uint8", "RGB"),
    Field("mask", ("T", "H", "W"), "uint8",
          "0 background, 1 face, 2 other template region, 3 foreground off-template"),
    Field("depth", ("T", "H", "W"), "float32", "z-depth in metres, NaN invalid"),
    Field("canonical", ("T", "H", "W", 3), "float32", "normalized canonical coordinates, NaN invalid"),
    Field("K", (3, 3), "float64", "intrinsics for the stored resolution"),
    Field("T_cam_from_world", (4, 4), "float64", "extrinsics (OpenCV, world to camera)"),
    Field("tracks/query_frame", ("N",), "int32", "frame index (0..T-1) where each track is queried"),
    Field("tracks/query_canonical", ("N", 3), "float32", "normalized canonical coordinate of each track"),
    Field("tracks/xy", ("N", "T", 2), "float32", "pixel positions (x, y)"),
    Field("tracks/xyz", ("N", "T", 3), "float32", "camera-space positions, metres"),
    Field("tracks/visible", ("N", "T"), "bool", "visibility"),
)

FILE_ATTRS = {
    "schema_version": "integer, bumped on any format change: 1 (arrays as they are) or 2 (encoded maps)",
    "facebench_version": "facebench version that wrote the shard",
    "template": "template name (facebench-head, flame)",
    "template_sha256": "sha256 of the template's arrays",
    "canonical_center": "(3,) centre of normalized canonical space, metres",
    "canonical_scale": "scale of normalized canonical space, metres",
    "units": "metres",
    "camera_convention": "opencv; T_cam_from_world",
}

MASK_LABELS = {0: "background", 1: "face", 2: "other template region", 3: "foreground off-template"}


def markdown_table() -> str:
    """The SPEC §4 layout as a Markdown table (used in docs/FORMATS.md, tested against it)."""
    rows = ["| dataset | shape | dtype | meaning |", "|---|---|---|---|"]
    for prefix, fields in (("/{participant}/{sequence}/", SEQUENCE_FIELDS),
                           ("/{participant}/{sequence}/cameras/{serial}/", CLIP_FIELDS)):
        for f in fields:
            rows.append(f"| `{prefix}{f.name}` | {f.pattern} | {f.dtype} | {f.doc} |")
    rows += ["", "| file attribute | meaning |", "|---|---|"]
    rows += [f"| `{k}` | {v} |" for k, v in FILE_ATTRS.items()]
    return "\n".join(rows)
