"""In-memory records of one GT sequence and its clips (SPEC §4), as written to shards."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Tracks:
    """Dense point tracks of one clip: N tracks over T frames."""

    query_frame: np.ndarray      # (N,) int32, 0..T-1
    query_canonical: np.ndarray  # (N,3) float32, normalized canonical
    xy: np.ndarray               # (N,T,2) float32, pixels (x, y)
    xyz: np.ndarray              # (N,T,3) float32, camera space, metres
    visible: np.ndarray          # (N,T) bool

    @classmethod
    def empty(cls, n_frames: int) -> Tracks:
        return cls(np.zeros(0, np.int32), np.zeros((0, 3), np.float32),
                   np.zeros((0, n_frames, 2), np.float32), np.zeros((0, n_frames, 3), np.float32),
                   np.zeros((0, n_frames), bool))


@dataclass
class Clip:
    """One camera of one sequence: the unit that is scored."""

    serial: str
    image: np.ndarray | None = None             # (T,H,W,3) uint8
    mask: np.ndarray | None = None              # (T,H,W) uint8
    depth: np.ndarray | None = None             # (T,H,W) float32 metres, NaN invalid
    canonical: np.ndarray | None = None         # (T,H,W,3) float32, NaN invalid
    K: np.ndarray | None = None                 # (3,3) float64
    T_cam_from_world: np.ndarray | None = None  # (4,4) float64
    tracks: Tracks | None = None
    clip_id: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        """(T, H, W) of the clip's maps."""
        for arr in (self.depth, self.mask, self.image, self.canonical):
            if arr is not None:
                return tuple(int(s) for s in arr.shape[:3])
        raise ValueError(f"clip {self.clip_id or self.serial} holds no maps")


@dataclass
class Sequence:
    """One (participant, sequence): the fitted template per frame and every camera's clip."""

    participant: str
    sequence: str
    frame_ids: np.ndarray   # (T,) int32
    vertices: np.ndarray    # (T,V,3) float32, world metres
    clips: list[Clip] = field(default_factory=list)
    attrs: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.participant}/{self.sequence}"


def clip_id(participant: str, sequence: str, serial: str) -> str:
    return f"{participant}/{sequence}/{serial}"


def split_clip_id(cid: str) -> tuple[str, str, str]:
    parts = cid.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"bad clip id {cid!r}: expected participant/sequence/serial")
    return parts[0], parts[1], parts[2]
