"""What a synthetic release looks like before anything is simulated: presets, sizes, names, tiers, order.

Static sessions (2022) hold train/validation trials of single images plus two repeated tiers, ``test``
(labelled) and ``final_test`` (zeroed), of ``repeated`` images x ``repeats``; files are shuffled relative to
presentation, which ``trial_idx`` and ``frame_trial_ts`` reveal. Video sessions (2023) hold train clips plus
three repeated tiers, ``oracle``, ``live_test_main`` (labelled) and ``final_test_main`` (zeroed); their
files are in presentation order (``trial_idx`` = file index) and trial lengths vary, NaN-padded.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from ..errors import UserError, expect
from .layout import session_name
from .synthetic_stimuli import IMAGE_SHAPE, MODEL_SHAPE


@dataclass(frozen=True)
class Preset:
    sessions: int
    trials: int
    neurons: int
    repeated: int                  # distinct stimuli in each repeated tier
    repeats: int                   # presentations of each of them
    frames: tuple[int, int] = (1, 1)  # video: shortest and longest trial


PRESETS = {
    "static": {
        "tiny": Preset(1, 240, 40, 4, 10),
        "demo": Preset(2, 1200, 150, 10, 10),
        "realistic": Preset(7, 6000, 8000, 100, 10),
    },
    "video": {
        "tiny": Preset(1, 40, 30, 2, 3, (60, 80)),
        "demo": Preset(2, 120, 100, 2, 5, (100, 130)),
        "realistic": Preset(5, 700, 8000, 6, 10, (300, 320)),
    },
}
REPEATED_TIERS = {"static": ("test", "final_test"), "video": ("oracle", "live_test_main", "final_test_main")}
ZEROED_TIER = {"static": "final_test", "video": "final_test_main"}
TEST_TIER = {"static": "test", "video": "live_test_main"}
VALIDATION_FRACTION = 0.1          # static: share of the single-presentation trials labelled 'validation'
NEURON_SPREAD = 0.03               # sessions after the first have 0-9 % fewer neurons, as real ones differ
NAMES_STREAM, TRIALS_STREAM = 1, 2


@dataclass(frozen=True)
class SessionSize:
    """The shape of one synthetic session, known without simulating it."""

    kind: str
    trials: int
    neurons: int
    repeated: int
    repeats: int
    frames: tuple[int, int]

    @property
    def tiers(self) -> dict[str, int]:
        repeated = {tier: self.repeated * self.repeats for tier in REPEATED_TIERS[self.kind]}
        singles = self.trials - sum(repeated.values())
        if self.kind == "video":
            return {"train": singles, **repeated}
        validation = max(1, round(VALIDATION_FRACTION * singles))
        return {"train": singles - validation, "validation": validation, **repeated}

    @property
    def nbytes(self) -> int:
        """Bytes of the session's data files (headers aside)."""
        if self.kind == "static":
            per_trial = int(np.prod(IMAGE_SHAPE)) + self.neurons + 3 + 2
        else:
            per_trial = (int(np.prod(MODEL_SHAPE)) + self.neurons + 2 + 2) * self.frames[1]
        return 4 * per_trial * self.trials


def session_sizes(kind: str = "static", preset: str = "tiny", sessions: int | None = None,
                  trials: int | None = None, neurons: int | None = None) -> list[SessionSize]:
    """The sizes ``synthesize`` would write, one per session; --sessions/--trials/--neurons override."""
    expect(kind in PRESETS, f"kind: expected one of {sorted(PRESETS)}, found {kind!r}")
    expect(preset in PRESETS[kind], f"preset: expected one of {sorted(PRESETS[kind])}, found {preset!r}")
    for name, value in (("sessions", sessions), ("trials", trials), ("neurons", neurons)):
        expect(value is None or (isinstance(value, int) and value > 0),
               f"{name}: expected a positive integer, found {value!r}")
    p = PRESETS[kind][preset]
    n_trials = trials or p.trials
    repeated = max(1, round(p.repeated * n_trials / p.trials))
    taken = len(REPEATED_TIERS[kind]) * repeated * p.repeats
    needed = taken + (2 if kind == "static" else 1)
    if n_trials < needed:
        raise UserError(f"trials: {n_trials} leaves too few train trials for preset {preset!r} "
                        f"({len(REPEATED_TIERS[kind])} repeated tiers take {taken}); expected >= {needed}")
    count = sessions or p.sessions
    return [SessionSize(kind, n_trials, max(1, round((neurons or p.neurons) * (1 - NEURON_SPREAD * (s % 4)))),
                        repeated, p.repeats, p.frames) for s in range(count)]


def session_names(kind: str, seed: int, count: int) -> list[tuple[str, str]]:
    """(data_key, folder name) per session: distinct animals, one shared digest per release like the real."""
    rng = np.random.default_rng([seed, NAMES_STREAM])
    animals = rng.choice(np.arange(30000, 40000), count, replace=False)
    digest = hashlib.md5(f"sensorium-search synthetic {kind} {seed}".encode()).hexdigest()
    keys = [f"{a}-{rng.integers(1, 20)}-{rng.integers(1, 25)}" for a in animals]
    return [(key, session_name(kind, key, digest)) for key in keys]


@dataclass
class TrialPlan:
    """Per file index: tier, stimulus id (repeats share it), presentation rank, valid frames."""

    tiers: np.ndarray
    stimulus_ids: np.ndarray
    rank: np.ndarray
    lengths: np.ndarray

    @property
    def presentation(self) -> np.ndarray:
        """File indices in the order they were presented."""
        return np.argsort(self.rank)


def plan_trials(seed: int, session: int, size: SessionSize) -> TrialPlan:
    """Tiers and stimuli in a random file order; static presentation order is another random order."""
    rng = np.random.default_rng([seed, TRIALS_STREAM, session])
    counts = size.tiers
    singles = counts["train"] + counts.get("validation", 0)
    n_repeated = len(REPEATED_TIERS[size.kind]) * size.repeated
    ids = rng.choice(max(100_000, 4 * size.trials), singles + n_repeated, replace=False)
    tiers = np.repeat(list(counts), list(counts.values()))
    trial_ids = np.concatenate([ids[:singles], np.repeat(ids[singles:], size.repeats)])
    # order of `counts`: train, [validation], then the repeated tiers in REPEATED_TIERS order
    shuffle = rng.permutation(size.trials)
    tiers, trial_ids = tiers[shuffle], trial_ids[shuffle]
    lo, hi = size.frames
    clip_lengths = dict(zip(ids.tolist(), rng.integers(lo, hi + 1, len(ids)).tolist()))
    clip_lengths[int(trial_ids[np.flatnonzero(tiers == "train")[0]])] = hi  # a train trial spans T_max
    lengths = np.array([clip_lengths[int(i)] for i in trial_ids])
    rank = rng.permutation(size.trials) if size.kind == "static" else np.arange(size.trials)
    return TrialPlan(tiers.astype(str), trial_ids.astype(np.int64), rank, lengths)


def timestamps(seed: int, session: int, rank: np.ndarray) -> np.ndarray:
    """``frame_trial_ts`` strings, strictly increasing (1-2 s apart) in presentation order."""
    rng = np.random.default_rng([seed, TRIALS_STREAM, session, 1])
    start = datetime(2021, 5, 4, 13, 45, 10) + timedelta(days=7 * session, seconds=int(rng.integers(3600)))
    seconds = np.cumsum(rng.integers(1, 3, len(rank)))
    stamps = [f"Timestamp('{start + timedelta(seconds=int(s)):%Y-%m-%d %H:%M:%S}')" for s in seconds]
    return np.array(stamps)[rank]
