"""The plain 3-D core of the 2023 starter kit (neuralpredictors' ``Basic3dCore``, kit ``core_type='3D'``):
every layer one full (kt, k, k) spatio-temporal convolution with a bias, then BatchNorm and ELU.

As in the factorised core (``video``), time is padded on the past side only, so output frame t sees input
frames ≤ t, and the first ``burn_in`` frames, which see padding, are left out of loss and metrics by the
trainer: the kit's valid convolution returns exactly the frames from ``burn_in`` on. The kit's penalties are
sums over slices: a Laplace-L2 ratio per temporal slice of the first filters, and a temporal one per pixel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .cores import LAPLACE_3X3
from .video import LAPLACE_1D


def laplace_ratios(slices: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Σ over the slices (S, O, I, *L) of sum(lap(w)^2) / sum(w^2), each 1-D or 2-D filter zero-padded by 1."""
    flat = slices.reshape(-1, 1, *slices.shape[3:])
    convolve = F.conv1d if kernel.ndim == 1 else F.conv2d
    laplacian = convolve(flat, kernel.to(flat)[None, None], padding=1)
    count = len(slices)
    return (laplacian.reshape(count, -1).pow(2).sum(1) / flat.reshape(count, -1).pow(2).sum(1)).sum()


class Full3dBlock(nn.Sequential):
    """(B, C, T, h, w) → causal (kt, k, k) conv with bias → BatchNorm → ELU."""

    def __init__(self, in_channels: int, out_channels: int, kern: int, temporal_kern: int, pad: bool,
                 momentum: float, linear: bool):
        padding = kern // 2 if pad else 0
        super().__init__(nn.ConstantPad3d((0, 0, 0, 0, temporal_kern - 1, 0), 0.0),
                         nn.Conv3d(in_channels, out_channels, (temporal_kern, kern, kern),
                                   padding=(0, padding, padding)),
                         nn.BatchNorm3d(out_channels, momentum=momentum))
        if not linear:
            self.append(nn.ELU())
        self.past_frames = temporal_kern - 1


class Full3dCore(nn.Module):
    """Videos (B, C, T, h, w) → feature maps (B, out_channels, T, h', w'), causal in time."""

    def __init__(self, in_channels: int, cfg: ModelConfig):
        super().__init__()
        self.gamma_input, self.gamma_input_temporal = cfg.gamma_input, cfg.gamma_input_temporal
        sizes = [in_channels] + cfg.channels()
        self.blocks = nn.Sequential(*(
            Full3dBlock(sizes[i], sizes[i + 1], cfg.input_kern if i == 0 else cfg.hidden_kern,
                        cfg.temporal_kern if i == 0 else cfg.hidden_temporal_kern,
                        cfg.pad_input if i == 0 else cfg.pad_hidden, cfg.momentum, cfg.linear)
            for i in range(cfg.layers)))
        self.out_channels = sizes[-1]
        self.burn_in = sum(block.past_frames for block in self.blocks)
        for module in self.modules():  # neuralpredictors' Core3d.init_conv
            if isinstance(module, nn.Conv3d):
                nn.init.xavier_normal_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)

    def regularizer(self) -> torch.Tensor:
        weight = self.blocks[0][1].weight                                   # (O, I, kt, k, k)
        return (self.gamma_input * laplace_ratios(weight.permute(2, 0, 1, 3, 4), LAPLACE_3X3)
                + self.gamma_input_temporal * laplace_ratios(weight.permute(3, 4, 0, 1, 2).flatten(0, 1), LAPLACE_1D))
