"""The report and the site in a real headless browser (skipped where Chromium is not installed).

Chromium renders the page and runs its inline script; the DOM it dumps must hold the
rendered tables and the mark the sorting script leaves on <body> (data-sortable = number
of sortable tables wired).  CI installs Chromium (.ci/run), so it runs there.
"""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from facebench.leaderboard.site import build_site

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium); the browser check runs "
                             "where it is")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def dump_dom(page: Path) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_site_page_renders_and_its_script_runs(tmp_path):
    root = Path(__file__).resolve().parents[1]
    build_site(root / "leaderboards", tmp_path / "site")
    stem = next((root / "leaderboards").glob("*.csv")).stem
    dom = dump_dom(tmp_path / "site" / f"{stem}.html")
    assert re.search(r"<body[^>]*data-sortable=\"1\"", dom)
    assert dom.count("<tr>") >= 4 and "facebench-transformer-tiny" in dom


def test_comparison_report_renders(tmp_path):
    import numpy as np

    from facebench.evaluate import evaluate
    from facebench.report import write_comparison
    from tests.gt_fixtures import make_gt, write_preds

    gt = make_gt(tmp_path / "gt", H=16, W=12)
    results = []
    for name, d in (("a", 0.01), ("b", 0.02)):
        preds = write_preds(gt, tmp_path / name, meta={"method": name, "benchmark": "synth-v1"},
                            transform=lambda cid, x, d=d: dict(x, canonical=x["canonical"] + np.float32(d)))
        evaluate(preds, gt=gt, out=tmp_path / f"{name}.json", progress=False)
        results.append(tmp_path / f"{name}.json")
    index = write_comparison(gt, results, out_dir=tmp_path / "report", progress=False)
    dom = dump_dom(index)
    tables = int(re.search(r"<body[^>]*data-sortable=\"(\d+)\"", dom).group(1))
    assert tables >= 3                                   # summary, regions, per clip
    assert "id=\"m-a\"" in dom and "id=\"m-b\"" in dom and dom.count("<img") >= 4


def test_sorting_script_orders_numbers_text_and_blanks(tmp_path):
    from facebench.leaderboard.webpage import num_cell, page, table, text_cell

    rows = [[text_cell(n), num_cell(v)] for n, v in (("b", 10.0), ("a", 2.0), ("d", None), ("c", 33.0))]
    text = page("t", [table(["name", "value"], rows)])
    clicks = """<script>var th=document.querySelectorAll('th');
function order(){return Array.prototype.map.call(document.querySelectorAll('tbody tr'),
function(r){return r.cells[0].textContent}).join('')}
var out=[];th[1].click();out.push(order());th[1].click();out.push(order());th[0].click();out.push(order());
document.body.dataset.orders=out.join(',');</script>"""
    page_path = tmp_path / "sort.html"
    page_path.write_text(text.replace("</body>", clicks + "</body>"))
    dom = dump_dom(page_path)
    # ascending numbers, blank last; descending, blank still last; names alphabetically
    assert 'data-orders="abcd,cbad,abcd"' in dom
