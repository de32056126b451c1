"""Results records (written by ``facebench evaluate``) as leaderboard rows.

A record is the JSON of SPEC section 7; this module reads it, checks the keys a
leaderboard needs, flattens its metrics into ``task.metric`` columns and knows
which direction each metric improves in.  No pandas here: rows are plain dicts.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from facebench.errors import InputError, ValidationError

TASK_ORDER = ("depth", "canonical", "tracking_2d", "tracking_3d", "landmarks")

# Metric names in the order SPEC section 6 lists them; unknown names follow, sorted.
METRIC_ORDER = (
    "abs_rel", "rmse_mm", "delta_1.25", "mean_mm", "median_mm", "mean_norm",
    "within_2mm", "within_5mm", "within_10mm",
    "average_jaccard", "delta_avg", "occlusion_accuracy", "epe_px_median",
    "average_jaccard_3d", "apd3d", "epe3d_mm",
    # temporal (secondary) metrics, after each task's per-frame ones
    "flicker_mm", "jitter_median_mm", "jitter_p90_mm", "jitter_px", "jitter_mm",
    "nme", "found", "nme_found", "face_found",
)

# Metrics where smaller is better; every other metric (accuracies, fractions,
# Jaccard indices) improves upwards.
LOWER_IS_BETTER = frozenset({
    "abs_rel", "rmse_mm", "mean_mm", "median_mm", "mean_norm", "epe_px_median", "epe3d_mm",
    "flicker_mm", "jitter_median_mm", "jitter_p90_mm", "jitter_px", "jitter_mm", "runtime_s_per_frame",
})

# The metric charted for each task when the benchmark does not name one.
HEADLINE_METRIC = {
    "depth": "abs_rel",
    "canonical": "mean_mm",
    "tracking_2d": "average_jaccard",
    "tracking_3d": "average_jaccard_3d",
    "landmarks": "nme",
}

REQUIRED_KEYS = ("benchmark", "gt_manifest_sha256", "method", "metrics")


def higher_is_better(column: str) -> bool:
    """Direction of a ``task.metric`` column (or a bare metric name).

    The metric tables of :mod:`facebench.metrics` decide; names they do not list
    fall back to ``LOWER_IS_BETTER`` here.
    """
    task, _, metric = column.partition(".")
    try:
        from facebench.metrics import HIGHER_IS_BETTER

        return bool(HIGHER_IS_BETTER[task][metric])
    except (ImportError, KeyError):
        return column.rsplit(".", 1)[-1] not in LOWER_IS_BETTER


def metric_sort_key(column: str):
    """Sort ``task.metric`` columns: SPEC task order, then SPEC metric order, then by name."""
    task, _, metric = column.partition(".")
    t = TASK_ORDER.index(task) if task in TASK_ORDER else len(TASK_ORDER)
    m = METRIC_ORDER.index(metric) if metric in METRIC_ORDER else len(METRIC_ORDER)
    return (t, task, m, metric)


@dataclass(frozen=True)
class Record:
    """One results record, reduced to what a leaderboard row needs."""

    path: Path | None
    benchmark: str
    benchmark_version: str
    gt_manifest_sha256: str
    method: str
    metrics: dict[str, float]          # "task.metric" -> value
    runtime_s_per_frame: float | None
    facebench_version: str
    date: str
    results_sha256: str
    flagged_clips: int | None = None   # None: a record from before failure flags existed
    alignment: str = ""                # "depth=median canonical=similarity" (protocol)

    def row(self) -> dict:
        return {
            "method": self.method,
            "benchmark": self.benchmark,
            "benchmark_version": self.benchmark_version,
            **self.metrics,
            "flagged_clips": self.flagged_clips,
            "alignment": self.alignment,
            "runtime_s_per_frame": self.runtime_s_per_frame,
            "facebench_version": self.facebench_version,
            "gt_manifest_sha256": self.gt_manifest_sha256,
            "date": self.date,
            "results_sha256": self.results_sha256,
        }


def load_record(path) -> Record:
    """Read and check one results JSON file."""
    path = Path(path)
    if not path.is_file():
        raise InputError("results record not found", path)
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InputError(f"not valid JSON ({exc})", path) from exc
    mtime = _dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.timezone.utc)
    return record_from_dict(data, path=path, sha256=hashlib.sha256(raw).hexdigest(),
                            default_date=mtime.date().isoformat())


def record_from_dict(data: dict, *, path=None, sha256: str | None = None,
                     default_date: str | None = None) -> Record:
    """Turn a parsed results record into a :class:`Record`; bad records raise ValidationError."""
    where = f"{path}: " if path is not None else ""
    if not isinstance(data, dict):
        raise ValidationError(f"{where}a results record is a JSON object, got {type(data).__name__}")
    _run_schema_validator(data, where)
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValidationError(
            f"{where}invalid results record: {len(missing)} keys missing (first: {missing[0]})")
    bench = data["benchmark"]
    if not isinstance(bench, dict) or "name" not in bench or "version" not in bench:
        raise ValidationError(f"{where}'benchmark' must be {{'name': ..., 'version': ...}}")
    meta = data["method"] if isinstance(data["method"], dict) else {"method": data["method"]}
    method = meta.get("method")
    if not method or not isinstance(method, str):
        raise ValidationError(f"{where}'method.method' (the method name) is missing")
    metrics = flatten_metrics(data["metrics"], where)
    if sha256 is None:
        sha256 = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    runtime = meta.get("runtime_s_per_frame")
    date = data.get("date") or data.get("created") or default_date or _dt.date.today().isoformat()
    return Record(
        path=Path(path) if path is not None else None,
        benchmark=str(bench["name"]),
        benchmark_version=str(bench["version"]),
        gt_manifest_sha256=str(data["gt_manifest_sha256"]),
        method=method,
        metrics=metrics,
        runtime_s_per_frame=float(runtime) if runtime is not None else None,
        facebench_version=str(data.get("facebench_version", "")),
        date=str(date)[:10],
        results_sha256=sha256,
        flagged_clips=_flagged_clips(data),
        alignment=protocol_alignment(data.get("protocol")),
    )


def _flagged_clips(data: dict) -> int | None:
    flags = data.get("flags")
    if not isinstance(flags, list):
        return None
    return len({f.get("clip") for f in flags if isinstance(f, dict)})


def protocol_alignment(protocol) -> str:
    """The alignments of a record's protocol as one cell: ``depth=median canonical=none``."""
    if not isinstance(protocol, dict):
        return ""
    return " ".join(f"{task}={spec['alignment']}" for task, spec in protocol.items()
                    if isinstance(spec, dict) and spec.get("alignment") is not None)


def flatten_metrics(metrics, where: str = "") -> dict[str, float]:
    """``{task: {metric: value}}`` -> ``{"task.metric": value}`` (None stays NaN)."""
    if not isinstance(metrics, dict):
        raise ValidationError(f"{where}'metrics' must be {{task: {{metric: value}}}}")
    flat = {}
    for task, values in metrics.items():
        if not isinstance(values, dict):
            raise ValidationError(f"{where}metrics[{task!r}] must be {{metric: value}}")
        for name, value in values.items():
            if value is not None and not isinstance(value, (int, float)):
                raise ValidationError(f"{where}metrics.{task}.{name} is not a number: {value!r}")
            flat[f"{task}.{name}"] = float("nan") if value is None else float(value)
    return dict(sorted(flat.items(), key=lambda kv: metric_sort_key(kv[0])))


def _run_schema_validator(data: dict, where: str) -> None:
    """Use the evaluate part's validator (facebench.io.results) when it is installed."""
    try:
        from facebench.io.results import validate_results
    except ImportError:
        return
    problems = validate_results(data)
    if problems:
        if isinstance(problems, str):
            problems = [problems]
        problems = list(problems)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValidationError(f"{where}invalid results record: {problems[0]}{more}")
