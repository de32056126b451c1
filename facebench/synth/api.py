"""``synthesize``: write a synthetic multi-view capture in a NeRSemble layout, plus its exact truth."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError, InputError
from facebench.synth.motion import SEQUENCES

# name -> (n_cameras, width, height, frames, default sequences)
PRESETS = {
    "tiny": (3, 64, 96, 3, ("EXP-1-head",)),
    "small": (16, 256, 374, 8, ("EXP-1-head", "SEN-01-cramp_small_danger")),
    "medium": (16, 550, 802, 6, ("EXP-1-head",)),  # a quarter of NeRSemble's 2200x3208 sensor
    "full": (16, 1100, 1604, 16, ("EXP-1-head", "EMO-1-shout+laugh", "SEN-01-cramp_small_danger", "FREE")),
}
TRAIN_PARTICIPANTS = (101, 199)  # ids for training captures; synth-v1 test participants are 901-999


@dataclass
class SynthResult:
    """What :func:`synthesize` wrote: folders, names, sizes and the rendering speed."""

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

    @property
    def images_per_s(self) -> float:
        return self.n_images / max(self.elapsed_s, 1e-9)


def synthesize(out, preset: str = "tiny", layout: str = "v1", seed: int = 0, participants=None,
               sequences=None, frames: int | None = None, stride: int = 1, depth_noise_mm: float = 0.0,
               holes: float = 0.0, flying_pixels: bool = False, truth_dir=None, truth_gt=None,
               template=None, progress: bool = True, n_participants: int | None = None,
               gt_resolution: tuple[int, int] | None = None, n_tracks: int = 256,
               workers: int = 1, threads: int = 2, gt_options: dict | None = None,
               cameras: int | None = None) -> SynthResult:
    """Render a synthetic capture of ``participants`` x ``sequences`` into ``out`` (SPEC §3 layout).

    participants: 3-digit id strings (default: ``n_participants`` ids from 101, else ["101"]);
    sequences: names (unknown names get a random but deterministic performance) or an int
    N for the first N of :data:`facebench.synth.motion.SEQUENCES` (default: the preset's);
    frames: frame count (default: the preset's); stride: timestep step between frames.
    truth_dir: truth folder, default ``{out}-truth`` (must not be inside ``out``);
    truth_gt: optional GT folder for exact SPEC §4 shards (one per sequence); ``gt_options``
    go to its GTWriter (e.g. ``{"image_codec": "png"}``, ``{"schema_version": 1}``);
    gt_resolution: (width, height) of the GT clips, default the capture resolution;
    n_tracks: GT tracks per clip; cameras: how many of the rig's 16 cameras (default: the
    preset's; always the frontal one, the rest spread over the arc); workers: processes rendering
    sequences in parallel
    and ``threads`` cameras per frame at once in each (the output is identical for any
    number of workers and threads).
    """
    from facebench.synth.layouts import LAYOUTS

    if preset not in PRESETS:
        raise FacebenchError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if layout not in LAYOUTS:
        raise FacebenchError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    n_cams, width, height, preset_frames, preset_seqs = PRESETS[preset]
    if cameras is not None:
        if not 1 <= int(cameras) <= 16:
            raise FacebenchError(f"cameras must be in 1..16, got {cameras}")
        n_cams = int(cameras)
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

    if template is None or isinstance(template, str):
        from facebench.templates import DEFAULT_TEMPLATE, load

        tmpl = load(template or DEFAULT_TEMPLATE)
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
                                     "n_tracks": n_tracks},
                             **(gt_options or {}))
    from facebench.synth.render_job import CaptureConfig, render_sequence, write_participant

    cfg = CaptureConfig(out=str(out), truth=str(truth), layout=layout, seed=int(seed), n_cameras=n_cams,
                        width=width, height=height, frame_ids=tuple(int(f) for f in frame_ids),
                        depth_noise_mm=float(depth_noise_mm), holes=float(holes),
                        flying_pixels=bool(flying_pixels), gt_resolution=gt_resolution, n_tracks=n_tracks,
                        threads=max(1, int(threads)))
    t0 = time.perf_counter()
    for pid in pids:
        write_participant(tmpl, pid, cfg)
    first_shard = len(gt_writer.load_manifest()["shards"]) if gt_writer is not None else 0
    jobs = [(pid, seq, first_shard + i) for i, (pid, seq) in enumerate((p, s) for p in pids for s in seqs)]
    n_images = 0
    from tqdm import tqdm

    with tqdm(total=len(jobs) * frames, desc="synth frames", unit="frame", disable=not progress) as bar:
        serial = workers <= 1 or len(jobs) == 1
        if serial:
            results = (render_sequence(tmpl, pid, seq, cfg, gt_writer, k, on_frame=lambda: bar.update(1))
                       for pid, seq, k in jobs)
        else:
            from joblib import Parallel, delayed

            shipped = _without_caches(tmpl)
            results = Parallel(n_jobs=min(workers, len(jobs)), return_as="generator")(
                delayed(render_sequence)(shipped, pid, seq, cfg, gt_writer, k) for pid, seq, k in jobs)
        for count, entry in results:
            n_images += count
            if entry is not None:
                gt_writer.commit(entry)
            if not serial:
                bar.update(frames)
    from facebench.synth.rig import SERIALS, camera_subset

    return SynthResult(out=out, layout=layout, preset=preset, participants=pids, sequences=seqs,
                       serials=[SERIALS[i] for i in camera_subset(n_cams)], frame_ids=frame_ids.tolist(),
                       width=width, height=height, n_images=n_images, elapsed_s=time.perf_counter() - t0,
                       truth_dir=truth, gt_dir=None if truth_gt is None else Path(truth_gt))


def _without_caches(template):
    """A shallow copy of the template without its lazily built caches (an AABB tree does not pickle)."""
    import copy

    shipped = copy.copy(template)
    for attr, empty in (("_canonical_proximity", None), ("_torch_cache", {})):
        if hasattr(shipped, attr):
            setattr(shipped, attr, empty)
    return shipped


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
