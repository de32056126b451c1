"""The comparison report: any number of methods on one benchmark, one static HTML page.

    from facebench.report import write_comparison
    write_comparison("gt/", ["results/a.json", "results/b.json"], out_dir="report/")

Each results record names the predictions folder it scored (``predictions``); the
report reads the GT and every method's predictions, draws one panel per clip
(a GT row, then a row per method with its error maps on a shared scale) and
writes ``index.html`` with the tables (see :mod:`facebench.report.compare_html`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from facebench.errors import InputError


@dataclass
class Method:
    name: str
    record: dict
    path: Path | None           # the results record's file
    preds: Path | None          # the predictions it scored, when still there
    note: str = ""              # why there are no panels, if so


def load_methods(results) -> list[Method]:
    """Results records (paths or dicts) as methods with unique names, checked to share a benchmark."""
    from facebench.io.results import read_results, validate_results

    methods, seen = [], {}
    for item in results:
        if isinstance(item, dict):
            problems = validate_results(item)
            if problems:
                raise InputError(f"invalid results record: {problems[0]}")
            record, path = item, None
        else:
            path = Path(item)
            if not path.is_file():
                raise InputError("results record not found", path)
            record = read_results(path)
        meta = record["method"]
        name = str(meta.get("method") or (path.stem if path else "method"))
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name} ({seen[name]})"
        preds, note = _predictions_of(record, path)
        methods.append(Method(name, record, path, preds, note))
    if not methods:
        raise InputError("no results records given")
    keys = {(m.record["benchmark"]["name"], m.record["benchmark"]["version"]) for m in methods}
    if len(keys) > 1:
        shown = ", ".join(f"{n} v{v}" for n, v in sorted(keys))
        raise InputError(f"the records score different benchmarks ({shown}); compare one at a time")
    return methods


def _predictions_of(record: dict, path: Path | None) -> tuple[Path | None, str]:
    given = record.get("predictions")
    if not given:
        return None, "the record names no predictions folder (scored before facebench recorded it)"
    candidates = [Path(given)] + ([path.parent / given] if path is not None else [])
    for cand in candidates:
        if cand.exists():
            return cand, ""
    return None, f"predictions {given} not found"


def write_comparison(gt_dir, results, out_dir="report", *, fidelity=None, max_clips: int | None = None,
                     frame: int | None = None, progress: bool = True) -> Path:
    """Write ``out_dir/index.html`` comparing the methods of ``results`` on the GT ``gt_dir``.

    Args:
        gt_dir: the GT folder the records were scored against (its manifest must match).
        results: results record paths (or dicts), one per method, all on one benchmark.
        fidelity: optional prepared-GT-vs-truth errors (dict, .json or .csv), as in ``write_report``.
        max_clips: draw panels for the first ``max_clips`` clips only (tables cover all clips).
        frame: the frame shown in panels (default: each clip's middle frame).
    Returns the path of index.html.
    """
    from tqdm import tqdm

    from facebench.benchmarks import get_benchmark
    from facebench.io.shards import GTReader
    from facebench.report.compare_html import render_page
    from facebench.report.compare_temporal import write_clip_plot

    methods = load_methods(results)
    out_dir = Path(out_dir)
    (out_dir / "panels").mkdir(parents=True, exist_ok=True)
    bench_info = methods[0].record["benchmark"]
    bench = get_benchmark(bench_info["name"])
    regions: dict[str, dict] = {m.name: {} for m in methods}
    panels, temporal_plots = [], {}
    with GTReader(gt_dir) as reader, contextlib.ExitStack() as stack:
        for m in methods:
            if m.record["gt_manifest_sha256"] != reader.manifest_sha256:
                theirs, ours = m.record["gt_manifest_sha256"][:12], reader.manifest_sha256[:12]
                raise InputError(f"{m.name} was scored against another GT (manifest {theirs}, "
                                 f"this GT {ours})", gt_dir)
        sources = {m.name: _open(stack, m) for m in methods}
        clip_ids = reader.clip_ids
        bar = tqdm(clip_ids, desc="report", unit="clip", leave=False, disable=not progress)
        for i, cid in enumerate(bar):
            clip = reader.clip(cid)
            T = len(clip.depth)
            t = T // 2 if frame is None else min(max(int(frame), 0), T - 1)
            rows, series = [], []
            drawn = max_clips is None or i < max_clips
            for m in methods:
                errs, curves = _method_errors(m, sources[m.name], reader, cid, clip, bench, t, drawn)
                if errs is not None:
                    _add_regions(regions[m.name], errs.regions)
                rows.append((m, errs))
                series.append((m.name, curves, m.record["per_clip"].get(cid, {})))
            if drawn:
                panels.append((cid, _write_panel(out_dir, cid, clip, t, rows, bench)))
                plot = write_clip_plot(out_dir / "temporal" / (cid.replace("/", "__") + ".png"), cid, series)
                if plot is not None:
                    temporal_plots[cid] = plot.relative_to(out_dir)
    fidelity_html = _fidelity(fidelity, out_dir)
    plots = _distribution_plots(methods, bench, out_dir)
    text = render_page(bench, bench_info, gt_dir, methods, panels, plots, regions, fidelity_html,
                       temporal_plots)
    index = out_dir / "index.html"
    index.write_text(text, encoding="utf-8")
    return index


def _open(stack, m: Method):
    if m.preds is None:
        return None
    from facebench.errors import FacebenchError
    from facebench.io.prediction_source import open_predictions

    try:
        return stack.enter_context(open_predictions(m.preds))
    except FacebenchError as exc:
        m.note = f"predictions unreadable ({exc})"
        return None


def _method_errors(m: Method, source, reader, cid, clip, bench, t, curves: bool = True):
    """(ClipErrors, {task: temporal curve}) of one method on one clip; (None, {}) without a prediction."""
    from facebench.errors import FacebenchError
    from facebench.io.predictions import ClipShape, load_prediction
    from facebench.report.compare_maps import clip_errors
    from facebench.report.compare_temporal import clip_curves

    if source is None or not source.has_clip(cid):
        return None, {}
    info = reader.clip_info(cid)
    shape = ClipShape(int(info["T"]), int(info["H"]), int(info["W"]), int(info.get("N", 0)))
    pred = load_prediction(source, cid, shape)
    series = {}
    if curves:
        try:
            series = clip_curves(pred, clip, bench, reader.scale, shape.W, shape.H)
        except FacebenchError:  # the record says what was wrong with this clip
            series = {}
    return clip_errors(pred, clip, bench, reader.scale, t), series


def _add_regions(totals: dict, clip_regions: dict) -> None:
    """Accumulate per-clip region means (mean over clips of each clip's pooled mean)."""
    for task, per_label in clip_regions.items():
        for label, (total, n) in per_label.items():
            acc = totals.setdefault(task, {}).setdefault(label, [0.0, 0])
            acc[0] += total / n
            acc[1] += 1


def _write_panel(out_dir, cid, clip, t, rows, bench) -> Path:
    """Draw one clip's comparison panel (a GT row, a row per method) to ``out_dir/panels/``."""
    from PIL import Image

    from facebench.report.compare_maps import shared_range
    from facebench.report.compare_panel import clip_panel

    tr = clip.tracks
    g = {"t": t, "image": clip.image[t], "depth": clip.depth[t], "canonical": clip.canonical[t],
         "xy": tr.xy[:, t], "visible": tr.visible[:, t], "query_frame": tr.query_frame,
         "query_canonical": tr.query_canonical}
    errs = [e for _, e in rows if e is not None]
    depth_vmax = shared_range([e.depth_err_mm for e in errs])
    canonical_vmax = shared_range([e.canonical_err_mm for e in errs])
    panel_rows = []
    for m, e in rows:
        per_clip = m.record["per_clip"].get(cid, {})
        cells = [f"{task}.{spec.main_metric} {v:.4g}" for task, spec in bench.tasks.items()
                 if (v := per_clip.get(task, {}).get(spec.main_metric)) is not None]
        note = m.note if e is None else e.note
        panel_rows.append((m.name, e, "  ".join(cells) + (f"  [{note}]" if note else "")))
    rgb = clip_panel(g, panel_rows, depth_vmax, canonical_vmax, f"{cid}  frame {t} of {len(clip.depth)}")
    path = out_dir / "panels" / (cid.replace("/", "__") + ".png")
    Image.fromarray(rgb).save(path)
    return path.relative_to(out_dir)


def _fidelity(fidelity, out_dir) -> str:
    if fidelity is None:
        return ""
    from facebench.report.html import _fidelity_rows, load_fidelity, write_fidelity_plot

    table = load_fidelity(fidelity)
    write_fidelity_plot(table, out_dir / "fidelity.png")
    return ("<h2 id='fidelity'>Ground-truth fidelity</h2><img src='fidelity.png' alt='fidelity plot'>"
            + _fidelity_rows(table))


def _distribution_plots(methods, bench, out_dir) -> dict[str, Path]:
    """One box plot per task: the per-clip main metric of every method (flagged clips in red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    (out_dir / "plots").mkdir(exist_ok=True)
    out = {}
    for task, spec in bench.tasks.items():
        series, flagged = [], []
        for m in methods:
            flags = {f["clip"] for f in m.record.get("flags", []) if f["task"] == task}
            vals = [(v[task].get(spec.main_metric), cid in flags) for cid, v in m.record["per_clip"].items()
                    if task in v and v[task].get(spec.main_metric) is not None]
            series.append([x for x, _ in vals])
            flagged.append([x for x, f in vals if f])
        if not any(series):
            continue
        fig, ax = plt.subplots(figsize=(6.5, 0.55 * len(methods) + 1.4))
        ys = np.arange(len(methods))[::-1]
        for y, values, bad in zip(ys, series, flagged):
            if values:
                ax.boxplot(values, positions=[y], widths=0.5, showfliers=False, **_horizontal())
                jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(values))
                ax.scatter(values, y + jitter, s=8, color="#4c72b0", alpha=0.6, zorder=3)
            if bad:
                ax.scatter(bad, [y] * len(bad), s=30, marker="x", color="#b00020", zorder=4)
        ax.set_yticks(ys)
        ax.set_yticklabels([m.name for m in methods], fontsize=8)
        arrow = "higher" if spec.higher_is_better else "lower"
        ax.set_xlabel(f"{task}.{spec.main_metric} per clip ({arrow} is better; x = flagged clip)", fontsize=8)
        ax.tick_params(labelsize=8)
        fig.tight_layout()
        path = out_dir / "plots" / f"{task}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        out[task] = path.relative_to(out_dir)
    return out


def _horizontal() -> dict:
    import matplotlib

    major_minor = tuple(int(x) for x in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if major_minor >= (3, 10) else {"vert": False}
