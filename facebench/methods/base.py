"""What a method receives and returns (the contract of the method registry).

A method sees one clip at a time as a :class:`ClipInput`: images, the camera
(the clip's own on GT input; assumed intrinsics and an assumed head position on
plain videos), and the query points whose tracks are wanted.  It never sees GT
maps.  ``predict_clip`` returns a dict of arrays at the input resolution:

=============  =============  =================================================
key            shape          meaning
=============  =============  =================================================
depth          (T,H,W) f32    z-depth, metres
canonical      (T,H,W,3) f32  normalized canonical coordinates in the frame of
                              ``method.canonical_frame`` (the driver converts)
confidence     (T,H,W) f32    any per-pixel confidence
foreground     (T,H,W) f32    optional: probability that a pixel is the head
                              (track search is restricted to it)
regions        (T,H,W) u8     optional: template region per pixel (0 none)
tracks_xy      (N,T,2) f32    optional, with tracks_visible and tracks_xyz:
                              the method's own tracks of the query points;
                              without them the driver searches the canonical map
no_face        (T,) bool      optional: frames the method found no face in
=============  =============  =================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Options:
    """Options a factory may read; each method reads the ones it understands."""

    checkpoint: str | None = None  # transformer: a .safetensors checkpoint
    device: str | None = None  # torch device
    template: str | None = None  # template-based methods [default: facebench.templates default]
    frames_per_window: int | None = None  # transformer
    track_distance: float = 0.05  # canonical match distance (normalized) for visibility
    iterations: int | None = None  # landmark-fit: optimisation steps
    precision: str | None = "auto"  # transformer: auto | fp32 | bf16
    batch_windows: int = 8  # transformer: windows per forward pass
    compile: bool = False  # transformer: torch.compile
    extra: dict = field(default_factory=dict)


@dataclass
class ClipInput:
    """One clip as a method sees it."""

    clip_id: str
    images: np.ndarray  # (T,H,W,3) uint8
    K: np.ndarray  # (3,3) float64 pixels
    T_cam_from_world: np.ndarray  # (4,4) float64; on plain videos an assumed head pose (see sources)
    calibrated: bool  # True: the clip's real camera; False: assumed intrinsics
    query_frame: np.ndarray  # (N,) int32
    query_xy: np.ndarray  # (N,2) float32 pixels at the query frame

    @property
    def shape(self) -> tuple[int, int, int]:
        T, H, W = self.images.shape[:3]
        return T, H, W


class Method:
    """Base class of registered methods.

    Attributes: ``name`` (the meta.json method name), ``description``, ``params`` (dict
    echoed into meta.json), ``device`` (str), ``canonical_template`` (the template whose
    canonical space the predictions are in; None: the GT's, or canonical is not predicted
    meaningfully), ``canonical_frame`` ((center (3,), scale) of the normalization the
    returned canonical maps use; None: already the GT's), ``depth_scale`` ("metric" or
    "relative").  The driver converts canonical maps from a facebench template's space into
    the GT's through the published correspondence; any other space is declared in meta.json
    (``canonical_space``) for ``evaluate`` to handle.
    """

    name: str = "method"
    description: str = ""
    device: str = "cpu"
    canonical_template: str | None = None
    canonical_frame: tuple | None = None
    depth_scale: str = "metric"

    def __init__(self):
        self.params: dict = {}

    def predict_clip(self, clip: ClipInput) -> dict:
        raise NotImplementedError
