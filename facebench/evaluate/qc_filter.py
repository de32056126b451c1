"""The ``exclude_qc`` protocol option: leave frames that failed prepare's quality control unscored.

A benchmark may say ``exclude_qc: fail`` (frames flagged ``fail`` by ``prepare``'s
quality control, see ``facebench.prepare.qc``) or ``exclude_qc: warn`` (``warn``
and ``fail``).  Excluded frames are cut from both the GT clip and the prediction
before scoring, and so are the tracks whose query frame is excluded (the query
point itself is not trusted); the option and the count of excluded frames are
echoed into the results record.
"""

from __future__ import annotations

import numpy as np

from facebench.benchmarks import EXCLUDE_QC
from facebench.errors import FacebenchError


def check_option(value) -> str:
    """The option's canonical spelling ("none", "fail" or "warn")."""
    value = "none" if value in (None, False) else str(value)
    if value not in EXCLUDE_QC:
        raise FacebenchError(f"exclude_qc must be one of {', '.join(EXCLUDE_QC)}, got {value!r}")
    return value


def kept_frames(reader, clip_id: str, exclude: str | None, T: int) -> np.ndarray | None:
    """(T,) bool of the frames kept, or None when nothing is excluded (or no QC was recorded)."""
    dropped = EXCLUDE_QC[check_option(exclude)]
    if not dropped:
        return None
    participant, sequence, _ = clip_id.split("/")
    qc = reader.sequence_qc(participant, sequence)
    if not qc or len(qc.get("frame_flags", [])) != T:
        return None
    keep = np.array([f not in dropped for f in qc["frame_flags"]])
    return None if keep.all() else keep


def drop_frames(pred: dict, clip, keep: np.ndarray):
    """(prediction, clip) restricted to the frames ``keep`` (T,) and to tracks queried in them."""
    import dataclasses

    from facebench.io.clips import Tracks

    keep = np.asarray(keep, bool)
    new_index = np.cumsum(keep) - 1
    out = dict(pred)
    for key in ("depth", "canonical", "confidence"):
        if key in out:
            out[key] = out[key][keep]
    changes = {name: getattr(clip, name)[keep] for name in ("image", "mask", "depth", "canonical")
               if getattr(clip, name) is not None}
    tr = clip.tracks
    if tr is not None:
        sel = keep[tr.query_frame] if len(tr.query_frame) else np.zeros(0, bool)
        changes["tracks"] = Tracks(query_frame=new_index[tr.query_frame[sel]].astype(np.int32),
                                   query_canonical=tr.query_canonical[sel], xy=tr.xy[sel][:, keep],
                                   xyz=tr.xyz[sel][:, keep], visible=tr.visible[sel][:, keep])
        for key in ("tracks_xy", "tracks_xyz", "tracks_visible"):
            if key in out:
                out[key] = out[key][sel][:, keep]
    return out, dataclasses.replace(clip, **changes)
