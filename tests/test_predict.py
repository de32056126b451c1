"""`facebench predict`: the method registry, plain inputs (frames, video), landmark-fit on a real
photo (scikit-image's astronaut, public domain) moved by a known 2D shift, and the error paths."""

import importlib.util
import json
import sys

import numpy as np
import pytest

from facebench.errors import FacebenchError
from facebench.methods import get_method, make_method, method_names, register
from facebench.methods.sources import intrinsics, natural_key

needs_landmarks = pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None,
                                     reason="needs facebench[landmarks] (make installs it)")

SHIFT = np.array([1.5, 1.0])  # pixels per frame (x, y) of the synthetic camera pan
T_FRAMES = 4


def astronaut_frames(T=T_FRAMES, size=128):
    """T frames of the astronaut's face, each shifted by SHIFT more (exact subpixel-free motion:
    the full image is rolled by whole pixels, then halved)."""
    from skimage import data

    img = data.astronaut()
    frames = []
    for t in range(T):
        dy, dx = int(2 * SHIFT[1] * t), int(2 * SHIFT[0] * t)
        moved = np.roll(img, (dy, dx), axis=(0, 1))[40:40 + 2 * size:2, 100:100 + 2 * size:2]
        frames.append(np.ascontiguousarray(moved))
    return np.stack(frames)


def write_frames(folder, frames):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for t, f in enumerate(frames):  # names that sort wrongly as plain strings (frame10 < frame2)
        Image.fromarray(f).save(folder / f"frame{t * 5}.png")
    return folder


def write_video(path, frames, fps=10):
    import imageio_ffmpeg

    writer = imageio_ffmpeg.write_frames(str(path), (frames.shape[2], frames.shape[1]), fps=fps, quality=9,
                                         macro_block_size=1, ffmpeg_log_level="error")
    writer.send(None)
    for f in frames:
        writer.send(np.ascontiguousarray(f))
    writer.close()
    return path


@pytest.fixture(scope="module")
def astronaut_fit(tmp_path_factory):
    from facebench.methods.run import predict

    root = tmp_path_factory.mktemp("astro")
    frames = astronaut_frames()
    meta = predict("landmark-fit", root / "out", images=write_frames(root / "frames", frames), progress=False,
                   iterations=120)
    return frames, root / "out", meta


def test_registry_names_and_hint():
    assert {"transformer", "template-frontal", "mean-depth-plane", "landmark-fit"} <= set(method_names())
    with pytest.raises(FacebenchError, match="did you mean 'landmark-fit'"):
        get_method("landmark-fitt")


def test_register_is_one_call():
    info = register("test-dummy", "facebench.methods.builtin:mean_depth_plane", "a test alias")
    assert get_method("test-dummy") is info
    assert make_method("test-dummy").name == "mean-depth-plane"


def test_intrinsics_from_fov_and_K():
    K = intrinsics(200, 100, fov_deg=90)
    assert K[0, 0] == pytest.approx(100.0) and K[1, 1] == pytest.approx(100.0)
    assert (K[0, 2], K[1, 2]) == (99.5, 49.5)
    assert intrinsics(200, 100, K="300,310,90,40")[1, 1] == 310
    with pytest.raises(FacebenchError, match="--K wants four numbers"):
        intrinsics(200, 100, K="300,310")
    assert sorted(["f10.png", "f2.png", "f1.png"], key=natural_key) == ["f1.png", "f2.png", "f10.png"]


@needs_landmarks
def test_detect_landmarks_on_a_real_face():
    from facebench.adapters.mediapipe import detect_landmarks

    frames = astronaut_frames(T=1)
    both = np.concatenate([frames, np.zeros_like(frames)])
    lmk, dense, score = detect_landmarks(both, video=False)
    assert lmk.shape == (2, 68, 2) and dense.shape == (2, 478, 2) and score.shape == (2,)
    assert np.isfinite(lmk[0]).all() and score[0] > 0.5
    assert np.isnan(lmk[1]).all() and np.isnan(score[1])  # no face: NaN, not invented
    # iBUG order: the subject's right eye (36-41) appears left of the left eye (42-47); chin (8) lowest
    assert lmk[0, 36:42, 0].mean() < lmk[0, 42:48, 0].mean()
    assert lmk[0, 8, 1] == lmk[0, :, 1].max() or lmk[0, 8, 1] > lmk[0, 30, 1] + 10
    assert lmk[0, 27:36, 1].mean() > lmk[0, 36:48, 1].mean()  # the nose below the eyes


@needs_landmarks
def test_landmark_fit_on_real_photo_sequence(astronaut_fit):
    frames, out, meta = astronaut_fit
    T, H, W, _ = frames.shape
    assert meta["method"] == "landmark-fit" and meta["benchmark"] == "none"
    assert meta["params"]["input"]["fov_deg"] == 60.0 and "frames_without_face" not in meta["params"]
    with np.load(out / "user/frames/cam0.npz", allow_pickle=False) as z:
        depth, canonical, xy, vis, xyz = (z[k] for k in ("depth", "canonical", "tracks_xy", "tracks_visible",
                                                         "tracks_xyz"))
    assert depth.shape == (T, H, W) and canonical.shape == (T, H, W, 3)
    face = np.isfinite(depth)
    assert face.mean(axis=(1, 2)).min() > 0.1  # the head covers a good part of the 128 px frame
    assert np.nanmedian(depth) == pytest.approx(np.nanmedian(xyz[..., 2]), rel=0.1)
    assert 0.2 < np.nanmedian(depth) < 1.5  # metric: a head at arm's length with a 60 degree lens
    assert np.isfinite(canonical[face]).all() and np.abs(canonical[face]).max() < 3
    # tracks follow the known pan: displacement from frame 0 is t * SHIFT
    both = vis[:, 0] & vis[:, -1]
    assert both.sum() >= 20
    moved = xy[both, -1] - xy[both, 0]
    assert np.median(np.linalg.norm(moved - (T - 1) * SHIFT, axis=-1)) < 1.5
    regions = np.load(out / "user/frames/cam0.regions.npy")
    assert regions.shape == (T, H, W) and (regions[face] > 0).all()


@needs_landmarks
def test_overlay_video_and_contact_sheet(astronaut_fit):
    from PIL import Image

    from facebench.nersemble.images import count_video_frames

    frames, out, meta = astronaut_fit
    video, sheet = meta["visuals"]["video"], meta["visuals"]["contact_sheet"]
    assert count_video_frames(video) == len(frames)
    png = Image.open(sheet)
    assert png.width > 4 * frames.shape[2] and png.height > len(frames) * frames.shape[1]


@needs_landmarks
def test_video_input_with_a_trivial_method(tmp_path):
    from facebench.methods.run import predict

    video = write_video(tmp_path / "clip.mp4", astronaut_frames(T=3))
    meta = predict("template-frontal", tmp_path / "out", video=video, K="150,150,63.5,63.5", progress=False)
    assert meta["frames"] == 3 and meta["params"]["input"]["fov_deg"] is None
    with np.load(tmp_path / "out/user/clip/cam0.npz") as z:
        assert z["depth"].shape == (3, 128, 128) and np.isfinite(z["depth"]).any()
    assert (tmp_path / "out/overlay/user_clip_cam0.mp4").stat().st_size > 0


@needs_landmarks
def test_landmark_fit_on_gt_clips_is_scorable(tmp_path_factory, tmp_path):
    from facebench.evaluate.validate import validate_predictions
    from facebench.methods.run import predict
    from tests.gt_fixtures import make_gt

    gt = make_gt(tmp_path_factory.mktemp("gt"), T=3, H=24, W=32)  # noise images: no face anywhere
    meta = predict("landmark-fit", tmp_path, gt=gt, benchmark="synth-v1", progress=False, iterations=10)
    assert meta["clips"] >= 2 and len(meta["params"]["frames_without_face"]) == meta["clips"]
    assert validate_predictions(tmp_path, gt=gt, benchmark="synth-v1") == []


def _cli(argv, capsys):
    from facebench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err.strip()
    return exc.value.code, err


@needs_landmarks
def test_no_face_is_one_line_error(tmp_path, capsys):
    write_frames(tmp_path / "dark", np.zeros((2, 64, 64, 3), np.uint8))
    code, err = _cli(["predict", "landmark-fit", "--images", str(tmp_path / "dark"), "--out",
                      str(tmp_path / "o")], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "no face found in any of its 2 frames" in err


@needs_landmarks
def test_bad_video_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    code, err = _cli(["predict", "landmark-fit", "--video", str(bad), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "broken.mp4" in err
    code, err = _cli(["predict", "landmark-fit", "--video", str(tmp_path / "missing.mp4"), "--out",
                      str(tmp_path / "o")], capsys)
    assert code == 2 and "video not found" in err


def test_unknown_method_and_missing_input_are_one_line_errors(tmp_path, capsys):
    out = str(tmp_path / "o")
    code, err = _cli(["predict", "transfomer", "--images", str(tmp_path), "--out", out], capsys)
    assert code == 2 and "did you mean 'transformer'" in err
    code, err = _cli(["predict", "transformer", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "give one input" in err


def test_missing_extra_names_it(monkeypatch):
    from facebench.adapters.mediapipe import detect_landmarks

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
    with pytest.raises(FacebenchError, match=r"pip install 'facebench\[landmarks\]'"):
        make_method("landmark-fit")
    with pytest.raises(FacebenchError, match=r"facebench\[landmarks\]"):
        detect_landmarks(np.zeros((1, 8, 8, 3), np.uint8))


@needs_landmarks
def test_meta_json_is_valid_for_scoring_tools(astronaut_fit):
    from facebench.io.predictions import check_meta

    _, out, _ = astronaut_fit
    check_meta(json.loads((out / "meta.json").read_text()))


def test_overlay_draws_maps_only_where_the_method_sees_a_face():
    from facebench.report.overlay import shown_maps

    depth = np.full((2, 4, 5), 0.5, np.float32)
    canonical = np.ones((2, 4, 5, 3), np.float32)
    foreground = np.zeros((2, 4, 5), np.float32)
    foreground[1, 1:3, 2:4] = 0.9
    out = {"depth": depth, "canonical": canonical, "foreground": foreground}
    d, c = shown_maps(out, 1)
    assert np.isfinite(d).sum() == 4 and np.isfinite(d[1:3, 2:4]).all()
    assert np.isfinite(c).all(-1).sum() == 4 and np.isnan(c[0, 0]).all()
    assert np.isnan(shown_maps(out, 0)[0]).all()
    d, c = shown_maps({"depth": depth, "canonical": canonical}, 0)  # no foreground: everything
    assert np.isfinite(d).all() and np.isfinite(c).all()
