"""``facebench verify``: recheck a GT folder's bytes and schema after a copy, a crash or a long run.

Every shard listed in ``manifest.json`` is re-hashed (sha256) and compared with the
manifest, then the folder is checked against SPEC §4 (:func:`validate_gt`: file
attributes, every dataset's shape and dtype, manifest sizes, and for schema 2 the
error-bound metadata of every encoded map: its bound within SPEC's, its measured
``max_error`` within its bound, its quantisation step within its bound).  Files that no reader
will ever open are listed too: shard files absent from the manifest (a run killed
between renaming a shard and committing it; the next ``prepare`` run rewrites
them) and temporary files (removed by the next ``prepare`` run).  They are not
errors: the manifest is the commit record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from facebench.io.gt_writer import MANIFEST, SHARD_DIR, file_sha256


@dataclass
class ShardCheck:
    """One listed shard: ``status`` is ok | missing | size | sha256 | unreadable."""

    file: str
    status: str
    detail: str = ""


@dataclass
class VerifyReport:
    gt_dir: Path
    shards: list = field(default_factory=list)  # ShardCheck per listed shard
    schema_problems: list = field(default_factory=list)  # from validate_gt
    unlisted: list = field(default_factory=list)  # shard files not in the manifest (ignored by readers)
    temporaries: list = field(default_factory=list)  # left by a killed run
    n_clips: int = 0
    qc: str = ""  # quality control of prepare (frames per flag); informative, never a failure
    schema_version: int | None = None
    fatal: str | None = None  # the folder could not be read at all

    @property
    def bad_shards(self) -> list:
        return [s for s in self.shards if s.status != "ok"]

    @property
    def ok(self) -> bool:
        return self.fatal is None and not self.bad_shards and not self.schema_problems

    def __str__(self) -> str:
        if self.fatal is not None:
            return f"{self.fatal}\nverify: FAILED"
        lines = [f"{self.gt_dir}: {len(self.shards)} shards, {self.n_clips} clips, "
                 f"schema_version {self.schema_version}"]
        for s in self.shards:
            lines.append(f"  {'ok' if s.status == 'ok' else 'BAD':4s} {s.file}  {s.detail}")
        checked = " (shapes, dtypes, error bounds)" if self.schema_version == 2 else " (shapes, dtypes)"
        lines.append(f"schema (SPEC §4){checked}: " + ("ok" if not self.schema_problems else
                                             f"{len(self.schema_problems)} problems"))
        lines += [f"  {p}" for p in self.schema_problems]
        if self.unlisted:
            lines.append(f"not in the manifest, ignored by readers: {', '.join(self.unlisted)}")
        if self.temporaries:
            lines.append(f"temporary files of an interrupted run: {', '.join(self.temporaries)}")
        if self.qc:
            lines.append(f"quality control (prepare): {self.qc}")
        n_bad = len(self.bad_shards) + len(self.schema_problems)
        lines.append("verify: OK" if self.ok else f"verify: FAILED ({n_bad} problems)")
        return "\n".join(lines)


def verify_gt(gt_dir, progress: bool = False) -> VerifyReport:
    """Re-hash every listed shard and validate the folder against SPEC §4."""
    from facebench.errors import InputError
    from facebench.io.gt_reader import GTReader
    from facebench.io.gt_validate import validate_gt

    root = Path(gt_dir)
    report = VerifyReport(gt_dir=root)
    try:
        reader = GTReader(root)
    except InputError as exc:
        report.fatal = str(exc)
        return report
    manifest = reader.manifest
    report.n_clips = len(manifest.get("clips", []))
    report.qc = qc_summary(manifest)
    report.schema_version = reader.schema_version
    listed = manifest.get("shards", [])
    for entry in _progress(listed, progress):
        report.shards.append(_check_shard(root, entry))
    per_shard = ("shard file missing", "shard size differs from the manifest")  # reported above
    report.schema_problems = [p for p in validate_gt(root, check_hashes=False)
                              if not any(kind in p for kind in per_shard)]
    names = {s["file"] for s in listed}
    shard_dir = root / SHARD_DIR
    if shard_dir.is_dir():
        report.unlisted = sorted(f"{SHARD_DIR}/{p.name}" for p in shard_dir.glob("shard-*.h5")
                                 if f"{SHARD_DIR}/{p.name}" not in names)
        report.temporaries = sorted(f"{SHARD_DIR}/{p.name}" for p in shard_dir.glob(".shard-*.tmp-*"))
    report.temporaries += sorted(p.name for p in root.glob(f".{MANIFEST}.tmp-*"))
    return report


def qc_summary(manifest: dict) -> str:
    """Frames per quality-control flag and the sequences that fail, from a manifest ("" if none)."""
    frames = {"pass": 0, "warn": 0, "fail": 0}
    failing = []
    for shard in manifest.get("shards", []):
        for s in shard.get("sequences", []):
            qc = s.get("qc")
            if not qc:
                continue
            for k in frames:
                frames[k] += int(qc.get("frames", {}).get(k, 0))
            if qc.get("flag") == "fail":
                failing.append(f"{s['participant']}/{s['sequence']}")
    if not any(frames.values()):
        return ""
    text = ", ".join(f"{n} {k}" for k, n in frames.items()) + " frames"
    if failing:
        text += f"; failing sequences: {', '.join(sorted(failing)[:8])}" + (
            f" ... ({len(failing)} in all)" if len(failing) > 8 else "")
    return text


def _check_shard(root: Path, entry: dict) -> ShardCheck:
    rel = str(entry.get("file"))
    path = root / rel
    if not path.is_file():
        return ShardCheck(rel, "missing", "file missing")
    size = path.stat().st_size
    if size != entry.get("size"):
        return ShardCheck(rel, "size", f"{size} bytes, manifest says {entry.get('size')}")
    digest = file_sha256(path)
    if digest != entry.get("sha256"):
        return ShardCheck(rel, "sha256",
                          f"sha256 {digest[:16]}..., manifest says {str(entry.get('sha256'))[:16]}...")
    if not _readable_hdf5(path):
        return ShardCheck(rel, "unreadable", "sha256 matches but h5py cannot open it")
    return ShardCheck(rel, "ok", f"{size} bytes, sha256 {digest[:16]}...")


def _readable_hdf5(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r"):
            return True
    except OSError:
        return False


def _progress(items, progress: bool):
    if not progress or not items:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, unit="shard", desc="verify", dynamic_ncols=True)
