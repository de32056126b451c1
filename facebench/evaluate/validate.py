"""``validate``: check a predictions folder (or .zip) against a GT folder before scoring.

Needs the GT and the benchmark's scored pixels, so it lives with evaluation; the
format itself (schema, safe loader) is :mod:`facebench.io.predictions`.
"""

from __future__ import annotations

from facebench.errors import ValidationError
from facebench.evaluate.run import resolve
from facebench.evaluate.scoring import check_prediction_finite, gt_fields
from facebench.io.predictions import ClipShape, load_prediction, open_predictions, tasks_of

MAX_LISTED = 20


def validate_predictions(preds, gt=None, benchmark=None, progress: bool = False) -> list[str]:
    """Problems with a submission, one line each (empty when it is valid).

    Checks meta.json, that every GT clip has a file and no file is extra, and each
    file's keys, dtypes, shapes and finiteness where the GT is valid (SPEC §5).  The GT
    folder is found as in :func:`facebench.evaluate.evaluate`; a missing GT raises.
    """
    with open_predictions(preds) as source:
        try:
            meta = source.meta()
        except ValidationError as exc:
            return [str(exc)]
        bench, reader = resolve(meta["benchmark"], gt, benchmark)
        problems = []
        if meta["benchmark"] != bench.name:
            problems.append(f"meta.json says benchmark {meta['benchmark']!r}, the GT is {bench.name!r}")
        clip_ids = reader.clip_ids
        try:
            present = set(source.clip_ids())
        except ValidationError as exc:
            return problems + [str(exc)]
        missing = [c for c in clip_ids if c not in present]
        extra = sorted(present - set(clip_ids))
        if missing:
            problems.append(f"{len(missing)} of {len(clip_ids)} clips missing, first: {missing[0]}")
        if extra:
            problems.append(f"{len(extra)} prediction files match no GT clip (first: {extra[0]}.npz)")
        bad, tasks_by_clip = [], {}
        items = [c for c in clip_ids if c in present]
        if progress:
            from tqdm import tqdm

            items = tqdm(items, desc="validate", unit="clip", leave=False)
        for cid in items:
            info = reader.clip_info(cid)
            shape = ClipShape(int(info["T"]), int(info["H"]), int(info["W"]), int(info.get("N", 0)))
            try:
                pred = load_prediction(source, cid, shape)
                tasks = sorted(tasks_of(pred) & set(bench.tasks))
                clip = reader.clip(cid, fields=gt_fields(tasks))
                check_prediction_finite(cid, pred, clip, tasks, bench)
                tasks_by_clip[cid] = set(tasks)
            except ValidationError as exc:
                bad.append(str(exc))
        reader.close()
    if bad:
        problems.append(f"{len(bad)} of {len(items)} clip files have errors:")
        problems += [f"  {line}" for line in bad[:MAX_LISTED]]
        if len(bad) > MAX_LISTED:
            problems.append(f"  ... and {len(bad) - MAX_LISTED} more")
    all_tasks = set().union(*tasks_by_clip.values()) if tasks_by_clip else set()
    lacking = sorted(c for c, t in tasks_by_clip.items() if t != all_tasks)
    if lacking:
        problems.append(f"{len(lacking)} clips lack tasks other clips have (first: {lacking[0]} has "
                        f"{', '.join(sorted(tasks_by_clip[lacking[0]])) or 'none'})")
    if tasks_by_clip and not all_tasks:
        problems.append("no clip has a scorable prediction")
    return problems
