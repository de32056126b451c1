"""Filtering a capture: participants, sequences, cameras and frame ranges.

``parse_frames("START:STOP:STEP")`` selects frame *ids* (source timestep numbers,
as in ``frame_00042``), Python-slice style: STOP is exclusive, every part
optional (``"100:"``, ``":50"``, ``"::2"``, ``"7"`` for a single frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facebench.errors import InputError, did_you_mean


@dataclass(frozen=True)
class FrameRange:
    """Frame ids ``t`` with ``start <= t < stop`` and ``(t - start) % step == 0``."""

    start: int | None = None
    stop: int | None = None
    step: int = 1

    def select(self, frame_ids) -> np.ndarray:
        """The ids of ``frame_ids`` inside this range, in their original order (int32)."""
        ids = np.asarray(frame_ids, dtype=np.int64)
        start = 0 if self.start is None else self.start
        keep = ids >= start
        if self.stop is not None:
            keep &= ids < self.stop
        keep &= (ids - start) % self.step == 0
        return ids[keep].astype(np.int32)

    def __str__(self) -> str:
        part = lambda v: "" if v is None else str(v)  # noqa: E731
        return f"{part(self.start)}:{part(self.stop)}:{self.step}"


def parse_frames(text: str | None) -> FrameRange:
    """Parse ``"START:STOP:STEP"`` (each part optional) or a single frame id ``"N"``."""
    if isinstance(text, int):
        text = str(text)
    if text is None or str(text).strip() in ("", ":", "::"):
        return FrameRange()
    parts = str(text).strip().split(":")
    if len(parts) > 3:
        raise InputError(f"bad frame range {text!r}: expected START:STOP:STEP")
    try:
        values = [int(p) if p.strip() else None for p in parts]
    except ValueError:
        raise InputError(f"bad frame range {text!r}: START, STOP and STEP must be integers") from None
    if len(values) == 1:
        return FrameRange(values[0], values[0] + 1, 1)
    start, stop = values[0], values[1]
    step = values[2] if len(values) == 3 and values[2] is not None else 1
    if step < 1:
        raise InputError(f"bad frame range {text!r}: STEP must be >= 1")
    if (start is not None and start < 0) or (stop is not None and stop < 0):
        raise InputError(f"bad frame range {text!r}: frame ids are >= 0")
    return FrameRange(start, stop, step)


def select_names(available, wanted, what: str) -> list[str]:
    """``wanted`` names (in the order of ``available``), or all when ``wanted`` is empty.

    An unknown name is an :class:`InputError` with a "did you mean" hint.
    ``wanted`` may be a list or one comma-separated string.
    """
    available = list(available)
    if wanted is None or wanted == "" or (not isinstance(wanted, str) and len(wanted) == 0):
        return available
    if isinstance(wanted, str):
        wanted = [w.strip() for w in wanted.split(",") if w.strip()]
    wanted = [str(w) for w in wanted]
    for name in wanted:
        if name not in available:
            shown = ", ".join(available[:8]) + (" ..." if len(available) > 8 else "")
            raise InputError(f"unknown {what} {name!r}{did_you_mean(name, available)}; available: {shown}")
    chosen = set(wanted)
    return [name for name in available if name in chosen]
