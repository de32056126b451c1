"""The interface every registered-mesh capture reader implements.

Conventions are SPEC section 1 throughout: world and camera space in metres, OpenCV
cameras (``T_cam_from_world``), pixel (0, 0) at the centre of the top-left pixel, RGB
uint8 images.  Readers convert the dataset's own units and camera conventions once, on
read, and say how in their module docstring.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class RegisteredView:
    """One camera at one frame.

    ``image`` uint8 (H,W,3); ``mask`` float32 (H,W) in [0,1] (foreground / head
    segmentation) or None; ``depth`` float32 (H,W) z-depth in metres, NaN invalid, or None;
    ``camera`` a :class:`facebench.geometry.Camera` whose ``K`` matches the image size.
    """

    image: np.ndarray
    mask: np.ndarray | None
    depth: np.ndarray | None
    camera: object
    frame_id: int
    camera_name: str


class RegisteredCapture(ABC):
    """A multi-view capture with one registered mesh (fixed topology) per frame."""

    #: dataset name, e.g. ``"ava256"`` or ``"multiface"``
    dataset: str = ""

    @abstractmethod
    def participants(self) -> list[str]:
        """Participant (subject) ids, sorted."""

    @abstractmethod
    def sequences(self, pid: str) -> list[str]:
        """Sequence (expression / segment) names of a participant, sorted, discovered on disk."""

    @abstractmethod
    def cameras(self, pid: str, seq: str) -> list[str]:
        """Camera names with images in this sequence, sorted."""

    @abstractmethod
    def frame_ids(self, pid: str, seq: str) -> np.ndarray:
        """Frame ids (int64, sorted) that have a registered mesh in this sequence."""

    @abstractmethod
    def camera(self, pid: str, seq: str, name: str, width: int | None = None,
               height: int | None = None):
        """The camera as a :class:`facebench.geometry.Camera` (K scaled to ``width`` x
        ``height`` when given, else to the stored image size)."""

    @abstractmethod
    def read_view(self, pid: str, seq: str, frame_id: int, name: str) -> RegisteredView:
        """Image (+ mask / depth when the dataset has them) of one camera at one frame."""

    @abstractmethod
    def mesh_vertices(self, pid: str, seq: str, frame_id: int) -> np.ndarray:
        """Registered mesh vertices (V,3) float64 in world metres at this frame."""

    @abstractmethod
    def mesh_faces(self, pid: str) -> np.ndarray:
        """Triangles (F,3) int64 of the registered topology (quads split), fixed per participant."""

    @abstractmethod
    def neutral_frame(self, pid: str) -> tuple[str, int]:
        """(sequence, frame id) of the participant's most neutral registered frame: where the
        template correspondence is fixed."""

    def has_view(self, pid: str, seq: str, frame_id: int, name: str) -> bool:
        """Whether camera ``name`` has an image at ``frame_id`` (captures drop a few); ``prepare``
        leaves out frames that a selected camera lacks.  Optional: the default says yes."""
        return True

    def has_masks(self, pid: str, seq: str, name: str) -> bool:
        """Whether camera ``name``'s views come with a foreground mask (the camera check compares
        the registered mesh with it; without one, with the other views' colours)."""
        return False

    def close(self) -> None:
        """Release open archives (zip files); readers that hold none keep this default."""
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
