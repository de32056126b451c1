"""Rendering one participant's files and one sequence of a synthetic capture (one worker job each).

:func:`write_participant` runs in the calling process (calibration, colour
calibration, BACKGROUND images, participant truth); :func:`render_sequence`
renders every frame and camera of one sequence and may run in a worker process.
Everything random is seeded from ``(seed, participant, sequence, frame, camera)``,
so the output does not depend on the number of workers or their order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CaptureConfig:
    out: str
    truth: str
    layout: str
    seed: int
    n_cameras: int
    width: int
    height: int
    frame_ids: tuple[int, ...]
    depth_noise_mm: float = 0.0
    holes: float = 0.0
    flying_pixels: bool = False
    gt_resolution: tuple[int, int] | None = None
    n_tracks: int = 256
    threads: int = 2  # cameras rendered concurrently within a frame


class Participant:
    """Identity, scene, rig, backgrounds and camera colours of one participant (deterministic)."""

    def __init__(self, template, pid: str, cfg: CaptureConfig):
        from facebench.synth.layouts import color_distortion
        from facebench.synth.motion import make_identity
        from facebench.synth.rig import make_rig
        from facebench.synth.scene import HeadScene, background_image

        self.pid = pid
        self.identity = make_identity(cfg.seed, pid, template.n_identity,
                                      clip=2.0 if template.blendshapes else 2.5)
        self.scene = HeadScene(template, self.identity, cfg.seed)
        self.rig = make_rig(cfg.n_cameras, seed=zlib.crc32(f"{cfg.seed}/{pid}".encode()))
        self.cameras = self.rig.cameras(cfg.width, cfg.height)
        self.backgrounds = {s: background_image(cfg.seed, s, cfg.width, cfg.height) for s in self.rig.serials}
        self.distort = {s: color_distortion(cfg.seed, s) for s in self.rig.serials}
        self.corrections = {s: np.linalg.inv(D) for s, D in self.distort.items()}


def write_participant(template, pid: str, cfg: CaptureConfig) -> None:
    from facebench.synth import truth as truth_io
    from facebench.synth.layouts import CaptureWriter, apply_color

    p = Participant(template, pid, cfg)
    backgrounds = {s: apply_color(b, p.distort[s]) for s, b in p.backgrounds.items()}
    if cfg.layout == "v2":  # the BACKGROUND plate was taken at another moment (camera_model)
        from facebench.synth.camera_model import background_plate

        backgrounds = {s: background_plate(b, cfg.seed, s) for s, b in backgrounds.items()}
    CaptureWriter(cfg.out, cfg.layout).participant(pid, p.rig, p.corrections, backgrounds,
                                                   (cfg.width, cfg.height))
    truth_io.write_participant_truth(cfg.truth, pid, p.rig, p.identity, cfg.width, cfg.height)


def render_sequence(template, pid: str, seq: str, cfg: CaptureConfig, gt_writer=None, shard_index: int = 0,
                    on_frame=None):
    """Render and write one sequence; returns (number of images, GT shard entry or None).

    ``on_frame()`` is called after each frame (progress bars in the calling process).
    """
    from facebench.synth import truth as truth_io
    from facebench.synth.depth import degrade_depth, encode_depth_png
    from facebench.synth.layouts import CaptureWriter, apply_color, tracking_npz
    from facebench.synth.motion import euler_to_matrix, make_performance
    from facebench.synth.scene import background_image

    p = Participant(template, pid, cfg)
    scene, rig, cameras = p.scene, p.rig, p.cameras
    perf = make_performance(cfg.seed, pid, seq, np.asarray(cfg.frame_ids), template.n_expression)
    if template.blendshapes:
        from facebench.synth.arkit import arkit_performance
        from facebench.synth.motion import recipe

        perf = arkit_performance(perf, cfg.seed, pid, recipe(seq), template.expression_names)
    vertices = scene.template_vertices(perf)
    R = euler_to_matrix(perf.rotation)
    translation = perf.translation + scene.base_translation[None]
    truth_io.write_sequence_truth(cfg.truth, pid, perf, vertices, translation, R, p.identity.shape)
    writer = CaptureWriter(cfg.out, cfg.layout)
    writer.begin_sequence(pid, seq, p.corrections)
    collector, gt_cams, gt_bgs = None, cameras, p.backgrounds
    if gt_writer is not None:
        if cfg.gt_resolution is not None:
            gt_cams = rig.cameras(*cfg.gt_resolution)
            gt_bgs = {s: background_image(cfg.seed, s, *cfg.gt_resolution) for s in rig.serials}
        collector = truth_io.GTCollector(template, pid, perf, vertices, gt_cams, n_tracks=cfg.n_tracks,
                                         seed=cfg.seed)
    def render_view(fs, fid, serial):
        # pure computation (Embree releases the GIL): runs on the thread pool
        r = fs.render(cameras[serial], p.backgrounds[serial])
        rng = np.random.default_rng([cfg.seed, zlib.crc32(f"{pid}/{seq}/{serial}".encode()), int(fid)])
        depth_obs = degrade_depth(r.depth, r.foreground, rng, cfg.depth_noise_mm, cfg.holes,
                                  cfg.flying_pixels)
        if cfg.layout != "v2":
            return r, depth_obs, apply_color(r.rgb, p.distort[serial])
        # v2 (videos only, like the public release): cast shadow, colour, sensor noise
        from facebench.synth import camera_model as cm

        shaded = cm.cast_shadow(r.rgb, r.foreground, cfg.seed, serial)
        return r, depth_obs, cm.sensor_noise(apply_color(shaded, p.distort[serial]), cfg.seed, serial, fid)

    pool = None
    if cfg.threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=cfg.threads, thread_name_prefix="synth-render")
    n_images = 0
    for t, fid in enumerate(perf.frame_ids):
        fs = scene.frame(vertices[t], perf)
        xyz, nrm = [], []
        jobs = [(fs, fid, serial) for serial in rig.serials]
        views = pool.map(lambda job: render_view(*job), jobs) if pool else (render_view(*job) for job in jobs)
        for serial, (r, depth_obs, rgb_seen) in zip(rig.serials, views):  # written in camera order
            fg = r.foreground
            depth_q = encode_depth_png(depth_obs) if cfg.layout == "v1" else None
            alpha = (fg * 255).astype(np.uint8)
            writer.view(int(fid), serial, rgb_seen, alpha, depth_q)
            n_images += 1
            if cfg.layout == "benchmark":
                ok = np.isfinite(depth_obs) & fg
                cam = cameras[serial]
                xyz.append(cam.cam_to_world(cam.unproject_depth(np.where(ok, depth_obs, np.nan))[ok]))
                nrm.append(r.normal_world[ok])
            if collector is not None:
                same = cfg.gt_resolution is None
                collector.add(t, serial, r if same else fs.render(gt_cams[serial], gt_bgs[serial]))
        if cfg.layout == "benchmark":
            # video layouts index frames 0..T-1 (frame t of each mp4); tracking "frames" = timesteps
            writer.pointcloud(t, *_subsample(np.concatenate(xyz), np.concatenate(nrm)))
        if on_frame is not None:
            on_frame()
    if pool is not None:
        pool.shutdown()
    tracking = tracking_npz(p.identity.shape, perf, R, translation) if cfg.layout == "benchmark" else None
    writer.end_sequence(tracking)
    entry = None
    if collector is not None:
        entry = gt_writer.write_sequence(collector.sequence(), shard_index)
    return n_images, entry


def _subsample(xyz, normals, max_points: int = 200_000):
    if len(xyz) <= max_points:
        return xyz, normals
    step = int(np.ceil(len(xyz) / max_points))
    return xyz[::step], normals[::step]
