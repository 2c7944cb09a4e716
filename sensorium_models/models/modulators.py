"""Model 4's trial-level modulators (SENSORIUM+ winner): history, trial state, and a slow gain.

All three depend on where a trial sits in presentation order, so their inputs are built once from the
session (see ``trials.py``) and looked up per batch by ``batch.trials``. Each returns one row per trial,
(B, N); for video the encoder applies that row to every frame of the trial.

No response of a test (or skipped) trial ever enters an input, and a trial's own response never enters
its own input: both would leak the target.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.session import Session
from .network_state import NetworkState
from .trials import available, presentation_ranks, recent_means, trial_means


def history_features(session: Session, taus: list[float], lags: list[int] = (),
                     standardize: bool = False) -> np.ndarray:
    """(n, N, K) float16 history regressors of each neuron: one moving average per τ (``moving_averages``),
    then Model 4's mean of the last L usable trials per L (``trials.recent_means``); z-scored per neuron and
    regressor with ``standardize`` (``standardized``)."""
    parts = [moving_averages(session, taus)] if taus else []
    if lags:
        parts.append(recent_means(session, lags, dtype=np.float16))
    features = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)
    return standardized(session, features) if standardize else features


def standardized(session: Session, features: np.ndarray) -> np.ndarray:
    """``features`` z-scored in place, each neuron's regressor by its mean and std over the training trials.

    Why: a longer average varies less, so its raw weight must grow larger, and under Adam (steps of about
    the learning rate) that takes more steps. On a fixed budget the raw bank favours short τ for that alone
    (bench/results/ground_truth.md); standardised, every τ starts from the same footing. One regressor at
    a time in float32, so a real session's bank is never copied whole. Constant regressors become 0.
    """
    train = session.roles == "train"
    for k in range(features.shape[2]):
        values = features[:, :, k].astype(np.float32)
        fitted = values[train] if train.any() else values
        mean, std = fitted.mean(axis=0), fitted.std(axis=0)
        features[:, :, k] = (values - mean) / np.where(std > 0, std, 1.0)
    return features


def moving_averages(session: Session, taus: list[float]) -> np.ndarray:
    """(n, N, K) each neuron's exponential moving averages of its own past responses, one per τ.

    Walking the trials in presentation order, trial t gets the averages as they stand *before* t; then, if
    t is a train or validation trial, each average moves towards t's response by α = 1 − exp(−1/τ), so the
    k-th most recent usable trial weighs α·exp(−(k−1)/τ). Averages start at zero; test trials never move
    them. Float16 storage: a real session (6k trials × 8k neurons × 5 τ) takes ~0.5 GB.
    """
    ranks = presentation_ranks(session, "history filter bank")
    responses = trial_means(session, session.responses)
    usable = available(session)
    alphas = 1.0 - np.exp(-1.0 / np.asarray(taus, dtype=np.float64))
    average = np.zeros((session.n_neurons, len(taus)))
    features = np.zeros((session.n_trials, session.n_neurons, len(taus)), dtype=np.float16)
    for trial in np.argsort(ranks):
        features[trial] = average
        if usable[trial]:
            average += alphas * (responses[trial][:, None] - average)
    return features


def state_features(session: Session, inputs: list[str], network: NetworkState | None = None) -> np.ndarray:
    """(n, S) the state a trial starts in, from the trials before it in presentation order, inputs in order.

    ``"behavior"``: the previous trial's behaviour vector (frame mean for video); behaviour is an input,
    so test trials may supply it. ``"response"``: the population mean response of the most recent train or
    validation trial. Zeros for the first trial. ``"network"``: Model 4's NMF factors of the reduced-rank
    VAR prediction from the last usable response (``network_state``; ``network`` gives its sizes).
    """
    ranks = presentation_ranks(session, "previous-trial state")
    parts = []
    for name in inputs:
        if name == "network":
            parts.append((network or NetworkState()).features(session))
        else:
            parts.append(_previous_trial(session, ranks, name))
    return np.concatenate(parts, axis=1)


def _previous_trial(session: Session, ranks: np.ndarray, name: str) -> np.ndarray:
    """(n, S) float32 the previous trial's behaviour, or the last usable trial's population mean response."""
    if name == "behavior":
        values, counts = trial_means(session, session.behavior), np.ones(session.n_trials, dtype=bool)
    else:
        values, counts = trial_means(session, session.responses).mean(axis=1, keepdims=True), available(session)
    features = np.zeros((session.n_trials, values.shape[1]), dtype=np.float32)
    last = np.zeros(values.shape[1])
    for trial in np.argsort(ranks):
        features[trial] = last
        if counts[trial]:
            last = values[trial]
    return features


class HistoryFilter(nn.Module):
    """Per-neuron filter over its own recent responses: ``einsum(bnk,nk->bn) + b``, added before elu+1."""

    def __init__(self, features: np.ndarray, l1: float):
        super().__init__()
        _, n_neurons, n_taus = features.shape
        self.l1 = l1
        self.register_buffer("features", torch.as_tensor(features), persistent=False)
        bound = math.sqrt(1.0 / n_taus)
        self.weight = nn.Parameter(torch.empty(n_neurons, n_taus).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_neurons).uniform_(-bound, bound))

    def forward(self, trials: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bnk,nk->bn", self.features[trials].float(), self.weight) + self.bias

    def regularizer(self) -> torch.Tensor:
        return self.l1 * self.weight.abs().sum()


class PreviousTrialState(nn.Module):
    """``elu(Linear(state))`` per neuron, added before elu+1."""

    def __init__(self, features: np.ndarray, n_neurons: int, l1: float):
        super().__init__()
        self.l1 = l1
        self.register_buffer("features", torch.as_tensor(features), persistent=False)
        self.linear = nn.Linear(features.shape[1], n_neurons)

    def forward(self, trials: torch.Tensor) -> torch.Tensor:
        return F.elu(self.linear(self.features[trials]))

    def regularizer(self) -> torch.Tensor:
        return self.l1 * self.linear.weight.abs().sum()


def half_gaussian_kernel(std: float, longest: int | None = None) -> torch.Tensor:
    """Weights for lags 0, 1, …, ``longest`` trials (default ceil(3·std); Model 4: 100): a Gaussian's causal
    half, summing to 1."""
    lags = torch.arange((math.ceil(3 * std) if longest is None else longest) + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (lags / std) ** 2)
    return kernel / kernel.sum()


class SmoothGain(nn.Module):
    """A slow multiplicative gain over presentation order, scaling the rates after elu+1.

    One free value per position, smoothed causally: position p's gain is ``elu(Σ_k kernel[k]·free[p−k]) + 1``
    (zero before the first trial). Neuron n follows it with its own strength ``c_n = elu(coupling_n +
    offset) + 1``; the factor applied is ``elu(c_n·(g−1)) + 1``.
    """

    def __init__(self, ranks: np.ndarray, n_neurons: int, kernel_std: float, diff_reg: float, coupling_l1: float,
                 kernel_lags: int | None = None):
        super().__init__()
        self.diff_reg, self.coupling_l1 = diff_reg, coupling_l1
        self.register_buffer("ranks", torch.as_tensor(ranks, dtype=torch.long), persistent=False)
        self.register_buffer("kernel", half_gaussian_kernel(kernel_std, kernel_lags), persistent=False)
        bound = math.sqrt(1.0 / len(ranks))
        self.free_gain = nn.Parameter(torch.empty(len(ranks)).uniform_(-bound, bound))
        self.coupling = nn.Parameter(torch.zeros(n_neurons))
        self.offset = nn.Parameter(torch.zeros(()))

    def position_gain(self) -> torch.Tensor:
        """(n,) gain at each presentation position."""
        padded = F.pad(self.free_gain, (len(self.kernel) - 1, 0))
        smoothed = F.conv1d(padded[None, None], self.kernel.flip(0)[None, None])[0, 0]
        return F.elu(smoothed) + 1

    def forward(self, trials: torch.Tensor) -> torch.Tensor:
        gain = self.position_gain()[self.ranks[trials]]
        strength = F.elu(self.coupling + self.offset) + 1
        return F.elu(strength * (gain[:, None] - 1)) + 1

    def regularizer(self) -> torch.Tensor:
        return self.diff_reg * self.free_gain.diff().pow(2).sum() + self.coupling_l1 * self.coupling.abs().sum()
