"""A static leaderboard site: an index, one page per benchmark version, method cards, reports.

    from facebench.leaderboard.site import build_site, broken_links
    index = build_site("leaderboards", "site")      # leaderboards/*.csv + leaderboards/results/**.json
    assert broken_links("site") == []

Every page is self-contained (inline CSS and script, local images); links to a
method's comparison report appear when a report folder is given.  Every results
record found is shown on its benchmark version's page, published or not.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

from facebench.errors import FacebenchError
from facebench.leaderboard.webpage import num_cell, page, slug, table, text_cell

META_FIELDS = (("params", "parameters"), ("runtime_s_per_frame", "runtime s/frame"), ("device", "device"),
               ("url", "URL"), ("description", "description"), ("depth_scale", "depth"),
               ("canonical_space", "canonical space"))


def build_site(directory="leaderboards", out="site", *, results=None, reports=None) -> Path:
    """Write the site into ``out``; returns its ``index.html``.

    Args:
        directory: a leaderboards folder (``{benchmark}-v{version}.csv`` and its ``.png``);
            results records under ``directory/results/`` are shown too.
        results: more results record paths to show.
        reports: a folder holding ``{benchmark}-v{version}/index.html`` comparison reports
            (default ``directory/reports``), or a dict ``{stem: report folder}``.
    """
    from facebench.leaderboard.records import load_record
    from facebench.leaderboard.table import read_table, table_stem

    directory, out = Path(directory), Path(out)
    if not directory.is_dir():
        raise FacebenchError(f"{directory}: no such leaderboards folder")
    tables = {p.stem: read_table(p) for p in sorted(directory.glob("*.csv"))}
    paths = sorted(directory.glob("results/**/*.json")) + [Path(p) for p in results or []]
    records: dict[str, list] = {}
    for path in dict.fromkeys(paths):
        rec = load_record(path)
        raw = json.loads(Path(path).read_text())
        records.setdefault(table_stem(rec.benchmark, rec.benchmark_version), []).append((rec, raw))
    stems = sorted(set(tables) | set(records))
    if not stems:
        raise FacebenchError(f"{directory}: no leaderboards (*.csv) and no results records to show")
    out.mkdir(parents=True, exist_ok=True)
    report_dirs = _report_dirs(reports if reports is not None else directory / "reports", stems)
    summaries = []
    for stem in stems:
        df = tables.get(stem)
        chart = directory / f"{stem}.png"
        assets = [p for p in (directory / f"{stem}.csv", directory / f"{stem}.md", chart) if p.is_file()]
        for p in assets:
            shutil.copy2(p, out / p.name)
        report = None
        if stem in report_dirs:
            report = Path("reports") / stem
            shutil.rmtree(out / report, ignore_errors=True)
            shutil.copytree(report_dirs[stem], out / report)
        text = _version_page(stem, df, records.get(stem, []), [p.name for p in assets], report, out)
        (out / f"{stem}.html").write_text(text, encoding="utf-8")
        summaries.append((stem, df, records.get(stem, [])))
    index = out / "index.html"
    index.write_text(_index_page(summaries), encoding="utf-8")
    return index


def _report_dirs(reports, stems) -> dict[str, Path]:
    if isinstance(reports, dict):
        return {s: Path(p) for s, p in reports.items() if (Path(p) / "index.html").is_file()}
    root = Path(reports)
    return {s: root / s for s in stems if (root / s / "index.html").is_file()}


def _bench_text(stem: str, df, recs) -> tuple[str, str | None, bool]:
    """(description, main column, higher is better) of a page's benchmark."""
    from facebench.leaderboard.table import main_metric

    if df is not None and len(df):
        name = str(df["benchmark"].iloc[0])
    else:
        name = recs[0][0].benchmark if recs else stem
    column, higher = main_metric(name)
    try:
        from facebench.benchmarks import get_benchmark

        description = get_benchmark(name).description
    except FacebenchError:
        description = ""
    return description, column, higher


def _version_page(stem, df, recs, assets, report, out: Path) -> str:
    from facebench.leaderboard.render import best_rows, chart_columns, flagged_column

    e = html.escape
    description, column, higher = _bench_text(stem, df, recs)
    body = [f"<p><a href='index.html'>all leaderboards</a></p><h1>{e(stem)}</h1>",
            f"<p>{e(description)}</p>" if description else ""]
    if column:
        direction = "higher" if higher else "lower"
        body.append(f"<p class='muted'>Ranked by <code>{e(column)}</code> ({direction} is "
                    "better). Click a column header to sort; <b>bold</b> is the best value of a column; "
                    "<i>flagged</i> counts clips with a degenerate alignment or an outlier error "
                    "(– for records from before flags existed).</p>")
    by_method = {rec.method: (rec, raw) for rec, raw in recs}
    if df is not None and len(df):
        metrics = list(chart_columns(df, column))
        bold = {c: best_rows(df, c) for c in metrics}
        flagged = flagged_column(df)
        rows = []
        for i in range(len(df)):
            method = str(df["method"].iloc[i])
            cells = [num_cell(int(df["rank"].iloc[i]), str(int(df["rank"].iloc[i]))),
                     text_cell(method, f"#card-{slug(method)}"),
                     num_cell(None if flagged[i] == "–" else int(flagged[i]), flagged[i])]
            cells += [num_cell(_float(df[c].iloc[i]), best=i in bold[c]) for c in metrics]
            cells += [num_cell(_float(df["runtime_s_per_frame"].iloc[i])), text_cell(df["date"].iloc[i])]
            rows.append(cells)
        body += ["<h2>Leaderboard</h2>",
                 table(["rank", "method", "flagged", *metrics, "runtime s/frame", "date"], rows)]
        if f"{stem}.png" in assets:
            body.append(f"<img src='{e(stem)}.png' alt='{e(stem)} chart'>")
    else:
        body.append("<p class='muted'>No published table for this version; the records below are "
                    "not ranked.</p>")
    links = [f"<a href='{e(a)}'>{e(a)}</a>" for a in assets if not a.endswith(".png")]
    if report is not None:
        links.append(f"<a href='{e(report.as_posix())}/index.html'>comparison report</a>")
    if links:
        body.append("<p>Files: " + " · ".join(links) + "</p>")
    methods = list(dict.fromkeys([*(str(m) for m in (df["method"] if df is not None else [])), *by_method]))
    body.append("<h2>Methods</h2><div class='cards'>")
    body += [_card(m, by_method.get(m), df, report, out) for m in methods]
    body.append("</div>")
    return page(f"facebench leaderboard {stem}", body)


def _card(method: str, entry, df, report, out: Path) -> str:
    e = html.escape
    rows = []
    date = None
    if df is not None and method in set(df["method"]):
        row = df.loc[df["method"] == method].iloc[0]
        rows.append(("rank", str(int(row["rank"]))))
        date = str(row["date"])
    else:
        rows.append(("rank", "not in the published table"))
    if entry is not None:
        rec, raw = entry
        meta = raw.get("method", {})
        for key, label in META_FIELDS:
            if meta.get(key) not in (None, ""):
                value = meta[key]
                value = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
                if key == "url" and re.match(r"https?://", value):
                    value = f"<a href='{e(value, quote=True)}'>{e(value)}</a>"
                else:
                    value = e(value)
                rows.append((label, value))
        flagged = "–" if rec.flagged_clips is None else str(rec.flagged_clips)
        rows += [("flagged clips", flagged), ("alignment", e(rec.alignment or "–")),
                 ("coverage", f"{100 * raw.get('counts', {}).get('coverage', 0):.0f}%"),
                 ("facebench", e(rec.facebench_version)), ("date", e(date or rec.date)),
                 ("results sha256", f"<code>{e(rec.results_sha256[:16])}</code>"),
                 ("record", e(rec.path.name if rec.path else "-"))]
    else:
        rows.append(("record", "no results record found"))
    anchor = f"m-{slug(method)}"
    if report is not None and f"id='{anchor}'" in (out / report / "index.html").read_text(errors="replace"):
        rows.append(("report", f"<a href='{e(report.as_posix())}/index.html#{e(anchor)}'>compare</a>"))
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f"<div class='card' id='card-{e(slug(method))}'><h3>{e(method)}</h3><dl>{items}</dl></div>"


def _index_page(summaries) -> str:
    rows = []
    for stem, df, recs in summaries:
        leader = str(df["method"].iloc[0]) if df is not None and len(df) else "–"
        n = len(df) if df is not None else 0
        rows.append([text_cell(stem, f"{stem}.html"), num_cell(n, str(n)),
                     num_cell(len(recs), str(len(recs))), text_cell(leader)])
    body = ["<h1>facebench leaderboards</h1>",
            "<p class='muted'>One page per benchmark version. Generated by "
            "<code>facebench leaderboard site</code>.</p>",
            table(["benchmark version", "methods ranked", "results records", "rank 1"], rows)]
    return page("facebench leaderboards", body)


def _float(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if value != value else value


_LINK = re.compile(r"""(?:href|src)=['"]([^'"]+)['"]""")
_ID = re.compile(r"""\bid=['"]([^'"]+)['"]""")


def broken_links(site_dir) -> list[str]:
    """Local links (href/src) of every HTML page under ``site_dir`` whose file or #anchor is missing."""
    site_dir = Path(site_dir)
    ids: dict[Path, set[str]] = {}
    problems = []
    for page_path in sorted(site_dir.rglob("*.html")):
        text = page_path.read_text(errors="replace")
        for link in _LINK.findall(text):
            link = html.unescape(link)
            if re.match(r"[a-z]+:", link):          # http:, https:, mailto:, data:
                continue
            target, _, anchor = link.partition("#")
            path = (page_path.parent / target).resolve() if target else page_path.resolve()
            if not path.is_file():
                problems.append(f"{page_path.relative_to(site_dir)}: {link} (no such file)")
                continue
            if anchor and path.suffix == ".html":
                if path not in ids:
                    ids[path] = set(_ID.findall(path.read_text(errors="replace")))
                if anchor not in ids[path]:
                    problems.append(f"{page_path.relative_to(site_dir)}: {link} (no such anchor)")
    return problems
