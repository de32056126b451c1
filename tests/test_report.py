"""Visual report: show_clip panel sizes and content, info on each kind of path, HTML report, CLI."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facebench.cli import cli
from facebench.errors import InputError
from facebench.io.shards import Clip, GTWriter, Sequence, Tracks
from facebench.report import images, info, load_fidelity, show_clip, summarize, write_report

T, H, W, N = 3, 48, 32, 5
SERIALS = ("222200037", "222200038")


def make_clip(serial, rng):
    depth = np.full((T, H, W), 0.8, np.float32)
    depth[:, :, :4] = np.nan                              # a band of invalid pixels
    yy, xx = np.mgrid[0:H, 0:W]
    canonical = np.stack([xx / (W - 1) * 2 - 1, yy / (H - 1) * 2 - 1, np.zeros((H, W))], -1)
    canonical = np.broadcast_to(canonical, (T, H, W, 3)).astype(np.float32).copy()
    canonical[:, :, :4] = np.nan
    xy = np.stack([np.linspace(5, 25, N), np.full(N, 20.0)], -1)[:, None].repeat(T, 1).astype(np.float32)
    tracks = Tracks(query_frame=np.zeros(N, np.int32), query_canonical=np.zeros((N, 3), np.float32),
                    xy=xy, xyz=np.ones((N, T, 3), np.float32), visible=np.ones((N, T), bool))
    return Clip(serial=serial, image=rng.integers(0, 255, (T, H, W, 3), dtype=np.uint8),
                mask=np.ones((T, H, W), np.uint8), depth=depth, canonical=canonical,
                K=np.array([[40.0, 0, 15.5], [0, 40.0, 23.5], [0, 0, 1]]), T_cam_from_world=np.eye(4),
                tracks=tracks)


@pytest.fixture(scope="module")
def gt_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gt")
    rng = np.random.default_rng(0)
    writer = GTWriter(out, template={"name": "facebench-head", "sha256": "0" * 64, "center": [0, 0, 0],
                                     "scale": 0.1}, dataset="synth", config={"k": 1}, benchmark="synth-v1")
    seq = Sequence("901", "EXP-1-head", np.arange(T, dtype=np.int32), np.zeros((T, 4, 3), np.float32),
                   clips=[make_clip(s, rng) for s in SERIALS])
    writer.commit(writer.write_sequence(seq, 0))
    return out


@pytest.fixture(scope="module")
def preds_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("preds")
    (out / "meta.json").write_text(json.dumps({"method": "const", "benchmark": "synth-v1"}))
    for serial in SERIALS:
        path = out / "901" / "EXP-1-head" / f"{serial}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, depth=np.full((T, H, W), 0.9, np.float32),
                 tracks_xy=np.full((N, T, 2), 10.0, np.float32), tracks_visible=np.ones((N, T), bool))
    return out


CLIP = f"901/EXP-1-head/{SERIALS[0]}"


def test_colour_maps_are_hand_checkable():
    rgb = images.canonical_to_rgb(np.array([[-1.0, 0.0, 1.0], [np.nan, 0, 0], [3.0, -3.0, 0.0]]))
    assert rgb.tolist() == [[0, 128, 255], list(images.INVALID_RGB), [255, 0, 128]]
    d = images.depth_to_rgb(np.array([[0.5, np.nan]]), 0.0, 1.0)
    assert d[0, 1].tolist() == list(images.INVALID_RGB) and d.dtype == np.uint8
    assert images.upscale_factor(48, 32) == 5 and images.upscale_factor(512, 352) == 1


def test_show_gt_clip_has_four_columns_of_the_expected_size(gt_dir, tmp_path):
    png = show_clip(gt_dir, CLIP, tmp_path / "gt.png")
    img = np.asarray(Image.open(png))
    # 4 tiles of 32*5 px with 3 gaps of 4 px; 22 px title + 18 px captions + 48*5 px maps
    assert img.shape == (22 + 18 + 240, 4 * 160 + 3 * 4, 3)
    assert images.panel_size(4, H, W) == (img.shape[1], img.shape[0])
    top = 22 + 18
    tile_canonical = img[top:, 2 * (160 + 4):2 * (160 + 4) + 160]
    assert tile_canonical[0, 0].tolist() == list(images.INVALID_RGB)       # NaN band on the left
    assert tile_canonical[-1, -1].tolist() == [255, 255, 128]               # canonical (1, 1, 0)


def test_show_prediction_clip_has_six_columns(gt_dir, preds_dir, tmp_path):
    png = show_clip(preds_dir, CLIP, tmp_path / "pred.png", gt=gt_dir, frame=0)
    w, h = Image.open(png).size
    assert (w, h) == images.panel_size(6, H, W) == (6 * 160 + 5 * 4, 280)
    pred_canonical = np.asarray(Image.open(png))[40 + 120, 4 * 164 + 80]
    assert pred_canonical.tolist() == list(images.INVALID_RGB)              # no canonical predicted


def test_show_errors_are_clear(gt_dir, tmp_path):
    with pytest.raises(InputError, match="no clip"):
        show_clip(gt_dir, "901/EXP-1-head/999", tmp_path / "x.png")
    with pytest.raises(InputError, match="outside clip"):
        show_clip(gt_dir, CLIP, tmp_path / "x.png", frame=T)
    with pytest.raises(InputError, match="not a GT folder"):
        show_clip(tmp_path, CLIP, tmp_path / "x.png")


def test_info_on_gt_folder(gt_dir):
    s = summarize(gt_dir)
    assert s["kind"] == "gt"
    f = s["fields"]
    assert f["benchmark"] == "synth-v1" and f["clips"] == 2 and f["cameras"] == ", ".join(SERIALS)
    assert f["frames"].startswith("6 ") and f["resolution"] == "32x48 (2 clips)" and f["tracks"] == 2 * N
    assert "facebench-head" in info(gt_dir)


def test_info_on_predictions_folder(preds_dir):
    s = summarize(preds_dir)
    assert s["kind"] == "preds" and s["fields"]["method"] == "const" and s["fields"]["clips"] == 2
    rows = s["tables"]["keys"]
    assert any(r.startswith("depth") and "in 2 of 2" in r and f"({T}, {H}, {W})" in r for r in rows)
    assert not any(r.startswith("canonical") for r in rows)


def test_info_on_results_record(tmp_path):
    rec = {"schema_version": 1, "facebench_version": "0.1.0", "benchmark": {"name": "synth-v1", "version": 1},
           "gt_manifest_sha256": "a" * 64, "method": {"method": "const"},
           "metrics": {"depth": {"abs_rel": 0.125}}, "per_clip": {CLIP: {}}, "counts": {"clips": 1},
           "protocol": {}, "elapsed_s": 2.0}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(rec))
    s = summarize(path)
    assert s["kind"] == "results" and s["fields"]["benchmark"] == "synth-v1 v1"
    assert s["fields"]["clips scored"] == 1
    assert "depth.abs_rel" in info(path) and "0.125" in info(path)
    path.write_text("[]")
    with pytest.raises(InputError, match="not a results record"):
        summarize(path)


def test_write_report_with_predictions_results_and_fidelity(gt_dir, preds_dir, tmp_path):
    results = {"method": {"method": "const"}, "metrics": {"depth": {"abs_rel": 0.125}},
               "per_clip": {CLIP: {"depth": {"abs_rel": 0.5}}}}
    index = write_report(gt_dir, preds_dir=preds_dir, results=results,
                         fidelity={"depth_error_mm": [0.1, 0.2, 0.4], "canonical": {"mean_mm": 0.3}},
                         out_dir=tmp_path / "report")
    page = index.read_text()
    pngs = sorted(p.name for p in (tmp_path / "report" / "panels").glob("*.png"))
    assert pngs == [f"901__EXP-1-head__{s}.png" for s in SERIALS]
    for name in pngs:
        assert f"panels/{name}" in page
    assert "fidelity.png" in page and (tmp_path / "report" / "fidelity.png").is_file()
    assert "0.125" in page and "0.5" in page and "const" in page


def test_load_fidelity_from_csv(tmp_path):
    path = tmp_path / "fid.csv"
    path.write_text("clip,depth_mm,canonical_mm\na,1.0,2.0\nb,3.0,\n")
    assert load_fidelity(path) == {"depth_mm": [1.0, 3.0], "canonical_mm": [2.0]}


def test_cli_show_and_info(gt_dir, tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["show", str(gt_dir), CLIP, "--out", str(tmp_path / "c.png")])
    assert out.exit_code == 0, out.output
    assert Image.open(tmp_path / "c.png").size == images.panel_size(4, H, W)
    out = runner.invoke(cli, ["info", str(gt_dir)])
    assert out.exit_code == 0 and "clips:" in out.output


def test_zipped_predictions_work_for_info_and_show(gt_dir, preds_dir, tmp_path):
    import shutil

    archive = shutil.make_archive(str(tmp_path / "sub"), "zip", preds_dir)
    s = summarize(archive)
    assert s["kind"] == "preds" and s["fields"]["clips"] == 2 and s["title"] == "predictions (.zip)"
    png = show_clip(archive, CLIP, tmp_path / "z.png", gt=gt_dir)
    assert Image.open(png).size == images.panel_size(6, H, W)
    with pytest.raises(InputError, match="no prediction for clip"):
        show_clip(archive, "901/EXP-1-head/111", tmp_path / "z.png")     # no GT prepared in this home
    only_pred = show_clip(archive, CLIP, tmp_path / "p.png")
    assert Image.open(only_pred).size == images.panel_size(3, H, W)        # pred depth, canonical, tracks
