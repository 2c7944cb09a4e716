"""The shared 2-D convolutional core of the SENSORIUM 2022 baselines (neuralpredictors' ``Stacked2dCore``).

Layer 0 is a plain k×k convolution; hidden layers are k×k convolutions or depth-separable ones
(1×1 → depthwise k×k → 1×1). Every layer is conv → BatchNorm → ELU (no ELU when ``linear``). Convolutions
carry no bias because batch norm supplies one. The first layer's filters are kept smooth by the
Laplace-L2 regulariser.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

LAPLACE_3X3 = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])


def laplace_l2norm(weight: torch.Tensor) -> torch.Tensor:
    """sum(lap(w)^2) / sum(w^2) over all k×k kernels of a conv weight (…, kh, kw), zero-padded by 1.

    Scale-free: it penalises rough filters, not large ones (neuralpredictors' ``LaplaceL2norm``).
    """
    kernels = weight.reshape(-1, 1, *weight.shape[-2:])
    laplacian = F.conv2d(kernels, LAPLACE_3X3.to(kernels)[None, None], padding=1)
    return laplacian.pow(2).sum() / kernels.pow(2).sum()


class DepthwiseConv2d(nn.Conv2d):
    """One k×k filter per channel. Under CPU autocast it stays in fp32: oneDNN's bf16 depthwise
    convolution trains 2.6x slower than its fp32 one (channels_last, 1 thread), the 1×1s are the bf16 win."""

    def __init__(self, channels: int, kernel: int, padding: int):
        super().__init__(channels, channels, kernel, padding=padding, groups=channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)


class DepthSeparableConv2d(nn.Sequential):
    """1×1 (channel mixing) → depthwise k×k (spatial, one filter per channel) → 1×1; far fewer weights."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, padding: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            DepthwiseConv2d(out_channels, kernel, padding),
            nn.Conv2d(out_channels, out_channels, 1, bias=False),
        )


class LayerStack(nn.Module):
    """A 2-D core's shared behaviour: ``blocks`` each (conv, norm[, ELU]) whose conv has a ``weight``, the outputs
    of ``stacked`` layers concatenated, and the Laplace (first filters) and group-sparsity (hidden) penalties."""

    blocks: nn.ModuleList
    stacked: list[int]
    gamma_input: float
    gamma_hidden: float

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        stacked = [outputs[i] for i in self.stacked]
        return stacked[0] if len(stacked) == 1 else torch.cat(stacked, dim=1)  # cat of one would copy

    def group_sparsity(self) -> torch.Tensor:
        """Mean L2 norm of the hidden layers' k×k filters, averaged over layers (neuralpredictors')."""
        norms = [block[0].weight.pow(2).sum((2, 3)).sqrt().mean() for block in self.blocks[1:]]
        return sum(norms, torch.zeros(())) / max(len(norms), 1)

    def regularizer(self) -> torch.Tensor:
        penalty = self.gamma_input * laplace_l2norm(self.blocks[0][0].weight)
        return penalty + self.gamma_hidden * self.group_sparsity() if self.gamma_hidden else penalty


class Stacked2dCore(LayerStack):
    """Images (B, C, h, w) → feature maps (B, out_channels, h', w') shared by every session's readout."""

    def __init__(self, in_channels: int, cfg: ModelConfig):
        super().__init__()
        self.gamma_input, self.gamma_hidden = cfg.gamma_input, cfg.gamma_hidden
        channels, kern = cfg.channels(), cfg.hidden_kern
        blocks = []
        for i, out_channels in enumerate(channels):
            if i == 0:
                conv = nn.Conv2d(in_channels, out_channels, cfg.input_kern,
                                 padding=cfg.input_kern // 2 if cfg.pad_input else 0, bias=False)
            else:
                previous, padding = channels[i - 1], kern // 2 if cfg.pad_hidden else 0
                conv = (DepthSeparableConv2d(previous, out_channels, kern, padding) if cfg.depth_separable
                        else nn.Conv2d(previous, out_channels, kern, padding=padding, bias=False))
            block = nn.Sequential(conv, nn.BatchNorm2d(out_channels, momentum=cfg.momentum))
            if not cfg.linear and (cfg.final_nonlinearity or i < len(channels) - 1):
                block.append(nn.ELU())
            blocks.append(block)
        self.blocks = nn.ModuleList(blocks)
        # ``stack`` picks the layers whose outputs are concatenated, as a slice start: -1 = the last only.
        self.stacked = list(range(len(channels)))[cfg.stack:]
        self.out_channels = sum(channels[i] for i in self.stacked)
        for module in self.modules():  # neuralpredictors' init (torch's default is ~2x wider for 9x9 inputs)
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_normal_(module.weight)
        # NHWC weights put every convolution, the depthwise ones included, on oneDNN's fast path: training
        # steps of the SOTA core are 1.5-1.7x faster on CPU (1 thread, batch 64, 1 or 4 input channels).
        self.to(memory_format=torch.channels_last)
