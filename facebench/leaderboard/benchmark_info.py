"""The main metric of a benchmark and its direction, as the leaderboard ranks by it.

The benchmark registry (:mod:`facebench.benchmarks`) is the authority.  A
benchmark facebench does not know ranks by method name only.
"""

from __future__ import annotations

from facebench.leaderboard.records import higher_is_better


def lookup_main_metric(benchmark: str) -> tuple[str | None, bool]:
    """``("task.metric", higher_is_better)`` for ``benchmark``, or ``(None, True)`` if unknown."""
    spec = _registry_entry(benchmark)
    if spec is None:
        spec = _yaml_entry(benchmark)
    if spec is None:
        return None, True
    return _parse_main_metric(spec)


def task_main_metrics(benchmark: str) -> list[str]:
    """Each task's main metric as ``task.metric`` (registry order), or [] if the benchmark is unknown."""
    spec = _registry_entry(benchmark)
    tasks = getattr(spec, "tasks", None) or {}
    return [f"{name}.{task.main_metric}" for name, task in tasks.items()
            if getattr(task, "main_metric", None)]


def _registry_entry(benchmark: str):
    try:
        from facebench.benchmarks import get_benchmark
    except ImportError:
        return None
    from facebench.errors import FacebenchError

    try:
        return get_benchmark(benchmark)
    except (FacebenchError, KeyError, FileNotFoundError):
        return None


def _yaml_entry(benchmark: str):
    """Fallback while the registry is missing: ``datasets/{benchmark}/benchmark.yaml`` as a dict."""
    try:
        from facebench.resources import datasets_dir

        path = datasets_dir() / benchmark / "benchmark.yaml"
    except FileNotFoundError:
        return None
    if not path.is_file():
        return None
    import yaml

    return yaml.safe_load(path.read_text()) or None


def _get(obj, *names):
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _parse_main_metric(spec) -> tuple[str | None, bool]:
    """Accept the shapes a benchmark may use: ``"task.metric"`` plus a direction, or a small mapping."""
    main = _get(spec, "main_metric", "main")
    direction = _get(spec, "main_metric_direction", "direction", "higher_is_better")
    if main is None:
        return None, True
    if not isinstance(main, str):
        task = _get(main, "task")
        metric = _get(main, "metric", "name")
        direction = _get(main, "direction", "higher_is_better", "mode") if direction is None else direction
        if metric is None:
            return None, True
        main = f"{task}.{metric}" if task and "." not in str(metric) else str(metric)
    if direction is None:
        return main, higher_is_better(main)
    if isinstance(direction, bool):
        return main, direction
    text = str(getattr(direction, "value", direction)).lower()
    return main, text in ("higher", "max", "maximize", "up", "higher_is_better", "desc", "descending")
