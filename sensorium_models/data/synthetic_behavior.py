"""Synthetic behaviour along a session's timeline: running bouts, pupil size, eye position, and a hidden
low-rank population state carried over from trial to trial.

The traces run over presentation order (one step per static trial, one per video frame), so behaviour is
smooth in time and, like real data, scrambled in file order. Units look like the organisers': running
speed in cm/s (slightly signed from treadmill jitter), pupil size and eye position in camera pixels.
"""
from __future__ import annotations

import numpy as np

EYE_REFERENCE = np.array([330.0, 250.0])   # camera px, the resting eye position


def _exponential(x: np.ndarray, tau: float) -> np.ndarray:
    """Causal exponential smoothing with unit DC gain along axis 0, from rest (kernel cut at 8 tau)."""
    a = np.exp(-1.0 / max(tau, 1e-6))
    kernel = (1 - a) * a ** np.arange(int(8 * tau) + 1)
    n = len(x) + len(kernel) - 1
    spectrum = np.fft.rfft(x, n, axis=0) * np.fft.rfft(kernel, n).reshape(-1, *[1] * (x.ndim - 1))
    return np.fft.irfft(spectrum, n, axis=0)[:len(x)]


def _ar1(rng: np.random.Generator, steps: int, tau: float, channels: int = 1) -> np.ndarray:
    """Stationary unit-variance AR(1)-like noise with time constant ``tau`` steps, (steps, channels)."""
    a = np.exp(-1.0 / max(tau, 1e-6))
    burn_in = int(8 * tau) + 1
    white = rng.standard_normal((steps + burn_in, channels))
    return _exponential(white, tau)[burn_in:] * np.sqrt((1 + a) / (1 - a))


def _running_state(rng: np.random.Generator, steps: int, fps: float) -> np.ndarray:
    """Alternating still (mean 40 s) and running (mean 20 s) bouts, as 0/1 per step."""
    state = np.zeros(steps)
    t, running = 0, bool(rng.random() < 0.3)
    while t < steps:
        length = max(1, int(rng.exponential((20.0 if running else 40.0) * fps)))
        state[t:t + length] = running
        t, running = t + length, not running
    return state


def traces(rng: np.random.Generator, steps: int, fps: float) -> dict[str, np.ndarray]:
    """Behaviour over ``steps`` time steps at ``fps`` steps per second.

    Returns float64 arrays of length ``steps``: ``running`` (cm/s), ``pupil`` (px), ``dpupil`` (px/s),
    and ``eye`` (steps, 2) as (x, y) camera px: slow drift plus saccades that relax back over ~4 s.
    """
    state = _running_state(rng, steps, fps)
    moving = _exponential(state, 1.0 * fps)
    speed = moving * (12.0 + 4.0 * _ar1(rng, steps, 3.0 * fps)[:, 0]).clip(0)
    running = speed + 0.3 * rng.standard_normal(steps)
    pupil = (18.0 + 5.0 * _exponential(state, 5.0 * fps) + 3.0 * _ar1(rng, steps, 15.0 * fps)[:, 0]).clip(5.0)
    dpupil = np.gradient(pupil) * fps if steps > 1 else np.zeros(steps)
    jumps = (rng.random((steps, 2)) < 0.2 / fps) * rng.normal(0.0, 6.0, (steps, 2))
    saccades = _exponential(jumps, 4.0 * fps) / (1 - np.exp(-1.0 / (4.0 * fps)))
    eye = EYE_REFERENCE + 4.0 * _ar1(rng, steps, 30.0 * fps, 2) + saccades
    return {"running": running, "pupil": pupil, "dpupil": dpupil, "eye": eye}


def zscore(x: np.ndarray) -> np.ndarray:
    """Standardised over the whole session (the modulators' input), 0 where a trace is constant."""
    std = x.std()
    return (x - x.mean()) / std if std > 0 else np.zeros_like(x)


def gain_drift(rng: np.random.Generator, trials: int, scale: float = 0.3) -> np.ndarray:
    """A slow log-gain drift over presentation order: smoothed noise over ~n/8 trials, std ``scale``."""
    width = max(trials / 8.0, 3.0)
    kernel = np.exp(-0.5 * (np.arange(-3 * width, 3 * width + 1) / width) ** 2)
    padded = rng.standard_normal(trials + 2 * (len(kernel) // 2))
    drift = np.convolve(padded, kernel / kernel.sum(), mode="valid")[:trials]
    return scale * zscore(drift)


def population_state(rng: np.random.Generator, trials: int, neurons: int, dims: int,
                     tau: float) -> tuple[np.ndarray, np.ndarray]:
    """A low-rank state the population carries from trial to trial (Model 4's network state is a model of it).

    Returns ``latents`` (trials, dims) over presentation order, each a stationary unit-variance AR(1) with
    time constant ``tau`` trials (so trial t's state is predictable from trial t-1's), and ``loadings``
    (neurons, dims) scaled so every neuron's ``loadings @ latent`` has unit variance on average.
    """
    latents = _ar1(rng, trials, tau, dims)
    loadings = rng.standard_normal((neurons, dims)) / np.sqrt(dims)
    return latents, loadings
