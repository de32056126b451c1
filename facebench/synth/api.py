"""``synthesize``: write a synthetic multi-view capture in a NeRSemble layout, plus its exact truth."""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError, InputError
from facebench.synth.motion import SEQUENCES

# name -> (n_cameras, width, height, frames, default sequences)
PRESETS = {
    "tiny": (3, 64, 96, 3, ("EXP-1-head",)),
    "small": (16, 256, 374, 8, ("EXP-1-head", "SEN-01-cramp_small_danger")),
    "full": (16, 1100, 1604, 16, ("EXP-1-head", "EMO-1-shout+laugh", "SEN-01-cramp_small_danger", "FREE")),
}
TRAIN_PARTICIPANTS = (101, 199)  # ids for training captures; synth-v1 test participants are 901-999


@dataclass
class SynthResult:
    out: Path
    layout: str
    preset: str
    participants: list[str]
    sequences: list[str]
    serials: list[str]
    frame_ids: list[int]
    width: int
    height: int
    n_images: int
    elapsed_s: float
    truth_dir: Path
    gt_dir: Path | None = None
    files: int = field(default=0)

    @property
    def images_per_s(self) -> float:
        return self.n_images / max(self.elapsed_s, 1e-9)


def synthesize(out, preset: str = "tiny", layout: str = "v1", seed: int = 0, participants=None,
               sequences=None, frames: int | None = None, stride: int = 1, depth_noise_mm: float = 0.0,
               holes: float = 0.0, flying_pixels: bool = False, truth_dir=None, truth_gt=None,
               template="facebench-head", progress: bool = True, n_participants: int | None = None,
               gt_resolution: tuple[int, int] | None = None, n_tracks: int = 256) -> SynthResult:
    """Render a synthetic capture of ``participants`` x ``sequences`` into ``out`` (SPEC §3 layout).

    participants: 3-digit id strings (default: ``n_participants`` ids from 101, else ["101"]);
    sequences: names (unknown names get a random but deterministic performance) or an int
    N for the first N of :data:`facebench.synth.motion.SEQUENCES` (default: the preset's);
    frames: frame count (default: the preset's); stride: timestep step between frames.
    truth_dir: truth folder, default ``{out}-truth`` (must not be inside ``out``);
    truth_gt: optional GT folder for exact SPEC §4 shards (one per sequence);
    gt_resolution: (width, height) of the GT clips, default the capture resolution.
    """
    from facebench.synth.layouts import LAYOUTS

    if preset not in PRESETS:
        raise FacebenchError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if layout not in LAYOUTS:
        raise FacebenchError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    n_cams, width, height, preset_frames, preset_seqs = PRESETS[preset]
    pids = _participants(participants, n_participants)
    seqs = _sequences(sequences, preset_seqs)
    frames = preset_frames if frames is None else int(frames)
    if frames < 1 or stride < 1:
        raise FacebenchError(f"frames and stride must be >= 1 (got {frames}, {stride})")
    if not 0.0 <= holes < 1.0 or depth_noise_mm < 0:
        raise FacebenchError("holes must be in [0, 1) and depth noise >= 0")
    out = Path(out)
    truth = Path(truth_dir) if truth_dir is not None else out.with_name(out.name + "-truth")
    _check_outside(truth, out, "truth folder")
    if truth_gt is not None:
        _check_outside(Path(truth_gt), out, "GT folder")

    if isinstance(template, str):
        from facebench.templates import load

        tmpl = load(template)
    else:
        tmpl = template
    frame_ids = np.arange(frames, dtype=np.int32) * int(stride)
    out.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    _write_meta(truth, preset=preset, layout=layout, seed=seed, template=tmpl.name, participants=pids,
                sequences=seqs, frame_ids=frame_ids.tolist(), width=width, height=height,
                depth_noise_mm=depth_noise_mm, holes=holes, flying_pixels=flying_pixels)
    gt_writer = None
    if truth_gt is not None:
        from facebench.io.shards import GTWriter

        gt_writer = GTWriter(truth_gt, template=tmpl, dataset="synth",
                             config={"generator": "synth", "preset": preset, "seed": seed,
                                     "frame_ids": frame_ids.tolist(), "gt_resolution": gt_resolution,
                                     "n_tracks": n_tracks})
    from tqdm import tqdm

    t0 = time.perf_counter()
    n_images = 0
    bar = tqdm(total=len(pids) * len(seqs) * frames, desc="synth frames", unit="frame", disable=not progress)
    shard_index = 0
    if gt_writer is not None:
        shard_index = len(gt_writer.load_manifest()["shards"])
    for pid in pids:
        n_images += _participant(out, truth, tmpl, pid, seqs, frame_ids, seed, layout, n_cams, width, height,
                                 depth_noise_mm, holes, flying_pixels, gt_writer, gt_resolution, n_tracks,
                                 bar, shard_index)
        shard_index += len(seqs)
    bar.close()
    from facebench.synth.rig import SERIALS, _camera_subset

    return SynthResult(out=out, layout=layout, preset=preset, participants=pids, sequences=seqs,
                       serials=[SERIALS[i] for i in _camera_subset(n_cams)], frame_ids=frame_ids.tolist(),
                       width=width, height=height, n_images=n_images, elapsed_s=time.perf_counter() - t0,
                       truth_dir=truth, gt_dir=None if truth_gt is None else Path(truth_gt))


def _participant(out, truth, tmpl, pid, seqs, frame_ids, seed, layout, n_cams, width, height,
                 depth_noise_mm, holes, flying_pixels, gt_writer, gt_resolution, n_tracks, bar,
                 shard_index) -> int:
    from facebench.synth import truth as truth_io
    from facebench.synth.depth import degrade_depth, encode_depth_png
    from facebench.synth.layouts import CaptureWriter, apply_color, color_distortion, tracking_npz
    from facebench.synth.motion import euler_to_matrix, make_identity, make_performance
    from facebench.synth.rig import make_rig
    from facebench.synth.scene import HeadScene, background_image

    identity = make_identity(seed, pid, tmpl.n_identity)
    scene = HeadScene(tmpl, identity, seed)
    rig = make_rig(n_cams, seed=zlib.crc32(f"{seed}/{pid}".encode()))
    cameras = rig.cameras(width, height)
    gt_cams = cameras if gt_resolution is None else rig.cameras(*gt_resolution)
    backgrounds = {s: background_image(seed, s, width, height) for s in rig.serials}
    distort = {s: color_distortion(seed, s) for s in rig.serials}
    corrections = {s: np.linalg.inv(D) for s, D in distort.items()}
    writer = CaptureWriter(out, layout)
    writer.participant(pid, rig, corrections, {s: apply_color(b, distort[s]) for s, b in backgrounds.items()})
    truth_io.write_participant_truth(truth, pid, rig, identity, width, height)
    n_images = 0
    for k, seq in enumerate(seqs):
        perf = make_performance(seed, pid, seq, frame_ids, tmpl.n_expression)
        vertices = scene.template_vertices(perf)
        R = euler_to_matrix(perf.rotation)
        translation = perf.translation + scene.base_translation[None]
        truth_io.write_sequence_truth(truth, pid, perf, vertices, translation, R, identity.shape)
        rng = np.random.default_rng([seed, zlib.crc32(f"{pid}/{seq}".encode()), 101])
        writer.begin_sequence(pid, seq, corrections)
        collector = None
        if gt_writer is not None:
            collector = truth_io.GTCollector(tmpl, pid, perf, vertices, gt_cams, n_tracks=n_tracks, seed=seed)
        gt_bgs = backgrounds if gt_resolution is None else {
            s: background_image(seed, s, *gt_resolution) for s in rig.serials}
        for t, fid in enumerate(perf.frame_ids):
            fs = scene.frame(vertices[t], perf)
            xyz, nrm = [], []
            for serial in rig.serials:
                r = fs.render(cameras[serial], backgrounds[serial])
                fg = r.foreground
                depth_obs = degrade_depth(r.depth, fg, rng, depth_noise_mm, holes, flying_pixels)
                depth_q = encode_depth_png(depth_obs) if layout == "v1" else None
                alpha = (fg * 255).astype(np.uint8)
                writer.view(int(fid), serial, apply_color(r.rgb, distort[serial]), alpha, depth_q)
                n_images += 1
                if layout == "benchmark":
                    ok = np.isfinite(depth_obs) & fg
                    cam = cameras[serial]
                    xyz.append(cam.cam_to_world(cam.unproject_depth(np.where(ok, depth_obs, np.nan))[ok]))
                    nrm.append(r.normal_world[ok])
                if collector is not None:
                    collector.add(t, serial, r if gt_resolution is None
                                  else fs.render(gt_cams[serial], gt_bgs[serial]))
            if layout == "benchmark":
                # video layouts index frames 0..T-1 (frame t of each mp4); tracking "frames" = timesteps
                writer.pointcloud(t, *_subsample(np.concatenate(xyz), np.concatenate(nrm)))
            bar.update(1)
        tracking = tracking_npz(identity.shape, perf, R, translation) if layout == "benchmark" else None
        writer.end_sequence(tracking)
        if collector is not None:
            gt_writer.commit(gt_writer.write_sequence(collector.sequence(), shard_index + k))
    return n_images


def _subsample(xyz, normals, max_points: int = 200_000):
    if len(xyz) <= max_points:
        return xyz, normals
    step = int(np.ceil(len(xyz) / max_points))
    return xyz[::step], normals[::step]


def _participants(participants, n_participants) -> list[str]:
    if participants is None:
        n = 1 if n_participants is None else int(n_participants)
        if not 1 <= n <= TRAIN_PARTICIPANTS[1] - TRAIN_PARTICIPANTS[0] + 1:
            raise FacebenchError(f"--n-participants must be in 1..99, got {n}")
        return [str(TRAIN_PARTICIPANTS[0] + i) for i in range(n)]
    if isinstance(participants, str):
        participants = participants.split(",")
    pids = [str(p).strip() for p in participants]
    bad = [p for p in pids if not (len(p) == 3 and p.isdigit())]
    if bad or not pids:
        raise FacebenchError(f"participant ids are 3-digit strings such as '101' (got {bad or pids})")
    if len(set(pids)) != len(pids):
        raise FacebenchError(f"duplicate participant ids in {pids}")
    return pids


def _sequences(sequences, default) -> list[str]:
    if sequences is None:
        return list(default)
    if isinstance(sequences, int) or (isinstance(sequences, str) and sequences.isdigit()):
        n = int(sequences)
        if not 1 <= n <= len(SEQUENCES):
            raise FacebenchError(f"sequence count must be in 1..{len(SEQUENCES)}, got {n}")
        return list(SEQUENCES[:n])
    if isinstance(sequences, str):
        sequences = sequences.split(",")
    seqs = [s.strip() for s in sequences if s.strip()]
    bad = [s for s in seqs if "/" in s or s.startswith(".") or s == "BACKGROUND"]
    if bad or not seqs:
        raise FacebenchError(f"bad sequence names {bad or seqs}")
    return seqs


def _check_outside(path: Path, out: Path, what: str) -> None:
    p, o = path.resolve(), out.resolve()
    if p == o or o in p.parents:
        raise InputError(f"the {what} must not be inside the capture folder {out}", path)


def _write_meta(truth: Path, **meta) -> None:
    import json

    (truth / "synth.json").write_text(json.dumps({"generator": "facebench synth", **meta}, indent=1) + "\n")
