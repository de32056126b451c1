"""Write SPEC §5 predictions for every clip of a GT folder.

Methods: ``transformer`` (the reference model; default checkpoint = the shipped
``tiny``), and the trivial rows ``mean-depth-plane`` and ``template-frontal``
(see :mod:`facebench.baseline.trivial`).  Only the clip's images, camera and
the tracks' query pixels (frame, xy at that frame) are used; GT maps are never
read.  Maps are written at the clip's stored resolution.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError, did_you_mean

METHODS = ("transformer", "mean-depth-plane", "template-frontal")


def run_transformer(model, images, frames_per_window: int, image_size: int, device="cpu", K=None,
                    T_cam_from_world=None, precision: str = "fp32", batch_windows: int = 1) -> dict:
    """Model maps for a clip.  images (T,H,W,3) uint8 -> depth (T,H,W), canonical (T,H,W,3),
    confidence (T,H,W) (the canonical confidence), foreground (T,H,W) probability, at the
    input resolution.  ``K`` and ``T_cam_from_world`` (the clip's camera) are needed by a model
    that takes the template prior.  Up to ``batch_windows`` windows of ``frames_per_window``
    frames go through the model together (a batch of windows; each window is still seen alone,
    so the maps do not depend on it); ``precision`` ``bf16`` runs the forward under autocast."""
    import torch
    import torch.nn.functional as F

    from facebench.baseline.runtime import autocast
    from facebench.data import resized_shape

    T, H, W, _ = images.shape
    h, w = resized_shape(H, W, image_size)
    depth = np.empty((T, H, W), np.float32)
    canonical = np.empty((T, H, W, 3), np.float32)
    confidence = np.empty((T, H, W), np.float32)
    foreground = np.empty((T, H, W), np.float32)
    prior = None
    if model.config.prior:
        from facebench.baseline.prior import template_prior
        from facebench.data import rescale_K

        prior = template_prior(rescale_K(K, (H, W), (h, w)), T_cam_from_world, h, w)
        prior = torch.from_numpy(prior).to(device)
    rotation = None
    if T_cam_from_world is not None:
        rotation = torch.as_tensor(np.asarray(T_cam_from_world, np.float32)[:3, :3], device=device)[None]
    S = frames_per_window
    full = (T // S) * S
    # (first frame, windows, frames per window): batches of full windows, then the short tail
    chunks = [(t0, min(batch_windows, (full - t0) // S), S) for t0 in range(0, full, S * batch_windows)]
    if full < T:
        chunks.append((full, 1, T - full))
    with torch.inference_mode():
        for t0, nw, s in chunks:
            n = nw * s
            x = torch.from_numpy(images[t0:t0 + n]).to(device, non_blocking=True)
            x = x.permute(0, 3, 1, 2).float() / 255
            if (h, w) != (H, W):
                x = F.interpolate(x, size=(h, w), mode="area" if h < H else "bilinear", align_corners=None)
            # the prior is one (C,h,w) map of the clip's camera, the same for every frame
            p = None if prior is None else prior[None].expand(n, -1, -1, -1).reshape(nw, s, *prior.shape)
            with autocast(str(device), precision):
                out = model(x.reshape(nw, s, *x.shape[1:]), p,
                            rotation=None if rotation is None else rotation.expand(nw, 3, 3))
            maps = torch.cat([out["depth"].flatten(0, 1)[:, None], out["canonical"].flatten(0, 1),
                              out["canonical_confidence"].flatten(0, 1)[:, None],
                              torch.sigmoid(out["foreground_logit"].flatten(0, 1)[:, None])],
                             dim=1).float()  # (n,6,h,w)
            if (h, w) != (H, W):
                maps = F.interpolate(maps, size=(H, W), mode="bilinear", align_corners=False)
            maps = maps.cpu().numpy()
            sl = slice(t0, t0 + n)
            depth[sl], confidence[sl], foreground[sl] = maps[:, 0], maps[:, 4], maps[:, 5]
            canonical[sl] = maps[:, 1:4].transpose(0, 2, 3, 1)
    return {"depth": depth, "canonical": canonical, "confidence": confidence, "foreground": foreground}


def predict(gt_dir, out_dir, checkpoint=None, method: str = "transformer",
            frames_per_window: int | None = None, device: str | None = None, clips=None,
            benchmark: str | None = None, max_distance: float = 0.05, progress: bool = True,
            precision: str | None = "auto", batch_windows: int = 8, compile: bool = False) -> dict:
    """Predict every clip (or ``clips``) of ``gt_dir`` into ``out_dir``.

    Returns the meta.json dict plus ``clips`` and ``frames`` counts.  ``benchmark``
    defaults to the one the GT folder names; ``max_distance`` (normalized canonical
    units) is the canonical match distance under which a tracked point is visible.
    ``device`` (auto|cpu|cuda|cuda:N|mps), ``precision`` (auto|fp32|bf16), ``compile`` and
    ``batch_windows`` (windows per forward pass) only concern the transformer.
    """
    from tqdm import tqdm

    from facebench.baseline.runtime import device_name
    from facebench.baseline.tracks import sample_canonical, tracks_from_canonical
    from facebench.baseline.trivial import mean_depth_plane, origin_depth, static_tracks, template_frontal
    from facebench.io.shards import GTReader

    if method not in METHODS:
        raise FacebenchError(f"unknown method {method!r}{did_you_mean(method, METHODS)}; choose from "
                             f"{', '.join(METHODS)}")
    reader = GTReader(gt_dir)
    benchmark = benchmark or reader.benchmark
    if not benchmark:
        raise FacebenchError(f"{gt_dir}: the GT names no benchmark; pass --benchmark")
    clip_ids = list(clips) if clips is not None else reader.clip_ids
    for cid in clip_ids:
        reader.clip_info(cid)  # unknown ids fail here, before any work
    params: dict = {}
    model = template = None
    template_frame = (reader.center, reader.scale)
    if method == "transformer":
        from facebench.baseline.checkpoint import SHIPPED, load_model
        from facebench.baseline.runtime import (
            compile_model,
            configure_backends,
            resolve_device,
            resolve_precision,
        )

        device = resolve_device(device)
        precision = resolve_precision(precision, device)
        if batch_windows < 1:
            raise FacebenchError("--batch-windows must be at least 1")
        configure_backends(device)
        model, meta = load_model(checkpoint, device=device)
        compile_model(model, compile)
        if model.config.prior:
            from facebench.baseline.prior import prior_normalization

            template_frame = prior_normalization()
        frames_per_window = frames_per_window or int(meta.get("train", {}).get("window", 4))
        params = {"checkpoint": str(checkpoint) if checkpoint else f"shipped:{SHIPPED.name}",
                  "config": meta["model"]["name"], "step": meta.get("step"),
                  "image_size": model.config.image_size, "frames_per_window": frames_per_window,
                  "track_max_distance": max_distance, "precision": precision, "batch_windows": batch_windows}
    elif method == "template-frontal":
        from facebench.templates import NAMES, load

        if reader.template_name not in NAMES or reader.template_name == "flame":
            raise FacebenchError(f"template-frontal needs a built-in template (this GT uses "
                                 f"{reader.template_name!r})")
        template = load(reader.template_name)
        template_frame = (np.asarray(template.center), float(template.scale))
        params = {"template": template.name, "track_max_distance": max_distance}
    if method != "transformer":
        device = "cpu"  # the trivial rows are numpy
    correspondence = None
    if method == "transformer" and model.config.prior and reader.template_name != "facebench-head":
        # the model works in facebench-head's canonical space: map its maps into the GT's template
        from facebench.templates import load
        from facebench.templates.correspondence import get_correspondence

        correspondence = get_correspondence(load("facebench-head"), load(reader.template_name))
        params["canonical_converted_from"] = "facebench-head"

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds, frames = 0.0, 0
    for cid in tqdm(clip_ids, desc=f"predict {method}", unit="clip", disable=not progress):
        info = reader.clip_info(cid)
        T, H, W = info["T"], info["H"], info["W"]
        clip = reader.clip(cid, fields=("image", "tracks") if method == "transformer" else ("tracks",))
        tr = clip.tracks
        xy_query = tr.xy[np.arange(len(tr.query_frame)), tr.query_frame] if len(tr.query_frame) else \
            np.zeros((0, 2), np.float32)
        t0 = time.perf_counter()
        if method == "transformer":
            maps = run_transformer(model, clip.image, frames_per_window, model.config.image_size, device,
                                   K=clip.K, T_cam_from_world=clip.T_cam_from_world, precision=precision,
                                   batch_windows=batch_windows)
        elif method == "template-frontal":
            maps = template_frontal((T, H, W), clip.K, clip.T_cam_from_world, template)
        else:
            maps = mean_depth_plane((T, H, W), clip.T_cam_from_world)
        if correspondence is not None:  # facebench-head space -> the GT template's (normalized alike)
            maps["canonical"] = correspondence.convert(maps["canonical"]).astype(np.float32)
            template_frame = (reader.center, reader.scale)
        if method != "mean-depth-plane":  # template canonical frame -> this GT's normalization
            from facebench.baseline.prior import renormalize

            center, scale = np.asarray(template_frame[0]), template_frame[1]
            maps["canonical"] = renormalize(maps["canonical"], center, scale, reader.center, reader.scale)
        if method == "mean-depth-plane":
            xy, vis, xyz = static_tracks(tr.query_frame, xy_query, origin_depth(clip.T_cam_from_world),
                                         clip.K, T)
        else:
            query = sample_canonical(maps["canonical"], tr.query_frame, xy_query)
            search = maps["canonical"]
            if "foreground" in maps:  # search only where the model sees a face
                search = np.where(maps["foreground"][..., None] > 0.5, search, np.nan)
            xy, vis, xyz = tracks_from_canonical(search, query, depth=maps["depth"], K=clip.K,
                                                 max_distance=max_distance)
        seconds += time.perf_counter() - t0
        frames += T
        path = out_dir / f"{cid}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, depth=maps["depth"].astype(np.float32),
                            canonical=maps["canonical"].astype(np.float32),
                            confidence=maps["confidence"].astype(np.float32),
                            tracks_xy=np.asarray(xy, np.float32), tracks_visible=np.asarray(vis, bool),
                            tracks_xyz=np.asarray(xyz, np.float32))
    meta = {"method": method if method != "transformer" else f"facebench-transformer-{params['config']}",
            "benchmark": benchmark, "description": _DESCRIPTIONS[method], "params": params,
            "runtime_s_per_frame": round(seconds / max(frames, 1), 5), "device": device_name(device),
            "canonical_space": reader.template_name}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    reader.close()
    return {**meta, "clips": len(clip_ids), "frames": frames}


_DESCRIPTIONS = {
    "transformer": "Reference feed-forward transformer (alternating frame/global attention, DPT heads); "
                   "tracks by nearest-neighbour search in predicted canonical space.",
    "mean-depth-plane": "Trivial floor: constant depth at the rig's aim point (world origin), canonical 0, "
                        "static tracks.",
    "template-frontal": "Trivial floor: neutral template at the world origin rendered from the clip's camera "
                        "(one fixed canonical projection for every frame).",
}
