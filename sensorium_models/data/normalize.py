"""The reference normalisation (neuralpredictors ``NeuroNormalizer``, stats source ``all``) and the image rescale.

- stimuli (images/videos): ``(x - mean) / std`` with the stored statistics (a scalar in 2022; whatever
  broadcasts against one trial, e.g. per pixel and frame, is applied the same way);
- responses: ``x / std`` per neuron (2023: per neuron and frame), the std floored at 1 % of its mean
  (``threshold = 0.01 * nanmean(std)``; std ≤ threshold, or NaN, → divide by threshold: the 2023
  neuralpredictors rule). A neuron whose responses are constant has std 0 and is floored like any other;
  a negative std is an error;
- behaviour: ``x / std``, not centred; pupil centre: ``(x - mean) / std``. With ``behavior="model4"`` (static
  only: Model 4's ``adjusted_normalization``, which makes behaviour comparable across sessions) the pupil
  becomes ``(x - min) / (max - min)``, d-pupil ``x / std``, running ``|x| / max(-min, max)``;
- Where a stimulus, behaviour or pupil std is 0 (the 2022 competition session ships behaviour zeroed; a
  per-pixel-and-frame video std is 0 at a frame only one trial reaches) the value is left unscaled
  instead of becoming 0/0; a stimulus std that is 0 everywhere is an error.

Statistics are brought to the layout of one trial as stored (time last for video) by :func:`fit_statistic`,
so every formula is the reference's broadcast. Static statistics must be finite. Video statistics are per
frame and NaN at frames that no trial reaches, which is fine: where a trial uses a frame whose stimulus,
behaviour or pupil statistic is NaN, its normalised value is NaN and the reader cuts the trial there, as the
organisers' pipeline (normalise, then ``CutVideos``) does. Static images are rescaled once, after normalisation, by
bilinear interpolation without antialiasing (= skimage ``rescale(order=1, anti_aliasing=False)`` and torch
``F.interpolate(mode="bilinear", align_corners=False)`` for down-scaling).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import UserError

FLOOR_FRACTION = 0.01


BEHAVIOR_NORMALIZATIONS = ("std", "model4")


@dataclass
class Standardizer:
    """``x -> (x - offset) / divisor``, on ``|x|`` where ``absolute``; all broadcast against one trial as stored."""

    offset: np.ndarray
    divisor: np.ndarray
    absolute: np.ndarray | None = None

    def __call__(self, x: np.ndarray, frames: int | None = None) -> np.ndarray:
        """Normalise one trial; ``frames`` (video) is how many leading frames ``x`` holds."""
        offset, divisor = self.offset, self.divisor
        if frames is not None:
            offset = offset[..., :frames] if offset.ndim else offset
            divisor = divisor[..., :frames] if divisor.ndim else divisor
        if self.absolute is not None:
            x = np.where(self.absolute, np.abs(x), x)
        return (x - offset) / divisor


def fit_statistic(stat: np.ndarray, trial_shape: tuple[int, ...], frames: int | None, label: str) -> np.ndarray:
    """A stored statistic in the layout of one trial: scalar, broadcastable (static), or for video
    ``(features)`` → constant over time, ``(features, T ≥ frames)`` → per frame, cropped to ``frames``."""
    stat = np.asarray(stat, dtype=np.float64)
    if stat.size == 1:
        fitted = stat.reshape(())
    elif frames is None:
        fits = stat.ndim <= len(trial_shape) and _broadcasts(stat.shape, trial_shape)
        fitted = stat if fits else None
        expected = f"a scalar or a shape broadcasting to {trial_shape}"
    else:
        features = trial_shape[:-1]
        if stat.shape == features:
            fitted = stat[..., None]
        elif stat.shape[:-1] == features and stat.shape[-1] >= frames:
            fitted = stat[..., :frames]
        else:
            fitted = None
        dims = ", ".join(map(str, features))
        expected = f"a scalar, shape ({dims},) or ({dims}, T) with T >= {frames}"
    if fitted is None:
        raise UserError(f"{label}: expected {expected}, found shape {stat.shape}")
    bad = np.isinf(fitted) if frames is not None else ~np.isfinite(fitted)
    if bad.any():
        raise UserError(f"{label}: expected {'numbers or NaN' if frames is not None else 'finite numbers'}, "
                        f"found {'inf' if frames is not None else _first_bad(fitted)}")
    return fitted


def _broadcasts(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _first_bad(values: np.ndarray) -> str:
    bad = values[~np.isfinite(values)]
    return "NaN" if np.isnan(bad).any() else "inf"


def floored_response_std(stored: np.ndarray, std: np.ndarray, label: str) -> np.ndarray:
    """The std responses are divided by: ``std`` floored at 1 % of the mean of the ``stored`` std."""
    threshold = FLOOR_FRACTION * np.nanmean(np.asarray(stored, dtype=np.float64))
    if not threshold > 0:
        raise UserError(f"{label}: expected some neuron with std > 0, found all 0 (responses cannot be scaled)")
    return np.where(std > threshold, std, threshold)


def unit_where_zero(std: np.ndarray) -> np.ndarray:
    """Divide by 1 where the std is 0: that value is constant over trials, so it is only centred (NaN stays)."""
    return np.where(std == 0, 1.0, std)


def build_standardizers(
    kind: str,
    statistic: Callable[[str, str], tuple[np.ndarray, str]],
    trial_shapes: dict[str, tuple[int, ...]],
    frames: int | None,
    behavior: str = "std",
) -> tuple[dict[str, Standardizer], np.ndarray]:
    """Standardizers per modality and the floored response std, from ``statistic(modality, stat)``,
    which returns the stored array and its file label; ``behavior`` is one of ``BEHAVIOR_NORMALIZATIONS``."""

    def fitted(modality: str, name: str) -> np.ndarray:
        stored, label = statistic(modality, name)
        return fit_statistic(stored, trial_shapes[modality], frames, label)

    def checked_std(modality: str) -> np.ndarray:
        std = fitted(modality, "std")
        if np.any(std < 0):
            raise UserError(f"{statistic(modality, 'std')[1]}: expected standard deviations >= 0, "
                            f"found {float(std.min())}")
        return std

    stimulus = "images" if kind == "static" else "videos"
    stimulus_std = checked_std(stimulus)
    if not np.any(stimulus_std > 0):
        raise UserError(f"{statistic(stimulus, 'std')[1]}: expected a std > 0 to z-score the {stimulus}, found 0")
    stored_std, std_label = statistic("responses", "std")
    response_std = floored_response_std(stored_std, checked_std("responses"), std_label)
    behavior_std = checked_std("behavior")
    pupil_std = checked_std("pupil_center")
    zero = np.zeros(())
    standardizers = {
        stimulus: Standardizer(fitted(stimulus, "mean"), unit_where_zero(stimulus_std)),
        "responses": Standardizer(zero, response_std),
        "behavior": Standardizer(zero, unit_where_zero(behavior_std)),
        "pupil_center": Standardizer(fitted("pupil_center", "mean"), unit_where_zero(pupil_std)),
    }
    if behavior == "model4":
        standardizers["behavior"] = model4_behavior(kind, fitted("behavior", "min"), fitted("behavior", "max"),
                                                    behavior_std, statistic("behavior", "std")[1])
    return standardizers, response_std


def model4_behavior(kind: str, low: np.ndarray, high: np.ndarray, std: np.ndarray, label: str) -> Standardizer:
    """Model 4's behaviour scaling of [pupil, d-pupil, running]: pupil to [0, 1] by its min and max, d-pupil
    by its std, running speed as ``|x| / max(-min, max)``; a divisor of 0 (behaviour zeroed, as in the 2022
    competition session) is replaced by 1, as ``unit_where_zero`` does."""
    if kind != "static":
        raise UserError("data.behavior_normalization: 'model4' scales the 2022 static behaviour [pupil, d-pupil, "
                        f"running]; expected static sessions, found a {kind} one ({label})")
    low, high, std = (np.broadcast_to(a, (3,)) if a.size == 1 else a for a in (low, high, std))
    if low.shape != (3,):
        raise UserError(f"{label}: data.behavior_normalization 'model4' expects 3 behaviour variables [pupil, "
                        f"d-pupil, running], found shape {low.shape}")
    offset = np.array([low[0], 0.0, 0.0])
    divisor = unit_where_zero(np.array([high[0] - low[0], std[1], max(-low[2], high[2])]))
    return Standardizer(offset, divisor, absolute=np.array([False, False, True]))


def scaled_size(n: int, scale: float) -> int:
    """Output length of a rescale, as skimage computes it."""
    return max(1, int(np.round(n * scale)))


def linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output pixel: the two input pixels and the weight of the second, sampling at pixel
    centres (``align_corners=False``)."""
    source = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    low = np.floor(source).astype(np.intp)
    high = np.minimum(low + 1, n_in - 1)
    return low, high, (source - low).astype(np.float32)


class Rescale:
    """Bilinear rescale of the last two axes by ``scale`` (≤ 1): two taps per output pixel and axis."""

    def __init__(self, height: int, width: int, scale: float):
        self.rows = linear_taps(height, scaled_size(height, scale))
        self.cols = linear_taps(width, scaled_size(width, scale))
        self.shape = (len(self.rows[0]), len(self.cols[0]))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32)
        low, high, weight = self.rows
        x = x[..., low, :] * (1 - weight)[:, None] + x[..., high, :] * weight[:, None]
        low, high, weight = self.cols
        return x[..., low] * (1 - weight) + x[..., high] * weight
