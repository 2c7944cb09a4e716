"""Per-session factorised readout (neuralpredictors' ``FullFactorized2d``, kit ``readout_type='factorised'``).

Each neuron weighs the whole feature map by a spatial mask (normalised to unit L2 norm) times a feature vector
over channels: rank one in space × channels. Unlike the Gaussian readout it has no position, so nothing to shift
(the kit refuses a shift as well) and needs the core's output size when built.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


class FactorisedReadout(nn.Module):
    """Feature maps (M, C, h, w) → one value per neuron (M, N), before the nonlinearity."""

    def __init__(self, in_channels: int, spatial: tuple[int, int], bias: np.ndarray, init_noise: float,
                 gamma_readout: float):
        super().__init__()
        n_neurons = len(bias)
        self.gamma_readout = gamma_readout
        self.spatial = nn.Parameter(torch.empty(n_neurons, *spatial).normal_(0, init_noise))
        self.features = nn.Parameter(torch.empty(n_neurons, in_channels).normal_(0, init_noise))
        self.bias = nn.Parameter(torch.as_tensor(np.asarray(bias), dtype=torch.float32).clone())

    def normalised_spatial(self) -> torch.Tensor:
        norm = self.spatial.pow(2).sum((1, 2), keepdim=True).sqrt() + 1e-6
        return self.spatial / norm

    def forward(self, x: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        pooled = torch.einsum("mchw,nhw->mcn", x, self.normalised_spatial())
        return torch.einsum("mcn,nc->mn", pooled, self.features) + self.bias

    def regularizer(self) -> torch.Tensor:
        """L1 as neuralpredictors computes it: Σ|masks| · Σ|features|, over all neuron pairs (its per-neuron
        product broadcasts (N, 1) against (N,)); the masks have unit L2 norm, so this mostly prices features."""
        return self.gamma_readout * self.normalised_spatial().abs().sum() * self.features.abs().sum()
