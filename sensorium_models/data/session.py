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
lengths     None                     (n,) valid frames per trial
=========== ======================== ===============================

Video arrays are padded with zeros past ``lengths[i]`` (the files pad with NaN).
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
    lengths: np.ndarray | None = None     # (n,) int valid frames (video only)
    roles: np.ndarray = field(default=None)  # (n,) str in ROLES; defaults from tiers

    def __post_init__(self) -> None:
        if self.roles is None:
            self.roles = np.array([TIER_ROLES[t] for t in self.tiers])

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

    def with_roles(self, roles: np.ndarray) -> "Session":
        """A shallow copy sharing the arrays, with other train/validation roles (see ``splits``)."""
        return replace(self, roles=np.asarray(roles))
