"""What a synthetic release looks like before anything is simulated: presets, sizes, names, tiers, order.

Static sessions (2022) hold train/validation trials of single images plus two repeated tiers, ``test``
(labelled) and ``final_test`` (zeroed), of ``repeated`` images x ``repeats``; files are shuffled relative to
presentation, which ``trial_idx`` and ``frame_trial_ts`` reveal.

Video sessions (2023) look like the real release (``shared/reference/real-release-2023.md``): train clips (a
few shown twice), three repeated tiers ``oracle``, ``live_test_main``, ``final_test_main``, two bonus tiers of
single OOD clips, and in "old" mice some ``none`` trials (a third of them, at least one, with no valid frame).
When a release has two or more sessions, the second half are "new" mice whose main and bonus test tiers are
hidden (zeros inside the valid frames, NaN padding after); "old" mice ship every tier labelled. Files are in
presentation order; trial lengths vary (half the clips last ``frames[0]``, the rest up to ``frames[1]``),
and every array is NaN-padded to ``frames[1] + PAD_FRAMES`` frames, so per-frame statistics end in NaN. A
few trials have an eye-tracker dropout: a run of NaN inside the valid frames of ``pupil_center`` and of the
pupil channel of ``behavior``. The ``realistic`` preset uses the real folder names and per-mouse counts.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from ..errors import UserError, expect
from .layout import session_key, session_name
from .synthetic_stimuli import IMAGE_SHAPE, MODEL_SHAPE


@dataclass(frozen=True)
class Preset:
    sessions: int
    trials: int
    neurons: int
    repeated: int                  # distinct stimuli in each repeated tier
    repeats: int                   # presentations of each of them
    frames: tuple[int, int] = (1, 1)  # video: shortest and longest trial
    bonus: int = 0                 # video: single OOD clips in each bonus tier
    skipped: int = 0               # video: 'none' trials of an old mouse


PRESETS = {
    "static": {
        "tiny": Preset(1, 240, 40, 4, 10),
        "demo": Preset(2, 1200, 150, 10, 10),
        "realistic": Preset(7, 6000, 8000, 100, 10),
    },
    "video": {
        "tiny": Preset(2, 40, 30, 2, 3, (60, 80), bonus=2, skipped=3),
        "demo": Preset(2, 120, 100, 2, 5, (100, 130), bonus=4, skipped=4),
        "realistic": Preset(10, 720, 8000, 6, 10, (300, 320), bonus=30, skipped=20),
    },
}
REPEATED_TIERS = {"static": ("test", "final_test"), "video": ("oracle", "live_test_main", "final_test_main")}
BONUS_TIERS = ("live_test_bonus", "final_test_bonus")
HIDDEN_TIERS = ("live_test_main", "final_test_main", *BONUS_TIERS)   # responses hidden in new mice
ZEROED_TIER = "final_test"         # static: the zeroed test tier (2022 ships zeros, no time axis)
TEST_TIER = {"static": "test", "video": "live_test_main"}
PAD_FRAMES = 3                     # video: frames past the longest trial, NaN in every file and statistic
TRAIN_REPEAT_FRACTION = 0.02       # video: share of train clips shown twice
DROPOUT_FRACTION = 0.04            # video: share of trials with an eye-tracker dropout (at least one)
# The real release (folder, trials, neurons): old mice A-E then new mice F-J.
REAL_MICE = (
    ("dynamic29156-11-10-Video-8744edeac3b4d1ce16b680916b5267ce", 740, 7440),
    ("dynamic29228-2-10-Video-8744edeac3b4d1ce16b680916b5267ce", 720, 7928),
    ("dynamic29234-6-9-Video-8744edeac3b4d1ce16b680916b5267ce", 740, 8285),
    ("dynamic29513-3-5-Video-8744edeac3b4d1ce16b680916b5267ce", 720, 7671),
    ("dynamic29514-2-9-Video-8744edeac3b4d1ce16b680916b5267ce", 739, 7495),
    ("dynamic29515-10-12-Video-9b4f6a1a067fe51e15306b9628efea20", 711, 7863),
    ("dynamic29623-4-9-Video-9b4f6a1a067fe51e15306b9628efea20", 682, 7908),
    ("dynamic29647-19-8-Video-9b4f6a1a067fe51e15306b9628efea20", 711, 8202),
    ("dynamic29712-5-9-Video-9b4f6a1a067fe51e15306b9628efea20", 739, 7939),
    ("dynamic29755-2-8-Video-9b4f6a1a067fe51e15306b9628efea20", 712, 8122),
)
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
    bonus: int = 0                 # video: trials in each bonus tier
    skipped: int = 0               # video: 'none' trials
    hidden: bool = False           # video: a new mouse, main and bonus test responses hidden

    @property
    def tiers(self) -> dict[str, int]:
        repeated = {tier: self.repeated * self.repeats for tier in REPEATED_TIERS[self.kind]}
        singles = self.trials - sum(repeated.values())
        if self.kind == "video":
            extra = {**{tier: self.bonus for tier in BONUS_TIERS if self.bonus}, "none": self.skipped}
            extra = {tier: count for tier, count in extra.items() if count}
            return {"train": singles - sum(extra.values()), **repeated, **extra}
        validation = max(1, round(VALIDATION_FRACTION * singles))
        return {"train": singles - validation, "validation": validation, **repeated}

    @property
    def stored_frames(self) -> int:
        """Frames of every video file: the longest trial plus ``PAD_FRAMES`` of NaN."""
        return self.frames[1] + PAD_FRAMES if self.kind == "video" else 1

    @property
    def nbytes(self) -> int:
        """Bytes of the session's data files (headers aside)."""
        if self.kind == "static":
            per_trial = int(np.prod(IMAGE_SHAPE)) + self.neurons + 3 + 2
        else:
            per_trial = (int(np.prod(MODEL_SHAPE)) + self.neurons + 2 + 2) * self.stored_frames
        return 4 * per_trial * self.trials


def _scaled(count: int, n_trials: int, preset_trials: int) -> int:
    return max(1, round(count * n_trials / preset_trials)) if count else 0


def session_sizes(kind: str = "static", preset: str = "tiny", sessions: int | None = None,
                  trials: int | None = None, neurons: int | None = None) -> list[SessionSize]:
    """The sizes ``synthesize`` would write, one per session; --sessions/--trials/--neurons override.

    Video: with two or more sessions the second half are new mice (hidden test tiers); the realistic
    preset takes each real mouse's trial and neuron count unless overridden.
    """
    expect(kind in PRESETS, f"kind: expected one of {sorted(PRESETS)}, found {kind!r}")
    expect(preset in PRESETS[kind], f"preset: expected one of {sorted(PRESETS[kind])}, found {preset!r}")
    for name, value in (("sessions", sessions), ("trials", trials), ("neurons", neurons)):
        expect(value is None or (isinstance(value, int) and value > 0),
               f"{name}: expected a positive integer, found {value!r}")
    p = PRESETS[kind][preset]
    count = sessions or p.sessions
    mice = real_mice(count) if uses_real_names(kind, preset, count) else None
    sizes = []
    for s in range(count):
        hidden = is_new_mouse(kind, s, count)
        n_trials = trials or (mice[s][1] if mice else p.trials)
        n_neurons = neurons or (mice[s][2] if mice else p.neurons)
        if not mice:
            n_neurons = max(1, round(n_neurons * (1 - NEURON_SPREAD * (s % 4))))
        repeated = max(1, round(p.repeated * n_trials / p.trials))
        bonus = _scaled(p.bonus, n_trials, p.trials)
        skipped = 0 if hidden else _scaled(p.skipped, n_trials, p.trials)
        size = SessionSize(kind, n_trials, n_neurons, repeated, p.repeats, p.frames, bonus, skipped, hidden)
        taken = n_trials - size.tiers["train"]
        needed = taken + (2 if kind == "static" else 2)
        if n_trials < needed:
            raise UserError(f"trials: {n_trials} leaves too few train trials for preset {preset!r} "
                            f"(the other tiers take {taken}); expected >= {needed}")
        sizes.append(size)
    return sizes


def is_new_mouse(kind: str, index: int, count: int) -> bool:
    """Video releases of two or more sessions: the second half are new mice, with hidden test tiers."""
    return kind == "video" and count > 1 and index >= (count + 1) // 2


def real_mice(count: int) -> list[tuple[str, int, int]]:
    """(folder, trials, neurons) of ``count`` real mice: old ones from A on, new ones from F on."""
    old = (count + 1) // 2 if count > 1 else 1
    return list(REAL_MICE[:old]) + list(REAL_MICE[5:5 + count - old])


def uses_real_names(kind: str, preset: str, count: int) -> bool:
    """The realistic video preset names its sessions after the real mice (up to ten)."""
    return kind == "video" and preset == "realistic" and count <= len(REAL_MICE)


def session_names(kind: str, seed: int, count: int, real: bool = False) -> list[tuple[str, str]]:
    """(data_key, folder name) per session: distinct animals, one digest for old and one for new mice,
    like the real release; ``real`` takes the real folder names."""
    if real:
        return [(session_key(name), name) for name, _, _ in real_mice(count)]
    rng = np.random.default_rng([seed, NAMES_STREAM])
    animals = rng.choice(np.arange(30000, 40000), count, replace=False)
    digests = [hashlib.md5(f"sensorium-search synthetic {kind} {seed}{part}".encode()).hexdigest()
               for part in ("", " new")]
    keys = [f"{a}-{rng.integers(1, 20)}-{rng.integers(1, 25)}" for a in animals]
    new = [is_new_mouse(kind, s, count) for s in range(count)]
    return [(key, session_name(kind, key, digests[int(n)])) for key, n in zip(keys, new)]


@dataclass
class TrialPlan:
    """Per file index: tier, stimulus id (repeats share it), presentation rank, valid frames; for video
    also which responses are hidden, which trials ship no valid frame, and each dropout's [start, stop)."""

    tiers: np.ndarray
    stimulus_ids: np.ndarray
    rank: np.ndarray
    lengths: np.ndarray
    hidden: np.ndarray | None = None      # (n,) bool
    empty: np.ndarray | None = None       # (n,) bool: a 'none' trial whose files are all NaN
    dropouts: np.ndarray | None = None    # (n, 2) int frame range of NaN in pupil data, (-1, -1) if none

    @property
    def presentation(self) -> np.ndarray:
        """File indices in the order they were presented."""
        return np.argsort(self.rank)

    @property
    def released_lengths(self) -> np.ndarray:
        """Valid frames as the kit's CutVideos finds them: to the first NaN of any modality."""
        if self.empty is None:
            return self.lengths
        cut = np.where(self.dropouts[:, 0] >= 0, self.dropouts[:, 0], self.lengths)
        return np.where(self.empty, 0, cut)


def plan_trials(seed: int, session: int, size: SessionSize) -> TrialPlan:
    """Tiers and stimuli in a random file order; static presentation order is another random order."""
    if size.kind == "video":
        return _plan_video(seed, session, size)
    rng = np.random.default_rng([seed, TRIALS_STREAM, session])
    counts = size.tiers
    singles = counts["train"] + counts.get("validation", 0)
    n_repeated = len(REPEATED_TIERS[size.kind]) * size.repeated
    ids = rng.choice(max(100_000, 4 * size.trials), singles + n_repeated, replace=False)
    tiers = np.repeat(list(counts), list(counts.values()))
    trial_ids = np.concatenate([ids[:singles], np.repeat(ids[singles:], size.repeats)])
    # order of `counts`: train, validation, then the repeated tiers in REPEATED_TIERS order
    shuffle = rng.permutation(size.trials)
    tiers, trial_ids = tiers[shuffle], trial_ids[shuffle]
    lo, hi = size.frames
    clip_lengths = dict(zip(ids.tolist(), rng.integers(lo, hi + 1, len(ids)).tolist()))
    lengths = np.array([clip_lengths[int(i)] for i in trial_ids])
    rank = rng.permutation(size.trials)
    return TrialPlan(tiers.astype(str), trial_ids.astype(np.int64), rank, lengths)


def _plan_video(seed: int, session: int, size: SessionSize) -> TrialPlan:
    """Video tiers in a random file order (= presentation order), with the real release's quirks."""
    rng = np.random.default_rng([seed, TRIALS_STREAM, session])
    counts = size.tiers
    repeated_tiers = REPEATED_TIERS["video"]
    singles = size.trials - sum(counts[t] for t in repeated_tiers)
    twice = max(1, round(TRAIN_REPEAT_FRACTION * counts["train"]))     # train clips shown twice
    n_ids = singles - twice + len(repeated_tiers) * size.repeated
    ids = rng.choice(max(100_000, 4 * size.trials), n_ids, replace=False)
    train = np.concatenate([ids[:counts["train"] - twice], ids[:twice]])
    others = ids[counts["train"] - twice:singles - twice]               # bonus and none: single clips
    repeated = np.repeat(ids[singles - twice:], size.repeats)
    # order of `counts`: train, the repeated tiers, bonus tiers, none
    by_tier = {"train": train, **{t: repeated[k * size.repeated * size.repeats:(k + 1) * size.repeated * size.repeats]
                                  for k, t in enumerate(repeated_tiers)}}
    rest = [t for t in counts if t not in by_tier]
    starts = np.cumsum([0] + [counts[t] for t in rest])
    by_tier |= {t: others[starts[k]:starts[k + 1]] for k, t in enumerate(rest)}
    tiers = np.repeat(list(counts), list(counts.values()))
    trial_ids = np.concatenate([by_tier[t] for t in counts])
    shuffle = rng.permutation(size.trials)
    tiers, trial_ids = tiers[shuffle].astype(str), trial_ids[shuffle].astype(np.int64)
    lo, hi = size.frames
    drawn = np.where(rng.random(len(ids)) < 0.5, lo, rng.integers(lo, hi + 1, len(ids)))
    clip_lengths = dict(zip(ids.tolist(), drawn.tolist()))
    clip_lengths[int(trial_ids[np.flatnonzero(tiers == "train")[0]])] = hi  # a train trial lasts frames[1]
    lengths = np.array([clip_lengths[int(i)] for i in trial_ids])
    hidden = np.isin(tiers, HIDDEN_TIERS) & size.hidden
    empty = np.zeros(size.trials, bool)
    skipped = np.flatnonzero(tiers == "none")
    empty[skipped[:max(1, len(skipped) // 3)] if len(skipped) else []] = True
    dropouts = np.full((size.trials, 2), -1, np.int64)
    candidates = np.flatnonzero(~empty)
    for i in rng.choice(candidates, max(1, round(DROPOUT_FRACTION * size.trials)), replace=False):
        run = int(rng.integers(1, 7))
        start = int(rng.integers(1, lengths[i] - run - 1))
        dropouts[i] = (start, start + run)
    return TrialPlan(tiers, trial_ids, np.arange(size.trials), lengths, hidden, empty, dropouts)


def timestamps(seed: int, session: int, rank: np.ndarray) -> np.ndarray:
    """``frame_trial_ts`` strings, strictly increasing (1-2 s apart) in presentation order."""
    rng = np.random.default_rng([seed, TRIALS_STREAM, session, 1])
    start = datetime(2021, 5, 4, 13, 45, 10) + timedelta(days=7 * session, seconds=int(rng.integers(3600)))
    seconds = np.cumsum(rng.integers(1, 3, len(rank)))
    stamps = [f"Timestamp('{start + timedelta(seconds=int(s)):%Y-%m-%d %H:%M:%S}')" for s in seconds]
    return np.array(stamps)[rank]
