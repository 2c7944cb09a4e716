"""Tiny in-memory sessions and the smallest model obeying the model interface, for trainer tests.

The sessions follow the ``Session`` contract (static and video shapes, organisers' tier labels) with
responses drawn from a known linear-nonlinear-Poisson model, so a model can genuinely learn them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sensorium_models.data.session import Session


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(x))


def static_session(key: str, n_trials: int = 120, n_neurons: int = 6, seed: int = 0,
                   shape: tuple[int, int] = (6, 8)) -> Session:
    """60 % train, 20 % validation, the rest a test tier of 5 images shown repeatedly."""
    rng = np.random.default_rng(seed)
    n_train, n_val = int(0.6 * n_trials), int(0.2 * n_trials)
    n_test = n_trials - n_train - n_val
    image_ids = np.concatenate([np.arange(n_train + n_val), n_train + n_val + np.arange(n_test) % 5])
    images = rng.normal(size=(image_ids.max() + 1, 1, *shape)).astype(np.float32)[image_ids]
    weights = rng.normal(size=(shape[0] * shape[1], n_neurons)) / np.sqrt(shape[0] * shape[1])
    rates = _softplus(2 * images.reshape(n_trials, -1) @ weights)
    tiers = np.array(["train"] * n_train + ["validation"] * n_val + ["test"] * n_test)
    return Session(
        key=key, name=f"static{key}", kind="static", path=Path(key),
        stimuli=images, responses=rng.poisson(rates).astype(np.float32),
        behavior=rng.normal(size=(n_trials, 3)).astype(np.float32),
        pupil_center=rng.normal(size=(n_trials, 2)).astype(np.float32),
        tiers=tiers, trial_ids=np.arange(n_trials), unit_ids=np.arange(n_neurons) + 1000,
        coords=np.zeros((n_neurons, 3), np.float32), response_std=np.ones(n_neurons, np.float32),
        image_ids=image_ids, order=np.arange(n_trials))


def video_session(key: str, n_trials: int = 24, n_neurons: int = 5, frames: int = 30, seed: int = 0,
                  shape: tuple[int, int] = (4, 5)) -> Session:
    """Trials of 22-30 valid frames (zero past the end): 16 train, 4 oracle (validation), 4 test."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(frames - 8, frames + 1, size=n_trials)
    valid = (np.arange(frames)[None, :] < lengths[:, None]).astype(np.float32)
    stimuli = rng.normal(size=(n_trials, frames, *shape)).astype(np.float32) * valid[:, :, None, None]
    weights = rng.normal(size=(shape[0] * shape[1], n_neurons)) / np.sqrt(shape[0] * shape[1])
    rates = _softplus(2 * stimuli.reshape(n_trials, frames, -1) @ weights)
    responses = rng.poisson(rates).astype(np.float32) * valid[:, :, None]
    tiers = np.array(["train"] * 16 + ["oracle"] * 4 + ["live_test_main"] * (n_trials - 20))
    return Session(
        key=key, name=f"dynamic{key}", kind="video", path=Path(key),
        stimuli=stimuli, responses=responses,
        behavior=rng.normal(size=(n_trials, frames, 2)).astype(np.float32) * valid[:, :, None],
        pupil_center=rng.normal(size=(n_trials, frames, 2)).astype(np.float32) * valid[:, :, None],
        tiers=tiers, trial_ids=np.arange(n_trials), unit_ids=np.arange(n_neurons),
        coords=np.zeros((n_neurons, 3), np.float32), response_std=np.ones((frames, n_neurons), np.float32),
        lengths=lengths)


class TinyModel(nn.Module):
    """A linear-nonlinear model per session: the smallest thing obeying the model interface.

    Video frames before ``burn_in`` come out as NaN, standing in for a model's unreliable warm-up frames:
    the trainer must leave them out of the loss and the validation score.
    """

    def __init__(self, sessions: list[Session], burn_in: int = 0, dropout: float = 0.0, gamma: float = 1e-3):
        super().__init__()
        torch.manual_seed(0)
        self.burn_in, self.gamma = burn_in, gamma
        self.dropout = nn.Dropout(dropout)
        self.readouts = nn.ModuleDict({
            s.key: nn.Linear(int(np.prod(s.stimuli.shape[2:])), s.n_neurons) for s in sessions})

    def forward(self, batch) -> torch.Tensor:
        rates = F.softplus(self.readouts[batch.key](self.dropout(batch.stimuli.flatten(2))))
        if batch.frames is None:
            return rates[:, 0]
        frame = torch.arange(rates.shape[1], device=rates.device)[None, :, None]
        return torch.where(frame < self.burn_in, torch.full_like(rates, float("nan")), rates)

    def regularizer(self, key: str) -> torch.Tensor:
        return self.gamma * self.readouts[key].weight.abs().sum()
