"""``prepare multiface`` / ``prepare ava256``: GT shards from registered meshes (SPEC §2, §4).

Any :class:`facebench.registered.RegisteredCapture` works.  Per sequence (one worker
job, one shard, the same manifest, resume and joblib backends as
:mod:`facebench.prepare.pipeline`):

* **read**: images (and the dataset's masks / depth) of the selected cameras and frames,
  resized to ``resolution``; the registered vertices of every frame;
* **bind**: the participant's binding (:func:`facebench.prepare.register_fit.bind`, on
  its neutral frame; computed once per worker process and participant);
* **fit**: the template through the binding, frame by frame
  (:func:`facebench.prepare.register_fit.track`);
* **maps**: depth is the dataset's depth where it has one, else the registered mesh
  ray cast into each camera (its outer side: a ray that meets it from inside, through an
  eye or mouth hole, is invalid); foreground is where that depth is valid (and the dataset's
  mask, when it has one, says foreground); then depth, canonical, mask and tracks exactly
  as ``prepare nersemble`` (:func:`facebench.prepare.sequence.build_clips`), and the same
  QC figures (:func:`facebench.prepare.qc.sequence_qc`, with the registered vertices as
  the "cloud").
"""

from __future__ import annotations

import numpy as np

from facebench.errors import FacebenchError, InputError

PIPELINE = "registered.yaml"
STAGES = ("read", "bind", "fit", "maps")
_BINDINGS: dict = {}  # (dataset, root, participant, template sha, config) -> Binding, per process


def open_registered(dataset: str, root, native_size=None):
    """The reader of ``dataset`` (multiface | ava256) over ``root``; ``native_size`` (W, H): the
    image size the calibration's intrinsics refer to (default: the dataset's)."""
    if dataset == "multiface":
        from facebench.registered.multiface import open_multiface

        return open_multiface(root, native_size)
    if dataset == "ava256":
        from facebench.registered.ava256 import open_ava256

        return open_ava256(root, native_size=native_size)
    raise FacebenchError(f"unknown registered-mesh dataset {dataset!r} (multiface, ava256)")


def registered_config(config: dict):
    from facebench.prepare.register_fit import RegisteredConfig

    values = {k: tuple(v) if isinstance(v, list) else v for k, v in config.get("registered", {}).items()}
    return RegisteredConfig(**values)


def read_registered_views(capture, pid, seq, names, frame_ids, resolution=None):
    """``facebench.prepare.sequence.Views`` of the selected cameras (alpha: the dataset's mask or 1)."""
    from facebench.prepare.sequence import Views, _resize, target_size

    cams, images, alphas, depths = [], [], [], []
    for name in names:
        frames = [capture.read_view(pid, seq, int(f), name) for f in frame_ids]
        h, w = frames[0].image.shape[:2]
        size = target_size(w, h, resolution)
        for f in frames:
            if f.image.shape[:2] != (h, w):
                raise InputError(f"camera {name}: frame {f.frame_id} is "
                                 f"{f.image.shape[1]}x{f.image.shape[0]}, frame {frames[0].frame_id} {w}x{h}")
        cam = capture.camera(pid, seq, name, *size)
        cams.append(cam)
        images.append(np.stack([_resize(f.image, size) for f in frames]))
        alphas.append(np.stack([_resize(np.ones((h, w), np.float32) if f.mask is None
                                        else np.asarray(f.mask, np.float32), size) for f in frames]))
        depths.append(None if frames[0].depth is None else np.stack(
            [_resize(np.asarray(f.depth, np.float32), size, nearest=True) for f in frames]))
    return Views(list(names), cams, images, alphas, depths)


def outward_sign(vertices, faces) -> float:
    """+1 when the triangles' winding makes their normals point away from the mesh's centre, else -1."""
    from facebench.geometry import face_normals

    tri = vertices[faces]
    n = face_normals(vertices, faces, unit=False)
    return 1.0 if float(np.sum(n * (tri.mean(1) - vertices.mean(0)))) >= 0 else -1.0


def surface_depth(vertices, faces, camera, sign: float) -> np.ndarray:
    """(H,W) float32 z-depth of the registered mesh's outer side; NaN on a miss and where a ray
    meets the mesh from inside (through the eye and mouth holes of an open surface)."""
    from facebench.geometry import face_normals
    from facebench.geometry.cache import cached_raycaster

    render = cached_raycaster(vertices, faces).render(camera)
    _, dirs = camera.pixel_rays()
    fn = face_normals(vertices, faces)[np.maximum(render.face_id, 0)]
    front = sign * np.einsum("hwc,hwc->hw", fn, dirs.reshape(fn.shape)) < 0
    return np.where(render.hit & front, render.depth, np.nan).astype(np.float32)


def participant_binding(capture, dataset, root, pid, template, cfg, config: dict):
    """The participant's binding, computed on first use in this process."""
    from facebench.io.gt_writer import config_hash
    from facebench.prepare.register_fit import bind

    key = (dataset, str(root), pid, template.sha256, config_hash(config),
           getattr(capture, "native_size", None))
    if key not in _BINDINGS:
        seq, fid = capture.neutral_frame(pid)
        cams, names = _rig(capture, pid, seq)
        _BINDINGS.clear()
        _BINDINGS[key] = bind(template, capture.mesh_vertices(pid, seq, fid), capture.mesh_faces(pid), cams,
                              names, cfg.fit, registered_config(config))
        _BINDINGS[key].stats.update(neutral_sequence=seq, neutral_frame=int(fid))
    return _BINDINGS[key]


def _rig(capture, pid, neutral_seq):
    """Every camera of the neutral sequence (else of the first sequence with images): the rig's
    frontal direction seeds the neutral fit, the same whatever cameras a run selects."""
    for seq in [neutral_seq] + [s for s in capture.sequences(pid) if s != neutral_seq]:
        try:
            names = capture.cameras(pid, seq)
        except InputError:
            continue
        if names:
            return [capture.camera(pid, seq, n) for n in names], names
    raise InputError(f"participant {pid}: no sequence has camera images")


def prepare_registered_sequence(capture, dataset, root, pid, seq, names, frame_ids, template, config: dict,
                                resolution=None, progress=None):
    """GT of one sequence: ``(facebench.io.shards.Sequence, stats dict)``."""
    from facebench.geometry import vertex_normals
    from facebench.io.shards import Sequence
    from facebench.prepare.config import PipelineConfig
    from facebench.prepare.pointcloud import PointCloud
    from facebench.prepare.qc import sequence_qc
    from facebench.prepare.register_fit import track
    from facebench.prepare.sequence import _Clock, build_clips

    cfg = PipelineConfig.from_dict(config)
    clock = _Clock(None)

    def lap(name):
        clock.lap(name)
        if progress is not None:
            i = STAGES.index(name)
            progress(name, STAGES[i + 1] if i + 1 < len(STAGES) else "write")

    frame_ids = np.asarray(frame_ids, dtype=np.int32)
    views = read_registered_views(capture, pid, seq, names, frame_ids, resolution)
    faces = np.asarray(capture.mesh_faces(pid), np.int64)
    reg = np.stack([capture.mesh_vertices(pid, seq, int(f)) for f in frame_ids])
    from facebench.prepare.camera_evidence import check_registered

    camera_qc = check_registered(capture, pid, seq, frame_ids, views, reg, faces, cfg)  # before any fit
    lap("read")
    binding = participant_binding(capture, dataset, root, pid, template, cfg, config)
    lap("bind")
    fit = track(template, binding, reg, registered_config(config))
    lap("fit")
    sign = outward_sign(binding.neutral_registered, faces)
    for i, cam in enumerate(views.cameras):  # the registered surface stands in for missing depth
        rendered = np.stack([surface_depth(reg[t], faces, cam, sign) for t in range(len(reg))])
        depth = rendered if views.depths[i] is None else views.depths[i]
        on = np.isfinite(depth) & (views.alphas[i] >= cfg.fusion.alpha_threshold)
        views.depths[i] = np.where(on, depth, np.nan).astype(np.float32)
        views.alphas[i] = on.astype(np.float32)
    clips = build_clips(template, fit.vertices, views, pid, seq, cfg)
    lap("maps")
    clouds = [PointCloud(r, vertex_normals(r, faces)) for r in reg]
    quality = sequence_qc(template, fit, clouds, clips, frame_ids, cfg.qc)
    quality["cameras"] = camera_qc
    residual = float(np.nanmedian(fit.residual_mm)) if np.isfinite(fit.residual_mm).any() else float("nan")
    attrs = {"template": template.name, "fit_residual_mm": residual,
             "fit_matched_fraction": float(np.mean(fit.matched)), "fit_init": "registered mesh",
             "source": f"{dataset} registered mesh", "registered_vertices": int(reg.shape[1]),
             "binding": {k: v for k, v in binding.stats.items()},
             "qc": quality, "qc_flag": quality["flag"]}
    seq_out = Sequence(participant=pid, sequence=seq, frame_ids=frame_ids,
                       vertices=fit.vertices.astype(np.float32), clips=clips, attrs=attrs)
    stats = {"participant": pid, "sequence": seq, "frames": len(frame_ids), "clips": len(clips),
             "views": len(clips) * len(frame_ids), "fit_residual_mm": residual, "seconds": clock.wall,
             "cpu_seconds": clock.cpu, "qc": quality["frames"]}
    return seq_out, stats


def _job(dataset, root, pid, seq, names, frame_ids, template_name, config, resolution, writer, index,
         on_error, show_stages=False, native_size=None):
    """Worker side: one sequence to one shard.  Returns ("ok", entry, stats) or ("failed", key, error)."""
    from facebench.prepare.pipeline import guarded_job
    from facebench.templates import load

    def work(progress):
        with open_registered(dataset, root, native_size) as capture:
            seq_out, stats = prepare_registered_sequence(
                capture, dataset, root, pid, seq, names, frame_ids, load(template_name), config, resolution,
                progress=progress)
        return writer.write_sequence(seq_out, index), stats

    return guarded_job(f"{pid}/{seq}", on_error, len(STAGES) if show_stages else 0, work)


def select(capture, participants=None, sequences=None, cameras=None, frames=None):
    """[(participant, sequence, camera names, frame ids)] of the selection: frames with a registered
    mesh and an image in every selected camera.  A sequence or camera name that no participant has
    is an InputError (a typo); one that only some lack is skipped where it is missing."""
    from facebench.nersemble.select import parse_frames, select_names

    frange = parse_frames(frames)
    pids = select_names(capture.participants(), participants, "participant")
    seqs_of = {pid: capture.sequences(pid) for pid in pids}
    want_seqs = _names(sequences)
    if want_seqs:
        select_names(sorted(set().union(*seqs_of.values())), want_seqs, "sequence")
    want_cams, seen_cams, out = _names(cameras), set(), []
    for pid in pids:
        for seq in seqs_of[pid]:
            if want_seqs and seq not in want_seqs:
                continue
            names = capture.cameras(pid, seq)
            seen_cams.update(names)
            names = [n for n in names if n in want_cams] if want_cams else names
            ids = frange.select(capture.frame_ids(pid, seq))
            ids = np.asarray([f for f in ids if all(capture.has_view(pid, seq, int(f), n) for n in names)],
                             np.int32)  # a frame some selected camera dropped is left out
            if names and len(ids):
                out.append((pid, seq, names, ids))
    if want_cams:
        select_names(sorted(seen_cams), want_cams, "camera")
    return out


def _names(value) -> list[str]:
    if value is None or isinstance(value, str) and not value.strip():
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [str(v).strip() for v in items if str(v).strip()]


def prepare_registered(dataset: str, root, out, participants=None, sequences=None, cameras=None, frames=None,
                       resolution=None, template="ict-light", config=None, workers=1, backend="loky",
                       scheduler=None, progress=True, on_error="raise", benchmark=None, native_size=None):
    """Prepare GT from a registered-mesh capture (``dataset``: multiface | ava256) into ``out``.

    Arguments as :func:`facebench.prepare.pipeline.prepare_nersemble`; ``config``: None
    (shipped ``pipelines/registered.yaml``), a YAML path overriding it, or a dict of overrides.
    ``native_size`` (W, H): the image size the calibration's ``K`` refers to (default: Multiface
    1334 x 2048, Ava-256 2668 x 4096).  Every sequence's cameras are checked against the
    registered mesh before any fitting (:mod:`facebench.prepare.camera_evidence`).
    """
    import time
    from pathlib import Path

    import joblib

    from facebench.prepare.config import PipelineConfig, load_config
    from facebench.prepare.pipeline import ON_ERROR, Summary, open_writer, run_jobs
    from facebench.templates import load

    if on_error not in ON_ERROR:
        raise FacebenchError(f"--on-error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    start = time.perf_counter()
    out = Path(out)
    cfg_dict = (load_config(None, config, pipeline=PIPELINE) if isinstance(config, dict)
                else load_config(config, pipeline=PIPELINE))
    registered_config(cfg_dict)  # unknown keys fail here, not in a worker
    PipelineConfig.from_dict(cfg_dict)
    tmpl = load(template)
    with open_registered(dataset, root, native_size) as capture:
        everything = sorted((p, s) for p in capture.participants() for s in capture.sequences(p))
        selection = select(capture, participants, sequences, cameras, frames)
    index_of = {key: i for i, key in enumerate(everything)}
    writer = open_writer(out, tmpl, dataset, benchmark, cfg_dict, dataset, cameras, frames, resolution,
                         native_size)
    summary = Summary(out=out)
    with writer.locked():
        writer.remove_temporaries()
        todo = [s for s in selection if not writer.is_done(s[0], s[1])]
        summary.sequences_skipped = len(selection) - len(todo)
        stages = bool(progress) and backend == "loky" and (len(todo) == 1 or int(workers) == 1)
        jobs = [joblib.delayed(_job)(dataset, str(root), pid, seq, list(names), np.asarray(ids), template,
                                     cfg_dict, resolution, writer, index_of[(pid, seq)], on_error, stages,
                                     native_size)
                for pid, seq, names, ids in todo]
        run_jobs(jobs, writer, summary, backend, workers, scheduler, progress)
    summary.seconds = time.perf_counter() - start
    return summary
