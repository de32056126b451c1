"""Training losses of the reference transformer, masked by GT validity.

All functions take torch tensors with a leading image axis N (= batch x frames):
predictions and targets (N,H,W) or (N,3,H,W), validity masks (N,H,W) bool.
Images without a valid pixel contribute nothing.  A fifth term, binary cross
entropy on the ``foreground_logit``, teaches the model where canonical
coordinates exist (GT canonical valid), so tracking can ignore background.
"""

from __future__ import annotations

import torch


def _per_image_mean(x, valid):
    """Mean of x over valid pixels of each image -> (N,), and the per-image counts."""
    w = valid.float()
    n = w.flatten(1).sum(1)
    return (x * w).flatten(1).sum(1) / n.clamp(min=1), n


def depth_scale_invariant(pred, gt, valid, lam: float = 0.5):
    """Eigen et al. scale-invariant log loss: mean(d^2) - lam * mean(d)^2, d = log pred - log gt.

    ``lam = 1`` ignores a global scale entirely; ``lam = 0`` is plain log-MSE.
    """
    d = torch.where(valid, torch.log(pred.clamp(min=1e-6)) - torch.log(gt.clamp(min=1e-6)), 0.0)
    m1, n = _per_image_mean(d, valid)
    m2, _ = _per_image_mean(d * d, valid)
    per_image = m2 - lam * m1 * m1
    has = n > 0
    return per_image[has].mean() if has.any() else pred.sum() * 0.0


def depth_gradient_matching(pred, gt, valid, scales: int = 4):
    """Multi-scale gradient matching on the log-depth residual (MiDaS-style).

    Penalises |grad(log pred - log gt)| along x and y where both neighbours are
    valid, at ``scales`` resolutions (stride 1, 2, 4, ...); zero for any global scale.
    """
    d = torch.where(valid, torch.log(pred.clamp(min=1e-6)) - torch.log(gt.clamp(min=1e-6)), 0.0)
    total, terms = pred.sum() * 0.0, 0
    for k in range(scales):
        s = 2**k
        dk, vk = d[:, ::s, ::s], valid[:, ::s, ::s]
        vx = vk[:, :, 1:] & vk[:, :, :-1]
        vy = vk[:, 1:, :] & vk[:, :-1, :]
        count = vx.sum() + vy.sum()
        if count == 0:
            continue
        gx = (dk[:, :, 1:] - dk[:, :, :-1]).abs() * vx
        gy = (dk[:, 1:, :] - dk[:, :-1, :]).abs() * vy
        total = total + (gx.sum() + gy.sum()) / count
        terms += 1
    return total / max(terms, 1)


def confidence_weighted(error, confidence, valid, alpha: float):
    """Aleatoric loss ``c * e - alpha * log c`` averaged over valid pixels (VGGT).

    ``error`` (N,H,W) >= 0, ``confidence`` (N,H,W) >= 1.  Minimised, for a fixed
    error e, at c = alpha / e, so confident pixels are those predicted well.
    """
    per_pixel = confidence * error - alpha * torch.log(confidence)
    count = valid.sum()
    if count == 0:
        return error.sum() * 0.0
    return (per_pixel * valid).sum() / count


def canonical_error(pred, gt):
    """Euclidean distance in normalized canonical units: (N,3,H,W) x2 -> (N,H,W)."""
    return torch.sqrt(((pred - gt) ** 2).sum(dim=1) + 1e-12)


def total_loss(out: dict, batch: dict, weights: dict) -> tuple[torch.Tensor, dict]:
    """The training objective for one batch; returns (loss, dict of float terms).

    ``out``: the model's dict with (B,S,...) tensors; ``batch``: a collated
    :class:`~facebench.data.ShardDataset` batch.
    """
    B, S = out["depth"].shape[:2]
    pd = out["depth"].flatten(0, 1)
    gd, vd = batch["depth"].flatten(0, 1), batch["depth_valid"].flatten(0, 1)
    pc = out["canonical"].flatten(0, 1)
    gc, vc = batch["canonical"].flatten(0, 1), batch["canonical_valid"].flatten(0, 1)

    si = depth_scale_invariant(pd, gd, vd, lam=weights["si_lambda"])
    grad = depth_gradient_matching(pd, gd, vd)
    log_res = torch.where(vd, torch.log(pd.clamp(min=1e-6)) - torch.log(gd.clamp(min=1e-6)), 0.0)
    shift, _ = _per_image_mean(log_res, vd)
    dconf = confidence_weighted((log_res - shift[:, None, None]).abs(), out["depth_confidence"].flatten(0, 1),
                                vd, weights["alpha_depth"])
    e = canonical_error(pc, gc)
    canon = confidence_weighted(e, out["canonical_confidence"].flatten(0, 1), vc, weights["alpha_canonical"])
    fg = torch.nn.functional.binary_cross_entropy_with_logits(out["foreground_logit"].flatten(0, 1),
                                                              vc.float())
    loss = (weights["w_depth_si"] * si + weights["w_depth_grad"] * grad
            + weights["w_depth_conf"] * dconf + weights["w_canonical"] * canon
            + weights.get("w_foreground", 0.2) * fg)
    with torch.no_grad():
        e_mean = (e * vc).sum() / vc.sum().clamp(min=1)
    terms = {"loss": loss.item(), "depth_si": si.item(), "depth_grad": grad.item(),
             "depth_conf": dconf.item(), "canonical": canon.item(), "foreground": fg.item(),
             "canonical_err": e_mean.item()}
    return loss, terms
