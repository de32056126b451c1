"""Failure flags: clips whose score should not be trusted blindly (SPEC §7).

A clip is flagged, with its reason, when

* its alignment is degenerate (see :mod:`facebench.metrics.canonical_align` and
  :func:`facebench.metrics.align.depth_alignment_problem`): kind ``alignment``;
* its value of a task's main metric is an outlier against the method's own
  per-clip distribution on the worse side: kind ``outlier``.  The rule is the
  modified z-score of Iglewicz and Hoaglin, z = 0.6745 (x - median) / MAD,
  flagged when z > ``OUTLIER_Z`` (3.5) in the direction the metric gets worse,
  with at least ``MIN_CLIPS_FOR_OUTLIERS`` scored clips.  When MAD is 0 the
  mean absolute deviation stands in (z = (x - median) / (1.2533 mean|x - median|)).
  A clip within ``OUTLIER_MIN_GAP`` x max(1, |median|) of the median is never an
  outlier: spreads at rounding level (a perfect method's 1e-13 mm) flag nothing.

Flagged clips stay in every mean (nothing is silently dropped); the flags are
listed in the results record and counted on leaderboards (nothing is silently kept).
"""

from __future__ import annotations

import numpy as np

OUTLIER_Z = 3.5
OUTLIER_MIN_GAP = 1e-6  # relative to max(1, |median|): below this a difference is rounding, not failure
MIN_CLIPS_FOR_OUTLIERS = 5


def modified_z(values) -> np.ndarray:
    """(n,) values -> (n,) modified z-scores (0 where undefined: all values equal or NaN)."""
    x = np.asarray(values, np.float64)
    ok = np.isfinite(x)
    z = np.zeros(len(x))
    if ok.sum() == 0:
        return z
    med = np.median(x[ok])
    dev = np.abs(x[ok] - med)
    mad = np.median(dev)
    if mad > 0:
        z[ok] = 0.6745 * (x[ok] - med) / mad
    elif dev.mean() > 0:
        z[ok] = (x[ok] - med) / (1.253314 * dev.mean())
    return z


def outlier_flags(per_clip_values: dict[str, float], task: str, metric: str, higher_is_better: bool,
                  threshold: float = OUTLIER_Z) -> list[dict]:
    """Flags for clips whose ``task.metric`` is a worse-side outlier (rule in the module doc).

    per_clip_values: {clip_id: value} over the clips that were scored (not missing ones).
    """
    ids = [c for c, v in per_clip_values.items() if v is not None and np.isfinite(v)]
    if len(ids) < MIN_CLIPS_FOR_OUTLIERS:
        return []
    values = np.array([per_clip_values[c] for c in ids], np.float64)
    z = modified_z(values)
    worse = -z if higher_is_better else z
    med = float(np.median(values))
    gap = np.abs(values - med) > OUTLIER_MIN_GAP * max(1.0, abs(med))
    return [{"clip": cid, "task": task, "kind": "outlier",
             "reason": f"{metric} {values[i]:.4g} is an outlier (modified z {z[i]:+.1f}, "
                       f"|z| > {threshold:g}; median over {len(ids)} clips {med:.4g})"}
            for i, cid in enumerate(ids) if worse[i] > threshold and gap[i]]


def outlier_rule(metric: str) -> str:
    """The rule as echoed into a task's protocol."""
    return (f"modified z-score of {metric} > {OUTLIER_Z:g} on the worse side, "
            f"over the method's clips (>= {MIN_CLIPS_FOR_OUTLIERS} clips), "
            f"and more than {OUTLIER_MIN_GAP:g} x max(1, |median|) from the median")


def collect_flags(alignment_flags: list[dict], per_clip: dict, scored: dict, bench, tasks) -> list[dict]:
    """All flags of a run, sorted by clip then task then kind.

    per_clip: {clip_id: {task: {metric: value}}}; scored: {clip_id: set of tasks actually
    predicted} (missing clips and tasks, scored as worst values, are reported in counts).
    """
    flags = list(alignment_flags)
    for task in tasks:
        spec = bench.task(task)
        values = {cid: per_clip[cid][task].get(spec.main_metric) for cid, have in scored.items()
                  if task in have}
        flags += outlier_flags(values, task, spec.main_metric, spec.higher_is_better)
    order = {t: i for i, t in enumerate(tasks)}
    return sorted(flags, key=lambda f: (f["clip"], order.get(f["task"], 99), f["kind"]))


def flagged_clips(flags: list[dict]) -> int:
    return len({f["clip"] for f in flags})
