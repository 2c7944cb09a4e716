"""Per-session Gaussian readout (neuralpredictors' ``FullGaussian2d``) with a retinotopic grid predictor.

Each neuron reads the core's feature maps at one point: a 2-D position in grid_sample coordinates
[-1, 1]², then a weighted sum over channels. The position is predicted from the neuron's cortical
coordinates by a small MLP (neighbouring neurons see neighbouring parts of the image), or is a free
parameter. In training the position is jittered by the learned Gaussian (mu + sigma·N(0, I)); at eval
the mean is read. With ``samples`` > 1 (SENSORIUM+ 2022 seed 001's "multiple samplings") training reads
several jittered positions per neuron and trial and averages them: a lower-variance gradient for sigma and
the features; 1 is the reference readout, draw for draw.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NONLINEARITIES = {"elu": nn.ELU, "relu": nn.ReLU}


def cortex_grid(coords: np.ndarray) -> torch.Tensor:
    """(N, 2) cortical x, y centred and divided by their largest absolute value (the "cortex" source grid)."""
    grid = np.asarray(coords, dtype=np.float64)[:, :2]
    grid = grid - grid.mean(axis=0, keepdims=True)
    scale = np.abs(grid).max()
    return torch.as_tensor(grid / scale if scale > 0 else grid, dtype=torch.float32)


class GridPredictor(nn.Sequential):
    """Cortical position (N, 2) → readout position (N, 2) in (-1, 1): Linear → act → … → Linear → Tanh."""

    def __init__(self, hidden_layers: int, hidden_features: int, nonlinearity: str):
        sizes = [2] + [hidden_features] * hidden_layers + [2]
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i > 0:
                layers.append(NONLINEARITIES[nonlinearity]())
            layers.append(nn.Linear(n_in, n_out))
        super().__init__(*layers, nn.Tanh())


class GaussianReadout(nn.Module):
    """Feature maps (M, C, h, w) (+ a shift (M, 2)) → one value per neuron (M, N), before the nonlinearity."""

    def __init__(
        self,
        in_channels: int,
        coords: np.ndarray,
        bias: np.ndarray,
        gauss_type: str,
        init_sigma: float,
        init_mu_range: float,
        grid_predictor: GridPredictor | None,
        gamma_readout: float,
        samples: int = 1,
    ):
        super().__init__()
        n_neurons = len(coords)
        self.gamma_readout = gamma_readout
        self.samples = samples
        self.full = gauss_type == "full"
        self.grid_predictor = grid_predictor
        if grid_predictor is None:
            self.mu = nn.Parameter(torch.empty(n_neurons, 2).uniform_(-init_mu_range, init_mu_range))
        else:
            self.register_buffer("source_grid", cortex_grid(coords), persistent=False)
        if self.full:  # a 2×2 matrix per neuron: the jitter is sigma @ N(0, I), any covariance
            self.sigma = nn.Parameter(torch.empty(n_neurons, 2, 2).uniform_(-init_sigma, init_sigma))
        else:  # one isotropic width per neuron
            self.sigma = nn.Parameter(torch.full((n_neurons, 1), float(init_sigma)))
        self.features = nn.Parameter(torch.full((in_channels, n_neurons), 1.0 / in_channels))
        self.bias = nn.Parameter(torch.as_tensor(np.asarray(bias), dtype=torch.float32).clone())

    def grid_mean(self) -> torch.Tensor:
        """(N, 2) mean readout positions."""
        if self.grid_predictor is not None:
            return self.grid_predictor(self.source_grid)
        with torch.no_grad():  # a free position is kept inside the image, as the reference does
            self.mu.clamp_(-1.0, 1.0)
        return self.mu

    def forward(self, x: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        mu = self.grid_mean()
        batch = x.shape[0]
        if self.training:  # (M, N, samples, 2) positions; one sample draws exactly what the reference draws
            noise = torch.randn(batch, mu.shape[0], self.samples, 2, device=x.device, dtype=x.dtype)
            jitter = (torch.einsum("ncd,bnsd->bnsc", self.sigma, noise) if self.full
                      else noise * self.sigma[:, None])
            grid = (mu[:, None] + jitter).clamp(-1.0, 1.0)
        else:
            grid = mu.clamp(-1.0, 1.0)[:, None].expand(batch, *mu.shape[:1], 1, 2)
        if shift is not None:
            grid = grid + shift[:, None, None, :]
        # squeeze, not [..., 0]: the view's backward is free, an index's backward zero-fills and copies a
        # (M, C, N) gradient (12 % of the readout's step at 128 trials x 64 channels x 8000 neurons on CPU).
        sampled = F.grid_sample(x, grid, align_corners=True)                  # (M, C, N, samples)
        sampled = sampled.squeeze(-1) if sampled.shape[-1] == 1 else sampled.mean(-1)
        # Multiply and sum over channels, as the reference: einsum would run it as N small matmuls
        # behind two transposing copies, twice as slow on CPU (120 trials x 64 channels x 2000 neurons).
        return (sampled * self.features).sum(1) + self.bias

    def regularizer(self) -> torch.Tensor:
        return self.gamma_readout * self.features.abs().sum()
