"""Tiny in-memory sessions and the smallest model obeying the model interface, for trainer tests.

The sessions follow the ``Session`` contract (static and video shapes, organisers' tier labels) with
responses drawn from a known linear-nonlinear-Poisson model, so a model can genuinely learn them.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sensorium_models.data.session import Session
from session_builders import make_session


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(x))


def learnable_static_session(key: str, n_trials: int = 120, n_neurons: int = 6, seed: int = 0,
                   shape: tuple[int, int] = (6, 8)) -> Session:
    """60 % train, 20 % validation, the rest a test tier of 5 images shown repeatedly."""
    rng = np.random.default_rng(seed)
    n_train, n_val = int(0.6 * n_trials), int(0.2 * n_trials)
    n_test = n_trials - n_train - n_val
    image_ids = np.concatenate([np.arange(n_train + n_val), n_train + n_val + np.arange(n_test) % 5])
    images = rng.normal(size=(image_ids.max() + 1, 1, *shape)).astype(np.float32)[image_ids]
    weights = rng.normal(size=(shape[0] * shape[1], n_neurons)) / np.sqrt(shape[0] * shape[1])
    rates = _softplus(2 * images.reshape(n_trials, -1) @ weights)
    tiers = ["train"] * n_train + ["validation"] * n_val + ["test"] * n_test
    responses = rng.poisson(rates)
    behavior, pupil = rng.normal(size=(n_trials, 3)), rng.normal(size=(n_trials, 2))
    return make_session("static", key, images, responses, tiers, behavior=behavior.astype(np.float32),
                        pupil_center=pupil.astype(np.float32), unit_ids=np.arange(n_neurons) + 1000,
                        image_ids=image_ids, order=np.arange(n_trials))


def learnable_video_session(key: str, n_trials: int = 24, n_neurons: int = 5, frames: int = 30, seed: int = 0,
                  shape: tuple[int, int] = (4, 5)) -> Session:
    """Trials of 22-30 valid frames (zero past the end): 16 train, 4 oracle (validation), 4 test."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(frames - 8, frames + 1, size=n_trials)
    valid = (np.arange(frames)[None, :] < lengths[:, None]).astype(np.float32)
    stimuli = rng.normal(size=(n_trials, frames, *shape)).astype(np.float32) * valid[:, :, None, None]
    weights = rng.normal(size=(shape[0] * shape[1], n_neurons)) / np.sqrt(shape[0] * shape[1])
    rates = _softplus(2 * stimuli.reshape(n_trials, frames, -1) @ weights)
    responses = rng.poisson(rates).astype(np.float32) * valid[:, :, None]
    tiers = ["train"] * 16 + ["oracle"] * 4 + ["live_test_main"] * (n_trials - 20)
    behavior = rng.normal(size=(n_trials, frames, 2)).astype(np.float32) * valid[:, :, None]
    pupil = rng.normal(size=(n_trials, frames, 2)).astype(np.float32) * valid[:, :, None]
    return make_session("video", key, stimuli, responses, tiers, name=f"dynamic{key}", behavior=behavior,
                        pupil_center=pupil, unit_ids=np.arange(n_neurons), lengths=lengths)


def fast_trainer(max_epochs: int, **changes) -> dict:
    """The trainer settings the trainer tests start from: small batches, a high learning rate, a quick decay."""
    return {"batch_size": 16, "lr_init": 0.03, "max_epochs": max_epochs, "patience": 2, "lr_decay_steps": 2,
            "device": "cpu", **changes}


def two_static_sessions() -> list[Session]:
    """Two learnable static sessions of different sizes (120 x 6, 60 x 4): 5 batches of 16 an epoch."""
    return [learnable_static_session("a", seed=1), learnable_static_session("b", n_trials=60, n_neurons=4, seed=2)]


def without_timing(history: list[dict]) -> list[dict]:
    """A training history less its wall times, which differ from run to run."""
    return [{k: v for k, v in h.items() if k != "epoch_seconds"} for h in history]


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
