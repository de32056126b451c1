"""``prepare``: capture -> ground-truth shards, resumable, on any joblib backend.

Work is split per sequence.  Each worker runs :func:`_sequence_job` (read, fuse,
fit, GT maps, tracks; then writes its shard atomically through
``GTWriter.write_sequence``) and returns the shard's manifest entry; only the
parent process commits entries to ``manifest.json``, so the manifest is the
single commit record and a crash loses at most the sequences in flight.

Shard indices come from the sorted list of *every* (participant, sequence) of
the capture, not of the selection, so filtering or resuming never renumbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError
from facebench.faults import crash_point

ON_ERROR = ("raise", "skip")


@dataclass
class Summary:
    """What a ``prepare`` run did."""

    out: Path
    sequences_done: int = 0
    sequences_skipped: int = 0  # already in the manifest with the same config hash
    failures: list = field(default_factory=list)  # (participant/sequence, error)
    clips: int = 0
    frames: int = 0
    views: int = 0
    fit_residual_mm: list = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict = field(default_factory=dict)
    stage_cpu_seconds: dict = field(default_factory=dict)
    qc_frames: dict = field(default_factory=dict)  # frames per quality-control flag (pass/warn/fail)

    def __str__(self) -> str:
        res = np.asarray(self.fit_residual_mm, float)
        res_txt = f"{np.nanmedian(res):.2f} mm median" if res.size and np.isfinite(res).any() else "-"
        lines = [
            f"prepared {self.sequences_done} sequences ({self.clips} clips, {self.frames} frames, "
            f"{self.views} views) in {self.seconds:.1f} s; skipped {self.sequences_skipped} already done; "
            f"{len(self.failures)} failed",
            f"fit residual (point-to-plane, per sequence): {res_txt}",
        ]
        if self.qc_frames:
            lines.append("quality control (frames): " + ", ".join(
                f"{k} {self.qc_frames.get(k, 0)}" for k in ("pass", "warn", "fail")))
        if self.stage_seconds:
            lines.append("time per stage (s, summed over workers): " + ", ".join(
                f"{k} {v:.1f}" for k, v in self.stage_seconds.items()))
        lines += [f"failed: {key}: {err}" for key, err in self.failures]
        lines.append(f"ground truth in {self.out}/manifest.json")
        return "\n".join(lines)


def _sequence_job(root, layout, participant, sequence, serials, frame_ids, template_name, config: dict,
                  resolution, writer, index, on_error, show_stages=False, native_size=None):
    """Worker side: one sequence to one shard.  Returns ("ok", entry, stats) or ("failed", key, error)."""
    from facebench.nersemble import open_capture
    from facebench.prepare.config import PipelineConfig
    from facebench.prepare.sequence import STAGES, prepare_sequence
    from facebench.templates import load

    def work(progress):
        with open_capture(root, layout, native_size=native_size) as capture:
            seq, stats = prepare_sequence(capture, participant, sequence, serials, frame_ids,
                                          load(template_name), PipelineConfig.from_dict(config), resolution,
                                          progress=progress)
        return writer.write_sequence(seq, index), stats

    return guarded_job(f"{participant}/{sequence}", on_error, len(STAGES) if show_stages else 0, work)


def guarded_job(key: str, on_error: str, stages: int, work):
    """Run one sequence's ``work(progress) -> (manifest entry, stats)`` in a worker: returns
    ("ok", entry, stats), or ("failed", key, error) when it raises and ``on_error`` is "skip".
    ``stages`` > 0 shows a progress bar over that many stages (in-process runs)."""
    bar = None
    if stages:
        from tqdm.auto import tqdm

        bar = tqdm(total=stages, desc=key, unit="stage", leave=False)
    try:
        from threadpoolctl import threadpool_limits

        # one BLAS thread: small (N,3)@(3,3) products are 10x slower when OpenBLAS threads contend
        # with other workers for the cores, and results never depend on the machine's thread count
        with threadpool_limits(limits=1, user_api="blas"):
            entry, stats = work(None if bar is None else _stage_callback(bar))
        return "ok", entry, stats
    except Exception as exc:
        if on_error == "raise":
            raise
        return "failed", key, f"{type(exc).__name__}: {exc}"
    finally:
        if bar is not None:
            bar.close()


def _stage_callback(bar):
    def done(stage: str, next_stage: str) -> None:
        bar.set_postfix_str(next_stage)
        bar.update(1)

    return done


def hashed_config(config: dict, template, layout: str, cameras, frames, resolution, native_size=None) -> dict:
    """The configuration recorded in the manifest: every value that changes the output."""
    if isinstance(cameras, str):  # "a,b" from the command line
        cameras = [c.strip() for c in cameras.split(",") if c.strip()]
    out = {"pipeline": config, "template": {"name": template.name, "sha256": template.sha256},
           "layout": layout, "cameras": sorted(str(c) for c in cameras) if cameras else None,
           "frames": None if frames is None else str(frames), "resolution": resolution}
    if native_size is not None:  # stated only when given: older manifests keep their hash
        out["native_size"] = [int(native_size[0]), int(native_size[1])]
    return out


def open_writer(out, template, dataset: str, benchmark, config: dict, source: str, cameras, frames,
                resolution, native_size=None):
    """The GT writer of a ``prepare`` run: manifest config hashed from every value that changes the
    output (:func:`hashed_config`), compression and image codec from the pipeline config."""
    from facebench.io.shards import GTWriter
    from facebench.prepare.config import PipelineConfig

    cfg = PipelineConfig.from_dict(config)
    return GTWriter(out, template=template, dataset=dataset, benchmark=benchmark,
                    config=hashed_config(config, template, source, cameras, frames, resolution, native_size),
                    compression=cfg.compression, compression_level=cfg.compression_level,
                    image_codec=cfg.image_codec)


def prepare_nersemble(root, out, layout=None, participants=None, sequences=None, cameras=None, frames=None,
                      resolution=None, template="ict-light", config=None, workers=1, backend="loky",
                      scheduler=None, progress=True, on_error="raise", dataset="nersemble",
                      benchmark=None, native_size=None) -> Summary:
    """Prepare ground truth for a NeRSemble-layout capture (SPEC §3) into ``out`` (SPEC §4).

    ``config``: None (shipped ``pipelines/nersemble.yaml``), a YAML path overriding
    it, or a dict of overrides.  ``frames``: "START:STOP:STEP" of frame ids.
    ``resolution``: long side in pixels of the stored maps (None keeps the read size).
    ``backend``: loky | dask | ray, ``scheduler`` the cluster address.
    ``on_error``: "raise" stops at the first failing sequence; "skip" records it in
    the manifest's ``failures`` and goes on.  Sequences already committed with the
    same config hash are skipped (resume).  ``native_size`` (W, H): the image size the
    intrinsics refer to where ``camera_params.json`` does not say (default 2200 x 3208).
    Every sequence's cameras are checked against its own evidence before any fitting
    (:mod:`facebench.prepare.camera_evidence`).
    """
    import joblib

    from facebench.nersemble import open_capture
    from facebench.prepare.config import PipelineConfig, load_config
    from facebench.templates import load

    if on_error not in ON_ERROR:
        raise FacebenchError(f"--on-error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    start = time.perf_counter()
    out = Path(out)
    cfg_dict = load_config(config) if not isinstance(config, dict) else load_config(None, config)
    PipelineConfig.from_dict(cfg_dict)  # a bad config fails here, not in a worker
    tmpl = load(template)
    with open_capture(root, layout, native_size=native_size) as capture:
        layout = capture.layout
        everything = sorted((p, s) for p in capture.participants() for s in capture.sequences(p))
        unlisted = [] if on_error == "skip" else None  # sequences whose frames cannot be listed
        selection = capture.select(participants, sequences, cameras, frames, errors=unlisted)
    index_of = {key: i for i, key in enumerate(everything)}
    writer = open_writer(out, tmpl, dataset, benchmark, cfg_dict, layout, cameras, frames, resolution,
                         native_size)
    summary = Summary(out=out)
    with writer.locked():
        writer.remove_temporaries()  # left by a killed run; nothing reads them
        for participant, sequence, exc in unlisted or []:
            writer.record_failure(participant, sequence, f"{type(exc).__name__}: {exc}")
            summary.failures.append((f"{participant}/{sequence}", f"{type(exc).__name__}: {exc}"))
        todo = [s for s in selection if not writer.is_done(s.participant, s.sequence)]
        summary.sequences_skipped = len(selection) - len(todo)
        # one sequence, run in this process: also show its stages
        stages = bool(progress) and backend == "loky" and (len(todo) == 1 or int(workers) == 1)
        jobs = [joblib.delayed(_sequence_job)(str(root), layout, s.participant, s.sequence, list(s.serials),
                                              np.asarray(s.frame_ids), template, cfg_dict, resolution, writer,
                                              index_of[(s.participant, s.sequence)], on_error, stages,
                                              native_size)
                for s in todo]
        run_jobs(jobs, writer, summary, backend, workers, scheduler, progress)
    summary.seconds = time.perf_counter() - start
    return summary


def run_jobs(jobs, writer, summary: Summary, backend="loky", workers=1, scheduler=None,
             progress=True) -> None:
    """Run per-sequence ``jobs`` (joblib delayed calls returning ("ok", manifest entry, stats) or
    ("failed", "participant/sequence", error)) on ``backend``; commit each finished shard to the
    manifest in this process, as it arrives.  Call inside ``writer.locked()``."""
    import joblib

    from facebench.parallel import backend_context, return_as

    bar = _progress_bar(len(jobs), progress)
    try:
        with backend_context(backend, workers, scheduler) as n_jobs:
            n_jobs = 1 if len(jobs) <= 1 else min(n_jobs, len(jobs))
            parallel = joblib.Parallel(n_jobs=n_jobs, return_as=return_as("generator_unordered"))
            results = parallel(jobs) if jobs else []
            for status, payload, info in results:
                if status == "ok":
                    writer.commit(payload)
                    crash_point("sequence-committed")
                    _add(summary, info)
                else:
                    writer.record_failure(*payload.split("/", 1), info)
                    summary.failures.append((payload, info))
                if bar is not None:
                    bar.set_postfix_str(payload["file"] if status == "ok" else f"failed {payload}")
                    bar.update(1)
    finally:  # an error message then starts on its own line
        if bar is not None:
            bar.close()


def _add(summary: Summary, stats: dict) -> None:
    summary.sequences_done += 1
    summary.clips += stats["clips"]
    summary.frames += stats["frames"]
    summary.views += stats["views"]
    summary.fit_residual_mm.append(stats["fit_residual_mm"])
    for key, value in stats.get("qc", {}).items():
        summary.qc_frames[key] = summary.qc_frames.get(key, 0) + value
    for key, value in stats["seconds"].items():
        summary.stage_seconds[key] = summary.stage_seconds.get(key, 0.0) + value
    for key, value in stats.get("cpu_seconds", {}).items():
        summary.stage_cpu_seconds[key] = summary.stage_cpu_seconds.get(key, 0.0) + value


def _progress_bar(total: int, progress):
    if not progress or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="seq", desc="prepare", dynamic_ncols=True)
