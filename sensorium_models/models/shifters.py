"""Per-session eye-position shifter (neuralpredictors' ``MLPShifter``).

When the eye moves, every receptive field moves with it: the pupil centre is mapped to one global
(dx, dy) added to all of the session's readout positions.
"""
from __future__ import annotations

from torch import nn


class MLPShifter(nn.Sequential):
    """Pupil centre (…, 2) → grid shift (…, 2) in (-1, 1): ``layers`` × (Linear → Tanh)."""

    def __init__(self, hidden_channels: int, layers: int):
        sizes = [2] + [hidden_channels] * (layers - 1) + [2]
        modules: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            modules += [nn.Linear(n_in, n_out), nn.Tanh()]
        super().__init__(*modules)
