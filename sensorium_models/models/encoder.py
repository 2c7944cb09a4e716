"""The whole model: a core shared by all sessions, and per session a readout, shifter and modulators.

    stimuli (+ behaviour channels) → core → feature maps
    pupil centre → shifter → shift ┐
    feature maps ──────────────────┴→ Gaussian readout → + history + state → elu + 1 → × gain → rates

(``softplus_beta`` replaces elu + 1 by Softplus(β), DwiseNeuro's output: β = 0.07 beat ELU + 1 by 0.018.)

Rates are positive and on the standardised response scale. Per-session parts live in ``ModuleDict``s
keyed by the session key, so one batch runs only its own session's parts.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batches import Batch


def behavior_as_channels(behavior: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Behaviour (B, F) or (B, T, F) → constant images (B, F, h, w) or (B, F, T, h, w)."""
    channels = behavior.movedim(-1, 1)
    return channels[..., None, None].expand(*channels.shape, height, width)


class Encoder(nn.Module):
    """Static images (B, 1, h, w) → rates (B, N)."""

    per_frame = False  # video subclass: one prediction per frame, trial-level modulators span all frames
    burn_in = 0        # leading output frames that lack a full temporal receptive field

    def __init__(
        self,
        core: nn.Module,
        readouts: dict[str, nn.Module],
        shifters: dict[str, nn.Module],
        history: dict[str, nn.Module],
        state: dict[str, nn.Module],
        gain: dict[str, nn.Module],
        behavior_channels: bool,
        softplus_beta: float | None = None,
    ):
        super().__init__()
        self.softplus_beta = softplus_beta
        self.core = core
        self.readouts = nn.ModuleDict(readouts)
        self.shifters = nn.ModuleDict(shifters)
        self.history = nn.ModuleDict(history)
        self.state = nn.ModuleDict(state)
        self.gain = nn.ModuleDict(gain)
        self.behavior_channels = behavior_channels

    def core_features(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Feature maps (M, C, h', w') and the pupil centres (M, 2) that shift their readout."""
        x = batch.stimuli
        if self.behavior_channels:
            x = torch.cat([x, behavior_as_channels(batch.behavior, *x.shape[-2:])], dim=1)
        return self.core(x), batch.pupil_center

    def per_trial(self, values: torch.Tensor) -> torch.Tensor:
        """A trial-level (B, N) term, shaped to broadcast against the output."""
        return values[:, None] if self.per_frame else values

    def forward(self, batch: Batch) -> torch.Tensor:
        key = batch.key
        features, pupil = self.core_features(batch)
        shift = self.shifters[key](pupil) if key in self.shifters else None
        x = self.readouts[key](features, shift)
        if self.per_frame:
            x = x.view(batch.stimuli.shape[0], -1, x.shape[-1])
        if key in self.history:
            x = x + self.per_trial(self.history[key](batch.trials))
        if key in self.state:
            x = x + self.per_trial(self.state[key](batch.trials))
        x = F.elu(x) + 1 if self.softplus_beta is None else F.softplus(x, beta=self.softplus_beta)
        if key in self.gain:
            x = x * self.per_trial(self.gain[key](batch.trials))
        return x

    def regularizer(self, key: str) -> torch.Tensor:
        """Core + this session's readout, shifter and modulators' penalties (add to the loss of a ``key`` batch)."""
        total = self.core.regularizer() + self.readouts[key].regularizer()
        for modulators in (self.shifters, self.history, self.state, self.gain):
            if key in modulators:
                total = total + modulators[key].regularizer()
        return total
