"""Images-only captures (the public NeRSemble v2 release): stereo, masks, landmarks, end to end."""

import json

import numpy as np
import pytest

from facebench.geometry import Camera
from facebench.synth.rig import look_at

K = np.array([[300.0, 0, 79.5], [0, 300.0, 59.5], [0, 0, 1]])  # 160x120 images, ~30 deg field


def _rig(azimuths_deg, distance=1.0):
    cams = []
    for az in np.deg2rad(azimuths_deg):
        centre = distance * np.array([np.sin(az), 0.0, np.cos(az)])
        cams.append(Camera(K, look_at(centre, np.zeros(3)), 160, 120))
    return cams


def _texture(xyz):
    """A smooth random albedo in [0.2, 0.8] (periods 4-20 mm), a function of world position."""
    rng = np.random.default_rng(3)
    f = rng.normal(size=(12, 3)) * 2 * np.pi / rng.uniform(0.004, 0.02, (12, 1))
    phase = rng.uniform(0, 2 * np.pi, 12)
    return 0.5 + 0.3 * np.sin(xyz @ f.T + phase).mean(-1) * 2.0


def _render_plane(cam, normal, offset):
    """Depth and image of the plane ``normal . x = offset`` (world) seen by ``cam``."""
    origin, dirs = cam.pixel_rays()
    t = (offset - origin @ normal) / (dirs @ normal)
    xyz = origin + dirs * t[..., None]
    grey = np.clip(_texture(xyz.reshape(-1, 3)).reshape(t.shape), 0, 1)
    return t, np.repeat((grey * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=2)


def test_stereo_recovers_a_slanted_textured_plane():
    from facebench.prepare import mvs

    cams = _rig([-12, 0, 12, 24])
    normal = np.array([0.25, 0.1, 1.0]) / np.linalg.norm([0.25, 0.1, 1.0])
    renders = [_render_plane(c, normal, 0.02) for c in cams]
    masks = [np.ones((120, 160), bool)] * len(cams)
    cfg = mvs.StereoConfig(window=7, levels=3, depth_radius=0.2, max_angle_deg=30.0)
    views = mvs.stereo_frame(cams, [im for _, im in renders], masks, np.zeros(3), cfg)
    depths, support = mvs.consistency_filter(cams, views, cfg)
    for (truth, _), d, s in zip(renders, depths, support):
        inner = np.zeros_like(truth, bool)
        inner[10:-10, 10:-10] = True  # the window needs texture on every side
        ok = np.isfinite(d) & inner
        assert ok.sum() > 0.5 * inner.sum()
        err_mm = np.abs(d[ok] - truth[ok]) * 1000
        # at 1 m with f = 300 px and a 12 degree baseline, 1 mm of depth is 0.063 px of disparity:
        # these bounds are 0.1 px (median) and 0.3 px (p90) of matching error
        assert np.median(err_mm) < 1.6 and np.percentile(err_mm, 90) < 4.8
        assert (s[ok] >= cfg.min_consistent).all()


def test_stereo_finds_nothing_on_a_textureless_view():
    """Uniform grey has no correlation: no pixel gets a depth (QC then fails the sequence)."""
    from facebench.prepare import mvs

    cams = _rig([-12, 0, 12])
    flat = np.full((120, 160, 3), 128, np.uint8)
    views = mvs.stereo_frame(cams, [flat] * 3, [np.ones((120, 160), bool)] * 3, np.zeros(3),
                             mvs.StereoConfig(window=7, levels=2))
    depths, _ = mvs.consistency_filter(cams, views)
    assert all(np.isfinite(d).mean() < 0.01 for d in depths)


def test_neighbours_are_the_closest_viewing_directions():
    from facebench.prepare.mvs import StereoConfig, select_neighbours

    cams = _rig([-60, -20, -10, 0, 10, 40])
    nbs = select_neighbours(cams, np.zeros(3), StereoConfig(neighbours=2, max_angle_deg=45))
    assert nbs[3] == [2, 4] and nbs[0] == [1] and nbs[5] == [4, 3]
    assert select_neighbours(cams, np.zeros(3), StereoConfig(neighbours=2, max_angle_deg=15))[0] == []


def test_triangulation_votes_out_a_view_that_disagrees():
    from facebench.prepare.landmarks import INNER, triangulate

    cams = _rig([-30, -15, 0, 15, 30])
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.05, 0.05, (2, 68, 3))  # two frames of 68 points near the origin
    xy = np.stack([np.stack([c.project_world(p)[0] for p in pts]) for c in cams])  # (C,T,68,2)
    xy[1] += 25.0  # camera 1 is off by 25 px (e.g. a wrong calibration)
    xy[3, 1] = np.nan  # camera 3 found no face in frame 1
    lm = triangulate(cams, xy)
    assert lm.inlier[:, 0].tolist() == [True, False, True, True, True]
    assert lm.inlier[:, 1].tolist() == [True, False, True, False, True]
    np.testing.assert_allclose(lm.xyz_world, pts, atol=1e-6)
    assert np.nanmax(lm.reprojection_px[[0, 2, 4]]) < 1e-3 and np.nanmin(lm.reprojection_px[1]) > 20
    assert np.isnan(lm.reprojection_px[3, 1])
    np.testing.assert_allclose(lm.center_world(), pts[:, INNER].mean(1), atol=1e-6)


def test_landmark_pose_puts_the_template_on_its_landmarks():
    from facebench.prepare.landmarks import MultiViewLandmarks, landmark_pose, template_landmarks
    from facebench.templates import load
    from facebench.templates.lbs import rodrigues

    tmpl = load("facebench-head")
    rot, trans = np.array([[0.1, -0.3, 0.05]]), np.array([[0.01, -0.02, 0.03]])
    world = tmpl.deform(rotation=rot[0], translation=trans[0])
    pts = template_landmarks(tmpl, world)[None]
    lm = MultiViewLandmarks(xy=np.zeros((1, 1, 68, 2)), xyz_world=pts, inlier=np.ones((1, 1), bool),
                            reprojection_px=np.zeros((1, 1)), px_scale=np.ones(1))
    pose = landmark_pose(tmpl, lm)
    np.testing.assert_allclose(rodrigues(pose["rotation"]), rodrigues(rot), atol=1e-6)
    np.testing.assert_allclose(pose["translation"], trans, atol=1e-6)


def test_masks_ignore_exposure_and_cast_shadows():
    from scipy import ndimage

    from facebench.prepare.masks import MaskConfig, foreground_masks

    rng = np.random.default_rng(1)
    H, W = 120, 160
    yy, xx = np.mgrid[:H, :W]
    wall = (0.55 + 0.1 * np.sin(xx / 9.0)[..., None] * np.array([1.0, 0.9, 0.8])
            + 0.05 * np.cos(yy / 13.0)[..., None])
    plate = np.clip(wall + rng.normal(0, 0.006, wall.shape), 0, 1)
    subject = (xx - 70) ** 2 + (yy - 55) ** 2 < 30**2
    shadow = ndimage.gaussian_filter(((xx - 95) ** 2 + (yy - 75) ** 2 < 30**2).astype(float), 3) * ~subject
    frame = wall * 0.95 * (1 - 0.35 * shadow)[..., None]  # 5 % darker exposure, a soft shadow
    frame[subject] = np.array([0.7, 0.45, 0.35]) * (0.9 + 0.1 * np.sin(xx[subject] / 3.0))[:, None]
    frame = np.clip(frame + rng.normal(0, 0.006, frame.shape), 0, 1)
    u8 = lambda a: (a * 255 + 0.5).astype(np.uint8)  # noqa: E731
    far = ndimage.distance_transform_edt(~subject) > 2  # the blur mixes colours within 2 px
    mask = foreground_masks(u8(frame)[None], u8(plate), MaskConfig(segmentation=False))[0] > 0.5
    assert (mask & subject).sum() / subject.sum() > 0.99
    assert (mask & far).sum() < 0.04 * subject.sum()
    no_shadow_test = MaskConfig(segmentation=False, shadow_min=1.0)  # the shadow taken as subject
    naive = foreground_masks(u8(frame)[None], u8(plate), no_shadow_test)[0] > 0.5
    assert (naive & far).sum() > 0.5 * subject.sum()


def test_choose_depth_source(tmp_path):
    from facebench.errors import InputError
    from facebench.prepare.depth_source import choose_source
    from facebench.prepare.sequence import Views

    class Capture:
        root = tmp_path

        def __init__(self, cloud):
            self.cloud = cloud

        def read_pointcloud(self, *args):
            return self.cloud

    cams = _rig([0, 10])
    views = Views(["a", "b"], cams, [None] * 2, [None] * 2, [None, None])
    assert choose_source("auto", Capture(None), "101", "S", [0], views) == "mvs"
    assert choose_source("auto", Capture((np.zeros((1, 3)), None)), "101", "S", [0], views) == "pointcloud"
    views.depths = [np.zeros((1, 2, 2)), None]
    assert choose_source("auto", Capture(None), "101", "S", [0], views) == "maps"
    assert choose_source("hull", Capture(None), "101", "S", [0], views) == "hull"
    with pytest.raises(InputError, match="depth source 'pointcloud' asked for.*available: maps, mvs, hull"):
        choose_source("pointcloud", Capture(None), "101", "S", [0], views)
    with pytest.raises(InputError, match="must be one of"):
        choose_source("colmap", Capture(None), "101", "S", [0], views)


FAST = {"fit": {"iterations": 80, "offset_iterations": 20}, "maps": {"n_tracks": 32}}


@pytest.fixture(scope="module")
def images_only(tmp_path_factory):
    """A v2 capture (videos + BACKGROUND only): 6 cameras, 256x374, 2 frames, an ICT subject."""
    from facebench.synth import synthesize

    root = tmp_path_factory.mktemp("v2")
    synthesize(root / "cap", preset="small", layout="v2", cameras=6, frames=2, stride=10, seed=7,
               participants=["931"], sequences=["EXP-1-head"], truth_dir=root / "truth", progress=False)
    return root


@pytest.mark.slow
def test_images_only_capture_end_to_end(images_only, tmp_path):
    """prepare on videos + BACKGROUND images: landmarks, masks, stereo, fit; GT close to the truth."""
    pytest.importorskip("mediapipe")
    from facebench.io.shards import GTReader, validate_gt
    from facebench.prepare import prepare_nersemble
    from facebench.prepare.fidelity_free import measure
    from facebench.templates import load

    gt = tmp_path / "gt"
    summary = prepare_nersemble(images_only / "cap", gt, config=FAST, progress=False)
    assert summary.sequences_done == 1 and validate_gt(gt) == []
    reader = GTReader(gt)
    attrs = reader.sequence_attrs("931", "EXP-1-head")
    assert attrs["depth_source"] == "mvs" and attrs["masks_from"] == "background"
    assert attrs["fit_init"] == "landmarks"
    assert reader.manifest["config"]["pipeline"]["depth"] == "auto"
    coverage = [v["coverage"] for v in attrs["stereo"].values()]  # share of the face with a depth
    assert min(coverage) > 0.03 and np.median(coverage) > 0.15
    assert sum(v["inlier"] for v in attrs["landmarks"].values()) >= 8
    assert attrs["qc"]["flag"] in ("pass", "warn")
    assert np.isfinite(attrs["qc"]["figures"]["landmark_px"]).all()
    from facebench.report import info, write_report

    text = info(gt)  # facebench info: per view stereo coverage and confidence, landmarks
    assert "depth mvs, masks background, fit start landmarks" in text
    assert sum(line.count(" | ") == 4 for line in text.splitlines()) == 1 + len(attrs["stereo"])
    page = write_report(gt, out_dir=tmp_path / "report", max_clips=1, progress=False).read_text()
    assert "How the GT was made" in page and page.count("<tr>") >= len(attrs["stereo"]) + 1
    tmpl = load("ict-light")
    fig = measure(images_only / "truth", gt, template=tmpl, subject=tmpl, n_points=500)
    assert fig["consistency_median_mm"] < 2.0 and fig["depth_error_median_mm"] < 2.0
    assert fig["canonical_abs_median_mm"] < 5.0 and fig["coverage"] > 0.95


@pytest.mark.slow
def test_images_only_without_background_plates_uses_segmentation(images_only, tmp_path):
    """No BACKGROUND images: the documented fallback is person segmentation alone (recorded)."""
    pytest.importorskip("mediapipe")
    import shutil

    from facebench.io.shards import GTReader
    from facebench.prepare import prepare_nersemble

    cap = tmp_path / "cap"
    shutil.copytree(images_only / "cap", cap)
    shutil.rmtree(cap / "931" / "sequences" / "BACKGROUND")
    prepare_nersemble(cap, tmp_path / "gt", config={**FAST, "depth": "hull"}, progress=False)
    attrs = GTReader(tmp_path / "gt").sequence_attrs("931", "EXP-1-head")
    assert attrs["masks_from"] == "segmentation" and attrs["depth_source"] == "hull"


def test_videos_of_different_lengths_are_one_line(images_only, tmp_path):
    import shutil

    from facebench.errors import InputError
    from facebench.nersemble import open_capture

    cap = tmp_path / "cap"
    shutil.copytree(images_only / "cap", cap)
    videos = sorted((cap / "931" / "sequences" / "EXP-1-head" / "images").glob("cam_*.mp4"))
    import imageio.v2 as imageio

    frame = imageio.get_reader(videos[2]).get_data(0)
    with imageio.get_writer(videos[2], fps=73, codec="libx264", macro_block_size=1) as w:
        w.append_data(frame)  # one frame instead of two
    with pytest.raises(InputError) as info, open_capture(cap) as c:
        c.frame_ids("931", "EXP-1-head")
    msg = str(info.value)
    assert "\n" not in msg and videos[2].name in msg and "has 1 frames" in msg and "have 2" in msg
    json.dumps(msg)


@pytest.mark.slow
def test_qc_fails_a_capture_where_stereo_cannot_work(images_only, tmp_path):
    """Every view blurred (out of focus): no consistent stereo depth, so QC fails every frame."""
    pytest.importorskip("mediapipe")
    import shutil

    import imageio.v2 as imageio
    from scipy import ndimage

    from facebench.io.shards import GTReader
    from facebench.prepare import prepare_nersemble

    cap = tmp_path / "cap"
    shutil.copytree(images_only / "cap", cap)
    for video in sorted((cap / "931" / "sequences" / "EXP-1-head" / "images").glob("cam_*.mp4")):
        frames = [ndimage.gaussian_filter(f, (6, 6, 0)) for f in imageio.mimread(video)]
        imageio.mimwrite(video, frames, fps=73, codec="libx264", macro_block_size=1)
    prepare_nersemble(cap, tmp_path / "gt", config=FAST, progress=False)
    attrs = GTReader(tmp_path / "gt").sequence_attrs("931", "EXP-1-head")
    assert attrs["depth_source"] == "mvs" and attrs["qc"]["flag"] == "fail"
    coverage = attrs["qc"]["figures"]["stereo_coverage"]
    assert all(frame < 0.08 for frame in coverage)


def test_device_choice_is_checked():
    import torch

    from facebench.errors import FacebenchError
    from facebench.prepare.mvs import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(FacebenchError, match="must be auto, cpu, cuda or cuda:N"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(FacebenchError, match="torch sees no CUDA device"):
            resolve_device("cuda:0")
