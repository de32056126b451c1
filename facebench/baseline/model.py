"""The reference transformer: a ViT encoder with alternating frame / global attention
and DPT heads for depth and canonical coordinates (the "Face Anything" / VGGT design).

Plain torch.  The encoder embeds 8x8 (tiny) or 16x16 (base) patches of every
frame, adds a learned position embedding (bicubically resized to the frame's
patch grid) and runs DINOv2-style pre-norm blocks; even blocks attend within
one frame, odd blocks attend over the tokens of all frames of the sequence, so
the frames of a window share evidence about the same face.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facebench.baseline.config import ModelConfig
from facebench.baseline.heads import DPTHead

# ImageNet statistics, as for DINOv2 inputs.
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class LayerScale(nn.Module):
    def __init__(self, dim: int, init: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x):
        return x * self.gamma


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # (B, N, D)
        B, N, D = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(B, N, D))


class Block(nn.Module):
    """Pre-norm transformer block: x + LS(attn(LN x)); x + LS(mlp(LN x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, layerscale: float | None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim, layerscale) if layerscale else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.ls2 = LayerScale(dim, layerscale) if layerscale else nn.Identity()

    def forward(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class AlternatingEncoder(nn.Module):
    """Patch embedding + blocks alternating frame and global attention.

    ``forward(images (B,S,3,H,W))`` with H, W multiples of the patch size returns
    the token maps of ``config.out_layers``: a list of (B*S, D, H/p, W/p).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        D = config.dim
        self.patch_embed = nn.Conv2d(3, D, kernel_size=config.patch, stride=config.patch)
        self.prior_embed = (nn.Conv2d(5, D, kernel_size=config.patch, stride=config.patch)
                            if config.prior else None)
        self.pos_embed = nn.Parameter(torch.randn(1, D, config.pos_grid, config.pos_grid) * 0.02)
        self.blocks = nn.ModuleList(
            Block(D, config.heads, config.mlp_ratio, config.layerscale) for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(D, eps=1e-6)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images, prior=None):
        B, S, _, H, W = images.shape
        x = (images.reshape(B * S, 3, H, W) - self.mean) / self.std
        x = self.patch_embed(x)  # (B*S, D, h, w)
        if self.prior_embed is not None:
            x = x + self.prior_embed(normalize_prior(prior.reshape(B * S, 5, H, W)))
        h, w = x.shape[-2:]
        pos = self.pos_embed
        if pos.shape[-2:] != (h, w):
            pos = F.interpolate(pos, size=(h, w), mode="bicubic", align_corners=False)
        x = (x + pos).flatten(2).transpose(1, 2)  # (B*S, N, D)
        N, D = x.shape[1], x.shape[2]
        outs = []
        for i, block in enumerate(self.blocks):
            if i % 2 == 0:
                x = block(x)  # frame attention
            else:
                x = block(x.reshape(B, S * N, D)).reshape(B * S, N, D)  # global attention
            if i in self.config.out_layers:
                outs.append(self.norm(x).transpose(1, 2).reshape(B * S, D, h, w))
        return outs


class PoseHead(nn.Module):
    """Per-frame affine map of the prior's canonical coordinates.

    Most of the template prior's canonical error is global: the captured head sits, turns and
    is shaped differently from the neutral template at the world origin, and the best affine map
    of the prior's canonical values (12 numbers per frame) removes about 70% of it on synthetic
    validation captures (``benchmarks/prior_error.py``).  The head reads the frame's pooled
    tokens and :func:`mask_moments` of where the model sees the face (its own foreground,
    gradients stopped) and of where the prior has it.  The last layer starts at zero, so the
    map starts as the identity.
    ``forward(tokens (N,D,h,w), foreground (N,H,W) in [0,1], prior (N,5,H,W))
    -> (A (N,3,3), b (N,3))`` with ``c' = A c + b``.
    """

    n_geometry = 2 * 9

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim + self.n_geometry, dim), nn.GELU(), nn.Linear(dim, 12))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, tokens, foreground, prior):
        seen, hit = mask_moments(foreground, prior[:, 1:4]), mask_moments(prior[:, 4], prior[:, 1:4])
        x = torch.cat([self.norm(tokens.mean(dim=(2, 3))), seen - hit, hit], dim=1)
        theta = self.mlp(x)
        A = torch.eye(3, device=theta.device, dtype=theta.dtype) + theta[:, :9].reshape(-1, 3, 3)
        return A, theta[:, 9:]


def mask_moments(weight, canonical):
    """(N,9) moments of a soft mask (N,H,W): area, centroid (x,y in [-1,1]), second central
    moments (xx, yy, xy) and the mean canonical coordinate under it (3)."""
    N, H, W = weight.shape
    y = torch.linspace(-1.0, 1.0, H, device=weight.device, dtype=weight.dtype).view(1, H, 1)
    x = torch.linspace(-1.0, 1.0, W, device=weight.device, dtype=weight.dtype).view(1, 1, W)
    mass = weight.sum(dim=(1, 2)).clamp(min=1e-3)
    mx, my = (weight * x).sum(dim=(1, 2)) / mass, (weight * y).sum(dim=(1, 2)) / mass
    dx, dy = x - mx.view(N, 1, 1), y - my.view(N, 1, 1)
    sxx = (weight * dx * dx).sum(dim=(1, 2)) / mass
    syy = (weight * dy * dy).sum(dim=(1, 2)) / mass
    sxy = (weight * dx * dy).sum(dim=(1, 2)) / mass
    c = (weight[:, None] * canonical).sum(dim=(2, 3)) / mass[:, None]
    area = mass / (H * W)
    return torch.cat([torch.stack([area, mx, my, sxx, syy, sxy], dim=1), c], dim=1)


class FaceTransformer(nn.Module):
    """Encoder plus two named DPT heads: ``depth`` and ``canonical`` (and, with a prior, a pose head)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if len(config.out_layers) != 4:
            raise ValueError("out_layers must name four blocks")
        self.config = config
        self.encoder = AlternatingEncoder(config)
        kw = dict(dim=config.dim, features=config.head_features, patch=config.patch)
        self.depth_head = DPTHead(out_channels=2, **kw)
        self.canonical_head = DPTHead(out_channels=5, **kw)
        # the pose head maps the prior's canonical coordinates: without a prior there is none
        self.pose_head = PoseHead(config.dim) if config.pose_head and config.prior else None

    def forward(self, images, prior=None, rotation=None) -> dict:
        """Predict dense maps for a batch of frame sequences.

        Args:
            images: (B,S,3,H,W) float RGB in [0, 1]; any H, W (padded to the patch size inside).
            prior: (B,S,5,H,W) template prior maps (:mod:`facebench.baseline.prior`), required
                when ``config.prior``: depth and canonical are then corrections to it (with
                ``config.pose_head``, canonical = A @ prior + b + dense correction, per frame).
            rotation: (B,3,3) or (B,S,3,3) camera-from-world rotations, required when
                ``config.camera_frame`` (corrections are then predicted along the camera's axes).

        Returns a dict:
            ``depth``                (B,S,H,W)   z-depth in metres, > 0 (exp activation)
            ``depth_confidence``     (B,S,H,W)   >= 1 (1 + exp)
            ``canonical``            (B,S,3,H,W) normalized canonical xyz
            ``canonical_confidence`` (B,S,H,W)   >= 1 (1 + exp)
            ``foreground_logit``     (B,S,H,W)   logit of "this pixel has a canonical coordinate"
            ``canonical_affine``     (B,S,3,4)   [A | b] of the pose head (only with ``pose_head``)
        """
        B, S, _, H, W = images.shape
        if self.config.prior and prior is None:
            raise ValueError("this model takes a template prior: forward(images, prior)")
        p = self.config.patch
        pad_h, pad_w = (-H) % p, (-W) % p
        x, xp = images, prior
        if pad_h or pad_w:
            x = F.pad(images.reshape(B * S, 3, H, W), (0, pad_w, 0, pad_h), mode="replicate")
            x = x.reshape(B, S, 3, H + pad_h, W + pad_w)
            if prior is not None:
                xp = F.pad(prior.reshape(B * S, 5, H, W), (0, pad_w, 0, pad_h), mode="replicate")
                xp = xp.reshape(B, S, 5, H + pad_h, W + pad_w)
        feats = self.encoder(x, xp if self.config.prior else None)
        size = (H + pad_h, W + pad_w)
        d = self.depth_head(feats, size)[..., :H, :W].reshape(B, S, 2, H, W)
        c = self.canonical_head(feats, size)[..., :H, :W].reshape(B, S, 5, H, W)
        depth, canonical = torch.exp(d[:, :, 0].clamp(-10.0, 10.0)), c[:, :, :3]
        if not self.config.dense_canonical and self.config.prior:
            canonical = torch.zeros_like(canonical)
        R = None
        if self.config.camera_frame and self.config.prior:
            if rotation is None:
                raise ValueError("this model predicts along the camera's axes: "
                                 "forward(images, prior, rotation)")
            R = rotation[:, None] if rotation.dim() == 3 else rotation
            R = R.expand(B, S, 3, 3).reshape(B * S, 3, 3).to(canonical.dtype)
            canonical = torch.einsum("nji,njhw->nihw", R, canonical.reshape(B * S, 3, H, W))  # R^T delta
            canonical = canonical.reshape(B, S, 3, H, W)
        extra = {}
        if self.config.prior:
            depth = depth * prior[:, :, 0].clamp(min=1e-3)
            base = prior[:, :, 1:4]
            if self.pose_head is not None:
                fg = torch.sigmoid(c[:, :, 4].detach()).reshape(B * S, H, W)
                A, b = self.pose_head(feats[-1], fg, prior.reshape(B * S, 5, H, W))
                if R is not None:  # an affine map along the camera's axes, seen along canonical axes
                    A, b = R.transpose(1, 2) @ A @ R, (R.transpose(1, 2) @ b[:, :, None])[:, :, 0]
                base = (torch.einsum("nij,njhw->nihw", A, base.reshape(B * S, 3, H, W))
                        + b[:, :, None, None]).reshape(B, S, 3, H, W)
                extra["canonical_affine"] = torch.cat([A, b[:, :, None]], dim=2).reshape(B, S, 3, 4)
            canonical = canonical + base
        return {
            **extra,
            "depth": depth,
            "depth_confidence": 1.0 + torch.exp(d[:, :, 1].clamp(max=20.0)),
            "canonical": canonical,
            "canonical_confidence": 1.0 + torch.exp(c[:, :, 3].clamp(max=20.0)),
            "foreground_logit": c[:, :, 4],
        }


def normalize_prior(prior):
    """Prior channels to unit-ish range: log depth, canonical as is, hit mask as +-1."""
    depth = torch.log(prior[:, :1].clamp(min=1e-3))
    return torch.cat([depth, prior[:, 1:4], 2 * prior[:, 4:5] - 1], dim=1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
