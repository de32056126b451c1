"""Pure numpy metrics (SPEC §6): depth, canonical, tracking_2d, tracking_3d, and temporal.

No I/O and no dataset objects: every function takes arrays (shapes in its
docstring) and returns per-frame (T,) arrays or per-clip numbers.  The tables
below say, for each task, its metric names and whether higher is better; the
evaluator, the results validator and the leaderboard read them.  The temporal
metrics (:mod:`facebench.metrics.temporal`) are listed under the task whose
prediction they read; they are secondary: ``SECONDARY`` names them, and no
benchmark may make one its main metric.
"""

from facebench.metrics import canonical, canonical_align, depth, landmarks, temporal, tracking_2d, tracking_3d

TASKS = ("depth", "canonical", "tracking_2d", "tracking_3d", "landmarks")

HIGHER_IS_BETTER: dict[str, dict[str, bool]] = {
    "depth": {**depth.HIGHER_IS_BETTER, **temporal.HIGHER_IS_BETTER["depth"]},
    "canonical": {**canonical.HIGHER_IS_BETTER, **temporal.HIGHER_IS_BETTER["canonical"]},
    "tracking_2d": {**tracking_2d.HIGHER_IS_BETTER, **temporal.HIGHER_IS_BETTER["tracking_2d"]},
    "tracking_3d": {**tracking_3d.HIGHER_IS_BETTER, **temporal.HIGHER_IS_BETTER["tracking_3d"]},
    "landmarks": landmarks.HIGHER_IS_BETTER,  # real-image benchmarks: canonical-landmark error
}
# ``task.metric`` names that may be reported but never be a benchmark's main metric.
SECONDARY = frozenset(f"{task}.{m}" for task, names in temporal.METRICS.items() for m in names)


def higher_is_better(name: str) -> bool:
    """Direction of ``task.metric`` (e.g. ``canonical.mean_mm`` -> False)."""
    task, _, metric = name.partition(".")
    try:
        return HIGHER_IS_BETTER[task][metric]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}") from None


__all__ = ["HIGHER_IS_BETTER", "SECONDARY", "TASKS", "canonical", "canonical_align", "depth",
           "higher_is_better", "landmarks", "temporal", "tracking_2d", "tracking_3d"]
