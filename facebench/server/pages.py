"""Server-rendered pages: the static site's look (:mod:`facebench.leaderboard.webpage`), live data.

Pure functions from data to HTML; every value is escaped; nothing is fetched from
anywhere else (inline style and script only).  Routes are in :mod:`facebench.server.web`.
"""

from __future__ import annotations

import datetime as dt
import html
import json

from facebench.leaderboard.webpage import num_cell, page, table, text_cell

e = html.escape
EXTRA_STYLE = """<style>nav{display:flex;gap:14px;align-items:center;border-bottom:1px solid #ddd;
padding-bottom:8px;margin-bottom:12px}nav form{margin:0}nav .who{margin-left:auto}
form.box{border:1px solid #ccc;border-radius:6px;padding:12px;max-width:560px}
form.box label{display:block;margin:8px 0 2px}form.box input,form.box select{font-size:14px}
.error{color:#b00020}.state-scored{color:#1b7f2a}.state-failed{color:#b00020}
.state-queued,.state-running{color:#8a6d00}code{font-size:12px}</style>"""
RELOAD_JS = "<script>setTimeout(function(){location.reload()},{ms});</script>"


def when(t) -> str:
    if t is None:
        return "–"
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def layout(title: str, body: list[str], user=None, csrf: str | None = None) -> str:
    who = "<a href='/login'>log in</a>"
    if user is not None:
        who = (f"<span>{e(user.name)}</span><form method='post' action='/logout'>"
               f"<input type='hidden' name='csrf' value='{e(csrf or '')}'><button>log out</button></form>")
    nav = (f"<nav><b>facebench server</b><a href='/'>leaderboards</a><a href='/upload'>upload</a>"
           f"<a href='/me'>my submissions</a><span class='who'></span>{who}</nav>")
    return page(title, [EXTRA_STYLE, nav, *body])


def index_page(tracks: list, user=None, csrf=None) -> str:
    rows = [[text_cell(t.benchmark, f"/leaderboard/{t.benchmark}?phase={t.phase}"), text_cell(t.phase),
             text_cell(_quota_text(t.per_day, t.total)), text_cell(t.gt_manifest_sha256[:16])]
            for t in tracks]
    body = ["<h1>Leaderboards</h1>",
            "<p class='muted'>Submissions are scored by <code>facebench evaluate</code> against GT kept on "
            "this server. <i>test</i> shows aggregate metrics only; <i>validation</i> GT is public.</p>",
            table(["benchmark", "phase", "quota per user", "GT manifest sha256"], rows)]
    return layout("facebench server", body, user, csrf)


def _quota_text(per_day, total) -> str:
    parts = [f"{per_day} per 24 h" if per_day is not None else "",
             f"{total} in total" if total is not None else ""]
    return ", ".join(p for p in parts if p) or "no limit"


def leaderboard_page(board: dict, description: str, user=None, csrf=None) -> str:
    column, higher = board["main_metric"], board["higher_is_better"]
    headline = board["headline_columns"]
    rows = board["rows"]
    best = {c: _best(rows, c) for c in board["columns"]}
    cells = []
    for r in rows:
        flagged = r["flagged_clips"]
        line = [num_cell(r["rank"], str(r["rank"])), text_cell(r["method"]), text_cell(r["user"]),
                num_cell(flagged, str(flagged) if flagged is not None else "–")]
        line += [_metric_cell(r, c, best) for c in headline]
        line += [text_cell(when(r["scored_at"]))]
        cells.append(line)
    title = f"{board['benchmark']} ({board['phase']})"
    body = [f"<h1>{e(title)}</h1>", f"<p>{e(description)}</p>" if description else ""]
    if column:
        direction = "higher" if higher else "lower"
        body.append(f"<p class='muted'>Ranked by <code>{e(column)}</code> ({direction} is better); each "
                    "user's newest scored submission of each method; <i>flagged</i> counts clips "
                    "with a degenerate alignment or an outlier error. Click a column header to sort. "
                    "This page reloads every 30 s.</p>")
    body.append(f"<p class='muted'>GT manifest sha256 <code>{e(board['gt_manifest_sha256'])}</code></p>")
    body.append(table(["rank", "method", "user", "flagged", *headline, "scored"], cells)
                if rows else "<p id='empty'>No scored submission yet.</p>")
    others = [c for c in board["columns"] if c not in headline]
    if rows and others:
        extra = [[text_cell(r["method"]), text_cell(r["user"])]
                 + [_metric_cell(r, c, best) for c in others]
                 for r in rows]
        body.append("<details><summary>all metrics</summary>" + table(["method", "user", *others], extra)
                    + "</details>")
    body.append(RELOAD_JS.replace("{ms}", "30000"))
    return layout(f"facebench leaderboard {title}", body, user, csrf)


def _metric_cell(row: dict, column: str, best: dict) -> str:
    value = row["metrics"].get(column)
    return num_cell(value, best=value is not None and value == best[column])


def _best(rows, column):
    from facebench.leaderboard.records import higher_is_better

    values = [r["metrics"].get(column) for r in rows if r["metrics"].get(column) is not None]
    if not values:
        return None
    return max(values) if higher_is_better(column) else min(values)


def submission_page(sub: dict, user=None, csrf=None) -> str:
    state = sub["state"]
    facts = [("state", f"<span class='state-{e(state)}' id='state'>{e(state)}</span>"),
             ("benchmark", e(f"{sub['benchmark']} ({sub['phase']})")), ("method", e(sub["method"])),
             ("user", e(sub["user"])), ("file", e(f"{sub['filename']} ({sub['size']} bytes)")),
             ("sha256", f"<code>{e(sub['sha256'])}</code>"), ("uploaded", when(sub["created_at"])),
             ("scoring started", when(sub["started_at"])), ("finished", when(sub["finished_at"])),
             ("attempts", str(sub["attempts"]))]
    if sub.get("error"):
        facts.append(("error", f"<span class='error'>{e(sub['error'])}</span>"))
    results = sub.get("results")
    if results:
        facts += [("GT manifest sha256", f"<code>{e(results['gt_manifest_sha256'])}</code>"),
                  ("benchmark version", e(str(results["benchmark"]["version"]))),
                  ("facebench", e(results["facebench_version"]))]
    body = [f"<p><a href='/me'>my submissions</a></p><h1>Submission {e(sub['id'])}</h1>",
            "<div class='card'><dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl></div>"]
    if results:
        body += _results_html(results, sub["phase"])
    if state in ("queued", "running"):
        body.append(RELOAD_JS.replace("{ms}", "2000"))
    return layout(f"facebench submission {sub['id']}", body, user, csrf)


def _results_html(results: dict, phase: str) -> list[str]:
    rows = [[text_cell(task), text_cell(name), num_cell(value)]
            for task, metrics in results["metrics"].items() for name, value in metrics.items()]
    out = ["<h2>Metrics</h2>", table(["task", "metric", "value"], rows, cls="metrics")]
    proto = [[text_cell(task), text_cell(json.dumps(spec, sort_keys=True))]
             for task, spec in results["protocol"].items()]
    out += ["<h2>Protocol</h2>", table(["task", "settings"], proto, sortable=False)]
    if phase == "test":
        counts = [[text_cell(task), text_cell(kind), num_cell(n, str(n))]
                  for task, kinds in results.get("flag_counts", {}).items() for kind, n in kinds.items()]
        out += ["<h2>Flags</h2><p class='muted'>Test phase: how many clips were flagged, not which.</p>",
                table(["task", "kind", "clips"], counts) if counts else "<p>No clip flagged.</p>"]
    else:
        flags = [[text_cell(f["clip"]), text_cell(f["task"]), text_cell(f["kind"]), text_cell(f["reason"])]
                 for f in results.get("flags", [])]
        out += ["<h2>Flags</h2>", table(["clip", "task", "kind", "reason"], flags) if flags
                else "<p>No clip flagged.</p>"]
    return out


def submissions_page(subs: list[dict], user, csrf=None) -> str:
    rows = [[text_cell(x["id"], f"/submissions/{x['id']}"), text_cell(x["benchmark"]), text_cell(x["phase"]),
             text_cell(x["method"]), text_cell(x["state"]), text_cell(when(x["created_at"]))] for x in subs]
    body = ["<h1>My submissions</h1>",
            table(["id", "benchmark", "phase", "method", "state", "uploaded"], rows) if rows
            else "<p>None yet: <a href='/upload'>upload one</a>.</p>"]
    return layout("facebench: my submissions", body, user, csrf)


def login_page(csrf: str, error: str | None = None) -> str:
    body = ["<h1>Log in</h1>", f"<p class='error' id='error'>{e(error)}</p>" if error else "",
            "<form class='box' method='post' action='/login'>"
            f"<input type='hidden' name='csrf' value='{e(csrf)}'>"
            "<label for='token'>API token (from the maintainers: <code>facebench serve user add</code>)"
            "</label>"
            "<input id='token' name='token' type='password' size='60' autocomplete='off' required>"
            "<p><button id='login' type='submit'>log in</button></p></form>"]
    return layout("facebench: log in", body)


def upload_page(tracks: list, user, csrf: str, error=None, problems=None) -> str:
    options = "".join(f"<option value='{e(t.benchmark)}|{e(t.phase)}'>{e(t.benchmark)} ({e(t.phase)})"
                      "</option>" for t in tracks)
    body = ["<h1>Upload a submission</h1>"]
    if error:
        body.append(f"<p class='error' id='error'>{e(error)}</p>")
        if problems and len(problems) > 1:
            body.append("<ul class='error'>" + "".join(f"<li>{e(p)}</li>" for p in problems) + "</ul>")
    body.append("<form class='box' method='post' action='/upload' enctype='multipart/form-data'>"
                f"<input type='hidden' name='csrf' value='{e(csrf)}'>"
                "<label for='track'>benchmark and phase</label>"
                f"<select id='track' name='track'>{options}</select>"
                "<label for='file'>predictions folder as a .zip (meta.json and one .npz per clip)</label>"
                "<input id='file' name='file' type='file' accept='.zip' required>"
                "<p><button id='upload' type='submit'>upload</button></p></form>"
                "<p class='muted'>From a terminal: <code>facebench submit PREDS_DIR --server URL "
                "--token TOKEN --wait</code>.</p>")
    return layout("facebench: upload", body, user, csrf)


def error_page(status: int, message: str, problems=None, user=None, csrf=None) -> str:
    body = [f"<h1>{status}</h1>", f"<p class='error' id='error'>{e(message)}</p>"]
    if problems and len(problems) > 1:
        body.append("<ul>" + "".join(f"<li>{e(p)}</li>" for p in problems) + "</ul>")
    return layout(f"facebench: {status}", body, user, csrf)
