"""``evaluate_model``: run a Python model over a benchmark, write its predictions, score them.

    import facebench
    record = facebench.evaluate_model(my_fn, benchmark="synth-v1", out="preds/mine")

``my_fn(images (T,H,W,3) uint8, K (3,3) float64) -> dict`` returns any subset of the
SPEC §5 keys for one clip.  facebench checks each array as it comes back (errors name
the clip and the key), derives tracks from canonical maps when the model gives none,
writes the predictions folder and scores it like ``facebench evaluate``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError, ValidationError


def _check(clip_id: str, result, shape) -> dict:
    from facebench.io.predictions import KEYS

    if not isinstance(result, dict):
        raise ValidationError(f"{clip_id}: predict_fn returned {type(result).__name__}, expected a dict of "
                              f"arrays (keys: {', '.join(KEYS)})")
    arrays = {}
    for key, value in result.items():
        if key not in KEYS:
            from facebench.errors import did_you_mean

            raise ValidationError(f"{clip_id}: unknown key {key!r}{did_you_mean(str(key), KEYS)} "
                                  f"(keys: {', '.join(KEYS)})")
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        value = np.asarray(value)
        want = shape.shape_of(key)
        if value.shape != want:
            raise ValidationError(f"{clip_id}: {key} has shape {value.shape}, expected {want} "
                                  f"{KEYS[key].pattern}")
        if KEYS[key].kind == "float" and not np.issubdtype(value.dtype, np.number):
            raise ValidationError(f"{clip_id}: {key} has dtype {value.dtype}, expected float")
        arrays[key] = value
    if not arrays:
        raise ValidationError(f"{clip_id}: predict_fn returned no arrays")
    return arrays


def evaluate_model(predict_fn, benchmark: str = "synth-v2", gt=None, out=None, *, method: str | None = None,
                   meta: dict | None = None, results=None, tracks_from_canonical: bool = True,
                   progress: bool = True) -> dict:
    """Predict every clip of ``benchmark`` with ``predict_fn``, score, return the results record.

    Args:
        predict_fn: ``f(images (T,H,W,3) uint8, K (3,3)) -> {key: array}`` (SPEC §5 keys).
        benchmark: benchmark name; its GT is ``gt`` or ``$FACEBENCH_HOME/gt/{benchmark}``.
        out: predictions folder to write (kept); default a temporary folder, removed after scoring.
        method: name on the leaderboard [default: ``predict_fn.__name__``].
        meta: extra meta.json fields (description, url, params, depth_scale, canonical_space...).
        results: path of the results JSON to write, or None.
        tracks_from_canonical: derive tracks by nearest canonical neighbours when the model
            returns ``canonical`` but no tracks.
    """
    from tqdm import tqdm

    from facebench.evaluate.run import evaluate, resolve
    from facebench.evaluate.tracks import tracks_for_clip
    from facebench.io.prediction_writer import write_clip, write_meta
    from facebench.io.predictions import ClipShape

    if not callable(predict_fn):
        raise FacebenchError(f"predict_fn must be callable, not {type(predict_fn).__name__}")
    bench, reader = resolve(None, gt, benchmark)
    gt = reader.root
    tmp = tempfile.TemporaryDirectory(prefix="facebench-preds-") if out is None else None
    out = Path(tmp.name if tmp else out)
    try:
        seconds, frames = 0.0, 0
        for cid in tqdm(reader.clip_ids, desc="evaluate_model", unit="clip", disable=not progress):
            info = reader.clip_info(cid)
            shape = ClipShape(int(info["T"]), int(info["H"]), int(info["W"]), int(info.get("N", 0)))
            clip = reader.clip(cid, fields=("image", "tracks"))
            t0 = time.perf_counter()
            try:
                result = predict_fn(clip.image.copy(), clip.K.copy())
            except Exception as exc:  # the user's code: keep its traceback, say which clip
                if hasattr(exc, "add_note"):
                    exc.add_note(f"facebench: while predicting clip {cid}")
                raise
            arrays = _check(cid, result, shape)
            seconds += time.perf_counter() - t0
            frames += shape.T
            if tracks_from_canonical and "canonical" in arrays and "tracks_xy" not in arrays:
                tracks = tracks_for_clip(arrays["canonical"], clip.tracks, arrays.get("depth"), clip.K)
                arrays.update({k: v for k, v in tracks.items() if k not in arrays})
            write_clip(out, cid, arrays)
        reader.close()
        name = method or getattr(predict_fn, "__name__", None) or "model"
        write_meta(out, {"method": "model" if name == "<lambda>" else name, "benchmark": bench.name,
                         "runtime_s_per_frame": round(seconds / max(frames, 1), 6), **(meta or {})})
        return evaluate(out, gt=gt, benchmark=bench.name, out=results, progress=progress)
    finally:
        if tmp is not None:
            tmp.cleanup()
