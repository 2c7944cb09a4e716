"""A simulated population of V1 neurons: where they sit, what they see, how strongly they fire.

Each neuron has a Gabor receptive field (simple: one phase, rectified; complex: energy of a quadrature pair)
computed at the model resolution (36x64), centred by a smooth retinotopic map of its cortical position plus
scatter. Video neurons add a causal biphasic temporal kernel. The drive is standardised on calibration
stimuli, then a softplus gives the expected event count; modulations (behaviour, drift, history) multiply it
elsewhere. All true parameters live in ``params`` so the ground truth can store them.
"""
from __future__ import annotations

import numpy as np

from .synthetic_stimuli import MODEL_SHAPE

TEMPORAL_TAPS = 10
FIELD_OF_VIEW = 630.0         # µm, side of the imaged cortical square
BASELINE = 0.1                # stimulus-independent part of the rate, so modulations always show


def _retinotopy(rng: np.random.Generator) -> dict:
    """A smooth cortex -> screen map: rotate, scale anisotropically, then a gentle bend along one axis."""
    h, w = MODEL_SHAPE
    angle = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = np.diag([0.33 * w, 0.30 * h]) @ rotation
    return {
        "matrix_px": matrix.tolist(),                       # screen px per unit of normalised cortex
        "offset_px": [w / 2 + rng.normal(0, 2), h / 2 + rng.normal(0, 1.5)],
        "bend_px": float(rng.normal(0, 2.0)),              # + bend * u_x^2 on the screen's y
        "scatter_px": 2.0,
        "formula": "center = offset + matrix @ u + [0, bend * u[0]**2] + scatter * N(0, I), "
                   "u = (xy_um - field_center_um) / (field_of_view_um / 2)",
    }


def _coordinates(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """cell_motor_coordinates (n, 3) µm and the field centre (x, y) they scatter around."""
    centre = rng.uniform(-1500, 1500, 2)
    xy = centre + rng.uniform(-FIELD_OF_VIEW / 2, FIELD_OF_VIEW / 2, (n, 2))
    depth = rng.choice(np.linspace(200, 380, 7), n) + rng.normal(0, 2, n)
    return np.column_stack([xy, depth]).astype(np.float32), centre


def sample_parameters(rng: np.random.Generator, n: int, video: bool) -> tuple[dict[str, np.ndarray], dict]:
    """Every neuron's true parameters and the session's retinotopic map."""
    coords, centre = _coordinates(rng, n)
    retino = _retinotopy(rng)
    retino["field_center_um"], retino["field_of_view_um"] = centre.tolist(), FIELD_OF_VIEW
    u = (coords[:, :2] - centre) / (FIELD_OF_VIEW / 2)
    smooth = np.asarray(retino["offset_px"]) + u @ np.asarray(retino["matrix_px"]).T
    smooth[:, 1] += retino["bend_px"] * u[:, 0] ** 2
    params = {
        "coords_um": coords,
        "rf_center_px": (smooth + rng.normal(0, retino["scatter_px"], (n, 2))).astype(np.float32),
        "rf_sigma_px": rng.uniform(1.5, 4.0, n),
        "rf_orientation": rng.uniform(0, np.pi, n),
        "rf_frequency": np.exp(rng.normal(np.log(0.09), 0.35, n)).clip(0.04, 0.22),   # cycles/px
        "rf_phase": rng.uniform(0, 2 * np.pi, n),
        "rf_aspect": rng.uniform(1.0, 1.6, n),
        "complex": rng.random(n) < 0.5,
        "slope": rng.uniform(1.5, 3.0, n),
        "threshold": rng.uniform(0.0, 1.0, n),
        "rate_scale": np.exp(rng.normal(np.log(0.6 if video else 3.0), 0.4, n)),  # mean events/frame|trial
        "amplitude": np.exp(rng.normal(np.log(0.5), 0.5, n)),                     # response units/event
        "history_beta": rng.normal(-0.8, 0.6, n),
        "running_coupling": rng.normal(0.25, 0.15, n),
        "pupil_coupling": rng.normal(0.1, 0.1, n),
        "drift_coupling": rng.uniform(0.3, 1.5, n),
    }
    if video:
        t = np.arange(TEMPORAL_TAPS)[None, :]
        fast = rng.uniform(1.0, 2.5, (n, 1))
        rebound = rng.uniform(0.2, 0.7, (n, 1))
        kernel = t / fast * np.exp(1 - t / fast) - rebound * t / (2 * fast) * np.exp(1 - t / (2 * fast))
        params["temporal_kernel"] = kernel / np.linalg.norm(kernel, axis=1, keepdims=True)
    params = {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in params.items()}
    return params, retino


def gabors(params: dict[str, np.ndarray], phase_offset: float = 0.0, chunk: int = 1024) -> np.ndarray:
    """Unit-norm, zero-mean Gabor filters on the model grid, flattened: (36*64, n) float32."""
    n = len(params["rf_phase"])
    if n > chunk:
        parts = [gabors({k: v[i:i + chunk] for k, v in params.items()}, phase_offset, chunk)
                 for i in range(0, n, chunk)]
        return np.concatenate(parts, axis=1)
    h, w = MODEL_SHAPE
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = params["rf_center_px"][:, 0, None, None], params["rf_center_px"][:, 1, None, None]
    theta = params["rf_orientation"][:, None, None]
    along = (x - cx) * np.cos(theta) + (y - cy) * np.sin(theta)
    across = -(x - cx) * np.sin(theta) + (y - cy) * np.cos(theta)
    sigma, aspect = params["rf_sigma_px"][:, None, None], params["rf_aspect"][:, None, None]
    envelope = np.exp(-(along**2 + (across / aspect) ** 2) / (2 * sigma**2))
    phase = params["rf_phase"][:, None, None] + phase_offset
    g = envelope * np.cos(2 * np.pi * params["rf_frequency"][:, None, None] * along + phase)
    g = g.reshape(len(g), -1)
    g -= g.mean(axis=1, keepdims=True)
    g /= np.linalg.norm(g, axis=1, keepdims=True) + 1e-12
    return np.ascontiguousarray(g.T, dtype=np.float32)


class Population:
    """Turns standardised stimuli into expected event counts per neuron, before any modulation."""

    def __init__(self, params: dict[str, np.ndarray]):
        self.params = params
        self.complex = np.flatnonzero(params["complex"])
        quadrature = gabors({k: v[self.complex] for k, v in params.items()}, np.pi / 2)
        self.filters = np.concatenate([gabors(params), quadrature], axis=1)
        self.kernel = params.get("temporal_kernel")
        self.center = np.zeros(len(params["slope"]), np.float32)
        self.scale = np.ones(len(params["slope"]), np.float32)
        self.norm = np.ones(len(params["slope"]), np.float32)

    def _energy(self, stimuli: np.ndarray) -> np.ndarray:
        """Linear drive for simple cells, quadrature energy for complex cells: (B, T, 36, 64) -> (B, T, n)."""
        b, t = stimuli.shape[:2]
        x = (stimuli.reshape(b * t, -1) @ self.filters).reshape(b, t, -1)
        if self.kernel is not None:
            k = np.concatenate([self.kernel, self.kernel[self.complex]]).T.astype(np.float32)
            filtered = np.zeros_like(x)
            for lag in range(len(k)):
                filtered[:, lag:] += k[lag] * x[:, :t - lag]
            x = filtered
        n = len(self.center)
        drive = x[:, :, :n].copy()
        drive[:, :, self.complex] = np.hypot(drive[:, :, self.complex], x[:, :, n:])
        return drive

    def _nonlinearity(self, drive: np.ndarray) -> np.ndarray:
        z = (drive - self.center) / self.scale
        p = self.params
        return np.logaddexp(0, p["slope"] * (z - p["threshold"])).astype(np.float32) + BASELINE

    def calibrate(self, stimuli: np.ndarray, skip: int = 0) -> None:
        """Standardise each neuron's drive, and set its mean rate to ``rate_scale``, on calibration stimuli."""
        drive = self._energy(stimuli)[:, skip:].reshape(-1, len(self.center))
        self.center, self.scale = drive.mean(axis=0), drive.std(axis=0) + 1e-6
        self.norm = self.params["rate_scale"] / self._nonlinearity(drive).mean(axis=0)

    def rates(self, stimuli: np.ndarray) -> np.ndarray:
        """Expected events per trial (static) or frame (video), (B, T, n), on standardised stimuli."""
        return (self._nonlinearity(self._energy(stimuli)) * self.norm).astype(np.float32)


def sample_responses(rng: np.random.Generator, rates: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """Gamma-Poisson events (overdispersed, shape 3) times each neuron's amplitude: non-negative, sparse."""
    events = rng.poisson(rates * rng.gamma(3.0, 1 / 3.0, rates.shape))
    return (events * amplitude).astype(np.float32)
