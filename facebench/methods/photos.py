"""``facebench predict METHOD --gt LANDMARK_GT``: a method on real photos with human 2D labels.

Each photo of a landmark GT folder (``facebench prepare real-landmarks``) is a one-frame plain
clip: no calibration (``--fov``, default 60°, or ``--K``), the face found by MediaPipe's
detector, the method run on the crop around it (:func:`facebench.methods.run.predict_plain`),
the maps pasted back at the photo's size.  Canonical maps are put in the benchmark's template
space (through the published correspondence when the method works in another template's),
so ``facebench evaluate`` can look the template's landmarks up in them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError


def _gt_dir(gt, benchmark):
    if gt is not None:
        return Path(gt)
    from facebench.settings import get_settings

    return Path(get_settings().gt_dir(benchmark))


def is_photo_benchmark(gt, benchmark) -> bool:
    """True when the input is a landmark GT folder (or names a benchmark of real photos)."""
    from facebench.io.landmark_gt import is_landmark_gt

    if gt is not None:
        return is_landmark_gt(gt)
    from facebench.benchmarks import get_benchmark

    return get_benchmark(benchmark).dataset == "real-landmarks"


def predict_photos(method_name, out_dir, gt, benchmark, fov, K, overlay, progress, options) -> dict:
    from tqdm import tqdm

    from facebench.io.landmark_gt import LandmarkGT
    from facebench.methods import make_method
    from facebench.methods.run import (
        _canonical_conversion,
        _write_clip,
        _write_meta,
        _write_visuals,
        predict_plain,
    )
    from facebench.methods.sources import Frames

    gt_dir = _gt_dir(gt, benchmark)
    if not gt_dir.is_dir():
        raise FacebenchError(f"no GT at {gt_dir}: run `facebench prepare real-landmarks --root DIR` "
                             "or pass --gt")
    reader = LandmarkGT(gt_dir)
    benchmark = benchmark or reader.benchmark
    if benchmark != reader.benchmark:
        raise FacebenchError(f"{gt_dir} holds GT for benchmark {reader.benchmark!r}, not {benchmark!r}")
    from facebench.templates import load

    template = load(reader.template_name)
    if options.get("template") is None:
        options["template"] = template.name  # template methods work in the benchmark's canonical space
    method = make_method(method_name, **options)
    convert, space = _canonical_conversion(method, template.name)
    gt_frame = (np.asarray(template.center), float(template.scale))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds, missing, inputs = 0.0, {}, {}
    t_all = time.perf_counter()
    for cid in tqdm(reader.clip_ids, desc=f"predict {method_name}", unit="photo", disable=not progress):
        item = reader.item(cid)
        frames = Frames(item["name"], reader.image(cid)[None], str(gt_dir / item["image"]))
        try:
            out, info, sec = predict_plain(method, frames, fov, K, gt_frame=gt_frame, convert=convert)
        except FacebenchError as exc:
            if "no face found" not in str(exc):
                raise
            out, info, sec = _no_face(frames.images), {"source": frames.source, "frames": 1}, 0.0
        seconds += sec
        _drop_tracks(out)  # a photo has no track queries
        inputs[cid] = {k: info[k] for k in ("crop_xyxy", "fov_deg") if k in info}
        if out["no_face"].any():
            missing[cid] = [0]
        _write_clip(out_dir, cid, out)
        if overlay:
            _write_visuals(out_dir, cid, frames.images, out)
    params_input = {"photos": len(reader.clip_ids), "per_photo": inputs}
    meta = _write_meta(out_dir, method, benchmark, seconds, len(reader.clip_ids), missing,
                       len(reader.clip_ids), params_input, space)
    meta["wall_s"] = round(time.perf_counter() - t_all, 2)
    return meta


def _drop_tracks(out: dict) -> None:
    """A photo is one frame with no track queries: tracks are (0,1,...) arrays."""
    T = out["depth"].shape[0]
    out["tracks_xy"] = np.zeros((0, T, 2), np.float32)
    out["tracks_visible"] = np.zeros((0, T), bool)
    out["tracks_xyz"] = np.zeros((0, T, 3), np.float32)


def _no_face(images) -> dict:
    """The maps of a photo where the detector found no face: NaN everywhere, no tracks."""
    T, H, W, _ = images.shape
    return {
        "depth": np.full((T, H, W), np.nan, np.float32),
        "canonical": np.full((T, H, W, 3), np.nan, np.float32),
        "confidence": np.full((T, H, W), np.nan, np.float32),
        "tracks_xy": np.zeros((0, T, 2), np.float32),
        "tracks_visible": np.zeros((0, T), bool),
        "tracks_xyz": np.zeros((0, T, 3), np.float32),
        "no_face": np.ones(T, bool),
    }
