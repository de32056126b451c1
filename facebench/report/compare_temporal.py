"""The comparison report's temporal part: per-clip curves over frames, and the summary table.

For one clip, each method's temporal metrics frame by frame (the curves
``facebench.evaluate.scoring.score_clip`` computes while scoring, so they are the
numbers behind the record): canonical deviation of each GT track's predicted canonical
value from its mean (median over tracks), depth flicker between frames t-1 and t (mean
over tracks), 2D track jitter centred at t (median), all at the GT tracks' positions.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

# (task, record metric, y-axis label) of each panel of the per-clip plot
PANELS = (
    ("canonical", "jitter_median_mm", "canonical: |c(t) - mean c| mm\n(median over tracks)"),
    ("depth", "flicker_mm", "depth: |Δ error| t-1→t mm\n(mean over tracks)"),
    ("tracking_2d", "jitter_px", "2D tracks: |a_pred - a_gt| px\n(median, 256-px space)"),
)


def clip_curves(pred: dict, clip, bench, scale: float, width: int, height: int) -> dict:
    """{task: (T,) per-frame temporal values} of one method on one clip (tasks it predicts)."""
    from facebench.evaluate.scoring import score_clip
    from facebench.io.predictions import tasks_of

    tasks = sorted(tasks_of(pred) & set(bench.tasks) & {t for t, _, _ in PANELS})
    curves: dict = {}
    if tasks and clip.tracks is not None and len(clip.tracks.query_frame):
        score_clip(pred, clip, tasks, bench, scale, width, height, curves=curves)
    return curves


def write_clip_plot(path, cid: str, series: list[tuple[str, dict, dict]]) -> Path | None:
    """One figure per clip: a panel per temporal metric, a line per method.

    series: (method name, {task: (T,) curve}, {task: {metric: value}} of the record's clip).
    Returns the path written, or None when no method has a curve.
    """
    panels = [p for p in PANELS if any(p[0] in curves for _, curves, _ in series)]
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 2.9), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (task, metric, label) in zip(axes[0], panels):
        for i, (name, curves, per_clip) in enumerate(series):
            y = curves.get(task)
            if y is None or not np.isfinite(y).any():
                continue
            value = per_clip.get(task, {}).get(metric)
            tag = f"{name} ({value:.3g})" if value is not None else name
            ax.plot(np.arange(len(y)), y, marker="o", ms=3, lw=1.2, color=colors[i % len(colors)], label=tag)
        ax.set_xlabel("frame", fontsize=8)
        ax.set_ylabel(label, fontsize=7)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=6, title=f"{task}.{metric} of the clip", title_fontsize=6)
        else:
            ax.text(0.5, 0.5, "no usable track", transform=ax.transAxes, ha="center", fontsize=8)
    fig.suptitle(f"{cid}: temporal metrics per frame (lower is steadier)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def temporal_table(methods) -> str:
    """HTML table of every method's temporal metrics (the record's means over clips)."""
    from facebench.leaderboard.webpage import num_cell, table, text_cell
    from facebench.metrics import SECONDARY

    cols = [c for c in sorted(SECONDARY, key=_order)
            if any(m.record["metrics"].get(c.split(".")[0], {}).get(c.split(".")[1]) is not None
                   for m in methods)]
    if not cols:
        return ("<p class='muted'>No temporal metrics in these records (scored before they existed, or "
                "no GT tracks).</p>")
    rows = []
    for m in methods:
        values = [m.record["metrics"].get(c.split(".")[0], {}).get(c.split(".")[1]) for c in cols]
        rows.append([text_cell(m.name), *(num_cell(v) for v in values)])
    return (table(["method", *(f"{c} ↓" for c in cols)], rows)
            + "<p class='muted'>Secondary metrics, never used for ranking: how much a prediction at one "
              "physical point (a GT track) changes from frame to frame; see docs/BENCHMARKS.md. "
              + html.escape("Lower is steadier; a method can be steady and wrong.") + "</p>")


def _order(column: str):
    from facebench.leaderboard.records import metric_sort_key

    return metric_sort_key(column)
