"""A team's own model family, outside sensorium-search: the README's example, searched by the tests."""
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from sensorium_models.models import Family


class PooledLN(BaseModel):
    model_config = ConfigDict(extra="forbid")  # unknown keys are errors, as in the built-in families
    channels: int = Field(4, ge=1)
    pool: int = Field(4, ge=1)
    l1: float = Field(0.0, ge=0)


class PooledLNModel(nn.Module):
    """Static images → one conv → average pool → per-session linear readout → elu + 1."""

    def __init__(self, sessions, cfg: PooledLN):
        super().__init__()
        self.conv = nn.Conv2d(1, cfg.channels, 5, padding=2)
        self.pool, self.l1 = nn.AdaptiveAvgPool2d(cfg.pool), cfg.l1
        width = cfg.channels * cfg.pool * cfg.pool
        self.readouts = nn.ModuleDict({s.key: nn.Linear(width, s.n_neurons) for s in sessions})

    def forward(self, batch):
        features = self.pool(torch.relu(self.conv(batch.stimuli))).flatten(1)
        return nn.functional.elu(self.readouts[batch.key](features)) + 1

    def regularizer(self, key):
        return self.l1 * self.readouts[key].weight.abs().sum()


FAMILY = Family(PooledLN, lambda sessions, cfg, seed: PooledLNModel(sessions, cfg), kinds=("static",))
