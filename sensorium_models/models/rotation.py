"""The rotation-equivariant 2-D core of the 2023 starter kit (neuralpredictors' ``RotationEquivariant2dCore``,
kit ``core_type='2D_equivariant'``; Ecker et al. 2018, https://openreview.net/forum?id=H1fU8iAqKX).

Each filter is a learned combination of 2-D Hermite functions, applied at ``num_rotations`` angles: a layer of
C filters gives C × R feature maps, rotation-major (channel ``r·C + c``). A rotation acts on the Hermite
coefficients by a fixed matrix, so the R rotated (and downsampled) bases are computed once and a layer's
weights are one einsum of them with its coefficients. In a hidden layer, rotating a filter also cycles which
rotation of its input it reads: rotation r reads its input channels rolled by r·C_in.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from numpy.polynomial.polynomial import polyval
from scipy.special import gamma
from torch import nn

from .config import ModelConfig
from .cores import LayerStack


def _radial_coefficients(mu: int, nu: int) -> np.ndarray:
    r = np.arange(nu + 1)
    return (gamma(mu + nu + 1) * gamma(nu + 1) * (-2.0) ** (nu - r)
            / (gamma(mu + 1 + r) * gamma(1 + r) * gamma(nu + 1 - r)))


def hermite_basis(rank: int, points: int) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """The rank·(rank+1)/2 unit-norm 2-D Hermite functions on a points × points grid, each with its kind
    ('z' rotation-symmetric; 'r', 'i' the halves of a quadrature pair) and angular order mu."""
    extent = 2 * np.sqrt(rank) * (1 - 1 / points)
    x = np.linspace(-extent, extent, points)[:, None]
    envelope = np.exp(-x ** 2 / 4) @ np.exp(-x.T ** 2 / 4)
    theta, radius2 = np.arctan2(x, x.T), x ** 2 + x.T ** 2
    functions, labels = [], []
    for degree in range(rank):
        for mu in range(degree % 2, degree + 1, 2):
            nu = (degree - mu) // 2
            value = (envelope * radius2 ** (mu / 2) * polyval(radius2, _radial_coefficients(mu, nu))
                     * np.exp(1j * mu * theta)
                     / np.sqrt(2 ** (mu + 2 * nu) * np.pi * math.factorial(mu + nu) * math.factorial(nu)))
            parts = [("z", value.real / np.sqrt(2))] if mu == 0 else [("r", value.real), ("i", value.imag)]
            for kind, part in parts:
                functions.append(part)
                labels.append((kind, mu))
    basis = np.stack(functions)
    return basis / np.sqrt((basis ** 2).sum(axis=(1, 2), keepdims=True)), labels


def rotation(labels: list[tuple[str, int]], angle: float) -> np.ndarray:
    """The matrix turning Hermite coefficients by ``angle``: each quadrature pair by mu·angle, 'z' fixed."""
    matrix = np.zeros((len(labels), len(labels)))
    for i, (kind, mu) in enumerate(labels):
        if kind == "z":
            matrix[i, i] = 1.0
        elif kind == "r":
            c, s = np.cos(mu * angle), np.sin(mu * angle)
            matrix[i:i + 2, i:i + 2] = [[c, s], [-s, c]]
    return matrix


class HermiteConv2d(nn.Module):
    """(B, C_in, h, w) → (B, R·C_out, h', w'): C_out learned Hermite filters, each at R angles."""

    def __init__(self, in_channels: int, out_channels: int, kern: int, padding: int, rotations: int,
                 upsampling: int, first_layer: bool, init_std: float):
        super().__init__()
        self.padding = padding
        basis, labels = hermite_basis(kern, kern * upsampling)
        rotated = np.stack([np.tensordot(rotation(labels, 2 * np.pi * r / rotations), basis, axes=([0], [0]))
                            for r in range(rotations)])                         # (R, n_coeffs, K, K)
        down = rotated.reshape(*rotated.shape[:2], kern, upsampling, kern, upsampling).sum(axis=(3, 5))
        self.register_buffer("bases", torch.as_tensor(down, dtype=torch.float32), persistent=False)
        self.coeffs = nn.Parameter(torch.empty(len(labels), in_channels, out_channels).normal_(0, init_std))
        per_rotation = 0 if first_layer else in_channels // rotations
        shifted = (torch.arange(in_channels)[None] - per_rotation * torch.arange(rotations)[:, None]) % in_channels
        self.register_buffer("reads", shifted, persistent=False)                 # (R, C_in) input channel read

    @property
    def weight(self) -> torch.Tensor:
        """(R·C_out, C_in, k, k), rotation-major: what the layer convolves with."""
        weights = torch.einsum("rbxy,bio->roixy", self.bases, self.coeffs)
        rotations = torch.arange(len(self.reads), device=weights.device)[:, None]
        weights = weights[rotations, :, self.reads].movedim(1, 2)                # roll inputs per rotation
        return weights.flatten(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, padding=self.padding)


class RotationBatchNorm(nn.BatchNorm3d):
    """Batch norm whose statistics and affine parameters each channel shares across its R rotations."""

    def __init__(self, channels: int, rotations: int, momentum: float):
        super().__init__(channels, momentum=momentum)
        self.rotations = rotations

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grouped = x.unflatten(1, (self.rotations, -1)).transpose(1, 2)          # (B, C, R, h, w)
        return super().forward(grouped).transpose(1, 2).flatten(1, 2)


class RotationEquivariant2dCore(LayerStack):
    """Images (B, C, h, w) → (B, R·C·stacked, h', w'): per layer Hermite conv → rotation batch norm → ELU."""

    def __init__(self, in_channels: int, cfg: ModelConfig):  # gru.ConvGRUConfig, with its rotation keys
        super().__init__()
        self.gamma_input, self.gamma_hidden = cfg.gamma_input, cfg.gamma_hidden
        channels, rotations = cfg.channels(), cfg.num_rotations
        blocks = []
        for i, out_channels in enumerate(channels):
            first = i == 0
            kern = cfg.input_kern if first else cfg.hidden_kern
            pad = cfg.pad_input if first else cfg.pad_hidden
            conv = HermiteConv2d(in_channels if first else channels[i - 1] * rotations, out_channels, kern,
                                 kern // 2 if pad else 0, rotations, cfg.hermite_upsampling, first,
                                 cfg.hermite_init_std)
            block = nn.Sequential(conv, RotationBatchNorm(out_channels, rotations, cfg.momentum))
            if not cfg.linear and (cfg.final_nonlinearity or i < len(channels) - 1):
                block.append(nn.ELU())
            blocks.append(block)
        self.blocks = nn.ModuleList(blocks)
        self.stacked = list(range(len(channels)))[cfg.stack:]
        self.out_channels = sum(channels[i] * rotations for i in self.stacked)
