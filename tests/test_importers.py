"""facebench predictions import: per-frame depth files, DA3 npz, generic npz -> SPEC §5 folders."""

import json

import numpy as np
import pytest
from PIL import Image

from facebench.errors import InputError
from facebench.evaluate import evaluate
from facebench.io.depth_files import natural_key, read_depth, read_pfm, write_pfm
from facebench.io.importers import import_predictions, resize_map
from tests.gt_fixtures import gt_arrays, make_gt

CID = "901/EXP-1-head/222200037"


@pytest.fixture(scope="module")
def gt(tmp_path_factory):
    return make_gt(tmp_path_factory.mktemp("gt") / "gt", participants=("901",))


def clip_ids(gt):
    from facebench.io.shards import GTReader

    with GTReader(gt) as reader:
        return reader.clip_ids


def write_frames(gt, src, fmt, *, scale=1.0, names=lambda t: f"frame_{t}", upsample=1, drop=None):
    """Each clip's GT depth as per-frame files (NaN -> 0), optionally at 2x resolution."""
    for cid in clip_ids(gt):
        folder = src / cid
        folder.mkdir(parents=True)
        depth = np.nan_to_num(gt_arrays(gt, cid)["depth"])
        depth = depth.repeat(upsample, 1).repeat(upsample, 2)
        for t, frame in enumerate(depth):
            if drop == (cid, t):
                continue
            path = folder / f"{names(t)}.{fmt}"
            if fmt == "npy":
                np.save(path, frame / scale)
            elif fmt == "png":
                Image.fromarray(np.round(frame / scale).astype(np.uint16)).save(path)
            elif fmt == "pfm":
                write_pfm(path, frame / scale)
    return src


def test_natural_sort_and_pfm_roundtrip(tmp_path):
    names = ["f10.npy", "f2.npy", "f1.npy"]
    assert sorted(names, key=natural_key) == ["f1.npy", "f2.npy", "f10.npy"]
    depth = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    write_pfm(tmp_path / "d.pfm", depth)
    np.testing.assert_array_equal(read_pfm(tmp_path / "d.pfm"), depth)
    depth[0, 0] = 0
    write_pfm(tmp_path / "z.pfm", depth)
    assert np.isnan(read_depth(tmp_path / "z.pfm", "pfm")[0, 0])


def test_resize_map_by_hand():
    maps = np.array([[[0.0, 1.0], [2.0, 3.0]]])
    out = resize_map(maps, 4, 4)
    np.testing.assert_allclose(out[0, 0], [0, 0.25, 0.75, 1])
    np.testing.assert_allclose(out[0, 3], [2, 2.25, 2.75, 3])
    with pytest.raises(InputError, match="another aspect ratio"):
        resize_map(np.zeros((1, 4, 4)), 8, 6, "x.npy")


@pytest.mark.parametrize("fmt, scale", [("npy", 1.0), ("pfm", 1.0), ("png", 0.0001)])
def test_depth_frames_score_as_the_gt(gt, tmp_path, fmt, scale):
    src = write_frames(gt, tmp_path / "src", fmt, scale=scale, names=lambda t: f"f{t * 5}")  # f0 f5 f10
    out = tmp_path / "preds"
    meta = import_predictions(fmt, src, gt, out, depth_scale=scale if fmt == "png" else None, progress=False)
    assert meta["depth_scale"] == "metric" and meta["method"] == "src" and meta["clips"] == 2
    rmse = evaluate(out, gt=gt, progress=False)["metrics"]["depth"]["rmse_mm"]
    assert rmse < (0.05 if fmt == "png" else 1e-3)  # 16-bit PNG at 0.1 mm steps


def test_frames_at_twice_the_resolution_are_resized(gt, tmp_path):
    src = write_frames(gt, tmp_path / "src", "npy", upsample=2)
    import_predictions("npy", src, gt, tmp_path / "preds", progress=False)
    record = evaluate(tmp_path / "preds", gt=gt, progress=False)
    assert record["counts"]["tasks"]["depth"]["clips_scored"] == 2


def test_mismatches_name_the_file(gt, tmp_path):
    src = write_frames(gt, tmp_path / "missing", "npy", drop=(CID, 1))
    with pytest.raises(InputError, match=r"missing/901/EXP-1-head/222200037: 2 npy frames, the clip has 3"):
        import_predictions("npy", src, gt, tmp_path / "p1", progress=False)
    src = write_frames(gt, tmp_path / "rgb", "png")
    Image.new("RGB", (6, 8)).save(src / CID / "frame_0.png")
    with pytest.raises(InputError, match=r"frame_0.png: is a RGB PNG, expected 16-bit"):
        import_predictions("png", src, gt, tmp_path / "p2", progress=False)


def test_exr_without_openexr_is_one_line(gt, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "OpenEXR", None)  # import fails
    for cid in clip_ids(gt):
        (tmp_path / "src" / cid).mkdir(parents=True)
        for t in range(3):
            (tmp_path / "src" / cid / f"{t}.exr").write_bytes(b"v/1\x01")
    with pytest.raises(InputError, match=r"0.exr: reading .exr needs the OpenEXR package \(pip"):
        import_predictions("exr", tmp_path / "src", gt, tmp_path / "preds", progress=False)


def test_exr_when_openexr_is_installed(gt, tmp_path):
    OpenEXR = pytest.importorskip("OpenEXR")
    for cid in clip_ids(gt):
        (tmp_path / "src" / cid).mkdir(parents=True)
        for t, frame in enumerate(np.nan_to_num(gt_arrays(gt, cid)["depth"])):
            header = {"type": OpenEXR.scanlineimage, "compression": OpenEXR.ZIP_COMPRESSION}
            with OpenEXR.File(header, {"Z": frame.astype(np.float32)}) as f:
                f.write(str(tmp_path / "src" / cid / f"{t:04d}.exr"))
    import_predictions("exr", tmp_path / "src", gt, tmp_path / "preds", progress=False)
    assert evaluate(tmp_path / "preds", gt=gt, progress=False)["metrics"]["depth"]["rmse_mm"] < 1e-3


def test_da3_raw_predictions(gt, tmp_path):
    """Face Anything's raw_predictions.npz at the network's 2x resolution, depth at half scale."""
    for cid in clip_ids(gt):
        g = gt_arrays(gt, cid)
        up = lambda a: a.repeat(2, 1).repeat(2, 2)  # noqa: E731
        valid = np.isfinite(up(g["depth"]))
        folder = tmp_path / "fa" / cid
        folder.mkdir(parents=True)
        np.savez_compressed(folder / "raw_predictions.npz", depth=np.nan_to_num(up(g["depth"])) * 0.5,
                            canonical=np.nan_to_num(up(g["canonical"])), valid=valid,
                            conf=np.ones(valid.shape, np.float32), intrinsics=np.zeros((3, 3, 3)),
                            extrinsics=np.zeros((3, 4, 4)))
    out = tmp_path / "preds"
    meta = import_predictions("da3", tmp_path / "fa", gt, out, method="fa", progress=False)
    assert meta["depth_scale"] == "relative" and meta["canonical_space"] == "face-anything"
    assert json.loads((out / "meta.json").read_text())["method"] == "fa"
    arrays = np.load(out / f"{CID}.npz")
    assert set(arrays.files) == {"depth", "canonical", "confidence"} and arrays["depth"].shape == (3, 8, 6)
    np.testing.assert_allclose(arrays["depth"] * 2, gt_arrays(gt, CID)["depth"], rtol=1e-6)


def test_generic_npz_with_renamed_key(gt, tmp_path):
    for cid in clip_ids(gt):
        (tmp_path / "src" / cid).parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp_path / "src" / f"{cid}.npz", pred_depth=gt_arrays(gt, cid)["depth"])
    with pytest.raises(InputError, match=r"222200037.npz: holds none of the keys"):
        import_predictions("npz", tmp_path / "src", gt, tmp_path / "p0", progress=False)
    import_predictions("npz", tmp_path / "src", gt, tmp_path / "preds", keys={"depth": "pred_depth"},
                       progress=False)
    assert evaluate(tmp_path / "preds", gt=gt, progress=False)["metrics"]["depth"]["rmse_mm"] == 0


def test_cli_import(gt, tmp_path):
    from click.testing import CliRunner

    from facebench.cli import cli

    src = write_frames(gt, tmp_path / "mymodel", "npy")
    result = CliRunner().invoke(cli, ["predictions", "import", str(src), "--format", "npy", "--gt", str(gt),
                                      "--out", str(tmp_path / "preds"), "--relative"])
    assert result.exit_code == 0, result.output
    assert "mymodel: imported 2 clips (npy, depth relative)" in result.output
