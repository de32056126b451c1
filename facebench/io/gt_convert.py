"""``facebench convert``: rewrite a schema 1 GT folder as schema 2 (SPEC §4), resumably.

Each source shard becomes the shard of the same name in the new folder, written by
:class:`~facebench.io.gt_writer.GTWriter` exactly as ``prepare`` writes (temporary
name, rename, then a manifest commit under the folder lock), so a killed run loses
nothing committed and the next run converts only the rest.  Each new shard's
manifest entry records the sha256 of the source shard it came from (``source``): a
source shard that changed since is converted again.  The new manifest keeps the
source's dataset, benchmark, template, config (and config hash) and failures, and
records ``converted_from``: the source manifest's sha256.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from facebench.errors import FacebenchError
from facebench.faults import crash_point
from facebench.io.encodings import DEFAULT_IMAGE_CODEC, JPEG_QUALITY
from facebench.io.gt_reader import GTReader
from facebench.io.gt_writer import GTWriter, write_json_atomic


@dataclass
class ConvertSummary:
    out: Path
    converted: int      # shards written by this run
    skipped: int        # shards already converted by an earlier run
    bytes_before: int   # listed shard bytes, source folder
    bytes_after: int    # listed shard bytes, new folder
    seconds: float

    def __str__(self) -> str:
        ratio = self.bytes_after / self.bytes_before if self.bytes_before else float("nan")
        return (f"converted {self.converted} shards ({self.skipped} already done) in {self.seconds:.1f} s: "
                f"{self.bytes_before / 1e6:.1f} MB -> {self.bytes_after / 1e6:.1f} MB ({ratio:.0%})\n"
                f"schema 2 ground truth in {self.out}/manifest.json")


def convert_gt(src, out, *, image_codec: str = DEFAULT_IMAGE_CODEC, jpeg_quality: int = JPEG_QUALITY,
               progress: bool = False) -> ConvertSummary:
    """Write the schema 1 GT folder ``src`` as a schema 2 folder ``out`` (resumes an interrupted run)."""
    src, out = Path(src), Path(out)
    start = time.perf_counter()
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise FacebenchError(f"{out}: --out must be a new folder outside the GT folder {src}")
    reader = GTReader(src)
    if reader.schema_version != 1:
        raise FacebenchError(f"{src} is already schema_version {reader.schema_version}; nothing to convert")
    source = reader.manifest
    writer = GTWriter(out, template=source["template"], dataset=source.get("dataset"),
                      config=source.get("config", {}), benchmark=source.get("benchmark"),
                      image_codec=image_codec, jpeg_quality=jpeg_quality)
    writer.config_hash = source.get("config_hash", writer.config_hash)  # prepare's resume keeps working
    converted = skipped = 0
    with reader, writer.locked():
        writer.remove_temporaries()  # left by a killed run; nothing reads them
        done = {s["file"]: s.get("source") for s in writer.load_manifest()["shards"]}
        for entry in _progress(source.get("shards", []), progress):
            if done.get(entry["file"]) == entry["sha256"]:
                skipped += 1
                continue
            index = _shard_index(writer, entry["file"])
            sequences = [reader.sequence(s["participant"], s["sequence"], entry["file"])
                         for s in entry["sequences"]]
            new = writer.write_sequences(sequences, index)
            writer.commit({**new, "source": entry["sha256"]})
            converted += 1
            crash_point("sequence-committed")
        manifest = writer.load_manifest()
        manifest["failures"] = source.get("failures", [])
        manifest["converted_from"] = {"manifest_sha256": reader.manifest_sha256,
                                      "schema_version": reader.schema_version}
        write_json_atomic(writer.manifest_path, manifest)
    return ConvertSummary(out, converted, skipped, sum(s["size"] for s in source.get("shards", [])),
                          sum(s["size"] for s in manifest["shards"]), time.perf_counter() - start)


def _shard_index(writer: GTWriter, rel: str) -> int:
    try:
        index = int(Path(rel).stem.split("-")[-1])
    except ValueError:
        index = -1
    if index < 0 or writer.shard_name(index) != rel:
        raise FacebenchError(f"unexpected shard name {rel!r} in the source manifest")
    return index


def _progress(items, progress: bool):
    if not progress or not items:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, unit="shard", desc="convert", dynamic_ncols=True)
