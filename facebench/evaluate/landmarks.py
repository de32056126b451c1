"""Scoring predictions on a landmark GT folder (real photos with human iBUG-68 labels).

The ``landmarks`` task (:mod:`facebench.metrics.landmarks`): the template's landmark embedding
gives each scored iBUG point a canonical coordinate; where the predicted canonical map holds
that coordinate (nearest pixel within the benchmark's tolerance) is the method's landmark.
The results record has the same keys as every other benchmark's (SPEC §7), so leaderboards
take it as they are.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from facebench.errors import ValidationError

POINT_SETS = {"inner51": "INNER_51", "all68": None}


def template_landmarks(template_name: str) -> np.ndarray:
    """(68,3) normalized canonical coordinates of the template's iBUG-68 landmark embedding."""
    from facebench.templates import load

    t = load(template_name)
    face_id, bary = t.landmark_face_id, t.landmark_barycentric
    if face_id is None:
        raise ValidationError(f"template {template_name} has no landmark embedding")
    return np.asarray(t.canonical_at(face_id, bary), np.float64)


def scored_points(spec) -> np.ndarray:
    from facebench.metrics import landmarks as lm

    name = spec.points or "inner51"
    if name not in POINT_SETS:
        raise ValidationError(f"unknown landmark point set {name!r}; expected one of {', '.join(POINT_SETS)}")
    return getattr(lm, POINT_SETS[name]) if POINT_SETS[name] else np.arange(68)


def locate(canonical, template_name: str, spec) -> np.ndarray:
    """(T,L,2) pixels where a canonical map (T,H,W,3) puts the scored landmarks (NaN: not found)."""
    from facebench.metrics.landmarks import locate_landmarks

    targets = template_landmarks(template_name)[scored_points(spec)]
    return np.stack([locate_landmarks(c, targets, spec.tolerance)[0] for c in canonical])


def evaluate_landmarks(preds, gt, benchmark=None, out=None, allow_missing=False, progress=True) -> dict:
    """Score a predictions folder on a landmark GT; returns (and writes to ``out``) the record."""
    from facebench.benchmarks import get_benchmark
    from facebench.io.landmark_gt import LandmarkGT
    from facebench.io.predictions import ClipShape, load_prediction, open_predictions
    from facebench.io.results import clean_number, write_results
    from facebench.metrics.landmarks import landmark_metrics, outer_eye_distance

    from .run import match_clips, record_head

    start = time.perf_counter()
    reader = LandmarkGT(gt)
    with open_predictions(preds) as source:
        meta = source.meta()
        bench = get_benchmark(benchmark or meta["benchmark"] or reader.benchmark)
        if reader.benchmark != bench.name or meta["benchmark"] != bench.name:
            raise ValidationError(f"benchmark mismatch: GT {reader.benchmark!r}, meta.json "
                                  f"{meta['benchmark']!r}, scoring {bench.name!r}")
        spec = bench.task("landmarks")
        present = set(source.clip_ids())
        missing = match_clips(reader.clip_ids, present, allow_missing, noun="photo")
        idx = scored_points(spec)
        per_clip, frames = {}, 0
        for cid in reader.clip_ids:
            item = reader.item(cid)
            gt68 = reader.landmarks(cid)[None]
            if cid in present:
                pred = load_prediction(source, cid, ClipShape(1, item["height"], item["width"], 0))
                if "canonical" not in pred:
                    raise ValidationError(f"{cid}: the landmarks task needs a canonical map")
                canonical = np.asarray(pred["canonical"], np.float32)
                face = np.isfinite(canonical).all(axis=-1).any(axis=(1, 2))
                uv = locate(canonical, reader.template_name, spec)
            else:
                face, uv = np.zeros(1, bool), np.full((1, len(idx), 2), np.nan)
            m = landmark_metrics(uv, gt68[:, idx], outer_eye_distance(gt68), face, cap=spec.cap)
            per_clip[cid] = {"landmarks": {k: clean_number(np.nanmean(v)) if np.isfinite(v).any() else None
                                           for k, v in m.items()}}
            frames += 1
    values = {k: [v["landmarks"][k] for v in per_clip.values() if v["landmarks"][k] is not None]
              for k in next(iter(per_clip.values()))["landmarks"]}
    record = {
        **record_head(bench, reader.manifest_sha256, meta),
        "metrics": {"landmarks": {k: clean_number(np.mean(v)) if v else None for k, v in values.items()}},
        "per_clip": per_clip,
        "counts": {"clips": len(reader.clip_ids), "clips_scored": len(reader.clip_ids) - len(missing),
                   "missing": len(missing), "missing_clips": missing[:20], "clips_lacking_tasks": 0,
                   "coverage": (len(reader.clip_ids) - len(missing)) / max(len(reader.clip_ids), 1),
                   "tasks": {"landmarks": {"clips_scored": len(per_clip), "frames": frames,
                                          "landmarks": frames * len(idx), "clips_failed": 0}}},
        "protocol": {"landmarks": {**spec.protocol(), "normalization": "outer eye corners (iBUG 36, 45)",
                                   "aggregation": "per photo, mean over photos"}},
        "elapsed_s": round(time.perf_counter() - start, 3),
        "flags": [],
        "predictions": str(Path(preds).resolve()),
    }
    if out is not None:
        write_results(record, out)
    return record
