"""A recording session as contiguous, normalised arrays: what every model, trainer and writer consumes.

Both competitions share one shape convention so the rest of the code has a single path:
trial first, then (for video) time, then features. Static arrays simply have no time axis.

=========== ======================== ===============================
array       static (2022)            video (2023)
=========== ======================== ===============================
stimuli     (n, 1, h, w)             (n, T, h, w)
responses   (n, N)                   (n, T, N)
behavior    (n, 3)                   (n, T, 2)
pupil_center(n, 2)                   (n, T, 2)
lengths     None                     (n,) usable frames per trial
=========== ======================== ===============================

Video: ``lengths[i]`` are the frames training uses (the trial cut at its first NaN of any modality, as
neuralpredictors' ``CutVideos``; 0 for ``none`` trials, which are not read); ``trial_lengths[i]`` the
frames before the file's NaN padding, which validation, scores and submission rows use through
``whole_trials()``, as the organisers score a trial cut at a dropout to its end. Arrays
hold the trial up to ``min(trial_lengths[i], max_frames)`` (NaN after a cut replaced by the last value
before it) and zeros after.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

# Tier labels as the organisers write them, mapped to the role each plays here.
TIER_ROLES = {
    # SENSORIUM 2022
    "train": "train",
    "validation": "validation",
    "test": "test",
    "final_test": "test",
    # SENSORIUM 2023
    "oracle": "validation",
    "live_test_main": "test",
    "live_test_bonus": "test",
    "final_test_main": "test",
    "final_test_bonus": "test",
    "none": "skip",
}
ROLES = ("train", "validation", "test", "skip")


@dataclass
class Session:
    """One session read from the organisers' folder, normalised as the reference loader does.

    ``responses`` are on the standardised scale (divided by the per-neuron, or per-neuron-and-frame,
    std with the 1 % floor): predictions, FEVE and submissions all live on that scale.
    """

    key: str                      # data_key, e.g. "26872-17-20"; for video the 'mouse' folder name
    name: str                     # folder name as shipped, e.g. "static26872-17-20-GrayImageNet-<hash>"
    kind: str                     # "static" | "video"
    path: Path                    # the session folder that was read
    stimuli: np.ndarray
    responses: np.ndarray
    behavior: np.ndarray
    pupil_center: np.ndarray
    tiers: np.ndarray             # (n,) str, the organisers' labels, untouched
    trial_ids: np.ndarray         # (n,) meta/trials/trial_idx (ints, or hashed strings in 2022 competition)
    unit_ids: np.ndarray          # (N,) int, submission neuron ids, in response column order
    coords: np.ndarray            # (N, 3) float32 cell_motor_coordinates in µm
    response_std: np.ndarray      # (N,) or (T, N) the floored std responses were divided by
    image_ids: np.ndarray | None = None   # (n,) int frame_image_id; repeats share an id (static)
    order: np.ndarray | None = None       # (n,) int rank in presentation order, None if unrecoverable
    lengths: np.ndarray | None = None     # (n,) int usable frames (video only), see the module docstring
    roles: np.ndarray = field(default=None)  # (n,) str in ROLES; defaults from tiers
    trial_lengths: np.ndarray | None = None  # (n,) int frames before the NaN padding (video; 0 for 'none')
    hidden: np.ndarray | None = None      # (n,) bool test trials whose responses are hidden (dummy zeros/NaN)
    repeat_groups: np.ndarray | None = None  # (n,) int64 first trial showing the same stimulus; -1 unread
    quirks: dict = field(default_factory=dict)  # what the reader did about the release's quirks (video)
    cache_entry: Path | None = None      # the cache folder the arrays are mapped from; derived inputs keep theirs there

    def __post_init__(self) -> None:
        if self.roles is None:
            self.roles = np.array([TIER_ROLES[t] for t in self.tiers], dtype=f"<U{max(map(len, ROLES))}")
            if self.lengths is not None:
                self.roles[np.asarray(self.lengths) == 0] = "skip"  # 'none', or no frame before the first NaN

    @property
    def n_trials(self) -> int:
        return len(self.tiers)

    @property
    def n_neurons(self) -> int:
        return len(self.unit_ids)

    def indices(self, role: str) -> np.ndarray:
        """Trial indices (file numbers) whose role is ``role``, in file order."""
        return np.flatnonzero(self.roles == role)

    def tier_indices(self, tier: str) -> np.ndarray:
        """Trial indices of one organisers' tier label, e.g. ``"final_test"``."""
        return np.flatnonzero(self.tiers == tier)

    def whole_trials(self) -> "Session":
        """A shallow copy whose ``lengths`` are each video trial's own length (within the stored frames), not
        cut at an interior NaN: what predictions for a submission row cover. Static sessions as they are."""
        if self.trial_lengths is None:
            return self
        return replace(self, lengths=np.minimum(self.trial_lengths, self.stimuli.shape[1]), roles=self.roles)

    def with_roles(self, roles: np.ndarray) -> "Session":
        """A shallow copy sharing the arrays, with other train/validation roles (see ``splits``)."""
        return replace(self, roles=np.asarray(roles))
