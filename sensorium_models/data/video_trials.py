"""One 2023 trial from its four files: its length, where it is cut, what the session records about it.

The organisers' loader normalises a trial and then cuts it at the first frame where any element of any
modality is NaN (neuralpredictors ``CutVideos(max_frame=None)``). We keep that rule, and say what it does:

- ``trial_length``: frames before the trailing NaN padding (the shortest over the modalities): the trial's
  own length, which the competition's solution rows are sized from;
- ``length``: frames before the first NaN of any modality inside the trial (an eye-tracker dropout in
  ``pupil_center``/``behavior``, or a NaN per-frame statistic at a frame the trial reaches), at most
  ``max_frames``. Training, validation and every metric use only these frames (no loss masking);
- frames from ``length`` to ``trial_length`` are still stored, each NaN replaced by the last finite value
  before it (0 if none), so a model can predict the whole trial for a submission; past ``trial_length``
  the arrays are zero.

A hidden test response (the dummy zeros the release ships for new mice, or all NaN) is flagged, and its
zeros do not shorten the trial. Repeats are found by a digest of the raw stimulus frames.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError
from .normalize import Standardizer


def trailing_padding(array: np.ndarray) -> int:
    """Frames before the trailing run of frames that are NaN in every value (time is the last axis)."""
    frames = array.shape[-1]
    has_value = ~np.isnan(array).reshape(-1, frames).all(axis=0)
    return int(np.flatnonzero(has_value)[-1]) + 1 if has_value.any() else 0


def forward_filled(values: np.ndarray) -> np.ndarray:
    """Each non-finite value replaced by the last finite one before it along the last axis, else 0."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return values
    index = np.where(bad, 0, np.arange(values.shape[-1]))
    np.maximum.accumulate(index, axis=-1, out=index)
    filled = np.take_along_axis(values, index, axis=-1)
    return np.where(np.isfinite(filled), filled, 0)


def stimulus_digest(stimulus: np.ndarray) -> bytes:
    """Digest of a stimulus's raw values up to its NaN padding: repeats of one video share it."""
    length = trailing_padding(stimulus) if stimulus.ndim == 3 else None
    frames = np.ascontiguousarray(stimulus[..., :length] if length is not None else stimulus, dtype=np.float32)
    return hashlib.blake2b(frames.tobytes() + str(frames.shape).encode(), digest_size=16).digest()


def repeat_groups(digests: list[bytes | None]) -> np.ndarray:
    """(n,) int64: for each trial the index of the first trial showing the same stimulus; -1 if not read."""
    first: dict[bytes, int] = {}
    return np.array([-1 if d is None else first.setdefault(d, i) for i, d in enumerate(digests)], dtype=np.int64)


@dataclass
class CutTrial:
    values: dict[str, np.ndarray]   # normalised, time last, ``stored`` frames, NaN filled past ``length``
    length: int                     # usable frames (cut at the first NaN, at most max_frames)
    trial_length: int               # frames before the NaN padding
    nan_frames: int                 # frames inside the trial (before max_frames) holding a NaN
    uneven: bool = False            # its modalities' padding starts at different frames (cut to the shortest)


def cut_trial(labels: dict[str, str], raw: dict[str, np.ndarray], standardize: dict[str, Standardizer],
              max_frames: int) -> CutTrial:
    """Normalise one trial and cut it at the first NaN of any modality; ``labels`` names each file."""
    ends = {}
    for modality, array in raw.items():
        if np.isinf(array).any():
            raise UserError(f"{labels[modality]}: expected finite numbers or NaN, found inf")
        ends[modality] = trailing_padding(array)
    shortest = min(ends, key=ends.get)
    trial_length = ends[shortest]
    if trial_length == 0:
        raise UserError(f"{labels[shortest]}: expected at least one frame before the NaN padding, found none")
    stored = min(trial_length, max_frames)
    values = {m: standardize[m](a[..., :stored], frames=stored) for m, a in raw.items()}
    bad = np.zeros(stored, dtype=bool)
    for value in values.values():
        bad |= ~np.isfinite(value).reshape(-1, stored).all(axis=0)
    length = int(np.argmax(bad)) if bad.any() else stored
    filled = {m: forward_filled(v) for m, v in values.items()}
    return CutTrial(filled, length, trial_length, int(bad.sum()), len(set(ends.values())) > 1)


@dataclass
class VideoQuirks:
    """What the reader did about the real release's quirks, per session (stored with the cache entry)."""

    trials_cut: int = 0             # trials cut at a NaN inside their valid frames
    frames_cut: int = 0             # frames those cuts leave out of training and metrics
    nan_frames: int = 0             # frames inside trials holding a NaN (dropouts)
    unusable: list[int] = field(default_factory=list)   # trials cut at frame 0: no usable frame
    none_skipped: int = 0           # 'none' trials, never read
    notes: list[str] = field(default_factory=list)      # meta/trials fields left out, and what it costs
    trials_uneven: int = 0          # trials whose modalities end at different frames, cut to the shortest

    def add(self, trial: CutTrial, max_frames: int) -> None:
        end = min(trial.trial_length, max_frames)
        if trial.length < end:
            self.trials_cut += 1
            self.frames_cut += end - trial.length
        self.nan_frames += trial.nan_frames
        self.trials_uneven += trial.uneven

    def warnings(self, name: str, n_trials: int) -> list[str]:
        """One line per quirk worth telling the user about; the CLI prints them."""
        lines = []
        if self.trials_cut:
            lines.append(f"{name}: {self.trials_cut} of {n_trials} trials have NaN inside their valid frames "
                         f"(e.g. eye-tracker dropouts); each is cut at its first NaN of any modality, as "
                         f"neuralpredictors' CutVideos does ({self.frames_cut} frames left out of training "
                         f"and metrics" + (f"; {len(self.unusable)} trials keep no frame and are skipped"
                                           if self.unusable else "") + ")")
        if self.trials_uneven:
            lines.append(f"{name}: {self.trials_uneven} of {n_trials} trials have modalities of different lengths "
                         f"(NaN padding starting at different frames); each is cut to its shortest modality, as "
                         f"the starter kit's loader does")
        lines += [f"{name}: {note}" for note in self.notes]
        return lines
