"""``facebench predict``: run a registered method on GT clips, a frame folder or a video.

GT input (``gt`` and/or ``benchmark``): every clip is predicted with its own camera
and the GT's track queries, and written as SPEC §5 predictions that
``facebench evaluate`` scores.  Plain input (``images`` or ``video``): the face is
found with MediaPipe's face detector in every frame; the method sees one crop
around all detections (with the matching intrinsics) and its maps are pasted
back at the full resolution; frames without a face are NaN (reported in
meta.json, never invented); tracks start from a grid on the face in the first
frame with a face.  Both write meta.json and, on plain input by default, an
overlay video and a contact sheet (``overlay/``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError
from facebench.methods import make_method
from facebench.methods.base import ClipInput

UNSCORED = "none"  # meta.json "benchmark" of predictions made from plain frames


def predict(
    method: str,
    out_dir,
    *,
    gt=None,
    benchmark=None,
    images=None,
    video=None,
    fov=None,
    K=None,
    clips=None,
    stride: int = 1,
    max_frames: int | None = None,
    overlay: bool | None = None,
    progress: bool = True,
    **options,
) -> dict:
    """Predict with the registered ``method`` into ``out_dir``; returns meta.json plus counts.

    Exactly one input: ``gt`` (a GT folder) / ``benchmark`` (its GT under $FACEBENCH_HOME),
    ``images`` (a folder of frames) or ``video`` (a video file).  ``fov`` (degrees across
    the longer side) or ``K`` ("fx,fy,cx,cy") set the intrinsics of plain input.
    ``options`` go to the method's factory (:class:`facebench.methods.base.Options`).
    """
    given = [
        name
        for name, v in (("--gt/--benchmark", gt or benchmark), ("--images", images), ("--video", video))
        if v
    ]
    if len(given) != 1:
        raise FacebenchError(
            "give one input: --gt DIR / --benchmark NAME, --images DIR or --video FILE"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if gt or benchmark:
        from facebench.methods.photos import is_photo_benchmark, predict_photos

        if is_photo_benchmark(gt, benchmark):  # real photos with 2D labels (real-landmarks-v1)
            return predict_photos(method, out_dir, gt, benchmark, fov, K, bool(overlay), progress, options)
        if fov is not None or K is not None:
            raise FacebenchError("--fov/--K are for --images/--video; GT clips carry their own camera")
        return _predict_gt(method, out_dir, gt, benchmark, clips, bool(overlay), progress, options)
    from facebench.methods.sources import read_image_folder, read_video

    frames = (
        read_image_folder(images, stride, max_frames) if images else read_video(video, stride, max_frames)
    )
    return _predict_frames(method, out_dir, frames, fov, K, overlay is not False, progress, options)


def _predict_gt(method_name, out_dir, gt, benchmark, clips, overlay, progress, options) -> dict:
    from tqdm import tqdm

    from facebench.io.shards import GTReader

    if gt is None:
        from facebench.settings import get_settings

        gt = get_settings().gt_dir(benchmark)
        if not Path(gt).is_dir():
            raise FacebenchError(
                f"no GT for benchmark {benchmark!r} at {gt}: run `facebench prepare` or pass --gt"
            )
    reader = GTReader(gt)
    benchmark = benchmark or reader.benchmark
    if not benchmark:
        raise FacebenchError(f"{gt}: the GT names no benchmark; pass --benchmark")
    clip_ids = list(clips) if clips is not None else reader.clip_ids
    for cid in clip_ids:
        reader.clip_info(cid)  # unknown ids fail here, before any work
    if options.get("template") is None and _loadable(reader.template_name):
        options["template"] = reader.template_name  # template methods work in the GT's canonical space
    method = make_method(method_name, **options)
    convert, space = _canonical_conversion(method, reader.template_name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds, frames, missing = 0.0, 0, {}
    for cid in tqdm(clip_ids, desc=f"predict {method_name}", unit="clip", disable=not progress):
        clip = reader.clip(cid, fields=("image", "tracks"))
        tr = clip.tracks
        n = len(tr.query_frame)
        xy_query = tr.xy[np.arange(n), tr.query_frame] if n else np.zeros((0, 2), np.float32)
        inp = ClipInput(
            cid,
            clip.image,
            np.asarray(clip.K, np.float64),
            np.asarray(clip.T_cam_from_world, np.float64),
            True,
            tr.query_frame.astype(np.int32),
            np.asarray(xy_query, np.float32),
        )
        t0 = time.perf_counter()
        out = _finish(method, inp, method.predict_clip(inp), (reader.center, reader.scale), convert)
        seconds += time.perf_counter() - t0
        frames += inp.shape[0]
        if out.get("no_face") is not None and out["no_face"].any():
            missing[cid] = np.flatnonzero(out["no_face"]).tolist()
        _write_clip(out_dir, cid, out)
        if overlay:
            _write_visuals(out_dir, cid, inp.images, out)
    reader.close()
    return _write_meta(out_dir, method, benchmark, seconds, frames, missing, len(clip_ids), {}, space)


def _predict_frames(method_name, out_dir, frames, fov, K, overlay, progress, options) -> dict:
    method = make_method(method_name, **options)
    out, inputs, seconds = predict_plain(method, frames, fov, K, progress=progress)
    out_dir = Path(out_dir)
    _write_clip(out_dir, frames.clip_id, out)
    no_face = out["no_face"]
    missing = {frames.clip_id: np.flatnonzero(no_face).tolist()} if no_face.any() else {}
    T = len(frames.images)
    meta = _write_meta(out_dir, method, UNSCORED, seconds, T, missing, 1, inputs, method.canonical_template)
    if overlay:
        meta["visuals"] = _write_visuals(out_dir, frames.clip_id, frames.images, out)
    return meta


def predict_plain(method, frames, fov=None, K=None, gt_frame=None, convert=None, progress: bool = False):
    """One uncalibrated image sequence through ``method``: find the face in every frame, crop
    around all detections, predict, paste back at full size, blank frames without a face.

    Returns (maps at full resolution with ``no_face`` (T,), the input description for meta.json,
    seconds spent in the method).  ``gt_frame`` / ``convert``: as for GT clips (:func:`_finish`).
    """
    from facebench.adapters.mediapipe import detect_faces
    from facebench.methods.sources import assumed_pose, face_crop, grid_queries, intrinsics

    T, H, W, _ = frames.images.shape
    boxes, _ = detect_faces(frames.images)
    has_face = np.isfinite(boxes).all(axis=1)
    if not has_face.any():
        raise FacebenchError(f"{frames.source}: no face found in any of its {T} frames")
    K_full = intrinsics(W, H, fov, K)
    x0, y0, x1, y1 = face_crop(boxes, H, W)
    K_crop = K_full.copy()
    K_crop[0, 2] -= x0
    K_crop[1, 2] -= y0
    first = int(np.flatnonzero(has_face)[0])
    qf, qxy = grid_queries(boxes[first], first)
    inp = ClipInput(
        frames.clip_id,
        np.ascontiguousarray(frames.images[:, y0:y1, x0:x1]),
        K_crop,
        assumed_pose(boxes - [x0, y0, x0, y0], K_crop),
        False,
        qf,
        qxy - [x0, y0],
    )
    if progress:
        print(
            f"predict {method.name}: {T} frames of {W}x{H}, face in {int(has_face.sum())}; "
            f"crop {x1 - x0}x{y1 - y0} at ({x0}, {y0})",
            flush=True,
        )
    t0 = time.perf_counter()
    out = _finish(method, inp, method.predict_clip(inp), gt_frame, convert)
    seconds = time.perf_counter() - t0
    out = _paste(out, (x0, y0), (H, W))
    no_face = ~has_face | (out["no_face"] if out.get("no_face") is not None else False)
    _blank(out, no_face)
    out["no_face"] = no_face
    inputs = {
        "source": frames.source,
        "frames": T,
        "K": np.round(K_full, 3).tolist(),
        "fov_deg": None if K is not None else (fov if fov is not None else _default_fov()),
        "crop_xyxy": [x0, y0, x1, y1],
    }
    return out, inputs, seconds


def _loadable(template_name: str) -> bool:
    from facebench.templates import load

    try:
        load(template_name)
    except FacebenchError:
        return False
    return True


def _default_fov():
    from facebench.methods.sources import DEFAULT_FOV_DEG

    return DEFAULT_FOV_DEG


def _canonical_conversion(method, gt_template: str):
    """(correspondence or None, canonical space named in meta.json) for a method on a GT.

    A method working in another facebench template's space is converted through the published
    correspondence (``facebench.templates.correspondence``); a space facebench cannot load (an
    external model's own) is declared in meta.json for ``evaluate`` to align or convert."""
    src = method.canonical_template
    if not src or src == gt_template:
        return None, gt_template
    if not (_loadable(src) and _loadable(gt_template)):
        return None, src
    from facebench.templates import load
    from facebench.templates.correspondence import get_correspondence

    method.params["canonical_converted_from"] = src
    return get_correspondence(load(src), load(gt_template)), gt_template


def _finish(method, inp: ClipInput, out: dict, gt_frame, convert=None) -> dict:
    """Canonical maps into the GT's template and normalization; tracks by canonical search when
    the method gives none."""
    from facebench.baseline.tracks import sample_canonical, tracks_from_canonical

    if convert is not None:  # another template's space (its normalization) -> the GT template's
        out["canonical"] = convert.convert(out["canonical"]).astype(np.float32)
    elif gt_frame is not None and method.canonical_frame is not None:
        from facebench.baseline.prior import renormalize

        out["canonical"] = renormalize(
            out["canonical"],
            np.asarray(method.canonical_frame[0]),
            float(method.canonical_frame[1]),
            np.asarray(gt_frame[0]),
            float(gt_frame[1]),
        )
    if "tracks_xy" not in out:
        query = np.nan_to_num(sample_canonical(out["canonical"], inp.query_frame, inp.query_xy), nan=9.0)
        search = out["canonical"]
        if "foreground" in out:  # search only where the model sees a face
            search = np.where(out["foreground"][..., None] > 0.5, search, np.nan)
        xy, vis, xyz = tracks_from_canonical(
            search,
            query,
            depth=out["depth"],
            K=inp.K,
            max_distance=method.params.get("track_max_distance", 0.05),
        )
        out.update(tracks_xy=xy, tracks_visible=vis, tracks_xyz=xyz)
    return out


def _paste(out: dict, offset, full_shape) -> dict:
    """Maps of a crop placed into full frames (NaN / 0 outside); tracks shifted."""
    x0, y0 = offset
    H, W = full_shape
    pasted = dict(out)
    for key, fill in (
        ("depth", np.nan),
        ("canonical", np.nan),
        ("confidence", np.nan),
        ("regions", 0),
        ("foreground", 0.0),
    ):
        if key in out:
            a = out[key]
            full = np.full((a.shape[0], H, W) + a.shape[3:], fill, a.dtype)
            full[:, y0 : y0 + a.shape[1], x0 : x0 + a.shape[2]] = a
            pasted[key] = full
    pasted["tracks_xy"] = out["tracks_xy"] + np.float32([x0, y0])
    return pasted


def _blank(out: dict, frames) -> None:
    for key in ("depth", "canonical", "confidence"):
        out[key][frames] = np.nan
    out["tracks_visible"][:, frames] = False


def _write_clip(out_dir: Path, cid: str, out: dict) -> None:
    from facebench.io.prediction_writer import write_clip

    keys = ("depth", "canonical", "confidence", "tracks_xy", "tracks_visible", "tracks_xyz")
    write_clip(out_dir, cid, {k: out[k] for k in keys})
    if out.get("regions") is not None:  # next to the prediction, not inside it (SPEC §5 has no key)
        np.save(out_dir / f"{cid}.regions.npy", out["regions"].astype(np.uint8))


def _write_visuals(out_dir: Path, cid: str, images, out: dict) -> dict:
    from facebench.report.overlay import write_contact_sheet, write_overlay_video

    stem = cid.replace("/", "_")
    video = write_overlay_video(out_dir / "overlay" / f"{stem}.mp4", images, out)
    sheet = write_contact_sheet(out_dir / "overlay" / f"{stem}.png", images, out)
    return {"video": str(video), "contact_sheet": str(sheet)}


def _write_meta(out_dir: Path, method, benchmark, seconds, frames, missing, n_clips, inputs, space) -> dict:
    from facebench.baseline.runtime import device_name
    from facebench.io.prediction_writer import write_meta

    params = dict(method.params)
    if inputs:
        params["input"] = inputs
    if missing:
        params["frames_without_face"] = missing
    meta = {
        "method": method.name,
        "benchmark": benchmark,
        "description": method.description,
        "params": params,
        "runtime_s_per_frame": round(seconds / max(frames, 1), 5),
        "device": device_name(str(method.device)),
        "depth_scale": getattr(method, "depth_scale", "metric"),
    }
    if space:
        meta["canonical_space"] = space
    write_meta(out_dir, meta)
    return {**meta, "clips": n_clips, "frames": frames}
