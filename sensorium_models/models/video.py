"""The video model for SENSORIUM 2023: a factorised 3-D core, then the Gaussian readout on every frame.

Each core layer is a spatial k×k convolution applied frame by frame, then a temporal convolution over
frames (the SENSORIUM 2023 "factorised 3D" baseline). Time is padded on the past side only, so output
frame t depends on input frames ≤ t and the output has as many frames as the input; the first
``burn_in`` frames see zero padding and are excluded from loss and metrics by the trainer.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batches import Batch
from .config import ModelConfig
from .cores import laplace_l2norm
from .encoder import Encoder, behavior_as_channels

LAPLACE_1D = torch.tensor([-1.0, 4.0, -1.0])  # neuralpredictors' laplace1d, not the second difference


def temporal_laplace_l2norm(weight: torch.Tensor) -> torch.Tensor:
    """sum(lap(w)^2) / sum(w^2) over all temporal kernels of a (out, in, kt, 1, 1) weight, zero-padded by 1:
    smooth in time (neuralpredictors' ``DepthLaplaceL21d`` on the first temporal convolution)."""
    kernels = weight.reshape(-1, 1, weight.shape[2])
    laplacian = F.conv1d(kernels, LAPLACE_1D.to(kernels)[None, None], padding=1)
    return laplacian.pow(2).sum() / kernels.pow(2).sum()


class FactorisedBlock(nn.Module):
    """(B, C, T, h, w) → spatial (1, k, k) conv → causal temporal (kt, 1, 1) conv → BatchNorm → ELU."""

    def __init__(self, in_channels: int, out_channels: int, kern: int, temporal_kern: int, pad: bool,
                 momentum: float, linear: bool):
        super().__init__()
        padding = kern // 2 if pad else 0
        self.spatial = nn.Conv3d(in_channels, out_channels, (1, kern, kern), padding=(0, padding, padding),
                                 bias=False)
        self.temporal = nn.Conv3d(out_channels, out_channels, (temporal_kern, 1, 1), bias=False)
        self.norm = nn.BatchNorm3d(out_channels, momentum=momentum)
        self.linear = linear
        self.past_frames = temporal_kern - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spatial(x)
        x = self.temporal(F.pad(x, (0, 0, 0, 0, self.past_frames, 0)))
        x = self.norm(x)
        return x if self.linear else F.elu(x)


class Factorised3dCore(nn.Module):
    """Videos (B, C, T, h, w) → feature maps (B, out_channels, T, h', w'), causal in time."""

    def __init__(self, in_channels: int, cfg: ModelConfig):
        super().__init__()
        self.gamma_input, self.gamma_input_temporal = cfg.gamma_input, cfg.gamma_input_temporal
        sizes = [in_channels] + cfg.channels()
        self.blocks = nn.ModuleList(
            FactorisedBlock(sizes[i], sizes[i + 1],
                            cfg.input_kern if i == 0 else cfg.hidden_kern,
                            cfg.temporal_kern if i == 0 else cfg.hidden_temporal_kern,
                            cfg.pad_input if i == 0 else cfg.pad_hidden, cfg.momentum, cfg.linear)
            for i in range(cfg.layers)
        )
        self.out_channels = sizes[-1]
        self.burn_in = sum(block.past_frames for block in self.blocks)  # temporal receptive field − 1
        for module in self.modules():  # neuralpredictors' Core3d.init_conv
            if isinstance(module, nn.Conv3d):
                nn.init.xavier_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def regularizer(self) -> torch.Tensor:
        first = self.blocks[0]
        return (self.gamma_input * laplace_l2norm(first.spatial.weight)
                + self.gamma_input_temporal * temporal_laplace_l2norm(first.temporal.weight))


class VideoEncoder(Encoder):
    """Videos (B, T, h, w) → rates (B, T, N): readout and shifter per frame, modulators per trial."""

    per_frame = True

    @property
    def burn_in(self) -> int:
        return self.core.burn_in

    def core_features(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch.stimuli[:, None]
        if self.behavior_channels:
            x = torch.cat([x, behavior_as_channels(batch.behavior, *x.shape[-2:])], dim=1)
        features = self.core(x)  # (B, C, T, h', w') → one image per frame for the readout
        return features.transpose(1, 2).flatten(0, 1), batch.pupil_center.flatten(0, 1)
