"""Per-session eye-position shifters (neuralpredictors' ``MLPShifter`` and ``StaticAffine2dShifter``).

When the eye moves, every receptive field moves with it: the pupil centre is mapped to one global
(dx, dy) added to all of the session's readout positions.
"""
from __future__ import annotations

import torch
from torch import nn


class MLPShifter(nn.Sequential):
    """Pupil centre (…, 2) → grid shift (…, 2) in (-1, 1): ``layers`` × (Linear → Tanh)."""

    def __init__(self, hidden_channels: int, layers: int):
        sizes = [2] + [hidden_channels] * (layers - 1) + [2]
        modules: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            modules += [nn.Linear(n_in, n_out), nn.Tanh()]
        super().__init__(*modules)
        # Start with no shift. A random last layer (the reference's init) moves every readout position by a
        # pupil-dependent offset before the readout has found its receptive fields: on 2400 synthetic trials
        # that left one seed in three at 0.12 validation correlation after 3 epochs; from zero, 0.18-0.34.
        nn.init.zeros_(self[-2].weight)
        nn.init.zeros_(self[-2].bias)

    def regularizer(self) -> torch.Tensor:
        """None here: the kit's MLP shifter penalty is 0 in its configs."""
        return torch.zeros(())


class AffineShifter(nn.Linear):
    """Pupil centre (…, 2) → tanh(A · pupil + b) (…, 2): the kit's ``shifter_type='StaticAffine'``, with its
    penalty ``gamma_shifter`` · mean(A²). Starts at (almost) no shift, as neuralpredictors' ``initialize``."""

    def __init__(self, gamma_shifter: float):
        super().__init__(2, 2)
        self.gamma_shifter = gamma_shifter
        nn.init.normal_(self.weight, 0.0, 1e-6)
        nn.init.normal_(self.bias, 0.0, 1e-6)

    def forward(self, pupil: torch.Tensor) -> torch.Tensor:
        return torch.tanh(super().forward(pupil))

    def regularizer(self) -> torch.Tensor:
        return self.gamma_shifter * self.weight.pow(2).mean()

