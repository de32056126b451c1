"""DPT dense prediction head (Ranftl et al. 2021): reassemble, fuse, upsample.

Four token maps from increasing encoder depths are *reassembled* into an image
pyramid (strides p/4, p/2, p, 2p for patch size p), projected to a common width,
then *fused* coarse to fine by residual conv units with 2x upsampling, and a
small conv head produces the output channels at the input resolution.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn


class ResidualConvUnit(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """out = upsample2x(RCU(x + RCU(skip))), then a 1x1 projection."""

    def __init__(self, features: int, has_skip: bool = True):
        super().__init__()
        self.skip_unit = ResidualConvUnit(features) if has_skip else None
        self.unit = ResidualConvUnit(features)
        self.proj = nn.Conv2d(features, features, 1)

    def forward(self, x, skip=None, size=None):
        if skip is not None:
            if x.shape[-2:] != skip.shape[-2:]:
                x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = x + self.skip_unit(skip)
        x = self.unit(x)
        size = size or (x.shape[-2] * 2, x.shape[-1] * 2)
        return self.proj(F.interpolate(x, size=size, mode="bilinear", align_corners=False))


class DPTHead(nn.Module):
    """Token maps (4 x (N, dim, h, w)) -> (N, out_channels, H, W)."""

    def __init__(self, dim: int, features: int, out_channels: int, patch: int):
        super().__init__()
        widths = (features // 2, features, features * 2, features * 2)
        self.project = nn.ModuleList(nn.Conv2d(dim, c, 1) for c in widths)
        self.resize = nn.ModuleList([
            nn.ConvTranspose2d(widths[0], widths[0], 4, stride=4),
            nn.ConvTranspose2d(widths[1], widths[1], 2, stride=2),
            nn.Identity(),
            nn.Conv2d(widths[3], widths[3], 3, stride=2, padding=1),
        ])
        self.layer_rn = nn.ModuleList(nn.Conv2d(c, features, 3, padding=1, bias=False) for c in widths)
        self.fusion = nn.ModuleList(FusionBlock(features, has_skip=i < 3) for i in range(4))
        self.out = nn.Sequential(
            nn.Conv2d(features, features // 2, 3, padding=1), nn.ReLU(),
            nn.Conv2d(features // 2, out_channels, 1),
        )
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, feats, size):
        pyramid = [rn(rs(pj(f))) for f, pj, rs, rn in zip(feats, self.project, self.resize, self.layer_rn)]
        x = self.fusion[3](pyramid[3], size=pyramid[2].shape[-2:])
        x = self.fusion[2](x, pyramid[2], size=pyramid[1].shape[-2:])
        x = self.fusion[1](x, pyramid[1], size=pyramid[0].shape[-2:])
        x = self.fusion[0](x, pyramid[0], size=tuple(size))
        return self.out(x)
