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


# Every term of the objective is a sum over pixels or images divided by a count that depends on the
# GT validity masks alone.  Splitting the terms into numerators (:func:`loss_sums`, additive over
# any split of the batch) and denominators (:func:`loss_counts`, known before the forward pass)
# lets several processes and accumulation micro-batches reproduce the loss of the whole global
# batch exactly: each part divides its numerators by the global counts (:func:`combine_loss`).
GRAD_SCALES = 4
SUM_KEYS = ("depth_si", *(f"depth_grad{k}" for k in range(GRAD_SCALES)), "depth_conf", "canonical",
            "foreground", "canonical_err")
COUNT_KEYS = ("depth_images", *(f"depth_grad{k}" for k in range(GRAD_SCALES)), "depth_pixels",
              "canonical_pixels", "pixels")


def loss_counts(batch: dict) -> torch.Tensor:
    """Denominators of the loss terms for a (part of a) batch: (len(COUNT_KEYS),) float64, additive."""
    vd, vc = batch["depth_valid"].flatten(0, 1), batch["canonical_valid"].flatten(0, 1)
    grad = []
    for k in range(GRAD_SCALES):
        vk = vd[:, :: 2**k, :: 2**k]
        grad.append((vk[:, :, 1:] & vk[:, :, :-1]).sum() + (vk[:, 1:, :] & vk[:, :-1, :]).sum())
    counts = [(vd.flatten(1).sum(1) > 0).sum(), *grad, vd.sum(), vc.sum(), torch.tensor(vc.numel())]
    return torch.stack([torch.as_tensor(c, dtype=torch.float64) for c in counts]).cpu()


def loss_sums(out: dict, batch: dict, weights: dict) -> dict:
    """Numerators of the loss terms (tensors with gradient), additive over any split of the batch."""
    pd = out["depth"].flatten(0, 1).float()
    gd, vd = batch["depth"].flatten(0, 1), batch["depth_valid"].flatten(0, 1)
    pc = out["canonical"].flatten(0, 1).float()
    gc, vc = batch["canonical"].flatten(0, 1), batch["canonical_valid"].flatten(0, 1)
    log_res = torch.where(vd, torch.log(pd.clamp(min=1e-6)) - torch.log(gd.clamp(min=1e-6)), 0.0)
    m1, n = _per_image_mean(log_res, vd)
    m2, _ = _per_image_mean(log_res * log_res, vd)
    sums = {"depth_si": ((m2 - weights["si_lambda"] * m1 * m1) * (n > 0)).sum()}
    for k in range(GRAD_SCALES):
        dk, vk = log_res[:, :: 2**k, :: 2**k], vd[:, :: 2**k, :: 2**k]
        gx = (dk[:, :, 1:] - dk[:, :, :-1]).abs() * (vk[:, :, 1:] & vk[:, :, :-1])
        gy = (dk[:, 1:, :] - dk[:, :-1, :]).abs() * (vk[:, 1:, :] & vk[:, :-1, :])
        sums[f"depth_grad{k}"] = gx.sum() + gy.sum()
    dconf = out["depth_confidence"].flatten(0, 1).float()
    err = (log_res - m1[:, None, None]).abs()
    sums["depth_conf"] = ((dconf * err - weights["alpha_depth"] * torch.log(dconf)) * vd).sum()
    e = canonical_error(pc, gc)
    cconf = out["canonical_confidence"].flatten(0, 1).float()
    sums["canonical"] = ((cconf * e - weights["alpha_canonical"] * torch.log(cconf)) * vc).sum()
    sums["foreground"] = torch.nn.functional.binary_cross_entropy_with_logits(
        out["foreground_logit"].flatten(0, 1).float(), vc.float(), reduction="sum")
    sums["canonical_err"] = (e * vc).sum().detach()
    return sums


def combine_loss(sums: dict, counts: torch.Tensor, weights: dict) -> tuple[torch.Tensor, dict]:
    """(loss, terms): the objective from numerators and (global) denominators; linear in ``sums``."""
    c = dict(zip(COUNT_KEYS, counts.tolist()))
    terms = {"depth_si": sums["depth_si"] / max(c["depth_images"], 1.0)}
    scales = [k for k in range(GRAD_SCALES) if c[f"depth_grad{k}"] > 0]
    terms["depth_grad"] = sum((sums[f"depth_grad{k}"] / c[f"depth_grad{k}"] for k in scales),
                              sums["depth_grad0"] * 0.0) / max(len(scales), 1)
    terms["depth_conf"] = sums["depth_conf"] / max(c["depth_pixels"], 1.0)
    terms["canonical"] = sums["canonical"] / max(c["canonical_pixels"], 1.0)
    terms["foreground"] = sums["foreground"] / max(c["pixels"], 1.0)
    loss = (weights["w_depth_si"] * terms["depth_si"] + weights["w_depth_grad"] * terms["depth_grad"]
            + weights["w_depth_conf"] * terms["depth_conf"] + weights["w_canonical"] * terms["canonical"]
            + weights.get("w_foreground", 0.2) * terms["foreground"])
    terms["canonical_err"] = sums["canonical_err"] / max(c["canonical_pixels"], 1.0)
    return loss, terms


def terms_to_floats(loss, terms: dict) -> dict:
    return {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}


def total_loss(out: dict, batch: dict, weights: dict) -> tuple[torch.Tensor, dict]:
    """The training objective for one batch; returns (loss, dict of float terms).

    ``out``: the model's dict with (B,S,...) tensors; ``batch``: a collated
    :class:`~facebench.data.ShardDataset` batch.  Equal to the sum of the masked means of
    :func:`depth_scale_invariant`, :func:`depth_gradient_matching`, :func:`confidence_weighted`
    (depth and canonical) and the foreground cross entropy, weighted by ``weights``.
    """
    loss, terms = combine_loss(loss_sums(out, batch, weights), loss_counts(batch), weights)
    return loss, terms_to_floats(loss, terms)
