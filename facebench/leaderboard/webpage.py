"""What every facebench HTML page shares (site and reports): style sheet, sorting script, table cells.

Pages are self-contained: the CSS and the script are inlined, images are local
files next to the page; nothing is fetched from a server or a CDN.
"""

from __future__ import annotations

import html
import math
import re

STYLE = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1500px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f2f2f2}td:first-child,th:first-child,td.text{text-align:left}
table.sortable th{cursor:pointer;user-select:none}table.sortable th:after{content:" \\2195";color:#aaa}
table.sortable th[data-dir=asc]:after{content:" \\2191";color:#222}
table.sortable th[data-dir=desc]:after{content:" \\2193";color:#222}
img{max-width:100%}.clip{margin:18px 0}.muted{color:#777}.best{font-weight:bold}
.flag{color:#b00020;font-weight:bold}.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ccc;border-radius:6px;padding:8px 12px;min-width:260px;max-width:420px}
.card h3{margin:4px 0}.card dl{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:6px 0}
.card dt{color:#777}.card dd{margin:0}.plots img{max-width:560px;margin:4px}"""

# Click a header to sort its table (again to reverse); numbers by value (from data-v when
# present), text alphabetically, empty cells last.  Sets body[data-sortable] to the number of
# tables wired, so a headless browser test can tell the script ran.
SORT_JS = """(function(){var n=0;document.querySelectorAll('table.sortable').forEach(function(t){n++;
var hs=t.tHead?t.tHead.rows[0].cells:[];Array.prototype.forEach.call(hs,function(th,i){
th.addEventListener('click',function(){var asc=th.dataset.dir!=='asc';
Array.prototype.forEach.call(hs,function(h){delete h.dataset.dir});th.dataset.dir=asc?'asc':'desc';
var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
function key(r){var c=r.cells[i];if(!c)return null;
var v=c.dataset.v!==undefined?c.dataset.v:c.textContent.trim();
return v===''||v==='\\u2013'?null:v}
rows.sort(function(a,b){var x=key(a),y=key(b);if(x===null&&y===null)return 0;if(x===null)return 1;
if(y===null)return -1;var nx=parseFloat(x),ny=parseFloat(y),c;
c=(!isNaN(nx)&&!isNaN(ny)&&isFinite(x)&&isFinite(y))?nx-ny:String(x).localeCompare(String(y));
return asc?c:-c});rows.forEach(function(r){body.appendChild(r)})})})});
document.body.dataset.sortable=n})();"""


def page(title: str, body: list[str]) -> str:
    """A complete HTML document with the shared style and the sorting script inlined."""
    return "\n".join([
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<meta name='viewport' content='width=device-width'><style>{STYLE}</style></head><body>",
        *body, f"<script>{SORT_JS}</script></body></html>", ""])


def slug(text: str) -> str:
    """An id / file-name-safe form of a method or clip name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-") or "x"


def num_cell(value, text: str | None = None, best: bool = False, extra: str = "") -> str:
    """A table cell holding a number (``data-v`` keeps the exact value for sorting)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"<td data-v=''>–{extra}</td>"
    from facebench.leaderboard.render import fmt

    shown = html.escape(text if text is not None else fmt(value))
    cls = " class='best'" if best else ""
    return f"<td data-v='{float(value)!r}'{cls}>{shown}{extra}</td>"


def table(headers: list[str], rows: list[list[str]], sortable: bool = True, cls: str = "") -> str:
    """``rows`` are lists of ready ``<td>`` cells; ``headers`` plain text (escaped here)."""
    classes = " ".join(c for c in ("sortable" if sortable else "", cls) if c)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f"<table class='{classes}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def text_cell(text, href: str | None = None, title: str | None = None) -> str:
    shown = html.escape(str(text))
    if href:
        shown = f"<a href='{html.escape(href, quote=True)}'>{shown}</a>"
    t = f" title='{html.escape(title, quote=True)}'" if title else ""
    return f"<td class='text'{t}>{shown}</td>"
