"""Results records (SPEC §7): what ``facebench evaluate`` writes, and its validator.

One JSON object with exactly the keys of ``RESULTS_SCHEMA``.  Metric values that
are undefined (nothing to score) are stored as ``null``, never NaN.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from facebench.errors import InputError, ValidationError

RESULTS_SCHEMA: dict[str, tuple[type, str]] = {
    "schema_version": (int, "results format version"),
    "facebench_version": (str, "facebench version that scored"),
    "benchmark": (dict, "{name, version}"),
    "gt_manifest_sha256": (str, "sha256 of the GT folder's manifest.json"),
    "method": (dict, "the submission's meta.json"),
    "metrics": (dict, "{task: {metric: value}}: mean over clips"),
    "per_clip": (dict, "{clip_id: {task: {metric: value}}}"),
    "counts": (dict, "clips, clips_scored, missing, coverage, per task frames/pixels/tracks"),
    "protocol": (dict, "{task: alignment, regions, thresholds, ... actually used}"),
    "elapsed_s": (float, "seconds spent evaluating"),
    "flags": (list, "optional: [{clip, task, kind (alignment or outlier), reason}], clips whose score "
                    "should not be trusted blindly (kept in every mean)"),
    "predictions": (str, "optional: absolute path of the predictions folder or .zip that was scored"),
}
OPTIONAL_KEYS = ("flags", "predictions")   # absent from records written before they existed
FLAG_KEYS = ("clip", "task", "kind", "reason")
FLAG_KINDS = ("alignment", "outlier")
TASKS = ("depth", "canonical", "tracking_2d", "tracking_3d", "landmarks")


def clean_number(value):
    """float for JSON: NaN/inf -> None."""
    value = float(value)
    return value if math.isfinite(value) else None


def validate_results(record) -> list[str]:
    """Problems with a results record (empty when valid)."""
    if not isinstance(record, dict):
        return [f"a results record is a JSON object, not {type(record).__name__}"]
    problems = []
    missing = [k for k in RESULTS_SCHEMA if k not in record and k not in OPTIONAL_KEYS]
    extra = [k for k in record if k not in RESULTS_SCHEMA]
    if missing:
        problems.append(f"{len(missing)} keys missing (first: {missing[0]})")
    if extra:
        problems.append(f"{len(extra)} unknown keys (first: {extra[0]})")
    for key, (kind, _) in RESULTS_SCHEMA.items():
        if key in record and not (isinstance(record[key], kind)
                                  or (kind is float and isinstance(record[key], int))):
            problems.append(f"{key} must be {kind.__name__}, not {type(record[key]).__name__}")
    if problems:
        return problems
    bench = record["benchmark"]
    if not isinstance(bench.get("name"), str) or not isinstance(bench.get("version"), int):
        problems.append("benchmark must be {name: str, version: int}")
    problems += _check_task_table(record["metrics"], "metrics")
    bad_clips = [cid for cid, tasks in record["per_clip"].items()
                 if cid.count("/") != 2 or _check_task_table(tasks, cid)]
    if bad_clips:
        problems.append(f"{len(bad_clips)} malformed per_clip entries (first: {bad_clips[0]})")
    unknown = [t for t in record["protocol"] if t not in TASKS]
    if unknown:
        problems.append(f"protocol names unknown task {unknown[0]!r}")
    bad = [i for i, f in enumerate(record.get("flags", []))
           if not isinstance(f, dict) or tuple(sorted(f)) != tuple(sorted(FLAG_KEYS))
           or f["kind"] not in FLAG_KINDS or f["task"] not in TASKS
           or f["clip"] not in record["per_clip"] or not isinstance(f["reason"], str)]
    if bad:
        problems.append(f"{len(bad)} malformed flags (first: index {bad[0]}; each is {{clip, task, "
                        f"kind: {'|'.join(FLAG_KINDS)}, reason}} naming a clip of per_clip)")
    return problems


def _check_task_table(table, where: str) -> list[str]:
    if not isinstance(table, dict):
        return [f"{where} must be an object"]
    problems = []
    for task, metrics in table.items():
        if task not in TASKS:
            problems.append(f"{where}: unknown task {task!r}")
        elif not isinstance(metrics, dict) or not all(
                isinstance(v, (int, float)) or v is None for v in metrics.values()):
            problems.append(f"{where}.{task} must map metric names to numbers or null")
    return problems


def write_results(record: dict, path) -> Path:
    """Write a validated record as JSON (atomically)."""
    problems = validate_results(record)
    if problems:
        raise ValidationError(f"results record is invalid: {problems[0]}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=False, allow_nan=False) + "\n")
    tmp.replace(path)
    return path


def read_results(path) -> dict:
    """Load and validate a results record; InputError / ValidationError on problems."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"unreadable results record ({exc})", path) from exc
    problems = validate_results(record)
    if problems:
        raise ValidationError(f"{path}: {problems[0]}" + (f" (+{len(problems) - 1} more)"
                                                          if len(problems) > 1 else ""))
    return record
