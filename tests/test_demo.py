"""The whole job (synth, prepare, predict, evaluate, leaderboard, report) on the tiny preset."""

import json
from pathlib import Path

import pandas as pd
import pytest

from facebench.demo import METHODS, run_demo
from facebench.io.shards import validate_gt


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = run_demo(out, preset="tiny", progress=False)
    assert validate_gt(result["gt"]) == [] and validate_gt(result["truth_gt"]) == []
    fidelity = json.loads((out / "fidelity.json").read_text())
    assert fidelity["clips"] == 3 and fidelity["clips_missing"] == 0
    assert fidelity["face_median_mm"] < 3.0  # the prepared GT is close to the exact truth
    board = pd.read_csv(result["leaderboard"])
    assert sorted(board["method"]) == sorted(
        ["facebench-transformer-tiny" if m == "transformer" else m for m in METHODS])
    assert list(board["rank"]) == [1, 2, 3]
    assert board["canonical.mean_mm"].is_monotonic_increasing  # ranked by the main metric
    html = (out / "report" / "index.html").read_text()
    assert "950/EXP-1-head/222200037" in html and (out / "report" / "fidelity.png").exists()
    for method in board["method"]:                   # the comparison report shows every method run
        assert f"id='m-{method}'" in html
    stem = Path(result["leaderboard"]).stem                 # e.g. synth-v2-v1
    site = (out / "site" / f"{stem}.html").read_text()
    assert f"reports/{stem}/index.html#m-template-frontal" in site
    from facebench.leaderboard.site import broken_links

    assert broken_links(out / "site") == []
    # a rerun reuses the capture and resumes the prepared GT
    again = run_demo(out, preset="tiny", progress=False)
    assert again["fidelity"] == result["fidelity"]
