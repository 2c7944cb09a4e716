"""Natural-looking synthetic stimuli: 1/f (pink) noise images and smoothly drifting 1/f noise videos.

Each stimulus is a pure function of (seed, stimulus id): repeats are identical, the same id means the same
picture in every session of a seed, and a writer can make a stimulus again instead of holding a session in
memory. Grey levels are integers 0..255 stored as float32, as the organisers' files appear to hold.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

IMAGE_SHAPE = (144, 256)      # static frames as stored
MODEL_SHAPE = (36, 64)        # model resolution: static frames down-scaled 4x, video frames as stored
DOWNSCALE = 4
GREY_MEAN, GREY_STD = 128.0, 48.0
IMAGE_STREAM, VIDEO_STREAM = 11, 12
DRIFT_SPEED = 0.4             # px/frame, std of each velocity component of a clip's drift
TEMPORAL_WIDTH = 0.015        # cycles/frame: how far a clip's spectrum spreads off its drift plane


@lru_cache(maxsize=8)
def _pink(shape: tuple[int, ...]) -> np.ndarray:
    """Amplitude 1/|k| over the spatial frequencies of an rfft grid (last two axes), zero at DC."""
    ky = np.fft.fftfreq(shape[-2])[:, None]
    kx = np.fft.rfftfreq(shape[-1])[None, :]
    k = np.hypot(ky, kx)
    amplitude = 1.0 / np.maximum(k, 1.0 / max(shape[-2:]))
    amplitude[0, 0] = 0.0
    return amplitude.astype(np.float32)


def _grey(field: np.ndarray, contrast: float) -> np.ndarray:
    z = (field - field.mean()) / field.std()
    return np.clip(np.round(GREY_MEAN + GREY_STD * contrast * z), 0, 255).astype(np.float32)


def image(seed: int, image_id: int) -> np.ndarray:
    """One (144, 256) grey image of 1/f noise with its own contrast."""
    rng = np.random.default_rng([seed, IMAGE_STREAM, int(image_id)])
    white = rng.standard_normal(IMAGE_SHAPE, dtype=np.float32)
    field = np.fft.irfft2(np.fft.rfft2(white) * _pink(IMAGE_SHAPE), s=IMAGE_SHAPE)
    return _grey(field, rng.uniform(0.6, 1.2))


def clip(seed: int, clip_id: int, frames: int) -> np.ndarray:
    """One (frames, 36, 64) grey clip: 1/f noise drifting with a random velocity, slowly changing.

    A pattern moving with velocity v has its spectrum on the plane f_t = -v.k; a Gaussian of width
    ``TEMPORAL_WIDTH`` around that plane lets the texture evolve while it drifts.
    """
    rng = np.random.default_rng([seed, VIDEO_STREAM, int(clip_id)])
    shape = (frames, *MODEL_SHAPE)
    white = rng.standard_normal(shape, dtype=np.float32)
    vy, vx = rng.normal(0.0, DRIFT_SPEED, 2)
    ft = np.fft.fftfreq(frames)[:, None, None]
    ky = np.fft.fftfreq(MODEL_SHAPE[0])[None, :, None]
    kx = np.fft.rfftfreq(MODEL_SHAPE[1])[None, None, :]
    temporal = np.exp(-((ft + vy * ky + vx * kx) ** 2) / (2 * TEMPORAL_WIDTH**2)).astype(np.float32)
    field = np.fft.irfftn(np.fft.rfftn(white) * _pink(shape)[None] * temporal, s=shape)
    return _grey(field, rng.uniform(0.6, 1.2))


def standardise(grey: np.ndarray) -> np.ndarray:
    """Grey levels to the zero-mean, unit-scale values the simulated neurons see."""
    return ((grey - GREY_MEAN) / GREY_STD).astype(np.float32)


def downscale(frames: np.ndarray) -> np.ndarray:
    """Mean over 4x4 blocks of the last two axes: (..., 144, 256) -> (..., 36, 64), like area resizing."""
    *lead, h, w = frames.shape
    blocks = frames.reshape(*lead, h // DOWNSCALE, DOWNSCALE, w // DOWNSCALE, DOWNSCALE)
    return blocks.mean(axis=(-3, -1))


def shift_frames(frames: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Sample each frame at u + shift (sub-pixel, periodic): what a receptive field sees when the eye moves.

    ``frames`` (..., h, w); ``shifts`` (..., 2) in pixels as (x, y). A receptive field centred at c on the
    screen, with the eye displaced by d, responds to the frame at c + d; shifting the frame instead of the
    filters keeps one matrix product for all neurons.
    """
    h, w = frames.shape[-2:]
    along_x = np.exp(2j * np.pi * shifts[..., 0, None, None] * np.fft.rfftfreq(w)).astype(np.complex64)
    along_y = np.exp(2j * np.pi * shifts[..., 1, None, None] * np.fft.fftfreq(h)[:, None]).astype(np.complex64)
    spectrum = np.fft.rfft2(frames)
    spectrum *= along_x
    spectrum *= along_y
    return np.fft.irfft2(spectrum, s=(h, w)).astype(np.float32)
