"""Plain-text summaries of results records and benchmark lists, for the CLI."""

from __future__ import annotations


def format_results(record: dict) -> str:
    """A fixed-width table: one row per task, its metrics as name=value."""
    from facebench.benchmarks import get_benchmark

    bench = record["benchmark"]
    counts = record["counts"]
    try:
        main = get_benchmark(bench["name"]).main_metric
    except Exception:  # an old or foreign benchmark: no main-metric marker
        main = None
    lines = [f"{record['method'].get('method')} on {bench['name']} v{bench['version']}: "
             f"{counts['clips_scored']} of {counts['clips']} clips "
             f"(coverage {100 * counts['coverage']:.1f}%), {record['elapsed_s']:.1f} s"]
    width = max(len(t) for t in record["metrics"]) if record["metrics"] else 0
    for task, metrics in record["metrics"].items():
        cells = []
        for name, value in metrics.items():
            text = "n/a" if value is None else f"{value:.4g}"
            star = "*" if main == f"{task}.{name}" else ""
            cells.append(f"{name}={text}{star}")
        lines.append(f"  {task:<{width}}  " + "  ".join(cells))
    if main:
        lines.append(f"  (* main metric: {main})")
    flags = record.get("flags")
    if flags:
        clips = len({f["clip"] for f in flags})
        lines.append(f"  {clips} clips flagged (kept in the means; first: {flags[0]['clip']} "
                     f"{flags[0]['task']}: {flags[0]['reason']})")
    return "\n".join(lines)


def format_benchmarks(benchmarks) -> str:
    """One line per benchmark: name, version, main metric and direction, description."""
    if not benchmarks:
        return "no benchmarks found"
    width = max(len(b.name) for b in benchmarks)
    return "\n".join(
        f"{b.name:<{width}}  v{b.version}  {b.main_metric} ({'higher' if b.higher_is_better else 'lower'}"
        f" is better)  {b.description}" for b in benchmarks)
