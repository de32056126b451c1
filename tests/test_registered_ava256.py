"""Ava-256 reader on a synthetic capture in the official layout (tests/ava256_builder.py)."""

from __future__ import annotations

import io
import shutil
import zipfile

import numpy as np
import pytest

from facebench.errors import InputError
from tests.ava256_builder import build_ava256, ply_bytes, write_zip

PID, SEQ = "AAN112", "EXP_free_face"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_ava256(tmp_path_factory.mktemp("ava") / "root")


@pytest.fixture()
def copy(built, tmp_path):
    """A writable copy of the capture, for tests that break files."""
    root = tmp_path / "root"
    shutil.copytree(built.root, root)
    return root, root / built.capture_dirs[PID].name / "decoder"


def open_(root, **kw):
    from facebench.registered.ava256 import open_ava256

    return open_ava256(root, **kw)


def one_line_error(excinfo, *words):
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


def test_layout_participants_sequences_cameras_frames(built):
    from facebench.registered import RegisteredCapture

    with open_(built.root) as cap:
        assert isinstance(cap, RegisteredCapture) and cap.dataset == "ava256"
        assert cap.participants() == [PID]
        assert cap.sequences(PID) == ["EXP_free_face", "EXP_neutral_peak"]
        assert cap.cameras(PID, SEQ) == ["400900", "400901", "400902"]
        frames = cap.frame_ids(PID, SEQ)
        assert frames.dtype == np.int64 and frames.tolist() == [103, 106]
        assert cap.neutral_frame(PID) == ("EXP_neutral_peak", 100)
        assert cap.has_view(PID, SEQ, 103, "400900") and not cap.has_view(PID, SEQ, 104, "400900")
        with pytest.raises(InputError, match="did you mean 'EXP_free_face'"):
            cap.frame_ids(PID, "EXP_free_fac")
        with pytest.raises(InputError, match="no capture of participant"):
            cap.sequences("XYZ999")
    with open_(built.capture_dirs[PID], topology=built.root / "face_topology.obj") as one:  # one capture
        assert one.participants() == [PID] and len(one.mesh_faces(PID)) == len(built.faces)


def test_datasheet_folder_names_and_topology_in_the_capture(tmp_path):
    b = build_ava256(tmp_path / "r", sids=("ADL311",), segments={"E001_Neutral_Eyes_Open": (7,)},
                     n_cameras=1, image_ext="png", folder_style="datasheet")
    cap_dir = b.capture_dirs["ADL311"]
    assert cap_dir.name == "m--20230405--1635--ADL311--GHS"
    shutil.move(b.root / "face_topology.obj", cap_dir / "decoder" / "face_topology.obj")
    with open_(b.root) as cap:
        assert cap.participants() == ["ADL311"]
        assert cap.neutral_frame("ADL311") == ("E001_Neutral_Eyes_Open", 7)  # no EXP_neutral_peak
        assert np.array_equal(cap.mesh_faces("ADL311"), b.faces)
        seq = "E001_Neutral_Eyes_Open"
        view = cap.read_view("ADL311", seq, 7, cap.cameras("ADL311", seq)[0])
        rgb = b.renders[("ADL311", 7, view.camera_name)][0]
        assert np.array_equal(view.image, rgb)  # png: lossless


def test_cameras_convert_krt_millimetres_to_spec(built):
    with open_(built.root) as cap:
        for name in cap.cameras(PID, SEQ):
            cam, ref = cap.camera(PID, SEQ, name), built.cameras[(PID, name)]
            assert (cam.width, cam.height) == (built.width, built.height)  # stored image size
            np.testing.assert_allclose(cam.K, ref.K, atol=1e-9)
            np.testing.assert_allclose(cam.T_cam_from_world, ref.T_cam_from_world, atol=1e-12)
            big = cap.camera(PID, SEQ, name, 2 * built.width, 2 * built.height)
            np.testing.assert_allclose(big.K, ref.rescaled(2 * built.width, 2 * built.height).K, atol=1e-9)
            assert 0.5 < np.linalg.norm(cam.center_world) < 2.0  # metres, not millimetres


def _reprojection(cam, vertices, mask, depth):
    """(fraction of vertices inside the mask, fraction visible, median |depth - z| mm of visible)."""
    uv, z = cam.project_world(vertices)
    h, w = mask.shape
    iu, iv = np.rint(uv[:, 0]).astype(int), np.rint(uv[:, 1]).astype(int)
    assert iu.min() >= 0 and iu.max() < w and iv.min() >= 0 and iv.max() < h
    inside = (mask[iv, iu] > 0.5).mean()
    u0 = np.clip(np.floor(uv[:, 0]).astype(int), 0, w - 2)
    v0 = np.clip(np.floor(uv[:, 1]).astype(int), 0, h - 2)
    d4 = np.stack([depth[v0, u0], depth[v0, u0 + 1], depth[v0 + 1, u0], depth[v0 + 1, u0 + 1]], 1)
    a, b = uv[:, 0] - u0, uv[:, 1] - v0
    d = (d4[:, 0] * (1 - a) + d4[:, 1] * a) * (1 - b) + (d4[:, 2] * (1 - a) + d4[:, 3] * a) * b
    smooth = np.isfinite(d4).all(1) & (np.ptp(np.nan_to_num(d4, nan=9.0), axis=1) < 0.01)
    dz = np.abs(d - z)
    visible = smooth & (dz < 0.005)
    return inside, visible.mean(), 1000 * np.median(dz[visible])


def test_registered_mesh_reprojects_onto_the_rendered_subject(built):
    """Camera conventions end to end: mesh vertices (PLY, head frame, mm) through the head pose
    and the KRT land on the subject's silhouette, and where visible on its rendered depth."""
    from facebench.geometry import Camera

    with open_(built.root) as cap:
        for seq in cap.sequences(PID):
            for f in cap.frame_ids(PID, seq):
                vertices = cap.mesh_vertices(PID, seq, f)
                for name in cap.cameras(PID, seq):
                    view = cap.read_view(PID, seq, f, name)
                    depth = built.renders[(PID, f, name)][2]
                    inside, visible, err_mm = _reprojection(view.camera, vertices, view.mask, depth)
                    assert inside > 0.94 and visible > 0.15 and err_mm < 1.0, (seq, f, name)
                    K = view.camera.K.copy()
                    K[0, 2] += 1.0  # one pixel off is clearly worse
                    off = Camera(K, view.camera.T_cam_from_world, view.camera.width, view.camera.height)
                    assert _reprojection(off, vertices, view.mask, depth)[2] > 1.5 * err_mm


def test_mesh_is_world_metres_in_its_own_topology(built):
    from facebench.templates import load

    with open_(built.root) as cap:
        faces = cap.mesh_faces(PID)
        assert faces.dtype == np.int64 and np.array_equal(faces, built.faces)
        for seq in cap.sequences(PID):
            for f in cap.frame_ids(PID, seq):
                v = cap.mesh_vertices(PID, seq, f)
                assert v.dtype == np.float64 and v.shape == (faces.max() + 1, 3)
                np.testing.assert_allclose(v, built.vertices[(PID, f)], atol=1e-6)  # float32 mm PLY
    n_template = len(load("ict-light").canonical_vertices)
    assert len(built.template_index) < n_template  # not the template's topology or order
    assert not np.all(np.diff(built.template_index) > 0)


def test_keypoints_3d_are_world_metres(built, copy):
    from tests.ava256_builder import KEYPOINT_VERTICES

    with open_(built.root) as cap:
        ids, xyz, conf = cap.keypoints_3d(PID, 103)
        assert ids.tolist() == list(range(len(KEYPOINT_VERTICES))) and np.all(conf == 5.0)
        np.testing.assert_allclose(xyz, built.vertices[(PID, 103)][KEYPOINT_VERTICES], atol=1e-9)
    root, dec = copy
    write_zip(dec / "keypoints_3d" / "keypoints_3d.zip", {"000103.npy": b"\x93NUMPY garbage"})
    with open_(root) as cap:
        with pytest.raises(InputError) as e:
            cap.keypoints_3d(PID, 103)
        one_line_error(e, "keypoints_3d.zip: 000103.npy")
    shutil.rmtree(dec / "keypoints_3d")
    with open_(root) as cap:
        assert cap.keypoints_3d(PID, 103) is None


def test_images_are_read_from_the_zips_without_extracting(built):
    before = sorted(p for p in built.root.rglob("*"))
    with open_(built.root) as cap:
        for name in cap.cameras(PID, SEQ):
            view = cap.read_view(PID, SEQ, 106, name)
            rgb, fg, _ = built.renders[(PID, 106, name)]
            assert view.image.dtype == np.uint8 and view.image.shape == rgb.shape
            assert np.abs(view.image.astype(int) - rgb).mean() < 8  # AVIF is lossy
            assert view.mask.dtype == np.float32 and np.array_equal(view.mask > 0.5, fg)
            assert view.depth is None and view.frame_id == 106 and view.camera_name == name
        archives = list(cap._archives.values())
        assert archives and all(a._zf is not None for a in archives)
    assert all(a._zf is None for a in archives)  # close() released every archive
    assert sorted(p for p in built.root.rglob("*")) == before


def test_lens_distortion_is_removed(tmp_path):
    b = build_ava256(tmp_path / "r", segments={SEQ: (103,)}, n_cameras=2, image_ext="png",
                     distortion=(3.0, 0.0, 0.01, -0.01))
    errors = {}
    for undistort in (True, False):
        with open_(b.root, undistort=undistort) as cap:
            wrong = [(cap.read_view(PID, SEQ, 103, n).mask > 0.5) != b.renders[(PID, 103, n)][1]
                     for n in cap.cameras(PID, SEQ)]
            errors[undistort] = np.mean([w[4:-4, 4:-4].mean() for w in wrong])
    assert errors[True] < 0.01 and errors[False] > 3 * errors[True]


def test_missing_files_are_one_line_errors(copy):
    root, dec = copy
    with open_(root) as cap:
        with pytest.raises(InputError) as e:
            cap.read_view(PID, SEQ, 999, "400900")
        one_line_error(e, "frame 999 is missing", "cam400900.zip")
    (dec / "camera_calibration.json").unlink()
    with open_(root) as cap, pytest.raises(InputError) as e:
        cap.camera(PID, SEQ, "400900")
    one_line_error(e, "camera_calibration.json", "not found")
    (root / "face_topology.obj").unlink()
    with open_(root) as cap, pytest.raises(InputError) as e:
        cap.mesh_faces(PID)
    one_line_error(e, "face_topology.obj")
    with pytest.raises(InputError, match="no Ava-256 capture folders"):
        open_(dec)
    (dec / "frame_list.csv").write_text("seg_id,frame_id\nEXP_free_face,1o3\n")
    with open_(root) as cap, pytest.raises(InputError) as e:
        cap.sequences(PID)
    one_line_error(e, "frame_list.csv", "malformed frame list")


def test_corrupt_archive_and_truncated_member(copy):
    root, dec = copy
    (dec / "image" / "cam400901.zip").write_bytes(b"PK\x03\x04 not really a zip")
    cut = dec / "segmentation_parts" / "cam400900.zip"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])  # truncated archive
    poses = dec / "head_pose" / "head_pose.zip"
    write_zip(poses, {"000103.txt": b"1 0 0 0\n0 1 0 0\n0 0 1 0\n"})
    raw = bytearray(poses.read_bytes())
    raw[raw.index(b"1 0 0 0")] = ord("2")  # stored member: one flipped byte fails its CRC
    poses.write_bytes(bytes(raw))
    png = io.BytesIO()
    from PIL import Image

    Image.fromarray(np.zeros((64, 42, 3), np.uint8) + 90).save(png, format="PNG")
    write_zip(dec / "image" / "cam400902.zip", {"cam400902/000103.png": png.getvalue()[:60]})
    with open_(root) as cap:
        with pytest.raises(InputError) as e:
            cap.read_view(PID, SEQ, 103, "400901")
        one_line_error(e, "cam400901.zip", "corrupt")
        with pytest.raises(InputError) as e:
            cap.read_view(PID, SEQ, 103, "400902")
        one_line_error(e, "cam400902.zip", "000103.png")
        with pytest.raises(InputError) as e:
            cap.read_view(PID, SEQ, 103, "400900")
        one_line_error(e, "segmentation_parts/cam400900.zip", "corrupt")
        with pytest.raises(InputError) as e:
            cap.mesh_vertices(PID, SEQ, 103)
        one_line_error(e, "head_pose.zip: 000103.txt", "CRC")


def test_bad_mesh_size_and_bad_ply(copy):
    root, dec = copy
    meshes = dec / "kinematic_tracking" / "registration_vertices.zip"
    with zipfile.ZipFile(meshes) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["000103.ply"] = ply_bytes(np.zeros((10, 3)))
    members["000106.ply"] = members["000100.ply"][:-100]
    write_zip(meshes, members)
    with open_(root) as cap:
        with pytest.raises(InputError) as e:
            cap.mesh_vertices(PID, SEQ, 103)
        one_line_error(e, "000103.ply", "has 10 vertices")
        with pytest.raises(InputError) as e:
            cap.mesh_vertices(PID, SEQ, 106)
        one_line_error(e, "000106.ply", "truncated")


def test_unsafe_and_oversized_members_are_refused(copy, monkeypatch):
    import facebench.registered.ava256 as ava
    import facebench.registered.zipimages as zi

    root, dec = copy
    write_zip(dec / "image" / "cam400902.zip", {"../000103.avif": b"x"})
    with open_(root) as cap:
        with pytest.raises(InputError) as e:
            cap.read_view(PID, SEQ, 103, "400902")
        one_line_error(e, "cam400902.zip", "leaves the archive")
        monkeypatch.setattr(ava, "IMAGE_MAX_BYTES", 100)
        with pytest.raises(InputError) as e:
            cap.read_view(PID, SEQ, 103, "400900")
        one_line_error(e, "000103.avif", "more than the 100")
        monkeypatch.setattr(ava, "IMAGE_MAX_BYTES", zi.IMAGE_MAX_BYTES)
        monkeypatch.setattr(zi, "IMAGE_MAX_PIXELS", 1000)  # decoded size refused before decoding
        with pytest.raises(InputError) as e:
            cap.read_view(PID, SEQ, 103, "400900")
        one_line_error(e, "000103.avif", "42 x 64 pixels")


def test_ply_and_obj_parsers():
    from facebench.registered.meshfiles import read_obj_faces, read_ply_vertices

    ascii_ply = (b"ply\nformat ascii 1.0\ncomment x\nelement vertex 2\nproperty float x\nproperty float y\n"
                 b"property float z\nproperty uchar red\nelement face 1\n"
                 b"property list uchar int vertex_indices\n"
                 b"end_header\n1 2 3 255\n4 5 6 0\n3 0 1 1\n")
    np.testing.assert_array_equal(read_ply_vertices(ascii_ply, "a.ply"), [[1, 2, 3], [4, 5, 6]])
    v = np.arange(12, dtype=">f8").reshape(4, 3)
    big = (b"ply\nformat binary_big_endian 1.0\nelement vertex 4\nproperty double x\nproperty double y\n"
           b"property double z\nend_header\n") + v.tobytes()
    np.testing.assert_array_equal(read_ply_vertices(big, "b.ply"), v)
    with pytest.raises(InputError, match="c.ply: not a PLY"):
        read_ply_vertices(b"solid stl", "c.ply")
    faces, n = read_obj_faces("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1/1 2/2 3/3 4/4\nf -1 -2 -3\n", "q.obj")
    assert n == 4 and faces.tolist() == [[0, 1, 2], [0, 2, 3], [3, 2, 1]]
    with pytest.raises(InputError, match="outside the 4 vertices"):
        read_obj_faces("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 9\n", "bad.obj")
