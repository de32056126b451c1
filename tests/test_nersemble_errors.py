"""Every broken input gives one line that names the file (facebench.errors.InputError)."""

import json

import numpy as np
import pytest
from PIL import Image

from facebench.errors import InputError
from facebench.nersemble import open_capture
from tests.nersemble_builders import FRONT, PID, SEQ, SERIALS, build_v1, build_v2, pcd_header


def raises_naming(path_part: str, func, *args):
    """Run ``func`` and check it raises a one-line InputError mentioning ``path_part``."""
    with pytest.raises(InputError) as info:
        func(*args)
    message = str(info.value)
    assert "\n" not in message
    assert path_part in message, message
    return message


@pytest.fixture
def v1(tmp_path):
    return build_v1(tmp_path / "cap", frames=(0, 1))


@pytest.fixture
def v2(tmp_path):
    return build_v2(tmp_path / "cap", n_frames=3)


def frame_file(root, t, folder, serial):
    return root / PID / "sequences" / SEQ / f"frame_{t:05d}" / folder / f"cam_{serial}.png"


def test_missing_camera_params(v1):
    (v1 / PID / "camera_params.json").unlink()
    cap = open_capture(v1, "v1")
    raises_naming("camera_params.json", cap.read_view, PID, SEQ, 0, FRONT)


def test_malformed_json(v1):
    (v1 / PID / "camera_params.json").write_text('{"world_2_cam": {')
    msg = raises_naming("camera_params.json", open_capture(v1).camera, PID, FRONT)
    assert "malformed JSON" in msg


def test_nan_in_calibration(v1):
    path = v1 / PID / "camera_params.json"
    params = json.loads(path.read_text())
    params["world_2_cam"][FRONT][0][3] = float("nan")
    path.write_text(json.dumps(params))  # json writes the NaN literal
    msg = raises_naming("camera_params.json", open_capture(v1).camera, PID, FRONT)
    assert FRONT in msg and "NaN" in msg


def test_non_rigid_extrinsics(v1):
    path = v1 / PID / "camera_params.json"
    params = json.loads(path.read_text())
    params["world_2_cam"][FRONT][0][0] = 2.0
    path.write_text(json.dumps(params))
    msg = raises_naming("camera_params.json", open_capture(v1).camera, PID, FRONT)
    assert "rotation" in msg and FRONT in msg


def test_participant_folder_given_as_root(v1):
    assert "pass its parent" in raises_naming(PID, open_capture, v1 / PID)


def test_camera_without_calibration(v1):
    path = v1 / PID / "camera_params.json"
    params = json.loads(path.read_text())
    del params["world_2_cam"][FRONT]
    path.write_text(json.dumps(params))
    msg = raises_naming("camera_params.json", open_capture(v1).read_view, PID, SEQ, 0, FRONT)
    assert FRONT in msg


def test_missing_image(v1):
    path = frame_file(v1, 1, "images-2x-73fps", FRONT)
    path.unlink()
    raises_naming(str(path.parent / f"cam_{FRONT}"), open_capture(v1).read_view, PID, SEQ, 1, FRONT)


def test_truncated_png(v1):
    path = frame_file(v1, 0, "images-2x-73fps", SERIALS[0])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    raises_naming(path.name, open_capture(v1).read_view, PID, SEQ, 0, SERIALS[0])


def test_depth_of_wrong_size(v1):
    path = frame_file(v1, 0, "colmap-73fps/depth_maps_compressed", FRONT)
    Image.fromarray(np.ones((15, 10), np.uint16)).save(path)
    msg = raises_naming("depth_maps_compressed", open_capture(v1).read_view, PID, SEQ, 0, FRONT)
    assert "10x15" in msg and "20x30" in msg


def test_empty_sequences(v1, v2):
    (v1 / PID / "sequences" / "EMO-1-shout+laugh").mkdir()
    raises_naming("EMO-1-shout+laugh", open_capture(v1).frame_ids, PID, "EMO-1-shout+laugh")
    (v2 / PID / "sequences" / "FREE" / "images").mkdir(parents=True)
    raises_naming("FREE", open_capture(v2).frame_ids, PID, "FREE")


def test_unknown_sequence_and_participant(v1):
    cap = open_capture(v1)
    msg = raises_naming("sequences", cap.frame_ids, PID, "EXP-1-hed")
    assert "did you mean 'EXP-1-head'" in msg
    raises_naming(str(v1), cap.sequences, "018")


def test_unreadable_video(v2):
    path = v2 / PID / "sequences" / SEQ / "images" / f"cam_{FRONT}.mp4"
    path.write_bytes(b"not a video at all" * 10)
    with open_capture(v2) as cap:
        raises_naming(path.name, cap.read_view, PID, SEQ, 0, FRONT)


def test_frame_past_end_of_video(v2):
    with open_capture(v2) as cap:
        msg = raises_naming(f"cam_{FRONT}.mp4", cap.read_view, PID, SEQ, 7, FRONT)
        assert "no frame 7" in msg


def test_bad_pcd_header(tmp_path):
    from facebench.nersemble.pcd import read_pcd

    no_fields = tmp_path / "no_fields.pcd"
    no_fields.write_bytes(b"VERSION 0.7\nSIZE 4 4 4\nTYPE F F F\nPOINTS 1\nDATA ascii\n1 2 3\n")
    assert "FIELDS" in raises_naming("no_fields.pcd", read_pcd, no_fields)
    no_data = tmp_path / "no_data.pcd"
    no_data.write_bytes(b"FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nPOINTS 1\n")
    raises_naming("no_data.pcd", read_pcd, no_data)
    short = tmp_path / "short.pcd"
    short.write_bytes(pcd_header(["x", "y", "z"], [4, 4, 4], "FFF", 5, "binary") + b"\0" * 12)
    assert "truncated" in raises_naming("short.pcd", read_pcd, short)
    no_xyz = tmp_path / "no_xyz.pcd"
    no_xyz.write_bytes(pcd_header(["a"], [4], "F", 1, "ascii") + b"1\n")
    raises_naming("no_xyz.pcd", read_pcd, no_xyz)


def test_bad_tracking(tmp_path):
    from facebench.nersemble.tracking import load_tracking

    path = tmp_path / "flame2023_tracking.npz"
    np.savez(path, shape=np.zeros((1, 300)), expression=np.zeros((4, 100)))
    assert "rotation" in raises_naming(path.name, load_tracking, path)


def test_bad_colour_matrix(v1):
    path = v1 / PID / "annotations" / SEQ / "color_correction" / f"{FRONT}.npy"
    np.save(path, np.ones((2, 2)))
    raises_naming(path.name, open_capture(v1).read_view, PID, SEQ, 0, FRONT)


def test_layout_errors(tmp_path):
    raises_naming("nowhere", open_capture, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    raises_naming("empty", open_capture, tmp_path / "empty")
    with pytest.raises(InputError, match="unknown layout"):
        open_capture(tmp_path / "empty", "v3")
