"""Leaderboards: merging, replacing, ranking (both directions, ties), refusals, Markdown, PNG, CLI."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from facebench.cli import cli
from facebench.errors import FacebenchError, ValidationError
from facebench.leaderboard import benchmark_info, publish, show, table
from facebench.leaderboard.records import higher_is_better, load_record
from facebench.leaderboard.render import markdown


def write_record(path, method, abs_rel, mean_mm=5.0, aj=0.5, version=1, manifest="a" * 64,
                 benchmark="toy", runtime=0.1):
    record = {
        "schema_version": 1,
        "facebench_version": "0.1.0",
        "benchmark": {"name": benchmark, "version": version},
        "gt_manifest_sha256": manifest,
        "method": {"method": method, "benchmark": benchmark, "runtime_s_per_frame": runtime},
        "metrics": {
            "depth": {"abs_rel": abs_rel, "delta_1.25": 1.0 - abs_rel},
            "canonical": {"mean_mm": mean_mm},
            "tracking_2d": {"average_jaccard": aj},
        },
        "per_clip": {},
        "counts": {},
        "protocol": {},
        "elapsed_s": 1.0,
    }
    path.write_text(json.dumps(record))
    return path


@pytest.fixture
def ranked_by(monkeypatch):
    """Pretend the benchmark 'toy' ranks by a given column and direction."""
    def set_main(column, higher):
        monkeypatch.setattr(table, "main_metric", lambda name: (column, higher))
    set_main("depth.abs_rel", False)
    return set_main


def test_publish_writes_csv_md_png_with_the_documented_columns(tmp_path, ranked_by):
    paths = publish([write_record(tmp_path / "a.json", "alpha", 0.2),
                     write_record(tmp_path / "b.json", "beta", 0.1)], out=tmp_path / "lb")
    assert [p.name for p in paths] == ["toy-v1.csv", "toy-v1.md", "toy-v1.png"]
    df = pd.read_csv(paths[0])
    assert list(df.columns) == [
        "rank", "method", "benchmark", "benchmark_version",
        "depth.abs_rel", "depth.delta_1.25", "canonical.mean_mm", "tracking_2d.average_jaccard",
        "flagged_clips", "alignment", "runtime_s_per_frame", "facebench_version", "gt_manifest_sha256",
        "date", "results_sha256"]
    assert list(df["method"]) == ["beta", "alpha"]          # lower abs_rel first
    assert list(df["rank"]) == [1, 2]
    assert df["depth.abs_rel"].tolist() == [0.1, 0.2]
    assert len(df["results_sha256"].iloc[0]) == 64
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_flagged_clip_count_and_alignment_show_beside_each_row(tmp_path, ranked_by, capsys):
    flagged = write_record(tmp_path / "f.json", "flaky", 0.3)
    data = json.loads(flagged.read_text())
    data["per_clip"] = {"1/a/x": {}, "1/a/y": {}}
    data["protocol"] = {"depth": {"alignment": "median"}, "canonical": {"alignment": "similarity"}}
    data["flags"] = [{"clip": "1/a/x", "task": "depth", "kind": "outlier", "reason": "r"},
                     {"clip": "1/a/x", "task": "canonical", "kind": "alignment", "reason": "r"},
                     {"clip": "1/a/y", "task": "canonical", "kind": "outlier", "reason": "r"}]
    flagged.write_text(json.dumps(data))
    clean = write_record(tmp_path / "c.json", "clean", 0.1)
    data = json.loads(clean.read_text())
    data["flags"] = []
    clean.write_text(json.dumps(data))
    old = write_record(tmp_path / "o.json", "old", 0.2)       # from before flags existed
    paths = publish([flagged, clean, old], out=tmp_path / "lb")
    df = pd.read_csv(paths[0])
    assert dict(zip(df["method"], df["flagged_clips"].fillna(-1))) == {"clean": 0, "old": -1, "flaky": 2}
    assert df.loc[df["method"] == "flaky", "alignment"].item() == "depth=median canonical=similarity"
    md = paths[1].read_text()
    assert "| 1 | clean | 0 |" in md and "| 2 | old | – |" in md and "| 3 | flaky | 2 |" in md
    assert "`depth=median canonical=similarity`" in md
    text = show("toy", directory=tmp_path / "lb")
    assert "flagged" in text.splitlines()[1]


def test_republishing_a_method_replaces_its_row_and_merging_keeps_others(tmp_path, ranked_by):
    out = tmp_path / "lb"
    publish([write_record(tmp_path / "a.json", "alpha", 0.2)], out=out)
    publish([write_record(tmp_path / "b.json", "beta", 0.3)], out=out)
    df = pd.read_csv(out / "toy-v1.csv")
    assert list(df["method"]) == ["alpha", "beta"]
    publish([write_record(tmp_path / "a2.json", "alpha", 0.5)], out=out)   # alpha got worse
    df = pd.read_csv(out / "toy-v1.csv")
    assert list(df["method"]) == ["beta", "alpha"]
    assert df.set_index("method").loc["alpha", "depth.abs_rel"] == 0.5
    assert len(df) == 2


def test_ranking_higher_is_better_and_ties_by_method_name(tmp_path, ranked_by):
    ranked_by("tracking_2d.average_jaccard", True)
    recs = [write_record(tmp_path / f"{m}.json", m, 0.1, aj=aj)
            for m, aj in [("zeta", 0.7), ("beta", 0.9), ("alpha", 0.7), ("gamma", 0.2)]]
    df = pd.read_csv(publish(recs, out=tmp_path / "lb")[0])
    assert list(df["method"]) == ["beta", "alpha", "zeta", "gamma"]
    assert list(df["rank"]) == [1, 2, 3, 4]
    # the order of the inputs does not matter
    df2 = pd.read_csv(publish(recs[::-1], out=tmp_path / "lb2")[0])
    assert df2.drop(columns="date").equals(df.drop(columns="date"))


def test_missing_main_metric_ranks_last(tmp_path, ranked_by):
    ranked_by("tracking_3d.apd3d", True)
    recs = [write_record(tmp_path / "a.json", "b-method", 0.1),
            write_record(tmp_path / "b.json", "a-method", 0.1)]
    df = pd.read_csv(publish(recs, out=tmp_path / "lb")[0])
    assert list(df["method"]) == ["a-method", "b-method"]


def test_mixed_versions_and_manifests_are_refused(tmp_path, ranked_by):
    v1 = write_record(tmp_path / "a.json", "alpha", 0.1, version=1)
    v2 = write_record(tmp_path / "b.json", "beta", 0.1, version=2)
    with pytest.raises(FacebenchError, match="mix versions v1, v2"):
        publish([v1, v2], out=tmp_path / "lb")
    other_gt = write_record(tmp_path / "c.json", "gamma", 0.1, manifest="b" * 64)
    with pytest.raises(FacebenchError, match="ground-truth manifests"):
        publish([v1, other_gt], out=tmp_path / "lb")
    publish([v1], out=tmp_path / "lb")
    with pytest.raises(FacebenchError, match="ground-truth manifests"):   # against the published table
        publish([other_gt], out=tmp_path / "lb")
    assert list(pd.read_csv(tmp_path / "lb" / "toy-v1.csv")["method"]) == ["alpha"]


def test_different_benchmarks_go_to_separate_tables(tmp_path, ranked_by):
    paths = publish([write_record(tmp_path / "a.json", "alpha", 0.1),
                     write_record(tmp_path / "b.json", "alpha", 0.1, benchmark="other", version=3)],
                    out=tmp_path / "lb")
    assert {p.name for p in paths if p.suffix == ".csv"} == {"toy-v1.csv", "other-v3.csv"}


def test_markdown_bolds_the_best_value_per_column_in_its_direction(tmp_path, ranked_by):
    out = tmp_path / "lb"
    publish([write_record(tmp_path / "a.json", "alpha", 0.25, mean_mm=3.0, aj=0.5, runtime=0.2),
             write_record(tmp_path / "b.json", "beta", 0.125, mean_mm=4.0, aj=0.5, runtime=0.4)], out=out)
    text = (out / "toy-v1.md").read_text()
    assert "## Main metrics" in text and "## All metrics" in text
    lines = text.split("## All metrics")[1].splitlines()
    header = next(line for line in lines if line.startswith("| rank"))
    cells = {line.split("|")[2].strip(): [c.strip() for c in line.split("|")[1:-1]]
             for line in lines if line.startswith("| 1") or line.startswith("| 2")}
    names = [c.strip() for c in header.split("|")[1:-1]]
    col = {n.split(" ")[0]: i for i, n in enumerate(names)}
    assert cells["beta"][col["depth.abs_rel"]] == "**0.125**"         # lower is better
    assert cells["alpha"][col["depth.abs_rel"]] == "0.25"
    assert cells["alpha"][col["canonical.mean_mm"]] == "**3**"        # lower is better
    assert cells["beta"][col["depth.delta_1.25"]] == "**0.875**"      # higher is better
    assert cells["alpha"][col["tracking_2d.average_jaccard"]] == "**0.5**"   # a tie: both bold
    assert cells["beta"][col["tracking_2d.average_jaccard"]] == "**0.5**"
    assert cells["alpha"][col["runtime_s_per_frame"]] == "**0.2**"
    assert "depth.abs_rel ↓" in header and "depth.delta_1.25 ↑" in header


def test_markdown_without_main_metric_says_so():
    df = pd.DataFrame([{"rank": 1, "method": "m", "benchmark": "b", "benchmark_version": "1",
                        "depth.abs_rel": 0.1, "runtime_s_per_frame": float("nan"), "facebench_version": "0",
                        "gt_manifest_sha256": "x", "date": "2026-01-01", "results_sha256": "y"}])
    text = markdown(df, None, True)
    assert "No main metric" in text and "**0.1**" in text


def test_show_finds_newest_version_and_hints_unknown_names(tmp_path, ranked_by, capsys):
    out = tmp_path / "lb"
    publish([write_record(tmp_path / "a.json", "alpha", 0.1, version=1)], out=out)
    publish([write_record(tmp_path / "b.json", "beta", 0.1, version=2)], out=out)
    text = show("toy", out)
    assert text.startswith("toy-v2") and "beta" in text and "alpha" not in text
    assert "alpha" in show("toy-v1", out)
    assert "depth.delta_1.25" not in text and "depth.delta_1.25" in show("toy", out, all_columns=True)
    assert "beta" in capsys.readouterr().out
    with pytest.raises(FacebenchError, match=r"did you mean 'toy-v\d'.*available: toy-v1, toy-v2"):
        show("toy-v3", out)


def test_bad_records_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"benchmark": {"name": "x", "version": 1}}))
    with pytest.raises(ValidationError, match=r"invalid results record: \d keys missing \(first: "):
        load_record(bad)
    (tmp_path / "nojson.json").write_text("{")
    with pytest.raises(FacebenchError, match="not valid JSON"):
        load_record(tmp_path / "nojson.json")


def test_directions():
    assert not higher_is_better("depth.abs_rel") and not higher_is_better("canonical.mean_mm")
    assert higher_is_better("tracking_2d.average_jaccard") and higher_is_better("depth.within_5mm")
    assert not higher_is_better("tracking_3d.epe3d_mm")


@pytest.mark.parametrize("spec, expected", [
    ({"main_metric": "depth.abs_rel"}, ("depth.abs_rel", False)),
    ({"main_metric": "tracking_2d.average_jaccard", "direction": "higher"},
     ("tracking_2d.average_jaccard", True)),
    ({"main_metric": {"task": "canonical", "metric": "mean_mm", "direction": "lower"}},
     ("canonical.mean_mm", False)),
    ({"main_metric": "depth.delta_1.25", "higher_is_better": True}, ("depth.delta_1.25", True)),
    ({}, (None, True)),
])
def test_main_metric_shapes(spec, expected):
    assert benchmark_info._parse_main_metric(spec) == expected


def test_cli_publish_and_show(tmp_path, ranked_by):
    runner = CliRunner()
    rec = write_record(tmp_path / "a.json", "alpha", 0.1)
    out = runner.invoke(cli, ["leaderboard", "publish", str(rec), "--out", str(tmp_path / "lb")])
    assert out.exit_code == 0, out.output
    assert "toy-v1.csv" in out.output
    out = runner.invoke(cli, ["leaderboard", "show", "toy", "--dir", str(tmp_path / "lb")])
    assert out.exit_code == 0 and "alpha" in out.output


def test_real_registry_ranks_synth_v1_by_canonical_mean_mm(tmp_path):
    recs = [write_record(tmp_path / "a.json", "alpha", 0.1, mean_mm=7.0, benchmark="synth-v1"),
            write_record(tmp_path / "b.json", "beta", 0.3, mean_mm=2.0, benchmark="synth-v1")]
    paths = publish(recs, out=tmp_path / "lb")
    df = pd.read_csv(paths[0])
    assert paths[0].name == "synth-v1-v1.csv"
    assert list(df["method"]) == ["beta", "alpha"]        # lower canonical.mean_mm wins
    assert "Ranked by `canonical.mean_mm` (lower is better)" in paths[1].read_text()


def test_temporal_columns_appear_without_changing_old_rows(tmp_path, ranked_by):
    """A record with temporal metrics adds their columns (secondary, own Markdown section);
    a row from before they existed keeps its values and shows – there."""
    old = write_record(tmp_path / "old.json", "old", 0.2)
    lb = tmp_path / "lb"
    publish([old], out=lb)
    before = pd.read_csv(lb / "toy-v1.csv")
    new = write_record(tmp_path / "new.json", "new", 0.1)
    record = json.loads(new.read_text())
    record["metrics"]["canonical"].update(jitter_median_mm=0.4, jitter_p90_mm=1.1)
    record["metrics"]["depth"]["flicker_mm"] = 0.7
    new.write_text(json.dumps(record))
    paths = publish([new], out=lb)
    df = pd.read_csv(paths[0])
    cols = list(df.columns)
    assert cols.index("depth.flicker_mm") == cols.index("depth.delta_1.25") + 1    # after depth's own
    assert cols.index("canonical.jitter_p90_mm") == cols.index("canonical.jitter_median_mm") + 1
    old_row = df[df["method"] == "old"].iloc[0]
    assert pd.isna(old_row["canonical.jitter_median_mm"])
    for col in before.columns.drop(["rank"]):
        assert str(old_row[col]) == str(before.iloc[0][col])
    assert higher_is_better("canonical.jitter_median_mm") is False
    text = (lb / "toy-v1.md").read_text()
    section = text.split("## Temporal metrics (secondary)")[1].split("## All metrics")[0]
    assert "canonical.jitter_median_mm ↓" in section and "depth.abs_rel" not in section
    assert "| 1 | new |" in section and "0.4" in section
