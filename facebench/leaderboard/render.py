"""Leaderboard tables for people: Markdown (best in bold), terminal text, a PNG bar chart."""

from __future__ import annotations

import math
from pathlib import Path

from facebench.leaderboard.records import HEADLINE_METRIC, higher_is_better

_ARROW = {True: "↑", False: "↓"}


def fmt(value) -> str:
    """Four significant digits; NaN / missing as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = float(value)
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"


def flagged_text(value) -> str:
    """The flagged-clip count of a row: a number, or "–" for records from before flags existed."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return "–"
    return str(int(float(value)))


def flagged_column(df) -> list[str]:
    return [flagged_text(v) for v in df["flagged_clips"]] if "flagged_clips" in df else ["–"] * len(df)


def best_rows(df, column: str) -> set[int]:
    """Row positions holding the best value of ``column`` (all of them on a tie)."""
    values = df[column].astype(float)
    finite = values.dropna()
    if finite.empty:
        return set()
    best = finite.max() if higher_is_better(column) else finite.min()
    return {i for i, v in enumerate(values) if v == best}


def _scored_columns(df) -> list[str]:
    from facebench.leaderboard.table import metric_columns

    return [*metric_columns(df), "runtime_s_per_frame"]


def markdown(df, main_column: str | None, higher: bool) -> str:
    """The ranked table as Markdown: the main metrics, then every metric; best per column in bold."""
    scored = [c for c in _scored_columns(df) if c in df and df[c].notna().any()]
    main = [*chart_columns(df, main_column), "runtime_s_per_frame"]
    main = [c for c in main if c in scored]
    bench = f"{df['benchmark'].iloc[0]} v{df['benchmark_version'].iloc[0]}" if len(df) else "leaderboard"
    lines = [f"# {bench}", ""]
    if main_column:
        direction = "higher is better" if higher else "lower is better"
        lines.append(f"Ranked by `{main_column}` ({direction}); ties by method name. "
                     "Best value per column in **bold**; ↑ higher is better, ↓ lower is better.")
    else:
        lines.append("No main metric known for this benchmark: rows are in method-name order.")
    if len(df):
        lines += ["", f"Ground truth manifest sha256: `{df['gt_manifest_sha256'].iloc[0]}`."]
        lines += ["", "`flagged`: clips whose alignment was degenerate or whose main-metric error is an "
                  "outlier for that method (kept in the means; reasons in the results record; – for "
                  "records from before flags existed)."]
        if "alignment" in df:
            protocols = sorted({str(a) for a in df["alignment"] if isinstance(a, str) and a})
            if protocols:
                lines += ["", "Alignment: " + "; ".join(f"`{a}`" for a in protocols) + "."]
    temporal = temporal_columns(scored)
    if main != scored:
        lines += ["", "## Main metrics", "", *_markdown_rows(df, main)]
        if temporal:
            lines += ["", "## Temporal metrics (secondary)", "",
                      "At the GT tracks' positions, frame to frame (docs/BENCHMARKS.md): canonical jitter "
                      "(spread of the predicted canonical value of one physical point over time, median "
                      "and p90 over tracks), depth flicker (change of the aligned depth error between "
                      "consecutive frames), track jitter (predicted minus GT acceleration, median). "
                      "Not used for ranking; – for records from before they existed.", "",
                      *_markdown_rows(df, temporal)]
        lines += ["", "## All metrics"]
    lines += ["", *_markdown_rows(df, scored)]
    return "\n".join(lines) + "\n"


def temporal_columns(columns) -> list[str]:
    """The temporal (secondary) ``task.metric`` columns among ``columns``, in their order."""
    from facebench.metrics import SECONDARY

    return [c for c in columns if c in SECONDARY]


def _markdown_rows(df, scored: list[str]) -> list[str]:
    header = ["rank", "method", "flagged", *(f"{c} {_ARROW[higher_is_better(c)]}" for c in scored), "date"]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---:", ":---", "---:", *(["---:"] * len(scored)), ":---"]) + "|"]
    bold = {c: best_rows(df, c) for c in scored}
    flagged = flagged_column(df)
    for i in range(len(df)):
        cells = [str(df["rank"].iloc[i]), str(df["method"].iloc[i]), flagged[i]]
        for c in scored:
            text = fmt(df[c].iloc[i])
            cells.append(f"**{text}**" if i in bold[c] else text)
        cells.append(str(df["date"].iloc[i]))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_markdown(df, path, main_column: str | None, higher: bool) -> Path:
    path = Path(path)
    path.write_text(markdown(df, main_column, higher), encoding="utf-8")
    return path


def text_table(df, title: str, main_column: str | None, all_columns: bool = False) -> str:
    """A plain-text table for the terminal: rank, method, the main metrics (or all), runtime, date."""
    scored = [c for c in _scored_columns(df) if c in df and df[c].notna().any()]
    if not all_columns:
        keep = {*chart_columns(df, main_column), "runtime_s_per_frame"}
        scored = [c for c in scored if c in keep]
    columns = ["rank", "method", *scored, "date"]
    shown = df[columns].copy()
    for c in scored:
        shown[c] = [fmt(v) for v in df[c]]
    shown.insert(2, "flagged", flagged_column(df))
    shown.columns = ["rank", "method", "flagged", *(f"{c}{_ARROW[higher_is_better(c)]}" for c in scored),
                     "date"]
    ranked_by = f"ranked by {main_column}" if main_column else "no main metric: by method name"
    which = "all metrics" if all_columns else "main metrics; --all for every column"
    body = shown.to_string(index=False) if len(df) else "(no methods)"
    return f"{title}  ({len(df)} methods, {ranked_by}; {which})\n{body}"


def chart_columns(df, main_column: str | None) -> list[str]:
    """The main metric first, then each task's main metric (from the benchmark) present in the table."""
    from facebench.leaderboard.benchmark_info import task_main_metrics

    per_task = task_main_metrics(str(df["benchmark"].iloc[0])) if len(df) else []
    per_task = per_task or [f"{task}.{metric}" for task, metric in HEADLINE_METRIC.items()]
    columns = [main_column] if main_column and main_column in df else []
    for col in per_task:
        if col in df and col not in columns and df[col].notna().any():
            columns.append(col)
    return columns


def write_chart(df, path, main_column: str | None) -> Path:
    """Horizontal bars of the main metrics per method (one panel per metric), ranked order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    columns = chart_columns(df, main_column) or ["rank"]
    flagged = flagged_column(df)
    methods = [m if f in ("–", "0") else f"{m} [{f} flagged]"
               for m, f in zip(df["method"], flagged)][::-1]       # rank 1 at the top
    fig, axes = plt.subplots(1, len(columns), figsize=(3.6 * len(columns) + 1.0, 0.45 * len(df) + 1.6),
                             squeeze=False)
    for ax, col in zip(axes[0], columns):
        values = df[col].astype(float).to_numpy()[::-1]
        colors = ["#c44e52" if col == main_column else "#4c72b0"] * len(values)
        ax.barh(range(len(values)), [0 if math.isnan(v) else v for v in values], color=colors)
        for y, v in enumerate(values):
            ax.text(0 if math.isnan(v) else v, y, f" {fmt(v)}", va="center", ha="left", fontsize=8)
        finite = [v for v in values if not math.isnan(v)]
        if finite and max(finite) > 0:
            ax.set_xlim(0, 1.25 * max(finite))
        ax.set_yticks(range(len(values)))
        ax.set_yticklabels(methods if ax is axes[0][0] else [""] * len(values))
        title = col if col == "rank" else f"{col} {_ARROW[higher_is_better(col)]}"
        ax.set_title(title + (" (main)" if col == main_column else ""), fontsize=9)
        ax.tick_params(labelsize=8)
    bench = f"{df['benchmark'].iloc[0]} v{df['benchmark_version'].iloc[0]}" if len(df) else ""
    fig.suptitle(bench, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
