"""Merge results records into ranked leaderboard tables (pandas) and publish them.

One table per benchmark version: ``{out}/{benchmark}-v{version}.csv`` with one
row per method, plus a Markdown table and a PNG chart next to it.  Publishing a
method again replaces its row.  Rows are ranked by the benchmark's main metric
in its direction; ties go to the method name (alphabetical), so the order never
depends on the order records arrive in.
"""

from __future__ import annotations

from pathlib import Path

from facebench.errors import FacebenchError, did_you_mean
from facebench.leaderboard.records import (
    Record,
    higher_is_better,
    load_record,
    metric_sort_key,
)

LEADING_COLUMNS = ("rank", "method", "benchmark", "benchmark_version")
TRAILING_COLUMNS = ("flagged_clips", "alignment", "runtime_s_per_frame", "facebench_version",
                    "gt_manifest_sha256", "date", "results_sha256")
_TEXT_COLUMNS = ("method", "benchmark", "benchmark_version", "alignment", "facebench_version",
                 "gt_manifest_sha256", "date", "results_sha256")


def table_stem(benchmark: str, version) -> str:
    return f"{benchmark}-v{version}"


def metric_columns(df) -> list[str]:
    """The ``task.metric`` columns of a table, in SPEC order."""
    skip = set(LEADING_COLUMNS) | set(TRAILING_COLUMNS)
    return sorted((c for c in df.columns if c not in skip), key=metric_sort_key)


def main_metric(benchmark: str) -> tuple[str | None, bool]:
    """``(column, higher_is_better)`` of a benchmark's main metric, from its registry entry.

    Uses :func:`facebench.benchmarks.get_benchmark`; a benchmark facebench does not
    know yields ``(None, True)`` and the table is ranked by method name.
    """
    from facebench.leaderboard.benchmark_info import lookup_main_metric

    return lookup_main_metric(benchmark)


def merge(records: list[Record], existing=None):
    """Rows of ``existing`` (a DataFrame or None) with each record's row put in (replacing by method).

    All rows must share one benchmark, version and GT manifest; otherwise FacebenchError.
    """
    import pandas as pd

    rows = [] if existing is None else existing.drop(columns=["rank"], errors="ignore").to_dict("records")
    by_method = {row["method"]: row for row in rows}
    for rec in records:
        by_method[rec.method] = rec.row()   # later records (and re-publications) win
    _check_compatible(list(by_method.values()))
    df = pd.DataFrame(list(by_method.values()))
    for col in _TEXT_COLUMNS:
        if col in df:
            df[col] = df[col].astype(str)
    return df


def rank(df, column: str | None, higher: bool):
    """Sort by ``column`` in its direction (missing values last), then by method; add ``rank`` 1..n."""
    import numpy as np

    df = df.copy()
    if column is not None and column in df:
        values = df[column].astype(float).to_numpy()
        key = np.where(np.isnan(values), np.inf, -values if higher else values)
    else:
        key = np.zeros(len(df))
    order = sorted(range(len(df)), key=lambda i: (key[i], df["method"].iloc[i]))
    df = df.iloc[order].reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    metrics = metric_columns(df)
    columns = [*LEADING_COLUMNS, *metrics, *TRAILING_COLUMNS]
    for col in columns:
        if col not in df:
            df[col] = np.nan
    return df[columns]


def publish(results_paths, out="leaderboards") -> list[Path]:
    """Merge results records into the leaderboards in ``out``; returns the files written.

    Writes ``{benchmark}-v{version}.csv``, ``.md`` and ``.png`` per benchmark version
    touched.  Refuses to mix versions of one benchmark or different GT manifests.
    """
    from facebench.leaderboard.render import write_chart, write_markdown

    if isinstance(results_paths, (str, Path)):
        results_paths = [results_paths]
    records = [load_record(p) for p in results_paths]
    if not records:
        raise FacebenchError("no results records given")
    out = Path(out)
    groups: dict[str, list[Record]] = {}
    for rec in records:
        groups.setdefault(rec.benchmark, []).append(rec)
    for name, recs in groups.items():
        versions = sorted({r.benchmark_version for r in recs})
        if len(versions) > 1:
            raise FacebenchError(
                f"records mix versions {', '.join('v' + v for v in versions)} of benchmark {name!r}: "
                "publish each version separately")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, recs in sorted(groups.items()):
        stem = table_stem(name, recs[0].benchmark_version)
        csv_path = out / f"{stem}.csv"
        existing = read_table(csv_path) if csv_path.exists() else None
        column, higher = main_metric(name)
        df = rank(merge(recs, existing), column, higher)
        tmp = csv_path.with_suffix(".csv.tmp")
        df.to_csv(tmp, index=False)
        tmp.replace(csv_path)
        written += [csv_path, write_markdown(df, out / f"{stem}.md", column, higher),
                    write_chart(df, out / f"{stem}.png", column)]
    return written


def read_table(csv_path):
    """A published leaderboard CSV as a DataFrame (text columns kept as text)."""
    import pandas as pd

    return pd.read_csv(csv_path, dtype={c: str for c in _TEXT_COLUMNS}, keep_default_na=True)


def find_table(name: str, directory="leaderboards") -> Path:
    """Path of the leaderboard called ``name`` (``synth-v1-v1``, or ``synth-v1`` for its newest version)."""
    directory = Path(directory)
    as_path = Path(name)
    if as_path.suffix == ".csv" and as_path.is_file():
        return as_path
    available = sorted(p.stem for p in directory.glob("*.csv"))
    if name in available:
        return directory / f"{name}.csv"
    versions = [s for s in available if s.startswith(f"{name}-v") and s[len(name) + 2:].isdigit()]
    if versions:
        newest = max(versions, key=lambda s: int(s[len(name) + 2:]))
        return directory / f"{newest}.csv"
    if not available:
        raise FacebenchError(f"no leaderboards in {directory}/ (publish one first)")
    raise FacebenchError(f"no leaderboard {name!r} in {directory}/{did_you_mean(name, available)}; "
                         f"available: {', '.join(available)}")


def show(name: str, directory="leaderboards", all_columns: bool = False) -> str:
    """The leaderboard ``name`` as a plain-text table (also printed to the terminal).

    By default the columns are each task's main metric and the runtime; ``all_columns``
    shows every metric.
    """
    import click

    from facebench.leaderboard.render import text_table

    path = find_table(name, directory)
    df = read_table(path)
    benchmark = df["benchmark"].iloc[0] if len(df) else path.stem.rsplit("-v", 1)[0]
    column, _ = main_metric(benchmark)
    text = text_table(df, title=path.stem, main_column=column, all_columns=all_columns)
    click.echo(text)
    return text


def _check_compatible(rows: list[dict]) -> None:
    for key, what in (("benchmark", "benchmarks"), ("benchmark_version", "benchmark versions"),
                      ("gt_manifest_sha256", "ground-truth manifests")):
        values = sorted({str(r[key]) for r in rows})
        if len(values) > 1:
            shown = ", ".join(v[:12] for v in values)
            raise FacebenchError(
                f"refusing to mix {what} in one leaderboard ({shown}); results must come from "
                f"the same benchmark version and the same prepared ground truth")


__all__ = ["find_table", "higher_is_better", "main_metric", "merge", "publish", "rank", "read_table",
           "show"]
