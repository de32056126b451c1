"""``facebench predictions convert``: canonical maps from another template's space into the benchmark's.

Each predicted normalized coordinate of template A is mapped through the A -> B
template correspondence (:mod:`facebench.templates.correspondence`) and normalised
with the GT's center and scale; NaN stays NaN.  Other keys are copied unchanged;
meta.json then names the benchmark's space and records where the maps came from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError


def convert_canonical(preds, canonical_from: str, gt=None, out=None, *, benchmark: str | None = None,
                      canonical_to: str | None = None, progress: bool = True) -> dict:
    """Rewrite the predictions folder ``preds`` into ``out`` (default: in place) with canonical maps
    converted from template ``canonical_from`` (a name or ``flame:/path.pkl``) into the GT's template
    (or ``canonical_to``, e.g. the FLAME pickle of a FLAME benchmark).  Returns the new meta.json plus
    ``clips`` (converted) and ``correspondence`` (its measured accuracy)."""
    from tqdm import tqdm

    from facebench.evaluate.run import resolve
    from facebench.io.prediction_writer import write_clip, write_meta
    from facebench.io.predictions import ClipShape, load_prediction, open_predictions
    from facebench.templates import load
    from facebench.templates.correspondence import get_correspondence

    preds = Path(preds)
    if not preds.is_dir():
        raise FacebenchError(f"{preds}: convert needs a predictions folder (unzip it first)")
    out = Path(out) if out is not None else preds
    with open_predictions(preds) as source_folder:
        meta = dict(source_folder.meta())
        bench, reader = resolve(meta["benchmark"], gt, benchmark)
        source = load(canonical_from)
        if canonical_to is None and reader.template_name == "flame":
            raise FacebenchError("the GT is in FLAME space: pass --canonical-to flame:/path/to/flame2023.pkl")
        target = load(canonical_to or reader.template_name)
        gt_sha = reader.manifest["template"].get("sha256")
        if canonical_to is not None and gt_sha and gt_sha != target.sha256:
            raise FacebenchError(f"--canonical-to {canonical_to} is not the GT's template (sha256 differs)")
        if source.sha256 == target.sha256:
            raise FacebenchError(f"the predictions are already in {target.name!r} space: nothing to convert")
        corr = get_correspondence(source, target)
        center, scale = reader.center, reader.scale
        present = set(source_folder.clip_ids())
        converted = 0
        for cid in tqdm(reader.clip_ids, desc="convert canonical", unit="clip", disable=not progress):
            if cid not in present:
                continue
            info = reader.clip_info(cid)
            pred = load_prediction(source_folder, cid, ClipShape(info["T"], info["H"], info["W"],
                                                                 info.get("N", 0)))
            if "canonical" in pred:
                metres = target.denormalize(corr.convert(pred["canonical"]))
                pred["canonical"] = ((metres - center) / scale).astype(np.float32)
                converted += 1
            write_clip(out, cid, pred)
        reader.close()
    if out != preds:  # files that are not clip predictions (a README, a licence) come along
        for path in preds.rglob("*"):
            rel = path.relative_to(preds)
            if path.is_file() and path.suffix != ".npz" and rel.name != "meta.json":
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, out / rel)
    params = meta.get("params")
    params = dict(params) if isinstance(params, dict) else ({"model": params} if params is not None else {})
    params["canonical_converted_from"] = {"template": source.name, "sha256": source.sha256[:16],
                                          "landmark_mm_mean": corr.metrics.get("landmark_mm", {}).get("mean"),
                                          "round_trip_mm_median":
                                              corr.metrics.get("round_trip_mm", {}).get("median")}
    meta.update(params=params, canonical_space=target.name)
    write_meta(out, meta)
    return {**meta, "clips": converted, "correspondence": corr.metrics}
