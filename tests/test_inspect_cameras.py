"""``facebench inspect-cameras``: the dataset detected like ``prepare`` does, the conventions and figures
printed per camera, an overlay per view and a contact sheet; a misread convention shows and is named."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from PIL import Image

from facebench.cli import cli


@pytest.fixture(scope="module")
def v1(tmp_path_factory):
    from facebench.synth import synthesize

    root = tmp_path_factory.mktemp("inspect") / "v1"
    synthesize(root, preset="tiny", layout="v1", seed=0, participants=["101"], frames=2, stride=3,
               progress=False, threads=1)
    return root


@pytest.fixture(scope="module")
def ava(tmp_path_factory):
    from tests.ava256_builder import build_ava256

    return build_ava256(tmp_path_factory.mktemp("inspect") / "ava", segments={"EXP_neutral_peak": (100,)},
                        image_ext="png").root


def test_detects_each_dataset(v1, ava, tmp_path):
    from facebench.errors import InputError
    from facebench.prepare.inspect_cameras import detect_dataset

    assert detect_dataset(v1) == "nersemble" and detect_dataset(ava) == "ava256"
    (tmp_path / "mf" / "m--x--y--123--GHS").mkdir(parents=True)
    (tmp_path / "mf" / "m--x--y--123--GHS" / "KRT").write_text("")
    assert detect_dataset(tmp_path / "mf") == "multiface"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no participant folders"):
        detect_dataset(tmp_path / "empty")


def test_cli_prints_conventions_and_writes_overlays(v1, tmp_path):
    out = tmp_path / "inspect"
    res = CliRunner().invoke(cli, ["inspect-cameras", str(v1), "--out", str(out), "--frame", "3"])
    assert res.exit_code == 0, res.output
    text = res.output
    assert "nersemble capture" in text and "frame 3" in text and "layout: v1" in text
    assert "world_2_cam = T_cam_from_world" in text and "intrinsics: for 64x96 images" in text
    rows = [line for line in text.splitlines() if line.startswith("2")]  # the serials' rows
    assert len(rows) == 3 and all("64x96" in r and "inside_mask" in r and r.endswith("pass") for r in rows)
    assert "camera check: pass" in text
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert "contact_sheet.png" in pngs and len(pngs) == 4
    tile = Image.open(out / "222200037.png")
    assert tile.height >= 384 and Image.open(out / "contact_sheet.png").width > 3 * 150  # small images zoomed


def test_a_misread_convention_shows_in_the_table_and_is_named(ava, tmp_path):
    from tests import camera_mistakes

    root = tmp_path / "ava"
    shutil.copytree(ava, root)
    camera_mistakes.ava256(next(root.glob("*/decoder")), "swapped")
    res = CliRunner().invoke(cli, ["inspect-cameras", str(root), "--dataset", "ava256", "--out",
                                   str(tmp_path / "o")])
    assert res.exit_code == 0, res.output  # it shows a failing check, it does not stop at it
    assert "K stored transposed, for 2668x4096 images (the Ava-256 sensor)" in res.output
    assert res.output.count("FAIL") >= 2 and "world_2_cam and cam_2_world swapped" in res.output
    assert "camera check: fail: camera check failed for" in res.output


def test_unknown_names_are_one_line(v1, tmp_path):
    from facebench.cli import main

    for args, message in ((["--sequence", "EXP-9"], "no sequence 'EXP-9'"), (["--frame", "7"], "no frame 7"),
                          (["--participant", "5"], "no participant '005'")):
        with pytest.raises(SystemExit) as exit_:
            main(["inspect-cameras", str(v1), "--out", str(tmp_path / "o"), *args])
        assert exit_.value.code == 2, message
