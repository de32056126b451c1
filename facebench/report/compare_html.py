"""The comparison report's page: summary, flags, distributions, regions, per-clip table, panels."""

from __future__ import annotations

import html
from pathlib import Path

from facebench.leaderboard.webpage import num_cell, page, slug, table, text_cell
from facebench.report.compare_maps import REGION_NAMES
from facebench.report.compare_temporal import temporal_table

FLAG_MARK = " ⚑"


def render_page(bench, bench_info, gt_dir, methods, panels, plots, regions, fidelity_html: str,
                temporal_plots: dict | None = None) -> str:
    e = html.escape
    title = f"facebench report: {bench_info['name']} v{bench_info['version']}"
    body = [f"<h1>{e(title)}</h1>",
            f"<p class='muted'>{len(methods)} methods; GT: {e(str(gt_dir))}; ranked by "
            f"<code>{e(bench.main_metric)}</code> ({'higher' if bench.higher_is_better else 'lower'} is "
            "better). Click a column header to sort.</p>",
            "<h2 id='summary'>Main metrics</h2>", summary_table(bench, methods),
            "<h2 id='temporal'>Temporal metrics (secondary)</h2>", temporal_table(methods),
            "<h2 id='flags'>Flagged clips</h2>", flags_table(methods, {c for c, _ in panels})]
    if plots:
        body += ["<h2 id='distributions'>Per-clip distributions</h2><div class='plots'>",
                 *(f"<img src='{e(p.as_posix())}' alt='{e(task)} distribution'>"
                   for task, p in plots.items()),
                 "</div>"]
    body += ["<h2 id='regions'>Error by region</h2>", regions_table(bench, methods, regions)]
    body += ["<h2 id='clips'>Per clip</h2>", per_clip_table(bench, methods, {c for c, _ in panels})]
    if fidelity_html:
        body.append(fidelity_html)
    body.append(f"<h2 id='panels'>Panels ({len(panels)} clips)</h2>"
                "<p class='muted'>Rows: GT, then each method. Error maps share one colour scale per clip "
                "(the bars in the GT row); depth error after the benchmark's depth alignment, canonical "
                "error after its canonical alignment; grey = no valid GT or no prediction.</p>")
    temporal_plots = temporal_plots or {}
    for cid, rel in panels:
        curve = temporal_plots.get(cid)
        extra = (f"<br><img src='{e(Path(curve).as_posix())}' alt='{e(cid)} temporal metrics per frame'>"
                 if curve is not None else "")
        body.append(f"<div class='clip' id='clip-{slug(cid)}'><h3>{e(cid)}</h3>"
                    f"<img src='{e(Path(rel).as_posix())}' alt='{e(cid)}'>{extra}</div>")
    return page(title, body)


def _main_columns(bench) -> list[tuple[str, str, bool]]:
    return [(task, spec.main_metric, spec.higher_is_better) for task, spec in bench.tasks.items()]


def _best(values: list, higher: bool):
    finite = [v for v in values if v is not None]
    return (max(finite) if higher else min(finite)) if finite else None


def summary_table(bench, methods) -> str:
    cols = [c for c in _main_columns(bench) if any(c[0] in m.record["metrics"] for m in methods)]
    values = {(t, k): [m.record["metrics"].get(t, {}).get(k) for m in methods] for t, k, _ in cols}
    best = {(t, k): _best(values[(t, k)], h) for t, k, h in cols}
    rows = []
    for i, m in enumerate(methods):
        counts = m.record["counts"]
        flagged = counts.get("flagged_clips") if "flags" in m.record else None
        cells = [f"<td id='m-{slug(m.name)}'>{html.escape(m.name)}</td>",
                 num_cell(flagged, None if flagged is None else str(flagged)),
                 num_cell(counts.get("coverage"), f"{100 * counts.get('coverage', 0):.0f}%")]
        for t, k, _ in cols:
            v = values[(t, k)][i]
            cells.append(num_cell(v, best=v is not None and v == best[(t, k)]))
        alignment = " ".join(f"{t}={p['alignment']}" for t, p in m.record["protocol"].items()
                             if "alignment" in p)
        cells += [text_cell(alignment or "–"), num_cell(m.record["method"].get("runtime_s_per_frame"))]
        rows.append(cells)
    arrows = {True: "↑", False: "↓"}
    headers = ["method", "flagged clips", "coverage", *(f"{t}.{k} {arrows[h]}" for t, k, h in cols),
               "alignment", "runtime s/frame"]
    return table(headers, rows)


def flags_table(methods, drawn: set) -> str:
    rows = []
    for m in methods:
        for f in m.record.get("flags", []):
            href = f"#clip-{slug(f['clip'])}" if f["clip"] in drawn else None
            rows.append([text_cell(m.name), text_cell(f["clip"], href), text_cell(f["task"]),
                         text_cell(f["kind"]), text_cell(f["reason"])])
    unchecked = [m.name for m in methods if "flags" not in m.record]
    note = (f"<p class='muted'>Not checked (records from before failure flags): "
            f"{html.escape(', '.join(unchecked))}.</p>") if unchecked else ""
    if not rows:
        return "<p>No clip flagged.</p>" + note
    return (table(["method", "clip", "task", "kind", "reason"], rows)
            + "<p class='muted'>Flagged clips stay in every mean; see SPEC §7 for the rules.</p>" + note)


def regions_table(bench, methods, regions) -> str:
    cols = [(task, label) for task in ("canonical", "depth") for label in REGION_NAMES
            if any(label in regions[m.name].get(task, {}) for m in methods)]
    if not cols:
        return "<p class='muted'>No region breakdown (no method has depth or canonical maps here).</p>"
    rows = []
    for m in methods:
        cells = [text_cell(m.name)]
        for task, label in cols:
            acc = regions[m.name].get(task, {}).get(label)
            cells.append(num_cell(acc[0] / acc[1] if acc else None))
        rows.append(cells)
    scored = "; ".join(f"{t} scores {', '.join(REGION_NAMES[r] for r in spec.regions)}"
                       for t, spec in bench.tasks.items() if spec.regions)
    headers = ["method", *(f"{task} mean error mm: {REGION_NAMES[label]}" for task, label in cols)]
    return (table(headers, rows) + "<p class='muted'>Mean over clips of each clip's mean error in the "
            f"region (depth and canonical after the benchmark's alignment), every pixel with valid GT; "
            f"the benchmark {html.escape(scored)}.</p>")


def per_clip_table(bench, methods, drawn: set) -> str:
    cols = [c for c in _main_columns(bench)
            if any(c[0] in v for m in methods for v in m.record["per_clip"].values())]
    clip_ids = list(dict.fromkeys(cid for m in methods for cid in m.record["per_clip"]))
    flagged = {m.name: {} for m in methods}
    for m in methods:
        for f in m.record.get("flags", []):
            flagged[m.name].setdefault((f["clip"], f["task"]), []).append(f["reason"])
    rows = []
    for cid in clip_ids:
        href = f"#clip-{slug(cid)}" if cid in drawn else None
        cells = [text_cell(cid, href)]
        for t, k, _ in cols:
            for m in methods:
                v = m.record["per_clip"].get(cid, {}).get(t, {}).get(k)
                reasons = flagged[m.name].get((cid, t))
                why = html.escape("; ".join(reasons or []), quote=True)
                mark = f"<span class='flag' title='{why}'>{FLAG_MARK}</span>" if reasons else ""
                cells.append(num_cell(v, extra=mark))
        rows.append(cells)
    headers = ["clip", *(f"{t}.{k} · {m.name}" for t, k, _ in cols for m in methods)]
    return table(headers, rows) + f"<p class='muted'>{FLAG_MARK} flagged (hover for the reason).</p>"
