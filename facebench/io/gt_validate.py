"""Check a GT folder against SPEC §4: manifest, shard files, hashes, every dataset.

Problems are grouped and counted, "3 clips: depth has dtype float64, expected
float32 (first: 017/EMO-1/222200037)", so a broken folder gives a readable report
rather than a wall of lines.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from facebench.errors import InputError
from facebench.io.encodings import check_encoding, logical
from facebench.io.gt_reader import GTReader
from facebench.io.gt_writer import file_sha256
from facebench.io.schema import CLIP_FIELDS, FILE_ATTRS, SEQUENCE_FIELDS


class _Problems:
    def __init__(self):
        self.by_kind: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, where: str) -> None:
        self.by_kind[kind].append(where)

    def summary(self) -> list[str]:
        out = []
        for kind, where in self.by_kind.items():
            noun = "item" if len(where) == 1 else "items"
            out.append(f"{len(where)} {noun}: {kind} (first: {where[0]})")
        return out


def validate_gt(gt_dir, check_hashes: bool = False) -> list[str]:
    """Problems with a GT folder (empty list: valid).  ``check_hashes`` re-hashes shards."""
    try:
        reader = GTReader(gt_dir)
    except InputError as exc:
        return [str(exc)]
    problems = _Problems()
    with reader:
        missing = _check_shard_files(reader, problems, check_hashes)
        seen_sequences, seen_shards = set(), set()
        for cid in reader.clip_ids:
            info = reader.clip_info(cid)
            if info["shard"] in missing:
                continue
            try:
                f = reader._file(info["shard"])
            except (InputError, OSError):
                problems.add("shard is not a readable HDF5 file", info["shard"])
                missing.add(info["shard"])
                continue
            if info["shard"] not in seen_shards:
                seen_shards.add(info["shard"])
                _check_file_attrs(f, reader, info["shard"], problems)
            key = f"{info['participant']}/{info['sequence']}"
            if key not in f:
                problems.add("sequence group missing from its shard", key)
                continue
            sizes: dict = {}
            if key not in seen_sequences:
                seen_sequences.add(key)
                _check_fields(f[key], SEQUENCE_FIELDS, sizes, problems, key)
            group_path = f"{key}/cameras/{info['serial']}"
            if group_path not in f:
                problems.add("clip group missing from its shard", cid)
                continue
            sizes = {"T": f[key]["frame_ids"].shape[0]} if "frame_ids" in f[key] else {}
            _check_fields(f[group_path], CLIP_FIELDS, sizes, problems, cid, reader.scale)
            for sym in ("T", "H", "W"):
                if sym in sizes and sizes[sym] != info.get(sym):
                    problems.add(f"manifest {sym} differs from the stored maps", cid)
            if "tracks/query_frame" in f[group_path]:
                q = f[group_path]["tracks/query_frame"][()]
                if q.size and (q.min() < 0 or q.max() >= sizes.get("T", 0)):
                    problems.add("tracks/query_frame outside 0..T-1", cid)
    return problems.summary()


def _check_shard_files(reader: GTReader, problems: _Problems, check_hashes: bool) -> set:
    """Check every shard file against the manifest; return the shards that cannot be read."""
    listed = {c["shard"] for c in reader.manifest["clips"]}
    shards = {s["file"]: s for s in reader.manifest.get("shards", [])}
    missing = set()
    for rel in sorted(listed - set(shards)):
        problems.add("clip's shard is not listed under manifest shards", rel)
    for rel, entry in sorted(shards.items()):
        path = reader.root / rel
        if not path.is_file():
            problems.add("shard file missing", rel)
            missing.add(rel)
        elif path.stat().st_size != entry.get("size"):
            problems.add("shard size differs from the manifest", rel)
        elif check_hashes and file_sha256(path) != entry.get("sha256"):
            problems.add("shard sha256 differs from the manifest", rel)
    return missing | {rel for rel in listed if not (reader.root / rel).is_file()}


def _check_file_attrs(f, reader: GTReader, rel: str, problems: _Problems) -> None:
    missing = [k for k in FILE_ATTRS if k not in f.attrs]
    if missing:
        problems.add(f"shard lacks file attributes {missing}", rel)
        return
    if int(f.attrs["schema_version"]) != reader.schema_version:
        problems.add(f"schema_version {f.attrs['schema_version']} "
                     f"(the manifest says {reader.schema_version})", rel)
    if f.attrs["template_sha256"] != reader.manifest["template"]["sha256"]:
        problems.add("template sha256 differs from the manifest", rel)
    if not np.allclose(f.attrs["canonical_center"], reader.center) or not np.isclose(
            float(f.attrs["canonical_scale"]), reader.scale):
        problems.add("canonical center/scale differ from the manifest", rel)


def _check_fields(group, fields, sizes: dict, problems: _Problems, where: str, scale: float = 1.0) -> None:
    """Each field's (decoded) shape and dtype, and for encoded fields their error-bound metadata."""
    for fld in fields:
        if fld.name not in group:
            problems.add(f"{fld.name} is missing", where)
            continue
        ds = group[fld.name]
        try:
            problem = check_encoding(ds, fld.name, scale) or fld.check(*logical(ds), sizes)
        except (KeyError, TypeError, ValueError) as exc:
            problem = f"{fld.name} has malformed encoding attributes ({exc.__class__.__name__})"
        if problem:
            problems.add(problem, where)
