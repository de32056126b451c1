"""facebench synth: SPEC §3 layouts, depth encoding, colour correction, truth, GT shards, determinism."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.synth_standin import load_template

# SPEC §3, written out here independently of facebench.synth's constants.
SPEC_SERIALS = ["222200042", "222200044", "222200046", "222200040", "222200036", "222200048", "220700191",
                "222200041", "222200037", "222200038", "222200047", "222200043", "222200049", "222200039",
                "222200045", "221501007"]
V1_PATTERNS = [
    r"(?P<pid>\d{3})/camera_params\.json",
    r"(?P<pid>\d{3})/sequences/(?P<seq>[^/]+)/frame_(?P<t>\d{5})/images-2x-73fps/cam_(?P<serial>\d+)\.png",
    r"(?P<pid>\d{3})/sequences/(?P<seq>[^/]+)/frame_(?P<t>\d{5})/alpha_map-73fps/cam_(?P<serial>\d+)\.png",
    r"(?P<pid>\d{3})/sequences/(?P<seq>[^/]+)/frame_(?P<t>\d{5})/colmap-73fps/depth_maps_compressed/"
    r"cam_(?P<serial>\d+)\.png",
    r"(?P<pid>\d{3})/annotations/(?P<seq>[^/]+)/color_correction/(?P<serial>\d+)\.npy",
    r"(?P<pid>\d{3})/sequences/BACKGROUND/image_(?P<serial>\d+)\.jpg",
]


@pytest.fixture(scope="module")
def template():
    return load_template()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, template):
    """One tiny v1 capture with exact GT shards (3 cameras, 64x96, 3 frames)."""
    from facebench.synth import synthesize

    root = tmp_path_factory.mktemp("synth")
    return synthesize(root / "cap", preset="tiny", seed=3, template=template, truth_gt=root / "gt",
                      progress=False, gt_options={"image_codec": "png"})  # exact images: compared below


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_cli_tiny_writes_exactly_the_v1_paths(tmp_path, template, monkeypatch):
    from click.testing import CliRunner

    import facebench.templates as templates
    from facebench.cli import cli

    monkeypatch.setattr(templates, "load", lambda name="facebench-head": template, raising=False)
    out = tmp_path / "X"
    res = CliRunner().invoke(cli, ["synth", "--preset", "tiny", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    files = _files(out)
    seen = {}
    for f in files:
        matches = [re.fullmatch(p, f) for p in V1_PATTERNS]
        hit = [(i, m) for i, m in enumerate(matches) if m]
        assert hit, f"unexpected file {f}"
        i, m = hit[0]
        seen.setdefault(i, set()).add(tuple(m.groupdict().values()))
    serials = {k[-1] for k in seen[1]}
    assert len(serials) == 3 and "222200037" in serials and serials <= set(SPEC_SERIALS)
    frames = sorted({k[2] for k in seen[1]})
    assert frames == ["00000", "00001", "00002"]
    pid, seq = next(iter(seen[1]))[:2]
    assert len(pid) == 3
    # every frame x camera has image, alpha and depth; every camera a colour correction and background
    expect = {(pid, seq, t, s) for t in frames for s in serials}
    assert seen[1] == seen[2] == seen[3] == expect
    assert seen[4] == {(pid, seq, s) for s in serials}
    assert seen[5] == {(pid, s) for s in serials}
    params = json.loads((out / pid / "camera_params.json").read_text())
    assert set(params["world_2_cam"]) == serials
    K = np.array(params["intrinsics"])
    # 64 x 96 is not the 2200 x 3208 sensor resized (another aspect ratio): K is stated for it
    assert (params["width"], params["height"]) == (64, 96)
    assert K.shape == (3, 3) and abs(K[0, 2] - 31.5) < 2 and abs(K[1, 2] - 47.5) < 2
    from facebench.synth.rig import make_rig

    assert "width" not in make_rig(3).camera_params(256, 374)  # the sensor resized: K for the sensor
    img = np.asarray(Image.open(out / pid / "sequences" / seq / "frame_00000" / "images-2x-73fps"
                                / "cam_222200037.png"))
    assert img.shape == (96, 64, 3) and img.dtype == np.uint8
    assert (out.parent / "X-truth" / pid / seq / "truth.npz").is_file()


def test_rig_frontal_camera_and_arc():
    from facebench.synth.rig import SERIALS, make_rig

    assert list(SERIALS) == SPEC_SERIALS
    rig = make_rig(16)
    centers = {s: -T[:3, :3].T @ T[:3, 3] for s, T in rig.T_cam_from_world.items()}
    dist = np.array([np.linalg.norm(c) for c in centers.values()])
    assert np.all(np.abs(dist - 1.0) < 0.02)
    front = centers["222200037"]
    assert front[2] > 0.99  # straight in front of the face (+z)
    assert all(c[2] > 0 for c in centers.values())  # frontal hemisphere
    cam = rig.camera("222200037", 64, 96)
    uv = cam.project(cam.world_to_cam(np.zeros(3)))
    assert abs(uv[0] - 31.5) < 3 and abs(uv[1] - 47.5) < 3  # head at the image centre
    assert make_rig(3).serials == ("222200046", "220700191", "222200037")


def test_depth_png_decodes_to_the_rendered_depth(tiny):
    import h5py

    from facebench.synth.depth import decode_depth_png

    pid, seq = tiny.participants[0], tiny.sequences[0]
    gt_shard = next((tiny.gt_dir / "shards").glob("*.h5"))
    with h5py.File(gt_shard, "r") as f:
        for serial in tiny.serials:
            exact = f[f"{pid}/{seq}/cameras/{serial}/depth"][()]
            for t, fid in enumerate(tiny.frame_ids):
                frame = tiny.out / pid / "sequences" / seq / f"frame_{fid:05d}"
                q = np.asarray(Image.open(frame / "colmap-73fps/depth_maps_compressed" / f"cam_{serial}.png"))
                assert q.dtype == np.uint16
                # SPEC: q = 0 invalid, else depth = (q - 1) / ((2^16 - 2) / 2)
                ref = np.where(q > 0, (q.astype(np.float64) - 1) / ((2**16 - 2) / 2), np.nan)
                assert np.array_equal(np.isnan(ref), np.isnan(exact[t]))
                assert np.nanmax(np.abs(ref - exact[t])) <= 1.0 / (2**16 - 2) + 1e-6
                assert 0.8 < np.nanmedian(ref) < 1.2
                np.testing.assert_allclose(decode_depth_png(q), ref, atol=1e-6)


def test_colour_correction_undoes_the_camera_colours(tiny):
    from facebench.io.shards import GTReader

    pid, seq = tiny.participants[0], tiny.sequences[0]
    with GTReader(tiny.gt_dir) as gt:
        for serial in tiny.serials:
            true = gt.read(f"{pid}/{seq}/{serial}", "image", slice(0, 1))[0].astype(np.float64) / 255
            frame = tiny.out / pid / "sequences" / seq / "frame_00000"
            seen = np.asarray(Image.open(frame / "images-2x-73fps" / f"cam_{serial}.png")) / 255.0
            M = np.load(tiny.out / pid / "annotations" / seq / "color_correction" / f"{serial}.npy")
            assert M.shape == (4, 4)
            corrected = np.concatenate([seen, np.ones(seen.shape[:2] + (1,))], -1) @ M
            assert np.abs(seen - true).mean() > 0.01  # the distortion is really there
            assert np.abs(corrected[..., :3] - true).max() < 2.5 / 255


def test_gt_shards_follow_spec(tiny, template):
    import h5py

    from facebench.io.encodings import read_dataset
    from facebench.io.shards import validate_gt

    assert validate_gt(tiny.gt_dir) == []
    pid, seq = tiny.participants[0], tiny.sequences[0]
    truth = np.load(tiny.truth_dir / pid / seq / "truth.npz")
    with h5py.File(next((tiny.gt_dir / "shards").glob("*.h5")), "r") as f:
        g = f[f"{pid}/{seq}"]
        np.testing.assert_allclose(g["vertices"][()], truth["vertices"], atol=1e-6)
        assert list(g["frame_ids"][()]) == tiny.frame_ids
        for serial in tiny.serials:
            c = g[f"cameras/{serial}"]
            mask, depth, canon = (read_dataset(c[k]) for k in ("mask", "depth", "canonical"))  # decoded
            assert set(np.unique(mask)) <= {0, 1, 2, 3}
            assert np.all(np.isnan(depth[mask == 0])) and np.all(np.isfinite(depth[mask > 0]))
            assert np.all(np.isfinite(canon[(mask == 1) | (mask == 2)]))  # on the template: exact
            assert np.all(np.isnan(canon[mask == 0]))
            if serial == "222200037":
                assert (mask == 1).sum() > 50 and (mask == 3).sum() > 50
            # canonical of face pixels reprojects: c -> world on the mesh -> the pixel itself
            cam_K, T = c["K"][()], c["T_cam_from_world"][()]
            ys, xs = np.nonzero(mask[0] == 1)
            pts = template.from_canonical(canon[0][ys, xs], truth["vertices"][0])
            cam = (pts @ T[:3, :3].T + T[:3, 3]) @ cam_K.T
            uv = cam[:, :2] / cam[:, 2:]
            assert np.abs(uv - np.stack([xs, ys], 1)).max() < 1e-3
            # tracks: visible at their query frame, at the projected position
            qf, vis, xy = c["tracks/query_frame"][()], c["tracks/visible"][()], c["tracks/xy"][()]
            assert len(qf) > 0 and vis[np.arange(len(qf)), qf].all()
            q_xy = xy[np.arange(len(qf)), qf]
            np.testing.assert_allclose(q_xy, np.round(q_xy), atol=1e-3)  # queried at pixel centres


def test_v2_and_benchmark_layouts_read_back(tmp_path, template, tiny):
    import imageio.v2 as imageio

    from facebench.synth import synthesize

    r = synthesize(tmp_path / "bench", preset="tiny", layout="benchmark", seed=3, template=template,
                   progress=False)
    pid, seq = r.participants[0], r.sequences[0]
    base = tmp_path / "bench" / pid
    params = json.loads((base / "calibration" / "camera_params.json").read_text())
    colors = json.loads((base / "calibration" / "color_calibration.json").read_text())
    assert set(params["world_2_cam"]) == set(colors) == set(r.serials)
    for serial in r.serials:
        frames = [f for f in imageio.get_reader(base / "sequences" / seq / "images" / f"cam_{serial}.mp4")]
        assert len(frames) == 3
        for t, fid in enumerate(r.frame_ids):  # same seed: the v1 PNGs hold the same pictures
            png = np.asarray(Image.open(tiny.out / pid / "sequences" / seq / f"frame_{fid:05d}"
                                        / "images-2x-73fps" / f"cam_{serial}.png"))
            assert frames[t].shape == png.shape
            assert np.abs(frames[t].astype(int) - png).mean() < 4.0
        alpha = [f for f in imageio.get_reader(base / "sequences" / seq / "alpha_maps" / f"cam_{serial}.mp4")]
        assert len(alpha) == 3 and alpha[0].max() > 200 and alpha[0].min() < 50
    assert (base / "sequences" / "BACKGROUND" / "image_222200037.jpg").is_file()
    for t in range(3):
        pcd = _read_pcd(base / "sequences" / seq / "pointclouds" / f"frame_{t:05d}.pcd")
        assert pcd.shape[1] == 6 and len(pcd) > 100
        assert np.abs(np.linalg.norm(pcd[:, 3:], axis=1) - 1).max() < 1e-3
        assert np.abs(pcd[:, :3]).max() < 0.6  # the head and shoulders around the origin
    trk = np.load(base / "sequences" / seq / "tracking" / "flame2023_tracking.npz")
    T = 3
    want = {"shape": (1, template.n_identity), "expression": (T, template.n_expression), "rotation": (T, 3),
            "rotation_matrices": (T, 3, 3), "translation": (T, 3), "jaw": (T, 3), "neck": (T, 3),
            "eyes": (T, 6), "scale": (1, 1), "frames": (T,)}
    assert {k: trk[k].shape for k in trk.files} == want
    from scipy.spatial.transform import Rotation

    np.testing.assert_allclose(Rotation.from_euler("xyz", trk["rotation"]).as_matrix(),
                               trk["rotation_matrices"], atol=1e-5)
    # world = s R x + t reproduces the truth vertices from the unposed template
    truth = np.load(r.truth_dir / pid / seq / "truth.npz")
    x = template.deform(identity=truth["shape"], expression=truth["expression"],
                        neck=truth["neck_axis_angle"], jaw=truth["jaw_axis_angle"],
                        eyes=truth["eyes_axis_angle"])
    world = trk["scale"][0, 0] * np.einsum("tab,tvb->tva", trk["rotation_matrices"], x) \
        + trk["translation"][:, None]
    assert np.abs(world - truth["vertices"]).max() < 1e-4


def _read_pcd(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    head, _, body = raw.partition(b"DATA binary\n")
    fields = re.search(rb"FIELDS ([^\n]+)", head).group(1).split()
    assert fields == [b"x", b"y", b"z", b"normal_x", b"normal_y", b"normal_z"]
    n = int(re.search(rb"POINTS (\d+)", head).group(1))
    return np.frombuffer(body, "<f4").reshape(n, 6)


def test_same_seed_same_capture_other_seed_differs(tmp_path, template, tiny):
    from facebench.synth import synthesize

    r = synthesize(tmp_path / "again", preset="tiny", seed=3, template=template, progress=False)
    rel = _files(tiny.out)
    assert _files(r.out) == rel
    for f in rel:
        assert (tiny.out / f).read_bytes() == (r.out / f).read_bytes(), f
    other = synthesize(tmp_path / "other", preset="tiny", seed=4, template=template, progress=False,
                       frames=1)
    f = "101/sequences/EXP-1-head/frame_00000/images-2x-73fps/cam_222200037.png"
    assert (other.out / f).read_bytes() != (tiny.out / f).read_bytes()


def test_identities_depend_only_on_seed_and_participant():
    from facebench.synth.motion import make_identity

    a = make_identity(0, "101", 10)
    b = make_identity(0, "101", 10)
    c = make_identity(0, "901", 10)
    assert np.array_equal(a.shape, b.shape) and not np.array_equal(a.shape, c.shape)


def test_depth_defects():
    from facebench.synth.depth import degrade_depth

    depth = np.full((60, 60), np.nan, np.float32)
    depth[15:45, 15:45] = 1.0
    fg = np.isfinite(depth)
    rng = np.random.default_rng(0)
    noisy = degrade_depth(depth, fg, rng, noise_mm=2.0)
    assert 0.0015 < np.nanstd(noisy[fg] - 1.0) < 0.0025
    holed = degrade_depth(depth, fg, rng, holes=0.25)
    assert abs(np.isnan(holed[fg]).mean() - 0.25) < 0.02
    flying = degrade_depth(depth, fg, rng, flying_pixels=True)
    edge_out = np.isfinite(flying) & ~fg
    assert edge_out.sum() > 20 and np.all(flying[edge_out] > 1.0)
    assert np.array_equal(flying[20:40, 20:40], depth[20:40, 20:40])  # interior untouched


def test_truth_inside_capture_is_a_user_error(tmp_path, template):
    from facebench.errors import InputError
    from facebench.synth import synthesize

    with pytest.raises(InputError, match="must not be inside"):
        synthesize(tmp_path / "cap", truth_dir=tmp_path / "cap" / "truth", template=template, progress=False)
    with pytest.raises(Exception, match="3-digit"):
        synthesize(tmp_path / "cap", participants="1", template=template, progress=False)


@pytest.mark.slow
def test_worker_processes_and_threads_give_the_same_capture(tmp_path, template):
    from facebench.synth import synthesize

    kw = dict(preset="tiny", sequences=2, frames=1, template=template, progress=False)
    a = synthesize(tmp_path / "a", threads=1, **kw)
    b = synthesize(tmp_path / "b", workers=2, threads=2, **kw)
    files = _files(a.out)
    assert files == _files(b.out) and len(files) > 20
    assert all((a.out / f).read_bytes() == (b.out / f).read_bytes() for f in files)
    assert a.n_images == b.n_images == 6


def test_the_nersemble_reader_reads_the_capture_back(tiny):
    import h5py

    nersemble = pytest.importorskip("facebench.nersemble")
    pid, seq = tiny.participants[0], tiny.sequences[0]
    cap = nersemble.open_capture(tiny.out)
    assert cap.participants() == [pid] and cap.sequences(pid) == [seq]
    assert sorted(cap.cameras(pid, seq)) == sorted(tiny.serials)
    assert list(cap.frame_ids(pid, seq)) == tiny.frame_ids
    with h5py.File(next((tiny.gt_dir / "shards").glob("*.h5")), "r") as f:
        for serial in tiny.serials:
            c = f[f"{pid}/{seq}/cameras/{serial}"]
            view = cap.read_view(pid, seq, tiny.frame_ids[1], serial)
            np.testing.assert_allclose(view.camera.K, c["K"][()], atol=1e-9)  # the reader's K scaling agrees
            np.testing.assert_allclose(view.camera.T_cam_from_world, c["T_cam_from_world"][()], atol=1e-12)
            from facebench.io.encodings import read_dataset

            image = read_dataset(c["image"], slice(1, 2))[0]  # schema 2: decoded (png here)
            assert np.abs(view.image.astype(int) - image).mean() < 0.5  # colour-corrected
            np.testing.assert_allclose(view.depth, c["depth"][1], atol=2e-5)
            assert np.array_equal(view.alpha > 0.5, c["mask"][1] > 0)
