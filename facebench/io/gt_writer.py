"""Write GT shards atomically and keep ``manifest.json`` as the commit record (SPEC §4).

The split of work is made for scale-out: a worker calls
:meth:`GTWriter.write_sequence`, which writes one complete shard under a temporary
name and renames it into place; the parent process calls :meth:`GTWriter.commit`,
which records the shard in the manifest (also written atomically).  A shard that is
not in the manifest does not exist as far as every reader is concerned, so a crash
at any point loses nothing already committed and the next run redoes only the rest.
The manifest holds nothing time-dependent: two runs of the same job give the same
bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from facebench import __version__
from facebench.errors import FacebenchError
from facebench.faults import crash_point
from facebench.io import encodings
from facebench.io.clips import Sequence, clip_id
from facebench.io.schema import CLIP_FIELDS, GT_SCHEMA_VERSION, SEQUENCE_FIELDS

MANIFEST = "manifest.json"
SHARD_DIR = "shards"
LOCK = ".lock"


def config_hash(config: dict) -> str:
    """sha256 of a configuration, independent of key order."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json_atomic(path, data) -> None:
    """Write JSON to ``path`` via a temporary file, fsync and rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True, default=_json_default)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    crash_point("manifest-temp-written")
    os.replace(tmp, path)


def _json_default(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _qc_entry(attrs: dict) -> dict:
    """The quality-control flags of a sequence kept in the manifest (see facebench.prepare.qc)."""
    qc = attrs.get("qc")
    if not isinstance(qc, dict):
        return {}
    entry = {k: qc[k] for k in ("flag", "frames", "frame_flags") if k in qc}
    if isinstance(qc.get("cameras"), dict):  # the camera check (facebench.prepare.camera_check)
        entry["cameras"] = {k: qc["cameras"][k] for k in ("check", "flag", "figures") if k in qc["cameras"]}
    return {"qc": entry}


def template_info(template) -> dict:
    """The template facts stored with every shard: name, sha256, canonical center/scale."""
    if isinstance(template, dict):
        return {k: template[k] for k in ("name", "sha256", "center", "scale")}
    return {"name": template.name, "sha256": template.sha256,
            "center": [float(x) for x in np.asarray(template.center)], "scale": float(template.scale)}


class GTWriter:
    """Writes the shards and manifest of one GT folder.

    ``template`` is a :class:`facebench.templates.Template` or a dict with ``name``,
    ``sha256``, ``center`` and ``scale``.  The writer is cheap to pickle (it holds
    only metadata), so it can be shipped to joblib / Dask / Ray workers.

    ``schema_version`` 2 (the default) stores canonical maps in fixed point and depth
    rounded, within SPEC §4's bounds, and images with ``image_codec`` (jpeg, png or raw);
    schema 1 stores every array as it is (see :mod:`facebench.io.encodings`).
    """

    def __init__(self, out_dir, *, template, dataset: str, config: dict, benchmark: str | None = None,
                 compression: str | None = "gzip", compression_level: int = 4,
                 schema_version: int = GT_SCHEMA_VERSION, image_codec: str = encodings.DEFAULT_IMAGE_CODEC,
                 jpeg_quality: int = encodings.JPEG_QUALITY):
        if schema_version not in (1, 2):
            raise ValueError(f"cannot write GT schema_version {schema_version} (1 or 2)")
        if image_codec not in encodings.IMAGE_CODECS:
            raise FacebenchError(f"unknown image codec {image_codec!r} "
                                 f"(one of {', '.join(encodings.IMAGE_CODECS)})")
        self.out_dir = Path(out_dir)
        self.template = template_info(template)
        self.dataset = dataset
        self.config = config
        self.config_hash = config_hash(config)
        self.benchmark = benchmark
        self.compression = compression
        self.compression_level = compression_level
        self.schema_version = int(schema_version)
        self.image_codec = image_codec if schema_version >= 2 else "raw"
        self.jpeg_quality = int(jpeg_quality)

    # -- parent side -------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.out_dir / MANIFEST

    def load_manifest(self) -> dict:
        if not self.manifest_path.exists():
            return self._empty_manifest()
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FacebenchError(f"{self.manifest_path}: unreadable manifest ({exc})") from exc
        if manifest.get("template", {}).get("sha256") != self.template["sha256"]:
            raise FacebenchError(
                f"{self.manifest_path}: this folder was prepared with template "
                f"{manifest.get('template', {}).get('name')!r} (different sha256); use a new --out")
        if manifest.get("schema_version", 1) != self.schema_version:
            raise FacebenchError(
                f"{self.manifest_path}: this folder holds schema_version {manifest.get('schema_version', 1)} "
                f"shards, this run writes {self.schema_version}; use a new --out (or `facebench convert`)")
        return manifest

    def _empty_manifest(self) -> dict:
        return {"schema_version": self.schema_version, "facebench_version": __version__,
                "dataset": self.dataset, "benchmark": self.benchmark, "template": self.template,
                "config": self.config, "config_hash": self.config_hash,
                "shards": [], "clips": [], "failures": []}

    def is_done(self, participant: str, sequence: str) -> bool:
        """True when the sequence is committed with the current config hash."""
        for shard in self.load_manifest()["shards"]:
            for seq in shard["sequences"]:
                if (seq["participant"], seq["sequence"]) == (participant, sequence):
                    return seq["config_hash"] == self.config_hash
        return False

    def commit(self, entry: dict) -> None:
        """Record a written shard (the dict returned by write_sequence) in the manifest."""
        manifest = self.load_manifest()
        keys = {(s["participant"], s["sequence"]) for s in entry["sequences"]}
        manifest["shards"] = [s for s in manifest["shards"] if s["file"] != entry["file"]]
        manifest["shards"].append({k: entry[k] for k in ("file", "sha256", "size", "sequences", "source")
                                   if k in entry})
        manifest["shards"].sort(key=lambda s: s["file"])
        manifest["clips"] = sorted(
            [c for c in manifest["clips"] if (c["participant"], c["sequence"]) not in keys]
            + entry["clips"], key=lambda c: c["id"])
        manifest["failures"] = [f for f in manifest.get("failures", [])
                                if (f["participant"], f["sequence"]) not in keys]
        manifest.update(config=self.config, config_hash=self.config_hash,
                        facebench_version=__version__, benchmark=self.benchmark, dataset=self.dataset)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.manifest_path, manifest)

    def record_failure(self, participant: str, sequence: str, error: str) -> None:
        """Note a sequence that could not be prepared (``--on-error skip``)."""
        manifest = self.load_manifest()
        failures = [f for f in manifest.get("failures", [])
                    if (f["participant"], f["sequence"]) != (participant, sequence)]
        failures.append({"participant": participant, "sequence": sequence, "error": str(error)})
        manifest["failures"] = sorted(failures, key=lambda f: (f["participant"], f["sequence"]))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.manifest_path, manifest)

    @contextlib.contextmanager
    def locked(self):
        """Hold an exclusive lock on the output folder; a second writer fails clearly.

        The lock is an ``flock`` on ``OUT/.lock``: the kernel releases it when the
        process dies, even by SIGKILL, so a crashed run never blocks the next one.
        """
        import fcntl

        self.out_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.out_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                raise FacebenchError(
                    f"{self.out_dir}: another facebench process (pid {holder}) is writing here; "
                    "wait for it or use another --out") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield self
        finally:
            os.close(fd)

    def remove_temporaries(self) -> list[Path]:
        """Delete temporary files left by a killed run; call only while holding :meth:`locked`.

        Temporary names (``.shard-00001.h5.tmp-PID``, ``.manifest.json.tmp-PID``) are
        never read, so removing them loses nothing; returns what was removed.
        """
        stale = sorted(self.out_dir.glob(f".{MANIFEST}.tmp-*")) + sorted(
            (self.out_dir / SHARD_DIR).glob(".shard-*.h5.tmp-*"))
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    # -- worker side -------------------------------------------------------------------
    def shard_name(self, index: int) -> str:
        return f"{SHARD_DIR}/shard-{index:05d}.h5"

    def write_sequence(self, seq: Sequence, index: int) -> dict:
        """Write ``seq`` as shard ``index`` (atomically) and return its manifest entry."""
        return self.write_sequences([seq], index)

    def write_sequences(self, sequences: list[Sequence], index: int) -> dict:
        import h5py

        rel = self.shard_name(index)
        path = self.out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        clips = []
        try:
            with h5py.File(tmp, "w", libver="earliest", track_order=False) as f:
                self._write_file_attrs(f)
                for seq in sequences:
                    clips += self._write_sequence_group(f, seq, rel)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            crash_point("shard-temp-written")
            os.replace(tmp, path)
            crash_point("shard-renamed")
        finally:
            if tmp.exists():
                tmp.unlink()
        return {"file": rel, "sha256": file_sha256(path), "size": path.stat().st_size,
                "sequences": [{"participant": s.participant, "sequence": s.sequence,
                               "T": len(s.frame_ids), "config_hash": self.config_hash,
                               **_qc_entry(s.attrs)} for s in sequences],
                "clips": clips}

    def _write_file_attrs(self, f) -> None:
        f.attrs["schema_version"] = self.schema_version
        f.attrs["facebench_version"] = __version__
        f.attrs["template"] = self.template["name"]
        f.attrs["template_sha256"] = self.template["sha256"]
        f.attrs["canonical_center"] = np.asarray(self.template["center"], np.float64)
        f.attrs["canonical_scale"] = float(self.template["scale"])
        f.attrs["units"] = "metres"
        f.attrs["camera_convention"] = "opencv; T_cam_from_world"

    def _write_sequence_group(self, f, seq: Sequence, rel: str) -> list[dict]:
        g = f.create_group(f"{seq.participant}/{seq.sequence}")
        for key, value in sorted(seq.attrs.items()):
            g.attrs[key] = value if isinstance(value, (str, int, float, np.number)) else json.dumps(
                value, sort_keys=True, default=_json_default)
        arrays = {"frame_ids": seq.frame_ids, "vertices": seq.vertices}
        seq_sizes: dict = {}
        for fld in SEQUENCE_FIELDS:
            self._dataset(g, fld, arrays[fld.name], seq_sizes)
        entries = []
        for clip in sorted(seq.clips, key=lambda c: c.serial):
            cg = g.create_group(f"cameras/{clip.serial}")
            values = {"image": clip.image, "mask": clip.mask, "depth": clip.depth,
                      "canonical": clip.canonical, "K": clip.K, "T_cam_from_world": clip.T_cam_from_world}
            for name in ("query_frame", "query_canonical", "xy", "xyz", "visible"):
                values[f"tracks/{name}"] = getattr(clip.tracks, name)
            sizes = {"T": seq_sizes["T"]}
            for fld in CLIP_FIELDS:
                self._dataset(cg, fld, values[fld.name], sizes)
            T, H, W = clip.shape
            entries.append({"id": clip_id(seq.participant, seq.sequence, clip.serial),
                            "participant": seq.participant, "sequence": seq.sequence,
                            "serial": clip.serial, "shard": rel, "T": T, "H": H, "W": W,
                            "N": int(len(clip.tracks.query_frame))})
        return entries

    def _dataset(self, group, fld, value, sizes: dict) -> None:
        if value is None:
            raise ValueError(f"{group.name}/{fld.name} is missing")
        arr = np.ascontiguousarray(value, dtype=np.dtype(fld.dtype))
        problem = fld.check(arr.shape, arr.dtype, sizes)
        if problem:
            raise ValueError(f"{group.name}: {problem}")
        attrs = {}
        if self.schema_version >= 2 and arr.size and fld.name == "image" and self.image_codec != "raw":
            frames, attrs = encodings.encode_images(arr, self.image_codec, self.jpeg_quality)
            import h5py

            ds = group.create_dataset(fld.name, shape=(len(frames),), dtype=h5py.vlen_dtype(np.uint8),
                                      track_times=False)
            for t, blob in enumerate(frames):
                ds[t] = blob
            ds.attrs.update(attrs)
            return
        if self.schema_version >= 2 and arr.size and fld.name in encodings.BOUNDS:
            encoded = (encodings.encode_rounded(arr, "depth") if fld.name == "depth" else
                       encodings.encode_fixed(arr, fld.name, float(self.template["scale"])))
            if encoded is not None:  # else (inf values) the float32 array is stored exactly
                arr, attrs = encoded
        kwargs = {"track_times": False}
        if arr.ndim >= 3 and arr.size and self.compression:
            kwargs.update(chunks=(1,) + arr.shape[1:] if fld.shape[0] == "T" else True,
                          compression=self.compression, shuffle=True)
            if self.compression == "gzip":
                kwargs["compression_opts"] = self.compression_level
        ds = group.create_dataset(fld.name, data=arr, **kwargs)
        ds.attrs.update(attrs)
