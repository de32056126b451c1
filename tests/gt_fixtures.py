"""Tiny GT folders (SPEC §4) and predictions built from them, for evaluate tests.

Written with facebench.io.shards.GTWriter; sizes are small enough to reason about
(T=3 frames of 8x6 pixels, 5 tracks).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from facebench.io.shards import Clip, GTWriter, Sequence, Tracks

TEMPLATE = {"name": "facebench-head", "sha256": "0" * 64, "center": [0.0, 0.0, 0.0], "scale": 0.1}
K = np.array([[10.0, 0.0, 2.5], [0.0, 10.0, 3.5], [0.0, 0.0, 1.0]])


def make_clip(rng, serial: str, T: int, H: int, W: int, N: int) -> Clip:
    mask = rng.integers(0, 4, size=(T, H, W)).astype(np.uint8)
    mask[:, 0, 0] = 1  # every frame has a face pixel
    depth = rng.uniform(0.5, 1.5, size=(T, H, W)).astype(np.float32)
    depth[mask == 0] = np.nan
    canonical = rng.uniform(-1, 1, size=(T, H, W, 3)).astype(np.float32)
    canonical[mask == 0] = np.nan
    visible = rng.random((N, T)) < 0.7
    query_frame = np.zeros(N, np.int32)
    visible[:, 0] = True
    xy = np.stack([rng.uniform(0, W - 1, (N, T)), rng.uniform(0, H - 1, (N, T))], -1).astype(np.float32)
    z = rng.uniform(0.8, 1.2, (N, T))
    xyz = np.stack([(xy[..., 0] - K[0, 2]) * z / K[0, 0], (xy[..., 1] - K[1, 2]) * z / K[1, 1], z],
                   -1).astype(np.float32)
    tracks = Tracks(query_frame, rng.uniform(-1, 1, (N, 3)).astype(np.float32), xy, xyz, visible)
    image = rng.integers(0, 255, size=(T, H, W, 3)).astype(np.uint8)
    return Clip(serial=serial, image=image, mask=mask, depth=depth, canonical=canonical, K=K.copy(),
                T_cam_from_world=np.eye(4), tracks=tracks)


def make_gt(out, *, T=3, H=8, W=6, N=5, seed=0, benchmark="synth-v1", participants=("901", "902"),
            sequences=("EXP-1-head",), serials=("222200037", "222200038"), **writer_options) -> Path:
    """Write a GT folder; returns its path.  Clip ids: {participant}/{sequence}/{serial}.

    ``writer_options`` go to GTWriter (``schema_version=1`` for a legacy folder, ``image_codec``).
    """
    rng = np.random.default_rng(seed)
    writer = GTWriter(out, template=TEMPLATE, dataset="synth", config={"seed": seed}, benchmark=benchmark,
                      **writer_options)
    index = 0
    for p in participants:
        for s in sequences:
            clips = [make_clip(rng, serial, T, H, W, N) for serial in serials]
            seq = Sequence(p, s, np.arange(T, dtype=np.int32), np.zeros((T, 4, 3), np.float32), clips)
            writer.commit(writer.write_sequence(seq, index))
            index += 1
    return Path(out)


def gt_arrays(gt_dir, clip_id: str) -> dict:
    """A clip's GT in prediction keys (the perfect submission)."""
    from facebench.io.shards import GTReader

    with GTReader(gt_dir) as reader:
        c = reader.clip(clip_id)
    return {"depth": c.depth, "canonical": c.canonical, "tracks_xy": c.tracks.xy,
            "tracks_visible": c.tracks.visible, "tracks_xyz": c.tracks.xyz}


def write_preds(gt_dir, preds_dir, *, keys=None, transform=None, meta=None, skip=()) -> Path:
    """Submit the GT as predictions (optionally transformed: ``transform(clip_id, arrays) -> arrays``)."""
    from facebench.io.shards import GTReader

    preds_dir = Path(preds_dir)
    preds_dir.mkdir(parents=True, exist_ok=True)
    (preds_dir / "meta.json").write_text(json.dumps(meta or {"method": "gt", "benchmark": "synth-v1"}))
    with GTReader(gt_dir) as reader:
        ids = reader.clip_ids
    for cid in ids:
        if cid in skip:
            continue
        arrays = gt_arrays(gt_dir, cid)
        if keys is not None:
            arrays = {k: v for k, v in arrays.items() if k in keys}
        if transform is not None:
            arrays = transform(cid, arrays)
        path = preds_dir / f"{cid}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)
    return preds_dir
