"""Camera I/O on every layout: intrinsics follow the images read, and the camera check that runs
before any fitting passes on correct captures and fails, with the right one-line reason, on each
convention misread on purpose (tests/camera_mistakes.py) in the capture's own calibration file."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facebench.errors import InputError
from facebench.prepare.camera_check import CameraCheckError
from tests import camera_mistakes

LAYOUTS = ("v1", "benchmark", "multiface", "ava256")


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """One small correct capture per layout (built once; tests copy before changing them)."""
    from facebench.synth import synthesize
    from tests.ava256_builder import build_ava256
    from tests.registered_builders import build_multiface

    base = tmp_path_factory.mktemp("cameras")
    out = {}
    for layout in ("v1", "benchmark"):
        synthesize(base / layout, preset="tiny", layout=layout, seed=0, participants=["101"], frames=2,
                   stride=3, progress=False, threads=1)
        out[layout] = base / layout
    out["multiface"] = build_multiface(base / "multiface" / "root", expressions=("E001_Neutral_Eyes_Open",),
                                       frames=2, stride=6)["root"]
    out["ava256"] = build_ava256(base / "ava256" / "root", segments={"EXP_neutral_peak": (100, 103)},
                                 image_ext="png").root
    return out


def _copy(captures, layout, tmp_path) -> Path:
    root = tmp_path / layout
    shutil.copytree(captures[layout], root)
    return root


def camera_check(layout: str, root, native_size=None) -> dict:
    """What ``prepare`` does before fitting: read the sequence's views, run the camera check."""
    from facebench.prepare.config import PipelineConfig, load_config

    if layout in ("v1", "benchmark"):
        from facebench.nersemble import open_capture
        from facebench.prepare.camera_evidence import check_nersemble
        from facebench.prepare.sequence import read_views

        cfg = PipelineConfig.from_dict(load_config())
        with open_capture(root, native_size=native_size) as cap:
            pid = cap.participants()[0]
            seq = cap.sequences(pid)[0]
            ids, serials = cap.frame_ids(pid, seq), cap.cameras(pid, seq)
            views = read_views(cap, pid, seq, serials, ids)
            return check_nersemble(cap, pid, seq, ids, views, cfg)
    from facebench.prepare.camera_evidence import check_registered
    from facebench.prepare.registered import open_registered, read_registered_views, select

    cfg = PipelineConfig.from_dict(load_config(pipeline="registered.yaml"))
    with open_registered(layout, root, native_size) as cap:
        pid, seq, names, ids = select(cap)[0]
        views = read_registered_views(cap, pid, seq, names, ids)
        reg = np.stack([cap.mesh_vertices(pid, seq, int(f)) for f in ids])
        return check_registered(cap, pid, seq, ids, views, reg, cap.mesh_faces(pid), cfg)


def corrupt(layout: str, root: Path, mistake: str, names=None) -> None:
    if layout in ("v1", "benchmark"):
        camera_mistakes.nersemble(root, mistake, names)
    elif layout == "multiface":
        camera_mistakes.multiface(next(root.glob("m--*")), mistake, names)
    else:
        camera_mistakes.ava256(next(root.glob("*/decoder")), mistake, names)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_correct_captures_pass(captures, layout):
    record = camera_check(layout, captures[layout])
    assert record["flag"] == "pass" and not record["failed"]
    main = {"v1": "inside_mask", "benchmark": "inside_mask", "multiface": "photo_r", "ava256": "inside_mask"}
    values = record["figures"][main[layout]]["values"]
    assert len(values) == 3 and all(v is not None for v in values.values())
    limit = record["figures"][main[layout]]["limit"]
    assert min(values.values()) >= limit
    assert min(record["extent"].values()) > 0.1  # the head spans a good part of every image


@pytest.mark.parametrize("mistake", camera_mistakes.MISTAKES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_misread_convention_fails_with_its_reason(captures, layout, mistake, tmp_path):
    root = _copy(captures, layout, tmp_path)
    corrupt(layout, root, mistake)
    with pytest.raises(CameraCheckError) as err:
        camera_check(layout, root)
    message = str(err.value)
    assert "\n" not in message and "camera check failed" in message
    assert camera_mistakes.WORDS[mistake] in message, message
    assert "for every camera" in message


@pytest.mark.parametrize("layout", ("v1", "multiface"))
def test_one_wrong_camera_is_named(captures, layout, tmp_path):
    root = _copy(captures, layout, tmp_path)
    if layout == "v1":
        params = json.loads((root / "101" / "camera_params.json").read_text())
        name = next(s for s in sorted(params["world_2_cam"]) if s != "222200037")  # not the frontal one
    else:
        name = "400002"
    corrupt(layout, root, "swapped", [name])
    with pytest.raises(CameraCheckError, match=f"failed for 1 of 3 cameras.*swapped.* for {name}$"):
        camera_check(layout, root)


def test_transposed_matrices_are_refused_by_the_readers(captures, tmp_path):
    """A whole 4x4 or K transposed is not a rigid pose / pinhole K: the readers say so themselves."""
    from facebench.nersemble import open_capture
    from facebench.registered.ava256 import open_ava256
    from facebench.registered.multiface import open_multiface

    v1 = _copy(captures, "v1", tmp_path)
    path = v1 / "101" / "camera_params.json"
    params = json.loads(path.read_text())
    serial = sorted(params["world_2_cam"])[0]
    params["world_2_cam"][serial] = np.array(params["world_2_cam"][serial]).T.tolist()
    path.write_text(json.dumps(params))
    with pytest.raises(InputError, match="last row"):
        open_capture(v1).camera("101", serial)
    params = json.loads((captures["v1"] / "101" / "camera_params.json").read_text())
    params["intrinsics"] = np.array(params["intrinsics"]).T.tolist()
    path.write_text(json.dumps(params))
    with pytest.raises(InputError, match=r"intrinsics: last row is .* expected \[0, 0, 1\] \(transposed\?\)"):
        open_capture(v1).camera("101", serial)
    mf = _copy(captures, "multiface", tmp_path)
    krt = next(mf.glob("m--*")) / "KRT"
    lines = krt.read_text().splitlines()
    K = np.array([[float(x) for x in lines[i].split()] for i in (1, 2, 3)]).T
    lines[1:4] = [" ".join(f"{x:.10g}" for x in row) for row in K]
    krt.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"camera '400002': K: last row .*\(transposed\?\)"):
        open_multiface(mf).cameras(open_multiface(mf).participants()[0], "E001_Neutral_Eyes_Open")
    ava = _copy(captures, "ava256", tmp_path)
    calib_path = next(ava.glob("*/decoder")) / "camera_calibration.json"
    calib = json.loads(calib_path.read_text())
    calib["KRT"][0]["T"] = np.array(calib["KRT"][0]["T"]).T.tolist()  # world_2_cam itself, not its transpose
    calib_path.write_text(json.dumps(calib))
    with pytest.raises(InputError, match="not a rotation plus translation"):
        with open_ava256(ava) as cap:
            cap.camera(cap.participants()[0], "EXP_neutral_peak", calib["KRT"][0]["cameraId"])


# -- intrinsics follow the images read -------------------------------------------------------------
def _resize_pngs(files, factor: float, nearest: bool) -> None:
    for f in files:
        img = Image.open(f)
        size = (int(round(img.width * factor)), int(round(img.height * factor)))
        img.resize(size, Image.NEAREST if nearest else Image.BILINEAR).save(f)


def _rezip(path: Path, factor: float, nearest: bool, size=None) -> None:
    import io

    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            img = Image.open(io.BytesIO(data))
            size = size or (int(round(img.width * factor)), int(round(img.height * factor)))
            buf = io.BytesIO()
            img.resize(size, Image.NEAREST if nearest else Image.BILINEAR).save(buf, format="PNG")
            zf.writestr(name, buf.getvalue())


def downsample(layout: str, root: Path, factor: float = 0.5) -> None:
    """Every image (and mask, alpha and depth map) of the capture resized by ``factor``."""
    if layout == "v1":
        frames = list(root.glob("101/sequences/*/frame_*"))
        _resize_pngs([f for d in frames for f in d.glob("images-2x-73fps/*.png")], factor, False)
        _resize_pngs([f for d in frames for f in d.glob("alpha_map-73fps/*.png")], factor, True)
        depth = [f for d in frames for f in d.glob("colmap-73fps/depth_maps_compressed/*.png")]
        _resize_pngs(depth, factor, True)
    elif layout == "multiface":
        _resize_pngs(list(root.glob("m--*/images/*/*/*.png")), factor, False)
    else:
        dec = next(root.glob("*/decoder"))
        for z in (dec / "image").glob("*.zip"):
            _rezip(z, factor, False)
        for z in (dec / "segmentation_parts").glob("*.zip"):
            _rezip(z, factor, True)


def _cameras(layout: str, root):
    """{name: Camera as the reader gives it for the first frame's image}."""
    if layout == "v1":
        from facebench.nersemble import open_capture

        with open_capture(root) as cap:
            seq = cap.sequences("101")[0]
            return {s: cap.read_view("101", seq, int(cap.frame_ids("101", seq)[0]), s).camera
                    for s in cap.cameras("101", seq)}
    from facebench.prepare.registered import open_registered, select

    with open_registered(layout, root) as cap:
        pid, seq, names, ids = select(cap)[0]
        return {n: cap.read_view(pid, seq, int(ids[0]), n).camera for n in names}


@pytest.mark.parametrize("layout", ("v1", "multiface", "ava256"))
def test_downsampled_images_get_rescaled_intrinsics(captures, layout, tmp_path):
    """The issue's case: images stored smaller than the calibration's size; K follows them (SPEC §1
    pixel-centre rule) and the camera check passes on the small images."""
    full = _cameras(layout, captures[layout])
    root = _copy(captures, layout, tmp_path)
    downsample(layout, root)
    small = _cameras(layout, root)
    for name, cam in small.items():
        ref = full[name]
        assert (cam.width, cam.height) == (round(ref.width / 2), round(ref.height / 2))
        np.testing.assert_allclose(cam.K, ref.rescaled(cam.width, cam.height).K, atol=1e-6)
        np.testing.assert_array_equal(cam.T_cam_from_world, ref.T_cam_from_world)
    assert camera_check(layout, root)["flag"] == "pass"


def squash(layout: str, root: Path, width: int) -> None:
    """Every image (and map) of the capture resized to ``width`` x ``width``: another aspect ratio."""
    if layout == "ava256":
        dec = next(root.glob("*/decoder"))
        for z in list((dec / "image").glob("*.zip")) + list((dec / "segmentation_parts").glob("*.zip")):
            _rezip(z, 1.0, True, (width, width))
        return
    pattern = {"v1": "101/sequences/*/frame_*/**/*.png", "multiface": "m--*/images/*/*/*.png"}[layout]
    for f in root.glob(pattern):
        Image.open(f).resize((width, width), Image.NEAREST).save(f)


@pytest.mark.parametrize("layout", ("v1", "multiface", "ava256"))
def test_another_aspect_ratio_is_one_line_naming_both_sizes(captures, layout, tmp_path):
    root = _copy(captures, layout, tmp_path)
    cam = next(iter(_cameras(layout, captures[layout]).values()))
    squash(layout, root, cam.width)
    with pytest.raises(InputError) as err:
        _cameras(layout, root)
    message = str(err.value)
    native = {"v1": f"{cam.width}x{cam.height}", "multiface": "1334x2048", "ava256": "2668x4096"}[layout]
    assert "\n" not in message and f"the image is {cam.width}x{cam.width}" in message
    assert f"the intrinsics are for {native} images" in message and "--native-size" in message


def test_a_calibration_already_rescaled_is_named_and_native_size_states_it(captures, tmp_path):
    """A KRT whose K a user rescaled to the stored images: the reader rescales it again (it takes K
    for Multiface's 1334 x 2048); the check names the size K fits, and --native-size fixes it."""
    from facebench.registered.multiface import open_multiface

    root = _copy(captures, "multiface", tmp_path)
    krt = next(root.glob("m--*")) / "KRT"
    with open_multiface(captures["multiface"]) as cap:
        w, h = cap.camera(cap.participants()[0], "E001_Neutral_Eyes_Open", "400002").width, 96
    lines = krt.read_text().splitlines()
    names = [i for i, line in enumerate(lines) if line.strip() and len(line.split()) == 1]
    for i in names:  # each camera's K, rescaled with the pixel-centre rule to the stored images
        K = np.array([[float(x) for x in lines[i + r].split()] for r in (1, 2, 3)])
        sx, sy = w / 1334, h / 2048
        K[0] *= sx
        K[1] *= sy
        K[0, 2] += 0.5 * sx - 0.5
        K[1, 2] += 0.5 * sy - 0.5
        lines[i + 1:i + 4] = [" ".join(f"{x:.10g}" for x in row) for row in K]
    krt.write_text("\n".join(lines) + "\n")
    with pytest.raises(CameraCheckError, match=f"K fits the {w}x{h} images read, not 1334x2048 images as "
                                               f"assumed .*--native-size {w}x{h}"):
        camera_check("multiface", root)
    assert camera_check("multiface", root, native_size=(w, h))["flag"] == "pass"


# -- the same through the command line: one line, nothing fitted, a record on --on-error skip ---------
def test_prepare_fails_the_sequence_before_fitting(captures, tmp_path):
    from click.testing import CliRunner

    from facebench.cli import cli

    root = _copy(captures, "multiface", tmp_path)
    corrupt("multiface", root, "units")
    out = tmp_path / "gt"
    res = CliRunner().invoke(cli, ["prepare", "multiface", str(root), "--out", str(out), "--quiet"])
    assert res.exit_code != 0 and isinstance(res.exception, CameraCheckError)
    assert "units: translations in metres read as millimetres" in str(res.exception)
    res = CliRunner().invoke(cli, ["prepare", "multiface", str(root), "--out", str(out), "--quiet",
                                   "--on-error", "skip"])
    assert res.exit_code == 0, res.output
    assert "1 failed" in res.output and "camera check failed for 3 of 3 cameras" in res.output
    manifest = json.loads((out / "manifest.json").read_text())
    (failure,) = manifest["failures"]
    assert "units" in json.dumps(failure) and not manifest["shards"]
    v1 = _copy(captures, "v1", tmp_path)
    corrupt("v1", v1, "swapped")
    from facebench.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["prepare", "nersemble", "--root", str(v1), "--out", str(tmp_path / "gt1")])
    assert exit_.value.code == 2


def test_native_size_option_is_parsed_and_hashed(tmp_path):
    from facebench.cli.prepare import parse_size
    from facebench.prepare.pipeline import hashed_config
    from facebench.templates import load

    assert parse_size(None, None, "1334x2048") == (1334, 2048) and parse_size(None, None, None) is None
    import click

    with pytest.raises(click.BadParameter, match="WIDTHxHEIGHT"):
        parse_size(None, None, "1334")
    t = load("facebench-head")
    assert "native_size" not in hashed_config({}, t, "v1", None, None, None)
    assert hashed_config({}, t, "v1", None, None, None, (334, 512))["native_size"] == [334, 512]
