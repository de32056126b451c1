"""``facebench info PATH``: what a GT folder, a predictions folder or a results record holds."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from facebench.errors import InputError
from facebench.report.panel import folder_kind


def summarize(path) -> dict:
    """A dict describing ``path``; its ``kind`` is "gt", "preds" or "results"."""
    kind = folder_kind(path)
    return {"gt": _gt_summary, "preds": _preds_summary, "results": _results_summary}[kind](Path(path))


def info(path) -> str:
    """The summary of ``path`` as readable lines."""
    s = summarize(path)
    lines = [f"{s['path']}: {s['title']}"]
    for key, value in s["fields"].items():
        lines.append(f"  {key + ':':<18} {value}")
    for heading, rows in s.get("tables", {}).items():
        lines.append(f"  {heading}:")
        lines += [f"    {row}" for row in rows]
    return "\n".join(lines)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _join(values, limit=8) -> str:
    values = list(values)
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return ", ".join(str(v) for v in values[:limit]) + more


def _gt_summary(path: Path) -> dict:
    from facebench.io.shards import GTReader

    reader = GTReader(path)
    m = reader.manifest
    clips = [reader.clip_info(c) for c in reader.clip_ids]
    sizes = Counter(f"{c['W']}x{c['H']}" for c in clips)
    on_disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    tpl = m.get("template", {})
    fields = {
        "benchmark": m.get("benchmark") or "-",
        "dataset": m.get("dataset") or "-",
        "template": f"{tpl.get('name')} (sha256 {str(tpl.get('sha256', ''))[:12]}, "
                    f"scale {tpl.get('scale')} m)",
        "clips": len(clips),
        "participants": _join(sorted({c["participant"] for c in clips})),
        "sequences": _join(sorted({c["sequence"] for c in clips})),
        "cameras": _join(sorted({c["serial"] for c in clips})),
        "frames": f"{sum(int(c['T']) for c in clips)} (clip frames, summed over cameras)",
        "resolution": ", ".join(f"{k} ({n} clips)" for k, n in sorted(sizes.items())) or "-",
        "tracks": sum(int(c.get("N", 0)) for c in clips),
        "shards": f"{len(m.get('shards', []))} ({human_bytes(sum(s['size'] for s in m.get('shards', [])))})",
        "size on disk": human_bytes(on_disk),
        "failures": len(m.get("failures", [])),
        "schema_version": m.get("schema_version"),
        "config_hash": str(m.get("config_hash", ""))[:12],
        "manifest sha256": reader.manifest_sha256,
    }
    fields["quality control"], rows = qc_lines(m)
    from facebench.io.encodings import storage_summary
    from facebench.report.sources import sequence_sources, source_lines

    with reader:
        storage = storage_summary(reader)
        made = source_lines(sequence_sources(reader))
    bpf = storage["bytes_per_pixel_frame"]
    fields["bytes/pixel-frame"] = f"{bpf:.2f} (listed shards / summed T*H*W)" if bpf else "-"
    tables = {"encoding": [f"{k:<10} {v}" for k, v in storage["encoding"].items()]}
    if rows:
        tables["quality control (sequences not passing)"] = rows
    if any(line.startswith("  ") for line in made):  # per-view stereo or landmark figures recorded
        tables["how the GT was made (per sequence and view)"] = made
    return {"kind": "gt", "path": str(path), "title": "ground-truth folder", "fields": fields,
            "tables": tables}


def qc_lines(manifest: dict) -> tuple[str, list[str]]:
    """(frames per QC flag, one row per sequence that did not pass with its frames) of a manifest."""
    from facebench.io.gt_verify import qc_summary

    rows = []
    for shard in manifest.get("shards", []):
        for s in shard.get("sequences", []):
            qc = s.get("qc") or {}
            if qc.get("flag", "pass") != "pass":
                bad = [f"{t}:{f}" for t, f in enumerate(qc.get("frame_flags", [])) if f != "pass"]
                rows.append(f"{s['participant']}/{s['sequence']}: {qc['flag']} "
                            f"(frame index:flag {_join(bad, 12)})")
    return qc_summary(manifest) or "- (not recorded)", sorted(rows)


def npz_shapes(npz_path) -> dict[str, tuple]:
    """Shapes and dtypes of the arrays in an .npz (a path or file object), from the headers only."""
    import zipfile

    import numpy as np

    out = {}
    with zipfile.ZipFile(npz_path) as zf:
        for name in zf.namelist():
            with zf.open(name) as fh:
                version = np.lib.format.read_magic(fh)
                reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                shape, _, dtype = reader(fh)
            out[name.removesuffix(".npy")] = (tuple(shape), str(dtype))
    return out


def _preds_summary(path: Path) -> dict:
    from facebench.io.prediction_source import open_predictions

    keys: Counter = Counter()
    example = {}
    with open_predictions(path) as source:
        meta = source.meta()
        clip_ids = source.clip_ids()
        for cid in clip_ids:
            try:
                shapes = npz_shapes(source.open_clip(cid, limit=1 << 34))
            except (OSError, ValueError, KeyError) as exc:   # reported, not raised
                keys["(unreadable)"] += 1
                example.setdefault("(unreadable)", f"{cid}: {exc.__class__.__name__}")
                continue
            keys.update(shapes.keys())
            for k, (shape, dtype) in shapes.items():
                example.setdefault(k, f"{dtype} {shape}")
    fields = {k: meta.get(k) for k in ("method", "benchmark", "description", "url", "device",
                                       "runtime_s_per_frame") if meta.get(k) is not None}
    fields["clips"] = len(clip_ids)
    size = path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*")
                                                         if f.is_file())
    fields["size on disk"] = human_bytes(size)
    rows = [f"{k:<16} in {n} of {len(clip_ids)} clips, e.g. {example[k]}" for k, n in sorted(keys.items())]
    title = "predictions (.zip)" if path.is_file() else "predictions folder"
    return {"kind": "preds", "path": str(path), "title": title, "fields": fields,
            "tables": {"keys": rows or ["(no .npz files)"]}}


def _results_summary(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise InputError(f"not valid JSON ({exc})", path) from exc
    if not isinstance(data, dict) or "metrics" not in data or "benchmark" not in data:
        raise InputError("not a results record (no 'benchmark' / 'metrics')", path)
    bench = data.get("benchmark", {})
    method = data.get("method", {})
    fields = {
        "benchmark": f"{bench.get('name')} v{bench.get('version')}",
        "method": method.get("method") if isinstance(method, dict) else method,
        "clips scored": len(data.get("per_clip", {})),
        "gt manifest": str(data.get("gt_manifest_sha256", ""))[:12],
        "facebench": data.get("facebench_version"),
        "elapsed_s": data.get("elapsed_s"),
    }
    from facebench.leaderboard.render import fmt

    rows = [f"{task}.{name:<22} {fmt(value)}" for task, values in data["metrics"].items()
            for name, value in values.items()]
    tables = {"metrics": rows}
    if data.get("counts"):
        tables["counts"] = [json.dumps(data["counts"], sort_keys=True)]
    if "flags" in data:
        fields["flagged clips"] = len({f.get("clip") for f in data["flags"]})
        tables["flags"] = [f"{f.get('clip')} {f.get('task')} {f.get('kind')}: {f.get('reason')}"
                           for f in data["flags"]] or ["(none)"]
    if data.get("predictions"):
        fields["predictions"] = data["predictions"]
    return {"kind": "results", "path": str(path), "title": "results record", "fields": fields,
            "tables": tables}
