"""The comparison report: tables, flags, regions, shared error scales, panels, CLI, error cases."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facebench.cli import cli
from facebench.errors import InputError
from facebench.evaluate import evaluate
from facebench.report import images, write_comparison
from facebench.report.compare_maps import nice_ceiling, region_sums, shared_range
from facebench.report.compare_panel import colour_bar, error_to_rgb
from tests.gt_fixtures import make_gt, write_preds

BROKEN = "903/EXP-1-head/222200038"


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """GT (6 clips of 16x12 px) and three records: good, bad (one outlier clip), gone (no preds)."""
    root = tmp_path_factory.mktemp("cmp")
    gt = make_gt(root / "gt", H=16, W=12, participants=("901", "902", "903"))
    records = {}
    for name, delta in (("good", 0.01), ("bad", 0.03), ("gone", 0.02)):
        def transform(cid, a, delta=delta, name=name):
            a["depth"] = a["depth"] + np.float32(delta / 10)
            far = 20 if name == "bad" and cid == BROKEN else 1
            a["canonical"] = a["canonical"] + np.float32(delta * far)
            return a
        preds = write_preds(gt, root / name, transform=transform,
                            meta={"method": name, "benchmark": "synth-v1", "params": 7})
        records[name] = evaluate(preds, gt=gt, out=root / f"{name}.json", progress=False)
    import shutil

    shutil.rmtree(root / "gone")
    return root, gt, records


def test_helpers_by_hand():
    assert [nice_ceiling(x) for x in (0.7, 1.0, 1.2, 3, 7, 40, 0, np.nan)] == [1, 1, 2, 5, 10, 50, 1, 1]
    assert shared_range([np.array([1.0, 2.0, np.nan]), None, np.array([np.nan])], percentile=100) == 2
    # median over methods of their maxima (2, 3, 900): one very bad method does not set the scale
    assert shared_range([np.array([2.0]), np.array([3.0]), np.array([900.0])], percentile=100) == 5
    err = np.array([[[1.0, 3.0], [np.nan, 5.0]]])
    mask = np.array([[[1, 1], [2, 3]]], np.uint8)
    assert region_sums(err, mask) == {1: (4.0, 2), 3: (5.0, 1)}
    rgb = error_to_rgb(np.array([[0.0, 10.0, 50.0, np.nan]]), 10.0)
    assert rgb[0, 1].tolist() == rgb[0, 2].tolist() != rgb[0, 0].tolist()      # saturates at vmax
    assert rgb[0, 3].tolist() == list(images.INVALID_RGB)
    bar = colour_bar(120, 80, 20.0)
    assert bar.shape == (120, 80, 3) and bar[0, 0].tolist() == [255, 255, 255]


def test_report_compares_every_method(scored, tmp_path):
    root, gt, records = scored
    index = write_comparison(gt, [root / "good.json", root / "bad.json", root / "gone.json"],
                             out_dir=tmp_path / "r", max_clips=2, progress=False)
    text = index.read_text()
    assert "cdn" not in text.lower() and "http" not in text            # self-contained
    for name in ("good", "bad", "gone"):
        assert f"id='m-{name}'" in text
    # the main-metric table has one column per task's main metric, best value in bold
    assert "canonical.mean_mm ↓" in text and "tracking_2d.average_jaccard ↑" in text
    good_mm = records["good"]["metrics"]["canonical"]["mean_mm"]
    assert f"<td data-v='{good_mm!r}' class='best'>" in text
    # the outlier clip of "bad" is flagged, with its reason, and marked in the per-clip table
    assert [f["clip"] for f in records["bad"]["flags"]] == [BROKEN]
    assert f"<td class='text'>{BROKEN}</td>" in text and "is an outlier" in text and "⚑" in text
    # per-clip table: sortable, one row per clip, one column per task x method
    clip_table = text[text.index("<h2 id='clips'>"):text.index("<h2 id='panels'>")]
    assert "class='sortable'" in clip_table and clip_table.count("<tr>") == 1 + 6
    assert "canonical.mean_mm · bad" in clip_table
    # regions: face / other template region / off-template, both map tasks
    assert "canonical mean error mm: off-template" in text and "depth mean error mm: face" in text
    # distribution plots per task and panels for the first two clips only
    plots = re.findall(r"src='(plots/[a-z_0-9]+\.png)'", text)
    assert plots == [f"plots/{t}.png" for t in ("depth", "canonical", "tracking_2d", "tracking_3d")]
    panels = re.findall(r"src='(panels/[^']+\.png)'", text)
    assert len(panels) == 2 and all((tmp_path / "r" / p).is_file() for p in panels + plots)


def test_panel_rows_share_one_error_scale(scored, tmp_path):
    root, gt, _ = scored
    write_comparison(gt, [root / "good.json", root / "bad.json"], out_dir=tmp_path / "r", max_clips=1,
                     progress=False)
    png = next((tmp_path / "r" / "panels").glob("*.png"))
    img = np.asarray(Image.open(png))
    k = images.upscale_factor(16, 12)
    row_h = images.TITLE_H + images.LABEL_H + 16 * k
    assert img.shape[0] == 3 * row_h                      # GT row + two methods
    tile_w = 12 * k
    col = 4 * (tile_w + images.GAP)                        # canonical error column
    top = images.TITLE_H + images.LABEL_H
    good = img[row_h + top:2 * row_h, col:col + tile_w].reshape(-1, 3)
    bad = img[2 * row_h + top:3 * row_h, col:col + tile_w].reshape(-1, 3)
    # "bad" is 3x farther off than "good": on one scale its errors are darker (lower RGB sum)
    valid = lambda p: p[(p != images.INVALID_RGB).any(axis=1)]   # noqa: E731
    assert valid(bad).sum(axis=1).mean() < valid(good).sum(axis=1).mean() - 50


def test_missing_predictions_keep_tables_and_say_why(scored, tmp_path):
    root, gt, _ = scored
    text = write_comparison(gt, [root / "gone.json"], out_dir=tmp_path / "r", max_clips=1,
                            progress=False).read_text()
    assert "id='m-gone'" in text and "<h2 id='panels'>Panels (1 clips)</h2>" in text


def test_errors_are_one_line(scored, tmp_path):
    root, gt, records = scored
    other = make_gt(tmp_path / "other", H=16, W=12, seed=5)
    with pytest.raises(InputError, match="scored against another GT"):
        write_comparison(other, [root / "good.json"], out_dir=tmp_path / "r", progress=False)
    with pytest.raises(InputError, match="results record not found"):
        write_comparison(gt, [root / "nope.json"], out_dir=tmp_path / "r", progress=False)
    foreign = dict(records["good"], benchmark={"name": "nersemble-v1", "version": 1})
    with pytest.raises(InputError, match="different benchmarks"):
        write_comparison(gt, [records["good"], foreign], out_dir=tmp_path / "r", progress=False)


def test_cli_report(scored, tmp_path):
    root, gt, _ = scored
    out = tmp_path / "cli"
    result = CliRunner().invoke(cli, ["report", "--gt", str(gt), "--results", str(root / "good.json"),
                                      str(root / "bad.json"), "--out", str(out), "--max-clips", "1",
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "id='m-bad'" in (out / "index.html").read_text()
    result = CliRunner().invoke(cli, ["report", "--gt", str(gt), "--out", str(out)])
    assert result.exit_code != 0


def test_record_names_its_predictions(scored):
    root, _, records = scored
    assert records["good"]["predictions"] == str((root / "good").resolve())
    assert json.loads((root / "good.json").read_text())["predictions"] == records["good"]["predictions"]


def test_temporal_table_and_per_clip_plots(scored, tmp_path):
    from facebench.report.compare_temporal import clip_curves

    root, gt, records = scored
    index = write_comparison(gt, [root / "good.json", root / "bad.json", root / "gone.json"],
                             out_dir=tmp_path / "r", max_clips=2, progress=False)
    text = index.read_text()
    section = text[text.index("<h2 id='temporal'>"):text.index("<h2 id='flags'>")]
    assert "canonical.jitter_median_mm ↓" in section and "depth.flicker_mm ↓" in section
    good = records["good"]["metrics"]["canonical"]["jitter_median_mm"]
    assert good is not None and f"data-v='{good!r}'" in section
    curves = re.findall(r"src='(temporal/[^']+\.png)'", text)
    assert len(curves) == 2 and all((tmp_path / "r" / c).is_file() for c in curves)
    # the curves are the scorer's own per-frame numbers: their clip summary is the record's
    from facebench.benchmarks import get_benchmark
    from facebench.io.predictions import load_prediction
    from facebench.io.shards import GTReader

    with GTReader(gt) as reader:
        cid = reader.clip_ids[0]
        clip, info = reader.clip(cid), reader.clip_info(cid)
        pred = load_prediction(root / "good", cid, info)
        c = clip_curves(pred, clip, get_benchmark("synth-v1"), reader.scale, info["W"], info["H"])
    flicker = records["good"]["per_clip"][cid]["depth"]["flicker_mm"]
    assert set(c) == {"canonical", "depth", "tracking_2d"} and len(c["depth"]) == info["T"]
    assert np.isnan(c["depth"][0]) and (flicker is None or flicker >= 0)
