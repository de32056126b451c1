"""The static leaderboard site: built from the committed leaderboards, no broken link, every record shown."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from facebench.cli import cli
from facebench.errors import FacebenchError
from facebench.leaderboard.site import broken_links, build_site

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "leaderboards"


def test_site_from_the_committed_leaderboards(tmp_path):
    index = build_site(COMMITTED, tmp_path / "site")
    assert broken_links(tmp_path / "site") == []
    pages = {p.stem: p.read_text() for p in (tmp_path / "site").glob("*.html")}
    stems = sorted(p.stem for p in COMMITTED.glob("*.csv"))
    assert stems and set(stems) <= set(pages)
    for stem in stems:
        assert f"href='{stem}.html'" in index.read_text()
        assert "class='sortable'" in pages[stem] and f"src='{stem}.png'" in pages[stem]
    records = sorted(COMMITTED.glob("results/**/*.json"))
    assert records, "the repository commits its leaderboard's results records"
    for path in records:
        data = json.loads(path.read_text())
        stem = f"{data['benchmark']['name']}-v{data['benchmark']['version']}"
        page = pages[stem]
        method = data["method"]["method"]
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"id='card-{method}'" in page and sha[:16] in page and path.name in page, path


def test_cards_link_reports_and_unpublished_records(tmp_path):
    board = tmp_path / "board"
    shutil.copytree(COMMITTED, board)
    stem = next(board.glob("*.csv")).stem
    report = board / "reports" / stem
    report.mkdir(parents=True)
    (report / "index.html").write_text("<html><body><table><tr><td id='m-template-frontal'>x</td></tr>"
                                       "</table></body></html>")
    extra = json.loads(next(board.glob("results/**/template-frontal.json")).read_text())
    extra["method"] = dict(extra["method"], method="unpublished-method", url="https://example.org/m")
    (tmp_path / "extra.json").write_text(json.dumps(extra))
    build_site(board, tmp_path / "site", results=[tmp_path / "extra.json"])
    page = (tmp_path / "site" / f"{stem}.html").read_text()
    assert f"href='reports/{stem}/index.html#m-template-frontal'" in page
    assert "id='card-unpublished-method'" in page and "not in the published table" in page
    assert "<a href='https://example.org/m'>" in page
    assert broken_links(tmp_path / "site") == []
    (tmp_path / "site" / f"{stem}.png").unlink()
    (tmp_path / "site" / "index.html").write_text(f"<a href='{stem}.html#nowhere'>x</a>")
    assert sorted(broken_links(tmp_path / "site")) == [
        f"index.html: {stem}.html#nowhere (no such anchor)", f"{stem}.html: {stem}.png (no such file)"]


def test_site_errors_and_cli(tmp_path):
    with pytest.raises(FacebenchError, match="no such leaderboards folder"):
        build_site(tmp_path / "none", tmp_path / "site")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FacebenchError, match="no leaderboards"):
        build_site(tmp_path / "empty", tmp_path / "site")
    result = CliRunner().invoke(cli, ["leaderboard", "site", "--dir", str(COMMITTED), "--out",
                                      str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli" / "index.html").is_file()
