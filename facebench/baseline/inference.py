"""The transformer's maps for one clip (``run_transformer``), shared by the method registry
(:mod:`facebench.methods`), ``facebench baseline predict`` and the benchmarks."""

from __future__ import annotations

import numpy as np


def run_transformer(model, images, frames_per_window: int, image_size: int, device="cpu", K=None,
                    T_cam_from_world=None, precision: str = "fp32", batch_windows: int = 1,
                    fitted_vertices=None) -> dict:
    """Model maps for a clip.  images (T,H,W,3) uint8 -> depth (T,H,W), canonical (T,H,W,3),
    confidence (T,H,W) (the canonical confidence), foreground (T,H,W) probability, at the
    input resolution.  ``K`` and ``T_cam_from_world`` (the clip's camera) are needed by a model
    that takes the template prior.  Up to ``batch_windows`` windows of ``frames_per_window``
    frames go through the model together (a batch of windows; each window is still seen alone,
    so the maps do not depend on it); ``precision`` ``bf16`` runs the forward under autocast.
    ``fitted_vertices`` (T,V,3) world: a model whose prior comes from a fit (``prior_source:
    fit``) takes this mesh per frame, rendered from the clip's camera, as its prior."""
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
    if model.config.prior and getattr(model.config, "prior_source", "rig") == "fit":
        from facebench.baseline.prior import mesh_prior
        from facebench.data import rescale_K

        if fitted_vertices is None:
            raise ValueError("this model's prior is a fitted mesh per frame: pass fitted_vertices")
        Kr = rescale_K(K, (H, W), (h, w))
        prior = torch.from_numpy(np.stack([mesh_prior(Kr, T_cam_from_world, h, w, v, model.config.template)
                                           for v in fitted_vertices])).to(device)  # (T,5,h,w)
    elif model.config.prior:
        from facebench.baseline.prior import template_prior
        from facebench.data import rescale_K

        prior = template_prior(rescale_K(K, (H, W), (h, w)), T_cam_from_world, h, w,
                               template=model.config.template)
        prior = torch.from_numpy(prior).to(device)[None].expand(T, -1, -1, -1)  # one map, every frame
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
            p = None if prior is None else prior[t0:t0 + n].reshape(nw, s, *prior.shape[1:])
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
