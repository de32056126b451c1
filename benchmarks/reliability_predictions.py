"""Untrusted predictions: try every fault and bad input, write the outcome table.

    python benchmarks/reliability_predictions.py [docs/RELIABILITY.md]

Each case builds a submission against a small synthetic GT, runs `evaluate` on it
and records what happened (scored, or the one-line error), with the peak Python
memory and the time it took.  The table replaces the text between the
``<!-- predictions:begin -->`` and ``<!-- predictions:end -->`` markers of the
report, so other sections of the file are left alone.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_evaluate import build

from facebench.errors import FacebenchError
from facebench.evaluate import evaluate

CASES = []


def case(name):
    def register(fn):
        CASES.append((name, fn))
        return fn
    return register


def first_clip(preds: Path) -> Path:
    return sorted(preds.rglob("*.npz"))[0]


def rewrite(path: Path, **changes):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(changes)
    for key in [k for k, v in arrays.items() if v is None]:
        del arrays[key]
    np.savez(path, **arrays)


def to_zip(preds: Path, out: Path, prefix="", extra=()) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        warnings.simplefilter("ignore")
        for path in sorted(preds.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(preds).as_posix())
        for name, data in extra:
            zf.writestr(name, data)
    return out


@case("valid folder")
def _(preds, tmp):
    return preds


@case("valid .zip (files inside one top folder)")
def _(preds, tmp):
    return to_zip(preds, tmp / "s.zip", prefix="mysub/")


@case("pickled object array")
def _(preds, tmp):
    rewrite(first_clip(preds), depth=np.array([{"a": 1}], dtype=object))
    return preds


@case("zip bomb: 20 MB member in a 20 kB .npz")
def _(preds, tmp):
    path = first_clip(preds)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("depth.npy", "w") as fh:
        for _ in range(20):
            fh.write(bytes(1 << 20))
    return preds


@case("zip bomb: 1 GB member (refused by its compressed size)")
def _(preds, tmp):
    path = first_clip(preds)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("depth.npy", "w", force_zip64=True) as fh:
        for _ in range(1024):
            fh.write(bytes(1 << 20))
    return preds


@case("size header lies (says 100 B, inflates to 20 MB)")
def _(preds, tmp):
    buf = io.BytesIO()
    np.savez_compressed(buf, depth=np.zeros((50, 100, 1000), np.float32))
    data = bytearray(buf.getvalue())
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(sig)
        data[at + offset:at + offset + 4] = struct.pack("<I", 100)
    first_clip(preds).write_bytes(bytes(data))
    return preds


@case("clip file is a symlink to a file outside")
def _(preds, tmp):
    path = first_clip(preds)
    outside = tmp / "outside.npz"
    shutil.copy(path, outside)
    path.unlink()
    os.symlink(outside, path)
    return preds


@case("folder is a symlink")
def _(preds, tmp):
    shutil.copytree(preds / "901", tmp / "elsewhere")
    shutil.rmtree(preds / "901")
    os.symlink(tmp / "elsewhere", preds / "901")
    return preds


for _name in ("../evil.npz", "/etc/evil.npz", "a/../../evil.npz"):
    @case(f"zip entry `{_name}`")
    def _(preds, tmp, _name=_name):
        return to_zip(preds, tmp / "s.zip", extra=[(_name, b"x")])


@case("zip entry that is a symlink")
def _(preds, tmp):
    out = to_zip(preds, tmp / "s.zip")
    with zipfile.ZipFile(out, "a") as zf:
        info = zipfile.ZipInfo("901/link.npz")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    return out


@case("zip entry twice")
def _(preds, tmp):
    return to_zip(preds, tmp / "s.zip", extra=[("meta.json", b"{}")])


@case("wrong shape")
def _(preds, tmp):
    rewrite(first_clip(preds), depth=np.zeros((1, 2, 3), np.float32))
    return preds


@case("wrong dtype (int32 depth)")
def _(preds, tmp):
    with np.load(first_clip(preds)) as f:
        shape = f["depth"].shape
    rewrite(first_clip(preds), depth=np.ones(shape, np.int32))
    return preds


def _poison(preds, value, where_valid):
    with np.load(first_clip(preds)) as f:
        depth = f["depth"].copy()
    mask = np.isfinite(depth) if where_valid else ~np.isfinite(depth)
    depth[np.argwhere(mask)[0][0], np.argwhere(mask)[0][1], np.argwhere(mask)[0][2]] = value
    rewrite(first_clip(preds), depth=depth)
    return preds


case("NaN where the GT is valid")(lambda preds, tmp: _poison(preds, np.nan, True))
case("inf where the GT is valid")(lambda preds, tmp: _poison(preds, np.inf, True))
case("inf where the GT is invalid (allowed)")(lambda preds, tmp: _poison(preds, np.inf, False))


@case("extra key")
def _(preds, tmp):
    rewrite(first_clip(preds), normals=np.zeros(3, np.float32))
    return preds


@case("tracks_xy without tracks_visible")
def _(preds, tmp):
    rewrite(first_clip(preds), tracks_visible=None)
    return preds


@case("one clip lacks a task the others have")
def _(preds, tmp):
    rewrite(first_clip(preds), depth=None)
    return preds


@case("missing clip")
def _(preds, tmp):
    first_clip(preds).unlink()
    return preds


@case("missing clip, --allow-missing")
def _(preds, tmp):
    first_clip(preds).unlink()
    return preds, {"allow_missing": True}


@case("extra file matching no GT clip")
def _(preds, tmp):
    shutil.copy(first_clip(preds), first_clip(preds).with_name("999999999.npz"))
    return preds


@case("truncated .npz")
def _(preds, tmp):
    path = first_clip(preds)
    path.write_bytes(path.read_bytes()[:1000])
    return preds


@case("random bytes as .npz")
def _(preds, tmp):
    first_clip(preds).write_bytes(np.random.default_rng(0).bytes(5000))
    return preds


for _label, _meta in (("meta.json missing", None), ("meta.json not JSON", "{method: x"),
                      ("meta.json without method", '{"benchmark": "synth-v1"}'),
                      ("meta.json unknown field (typo)",
                       '{"method": "m", "benchmark": "synth-v1", "runtime_s_per_fame": 1}'),
                      ("meta.json nested 100,000 deep", "[" * 100000)):
    @case(_label)
    def _(preds, tmp, _meta=_meta):
        if _meta is None:
            (preds / "meta.json").unlink()
        else:
            (preds / "meta.json").write_text(_meta)
        return preds


def run_case(fn, gt: Path, template: Path) -> tuple[str, str, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        preds = tmp / "preds"
        shutil.copytree(template, preds)
        target = fn(preds, tmp)
        target, options = target if isinstance(target, tuple) else (target, {})
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            record = evaluate(target, gt=gt, progress=False, **options)
            coverage = record["counts"]["coverage"]
            outcome, message = "scored", f"{len(record['metrics'])} tasks, coverage {coverage:.2f}"
        except FacebenchError as exc:
            outcome, message = "refused", str(exc).replace(str(tmp), "TMP")
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return outcome, message, peak, seconds


def main(report="docs/RELIABILITY.md") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        gt, template = build(Path(tmp), clips=2, T=2, W=16, N=4)
        (template / "meta.json").write_text(json.dumps({"method": "gt+noise", "benchmark": "synth-v1"}))
        rows = ["| bad input | outcome | message | peak MiB | s |", "|---|---|---|---|---|"]
        for name, fn in CASES:
            outcome, message, peak, seconds = run_case(fn, gt, template)
            message = message.replace("|", "\\|")
            rows.append(f"| {name} | {outcome} | {message} | {peak:.1f} | {seconds:.2f} |")
            print(rows[-1])
    table = "\n".join(rows) + "\n"
    path = Path(report)
    text = path.read_text() if path.exists() else "# Reliability report\n"
    begin, end = "<!-- predictions:begin -->", "<!-- predictions:end -->"
    block = (f"{begin}\n_Generated by `python benchmarks/reliability_predictions.py`; every case is a "
             f"submission evaluated against a 2-clip synthetic GT._\n\n{table}{end}")
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text += f"\n## Untrusted predictions\n\n{block}\n"
    path.write_text(text)
    print(f"updated {path}")


if __name__ == "__main__":
    main(*sys.argv[1:])
