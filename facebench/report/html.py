"""The visual report: one PNG panel per clip, a GT-fidelity plot and an index.html showing them."""

from __future__ import annotations

import html
import json
from pathlib import Path

from facebench.errors import InputError
from facebench.report.panel import show_clip

_STYLE = """body{font-family:sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}img{max-width:100%}
.clip{margin:18px 0}.muted{color:#777}"""


def write_report(gt_dir, preds_dir=None, results=None, fidelity=None, out_dir="report", *,
                 max_clips: int | None = None, frame: int | None = None, progress: bool = True) -> Path:
    """Write ``out_dir/index.html`` with a panel per clip (``out_dir/panels/*.png``).

    ``preds_dir`` adds predicted columns; ``results`` (a results record, path or dict)
    adds the metric tables; ``fidelity`` (dict, or a .csv / .json path) of prepared-GT
    vs exact-truth errors adds a fidelity plot.  Returns the path of index.html.
    """
    from tqdm import tqdm

    from facebench.io.shards import GTReader

    out_dir = Path(out_dir)
    (out_dir / "panels").mkdir(parents=True, exist_ok=True)
    with GTReader(gt_dir) as reader:
        clip_ids = reader.clip_ids
        benchmark = reader.benchmark
        quality = {f"{p}/{s}": q for p, s in reader.sequences()
                   if isinstance(q := reader.sequence_attrs(p, s).get("qc"), dict)}
        from facebench.report.sources import sequence_sources

        sources = sequence_sources(reader)
    if max_clips is not None:
        clip_ids = clip_ids[:max_clips]
    record = _load_results(results)
    panels = []
    for cid in tqdm(clip_ids, desc="report panels", unit="clip", leave=False,
                    disable=not progress):
        png = out_dir / "panels" / (cid.replace("/", "__") + ".png")
        if preds_dir is not None:
            show_clip(preds_dir, cid, png, gt=gt_dir, frame=frame)
        else:
            show_clip(gt_dir, cid, png, frame=frame)
        panels.append((cid, png.relative_to(out_dir)))
    fidelity_png = None
    fidelity_table = None
    if fidelity is not None:
        fidelity_table = load_fidelity(fidelity)
        fidelity_png = write_fidelity_plot(fidelity_table, out_dir / "fidelity.png")
    page = _page(benchmark, gt_dir, preds_dir, record, panels, fidelity_table, fidelity_png, out_dir, quality,
                 sources)
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _load_results(results):
    if results is None or isinstance(results, dict):
        return results
    try:
        return json.loads(Path(results).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read results record ({exc})", results) from exc


def load_fidelity(fidelity) -> dict[str, list[float]]:
    """Fidelity errors as ``{name: [values]}`` from a dict, or a .json / .csv file.

    A dict maps a name (e.g. ``depth_error_mm``) to a number, a list of numbers, or a
    nested dict (flattened to ``outer.inner``).  A CSV gives one entry per numeric column.
    """
    if isinstance(fidelity, (str, Path)):
        path = Path(fidelity)
        if not path.is_file():
            raise InputError("fidelity file not found", path)
        if path.suffix == ".csv":
            import pandas as pd

            df = pd.read_csv(path)
            return {c: df[c].dropna().astype(float).tolist() for c in df.columns
                    if pd.api.types.is_numeric_dtype(df[c])}
        fidelity = json.loads(path.read_text())
    flat: dict[str, list[float]] = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[prefix] = [float(value)]
        elif isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
            values = [float(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
            flat[prefix] = values
    walk("", fidelity)
    return flat


UNITS = ("mm", "px", "m", "norm", "deg")


def unit_of(name: str) -> str | None:
    """The unit a quantity's name ends in (``face_median_mm`` -> "mm"), else None (a count)."""
    suffix = name.rsplit("_", 1)[-1]
    return suffix if suffix in UNITS else None


def write_fidelity_plot(table: dict[str, list[float]], path) -> Path:
    """One panel per unit (mm, px, ...): bars for single values, box plots for distributions.

    Quantities without a unit in their name (counts such as ``clips``) are left to the table.
    """
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # matplotlib 3.10 renamed vert=False to orientation="horizontal"
    major_minor = tuple(int(x) for x in matplotlib.__version__.split(".")[:2])
    horizontal = {"orientation": "horizontal"} if major_minor >= (3, 10) else {"vert": False}
    groups: dict[str, dict[str, list[float]]] = {}
    for name, values in table.items():
        values = [v for v in values if not math.isnan(v)]
        if values and unit_of(name):
            groups.setdefault(unit_of(name), {})[name] = values
    if not groups:
        groups = {"": {k: v for k, v in table.items() if v}} or {"": {}}
    fig, axes = plt.subplots(1, len(groups), squeeze=False,
                             figsize=(4.2 * len(groups), 0.42 * max(len(g) for g in groups.values()) + 1.8))
    for ax, (unit, quantities) in zip(axes[0], sorted(groups.items())):
        names = list(quantities)[::-1]
        for y, name in enumerate(names):
            values = quantities[name]
            if len(values) == 1:
                ax.barh([y], values, color="#4c72b0")
                ax.text(values[0], y, f" {values[0]:.3g}", va="center", fontsize=8)
            else:
                ax.boxplot(values, positions=[y], showfliers=False, widths=0.6, **horizontal)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=8)
        ax.set_xlabel(unit, fontsize=8)
        top = max(max(v) for v in quantities.values()) if quantities else 1.0
        ax.set_xlim(0, 1.2 * top if top > 0 else 1.0)
        ax.tick_params(labelsize=7)
    fig.suptitle("prepared GT vs exact truth (lower is better)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _fidelity_rows(table: dict[str, list[float]]) -> str:
    import numpy as np

    rows = []
    for name, values in table.items():
        if not values:
            continue
        if len(values) == 1:
            shown = f"{values[0]:.4g}"
        else:
            shown = f"mean {np.nanmean(values):.4g}, median {np.nanmedian(values):.4g} (n={len(values)})"
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{shown}</td></tr>")
    return f"<table><tr><th>quantity</th><th>value</th></tr>{''.join(rows)}</table>"


def _metrics_table(metrics: dict) -> str:
    from facebench.leaderboard.render import fmt

    rows = "".join(f"<tr><td>{html.escape(task)}.{html.escape(name)}</td><td>{fmt(v)}</td></tr>"
                   for task, values in metrics.items() for name, v in values.items())
    return f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>"


def qc_table(quality: dict) -> str:
    """HTML table of prepare's quality control: one row per sequence (flag, frames per flag, and
    median / worst of each figure) and the reasons of every frame that did not pass."""
    e = html.escape
    names = [n for n in next(iter(quality.values()))["summary"]] if quality else []
    head = "".join(f"<th>{e(n)}<br>median / worst</th>" for n in names)
    rows, notes = [], []
    for key, q in sorted(quality.items()):
        cells = []
        for n in names:
            sm = q["summary"].get(n, {})
            worst = _worst(n, sm)
            cells.append("-" if sm.get("median") is None else f"{sm['median']:.3g} / {worst:.3g}")
        counts = ", ".join(f"{q['frames'].get(f, 0)} {f}" for f in ("pass", "warn", "fail"))
        rows.append(f"<tr><td>{e(key)}</td><td>{e(q['flag'])}</td><td>{e(counts)}</td>"
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        notes += [f"<li>{e(key)} frame {e(fid)}: {e('; '.join(r))}</li>"
                  for fid, r in q.get("reasons", {}).items()]
    table = f"<table><tr><th>sequence</th><th>flag</th><th>frames</th>{head}</tr>{''.join(rows)}</table>"
    return table + (f"<ul>{''.join(notes[:200])}</ul>" if notes else "")


def _worst(name: str, sm: dict):
    if name.endswith("fraction"):
        return sm.get("min")
    if name.endswith("ratio") and sm.get("min") is not None:
        return max((sm["min"], sm["max"]), key=lambda v: abs(v - 1.0))
    return sm.get("max")


def _page(benchmark, gt_dir, preds_dir, record, panels, fidelity_table, fidelity_png, out_dir,
          quality=None, sources=None) -> str:
    e = html.escape
    title = f"facebench report: {benchmark or Path(gt_dir).name}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{_STYLE}</style></head><body>", f"<h1>{e(title)}</h1>",
             f"<p class='muted'>GT: {e(str(gt_dir))}"
             + (f"<br>predictions: {e(str(preds_dir))}" if preds_dir else "") + "</p>"]
    if record is not None:
        method = record.get("method", {})
        name = method.get("method") if isinstance(method, dict) else method
        parts.append(f"<h2>Results: {e(str(name))}</h2>")
        parts.append(_metrics_table(record.get("metrics", {})))
    if fidelity_png is not None:
        parts.append("<h2>Ground-truth fidelity</h2>")
        parts.append(f"<img src='{e(str(fidelity_png.relative_to(out_dir)))}' alt='fidelity plot'>")
        parts.append(_fidelity_rows(fidelity_table))
    if quality:
        parts.append("<h2>Quality control (prepare)</h2>")
        parts.append(qc_table(quality))
    if sources and any(src.get("stereo") or src.get("landmarks") for src in sources.values()):
        from facebench.report.sources import source_table

        parts.append("<h2>How the GT was made (depth, masks, stereo and landmarks per view)</h2>")
        parts.append(source_table(sources))
    parts.append(f"<h2>Clips ({len(panels)})</h2>")
    per_clip = (record or {}).get("per_clip", {})
    for cid, rel in panels:
        parts.append(f"<div class='clip'><h3>{e(cid)}</h3><img src='{e(str(rel))}' alt='{e(cid)}'>")
        if cid in per_clip:
            parts.append(_metrics_table(per_clip[cid]))
        parts.append("</div>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
