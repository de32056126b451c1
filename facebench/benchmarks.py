"""The benchmark registry: ``datasets/{name}/benchmark.yaml`` loaded into frozen dataclasses.

A benchmark is data, not code (SPEC §7).  Each file states the split, the stored
resolution and, per task, the regions scored, the alignment or scaling, the
tracking thresholds and the main metric with its direction::

    from facebench.benchmarks import get_benchmark, list_benchmarks
    bench = get_benchmark("synth-v1")
    bench.task("depth").alignment, bench.main_metric, bench.higher_is_better
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from facebench.errors import FacebenchError, InputError, did_you_mean

TASK_NAMES = ("depth", "canonical", "tracking_2d", "tracking_3d", "landmarks")
DIRECTIONS = {"higher": True, "lower": False}
# exclude_qc option -> prepare QC flags of the frames left unscored (facebench.evaluate.qc_filter)
EXCLUDE_QC = {"none": (), "fail": ("fail",), "warn": ("warn", "fail")}


@dataclass(frozen=True)
class TaskSpec:
    """How one task is scored.  Fields that do not apply to a task are None."""

    name: str
    main_metric: str                        # metric name inside the task, e.g. "mean_mm"
    higher_is_better: bool
    regions: tuple[int, ...] | None = None  # shard mask labels scored (depth, canonical)
    alignment: str | None = None            # depth: none | median | scale_shift;
                                            # canonical: none | similarity | affine
    query_mode: str | None = None           # tracking_2d: first | strided
    resolution: int | None = None           # tracking_2d: thresholds measured in R x R space
    short_side: int | None = None           # tracking_3d: K rescaled so min(W, H) is this
    scaling: str | None = None              # tracking_3d: median | none
    thresholds_px: tuple[int, ...] | None = None
    tolerance: float | None = None          # landmarks: canonical match distance (normalized units)
    cap: float | None = None                # landmarks: largest error counted (a miss counts this)
    points: str | None = None               # landmarks: which iBUG points are scored (inner51)

    def protocol(self) -> dict:
        """The settings echoed into every results record (only those that apply)."""
        keys = ("regions", "alignment", "query_mode", "resolution", "short_side", "scaling",
                "thresholds_px", "tolerance", "cap", "points")
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k in keys if (v := getattr(self, k)) is not None}


@dataclass(frozen=True)
class Split:
    participants: tuple[str, ...]
    sequences: tuple[str, ...]              # fnmatch patterns; ("*",) for all
    cameras: tuple[str, ...]                # serials; ("*",) for all
    frame_stride: int = 1
    max_frames: int | None = None


@dataclass(frozen=True)
class Benchmark:
    name: str
    version: int
    description: str
    dataset: str                            # synth | nersemble
    template: str
    split: Split
    width: int
    height: int
    tasks: MappingProxyType                 # task name -> TaskSpec
    main_metric: str                        # "task.metric"
    higher_is_better: bool
    source: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    path: Path | None = None
    exclude_qc: str = "none"               # none | fail | warn: frames of prepare's QC left unscored

    def task(self, name: str) -> TaskSpec:
        try:
            return self.tasks[name]
        except KeyError:
            raise FacebenchError(f"benchmark {self.name} has no task {name!r}"
                                 f"{did_you_mean(name, self.tasks)}") from None

    @property
    def split_dir(self) -> Path | None:
        return self.path.parent if self.path is not None else None


def _benchmark_files() -> dict[str, Path]:
    from facebench.resources import datasets_dir

    try:
        root = datasets_dir()
    except FileNotFoundError:
        return {}
    return {p.parent.name: p for p in sorted(root.glob("*/benchmark.yaml"))}


def list_benchmarks() -> list[Benchmark]:
    """Every benchmark shipped in ``datasets/``, sorted by name."""
    return [load_benchmark(path) for _, path in sorted(_benchmark_files().items())]


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name``; an unknown name fails with a did-you-mean hint."""
    files = _benchmark_files()
    if name not in files:
        known = ", ".join(files) or "none"
        raise FacebenchError(f"unknown benchmark {name!r}{did_you_mean(name, files)}; known: {known}")
    return load_benchmark(files[name])


def load_benchmark(path) -> Benchmark:
    """Parse and check one ``benchmark.yaml``."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"unreadable benchmark file ({exc})", path) from exc
    try:
        return _parse(data, path)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed benchmark file ({exc.__class__.__name__}: {exc})", path) from exc


def _parse(data: dict, path: Path) -> Benchmark:
    from facebench.metrics import HIGHER_IS_BETTER, SECONDARY

    tasks = {}
    for name, spec in data["tasks"].items():
        if name not in TASK_NAMES:
            raise ValueError(f"unknown task {name!r}{did_you_mean(name, TASK_NAMES)}")
        metric, direction = spec["main_metric"], spec["direction"]
        if HIGHER_IS_BETTER[name].get(metric) is None:
            raise ValueError(f"unknown metric {name}.{metric}")
        if f"{name}.{metric}" in SECONDARY:
            raise ValueError(f"{name}.{metric} is a secondary (temporal) metric and cannot be a main metric")
        if DIRECTIONS[direction] != HIGHER_IS_BETTER[name][metric]:
            raise ValueError(f"{name}.{metric} is {direction}-is-better here but not in facebench.metrics")
        tasks[name] = TaskSpec(
            name=name, main_metric=metric, higher_is_better=DIRECTIONS[direction],
            regions=_tuple(spec.get("regions"), int), alignment=_alignment(name, spec.get("alignment")),
            query_mode=spec.get("query_mode"), resolution=spec.get("resolution"),
            short_side=spec.get("short_side"), scaling=spec.get("scaling"),
            thresholds_px=_tuple(spec.get("thresholds_px"), int),
            tolerance=_float(spec.get("tolerance")), cap=_float(spec.get("cap")), points=spec.get("points"))
    main_task, _, main_metric = data["main_metric"].partition(".")
    if main_task not in tasks or tasks[main_task].main_metric != main_metric:
        raise ValueError(f"main_metric {data['main_metric']!r} is not the main metric of a listed task")
    split = data["split"]
    resolution = data.get("resolution") or {"width": 0, "height": 0}  # 0: each image's own size
    return Benchmark(
        name=str(data["name"]), version=int(data["version"]), description=str(data["description"]).strip(),
        dataset=str(data["dataset"]), template=str(data.get("template", "facebench-head")),
        split=Split(participants=_read_list(split["participants"], path),
                    sequences=_read_list(split.get("sequences", ["*"]), path),
                    cameras=_read_list(split.get("cameras", ["*"]), path),
                    frame_stride=int(split.get("frame_stride", 1)),
                    max_frames=split.get("max_frames")),
        width=int(resolution["width"]), height=int(resolution["height"]),
        tasks=MappingProxyType(tasks), main_metric=data["main_metric"],
        higher_is_better=tasks[main_task].higher_is_better,
        source=MappingProxyType(dict(data.get("source") or {})), path=path,
        exclude_qc=_exclude_qc(data.get("exclude_qc")))


def _exclude_qc(value) -> str:
    value = "none" if value in (None, False) else str(value)
    if value not in EXCLUDE_QC:
        raise ValueError(f"exclude_qc must be one of {', '.join(EXCLUDE_QC)}, got {value!r}")
    return value


def _alignment(task: str, value) -> str | None:
    """A map task's alignment (``none`` when the key is absent); checked against its modes."""
    from facebench.metrics.align import ALIGNMENTS
    from facebench.metrics.canonical_align import CANONICAL_ALIGNMENTS

    modes = {"depth": ALIGNMENTS, "canonical": CANONICAL_ALIGNMENTS}.get(task)
    if modes is None:
        if value is not None:
            raise ValueError(f"task {task} takes no alignment")
        return None
    value = "none" if value is None else str(value)
    if value not in modes:
        raise ValueError(f"unknown {task} alignment {value!r}{did_you_mean(value, modes)}; "
                         f"expected one of {', '.join(modes)}")
    return value


def _float(value):
    return None if value is None else float(value)


def _tuple(values, kind):
    return None if values is None else tuple(kind(v) for v in values)


def _read_list(value, path: Path) -> tuple[str, ...]:
    """A list in the YAML, or the name of a text file next to it (one item a line, # comments)."""
    if isinstance(value, str):
        lines = (path.parent / value).read_text().splitlines()
        value = [ln.split("#")[0].strip() for ln in lines]
    return tuple(str(v) for v in value if str(v))
