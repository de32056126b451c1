"""Read a GT folder (SPEC §4): manifest, clips, sequences.

Schema 1 and 2 folders read the same: encoded maps (schema 2, see
:mod:`facebench.io.encodings`) are decoded here, so callers always get the SPEC §4
arrays (float32 depth/canonical with NaN, uint8 images).

Only shards listed in ``manifest.json`` are read: a shard file that is present but not
committed (a crashed run) is invisible.  HDF5 files are opened lazily and the reader
can be pickled (open handles are dropped), so every DataLoader worker or joblib
process opens its own.  At most ``MAX_OPEN_SHARDS`` stay open (the least recently used
is closed): each open HDF5 file costs about 1 MiB and a file descriptor, so reading a
folder of thousands of shards would otherwise grow without bound.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from facebench.errors import InputError
from facebench.io.clips import Clip, Sequence, Tracks, split_clip_id
from facebench.io.encodings import read_dataset
from facebench.io.gt_writer import MANIFEST, file_sha256
from facebench.io.schema import READABLE_SCHEMAS

MAP_FIELDS = ("image", "mask", "depth", "canonical")
TRACK_FIELDS = ("query_frame", "query_canonical", "xy", "xyz", "visible")
MAX_OPEN_SHARDS = 16


class GTReader:
    """A GT folder: ``GTReader(gt_dir).clip("017/EMO-1/222200037")``."""

    def __init__(self, gt_dir):
        self.root = Path(gt_dir)
        path = self.root / MANIFEST
        if not self.root.is_dir():
            raise InputError("GT folder does not exist", self.root)
        if not path.is_file():
            raise InputError("not a facebench GT folder (no manifest.json)", self.root)
        try:
            self.manifest = json.loads(path.read_text())
            self._clips = {c["id"]: c for c in self.manifest["clips"]}
            _ = (self.manifest["template"]["center"], self.manifest["template"]["scale"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"malformed manifest ({exc.__class__.__name__}: {exc})", path) from exc
        if self.schema_version not in READABLE_SCHEMAS:
            raise InputError(f"GT schema_version {self.manifest.get('schema_version')!r} is not one this "
                             f"facebench reads ({', '.join(map(str, READABLE_SCHEMAS))}); upgrade facebench",
                             path)
        self._files: dict = {}

    # -- metadata ---------------------------------------------------------------------
    @property
    def manifest_sha256(self) -> str:
        return file_sha256(self.root / MANIFEST)

    @property
    def schema_version(self):
        return self.manifest.get("schema_version", 1)

    @property
    def clip_ids(self) -> list[str]:
        return sorted(self._clips)

    @property
    def benchmark(self) -> str | None:
        return self.manifest.get("benchmark")

    @property
    def template_name(self) -> str:
        return self.manifest["template"]["name"]

    @property
    def center(self) -> np.ndarray:
        return np.asarray(self.manifest["template"]["center"], np.float64)

    @property
    def scale(self) -> float:
        return float(self.manifest["template"]["scale"])

    def clip_info(self, cid: str) -> dict:
        try:
            return self._clips[cid]
        except KeyError:
            from facebench.errors import did_you_mean

            raise InputError(f"no clip {cid!r} in this GT folder{did_you_mean(cid, self._clips)}",
                             self.root) from None

    def sequences(self) -> list[tuple[str, str]]:
        return sorted({(c["participant"], c["sequence"]) for c in self._clips.values()})

    # -- data -------------------------------------------------------------------------
    def _file(self, rel: str):
        f = self._files.pop(rel, None)
        if f is None:
            import h5py

            path = self.root / rel
            try:
                f = h5py.File(path, "r")
            except OSError as exc:
                raise InputError(f"cannot open shard ({exc})", path) from exc
            while len(self._files) >= MAX_OPEN_SHARDS:  # the least recently used goes
                self._files.pop(next(iter(self._files))).close()
        self._files[rel] = f  # last: the most recently used
        return f

    def _group(self, cid: str):
        info = self.clip_info(cid)
        participant, sequence, serial = split_clip_id(cid)
        return self._file(info["shard"])[f"{participant}/{sequence}/cameras/{serial}"]

    def read(self, cid: str, name: str, frames=slice(None)) -> np.ndarray:
        """One dataset of a clip (``depth``, ``tracks/xy``, ...), optionally a frame range."""
        ds = self._group(cid)[name]
        if name.startswith("tracks/") and ds.ndim >= 2 and frames != slice(None):
            return ds[:, frames]
        if name in MAP_FIELDS:
            return read_dataset(ds, frames)
        return ds[()]

    def clip(self, cid: str, fields=MAP_FIELDS + ("tracks",), frames=slice(None)) -> Clip:
        """Load a clip.  ``fields`` picks the maps to read (K and extrinsics always come)."""
        g = self._group(cid)
        clip = Clip(serial=split_clip_id(cid)[2], clip_id=cid,
                    K=g["K"][()], T_cam_from_world=g["T_cam_from_world"][()])
        for name in MAP_FIELDS:
            if name in fields:
                setattr(clip, name, read_dataset(g[name], frames))
        if "tracks" in fields:
            t = g["tracks"]
            clip.tracks = Tracks(
                query_frame=t["query_frame"][()], query_canonical=t["query_canonical"][()],
                xy=t["xy"][:, frames], xyz=t["xyz"][:, frames], visible=t["visible"][:, frames])
        return clip

    def sequence_vertices(self, participant: str, sequence: str) -> tuple[np.ndarray, np.ndarray]:
        """(frame_ids (T,), vertices (T,V,3)) of a sequence: the GT warp."""
        for c in self._clips.values():
            if (c["participant"], c["sequence"]) == (participant, sequence):
                g = self._file(c["shard"])[f"{participant}/{sequence}"]
                return g["frame_ids"][()], g["vertices"][()]
        raise InputError(f"no sequence {participant}/{sequence}", self.root)

    def sequence_qc(self, participant: str, sequence: str) -> dict | None:
        """The sequence's quality-control entry in the manifest (flag, frames per flag,
        frame_flags (T,)), or None when it was prepared without QC (synthetic truth, old folders)."""
        for shard in self.manifest.get("shards", []):
            for s in shard.get("sequences", []):
                if (s.get("participant"), s.get("sequence")) == (participant, sequence):
                    return s.get("qc")
        return None

    def sequence_attrs(self, participant: str, sequence: str) -> dict:
        """The sequence group's attributes (JSON strings decoded), e.g. the full ``qc`` record."""
        for c in self._clips.values():
            if (c["participant"], c["sequence"]) == (participant, sequence):
                out = {}
                for k, v in self._file(c["shard"])[f"{participant}/{sequence}"].attrs.items():
                    v = v.decode() if isinstance(v, bytes) else v
                    if isinstance(v, str) and v[:1] in "{[":
                        try:
                            v = json.loads(v)
                        except ValueError:
                            pass
                    out[k] = v.item() if isinstance(v, np.generic) else v
                return out
        raise InputError(f"no sequence {participant}/{sequence}", self.root)

    def sequence(self, participant: str, sequence: str, shard: str) -> Sequence:
        """A whole sequence of ``shard`` as written (every clip, field and group attribute), decoded."""
        g = self._file(shard)[f"{participant}/{sequence}"]
        frame_ids, vertices = g["frame_ids"][()], g["vertices"][()]
        cids = [c for c in self.clip_ids if self._clips[c]["participant"] == participant
                and self._clips[c]["sequence"] == sequence]
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in g.attrs.items()}
        return Sequence(participant, sequence, frame_ids, vertices, [self.clip(c) for c in cids], attrs)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_files"] = {}
        return state
