"""Read one session as the organisers ship it (SENSORIUM 2022 static, 2023 video) into normalised arrays.

The per-trial files (``data/<modality>/<i>.npy``) are read once, each checked, normalised
(:mod:`.normalize`) and written straight into preallocated float32 ``.npy`` files in ``out`` (memory-mapped,
so a session larger than RAM is fine and nothing is held twice). The names written are the
:class:`~.session.Session` field names; :mod:`.cache` opens them again memory-mapped.

Video (:mod:`.video_trials`): ``none`` trials are never read (the organisers' loader skips them); every
other trial is cut at its first NaN of any modality, as neuralpredictors' ``CutVideos`` does, and the session
records each trial's usable ``lengths``, its ``trial_lengths`` (before the NaN padding), which test trials
hold ``hidden`` responses (dummy zeros or all NaN) and ``repeat_groups`` (trials showing the same frames).
What that changed (trials cut, ``none`` skipped, hidden tiers) is returned as :class:`VideoQuirks`.

Of ``meta/statistics/<modality>/all`` only ``mean`` and ``std`` are read, as the reference normaliser does
(behaviour ``min`` and ``max`` too under Model 4's behaviour normalisation). Static behaviour and pupil
values must be finite too (a NaN would poison every batch).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..progress import track
from .layout import MODALITIES, STIMULUS
from .normalize import Rescale, build_standardizers
from .session import TIER_ROLES
from .sources import TIERS_FILE, SessionFiles
from .trials import NUMERIC_KINDS, read_trial_meta
from .video_trials import VideoQuirks, cut_trial, repeat_groups, stimulus_digest

UNIT_IDS_FILE = "meta/neurons/unit_ids.npy"
COORDS_FILE = "meta/neurons/cell_motor_coordinates.npy"


def detect_kind(files: SessionFiles) -> str:
    found = [kind for kind, stimulus in STIMULUS.items() if any(n.startswith(f"data/{stimulus}/") for n in files.names)]
    if len(found) != 1:
        what = "both" if found else "neither"
        raise UserError(f"{files.label('data')}: expected data/images (static) or data/videos (video), found {what}")
    return found[0]


def read_session(files: SessionFiles, out: Path, scale: float, max_frames: int, behavior: str = "std") -> dict:
    """Write the session's arrays into the existing folder ``out``; return its quirks (video) as a dict.
    ``behavior`` names the behaviour normalisation (``normalize.BEHAVIOR_NORMALIZATIONS``)."""
    kind = detect_kind(files)
    meta = read_trial_meta(files, tolerant=kind == "video")
    n = len(meta.tiers)
    for modality in MODALITIES[kind]:
        _check_trial_files(files, modality, n)
    unit_ids, coords = _read_neurons(files)
    store = _Store(out)
    quirks = VideoQuirks(notes=[note + ("" if meta.order is not None else "; the session has no presentation order")
                                for note in meta.notes])
    if kind == "static":
        response_std = _read_static(files, meta.tiers, len(unit_ids), scale, store, behavior)
    else:
        response_std = _read_video(files, meta.tiers, len(unit_ids), max_frames, store, quirks, behavior)
    small = {"tiers": meta.tiers, "trial_ids": meta.trial_ids, "unit_ids": unit_ids, "coords": coords,
             "response_std": response_std.astype(np.float32), "image_ids": meta.image_ids, "order": meta.order}
    for name, array in small.items():
        if array is not None:
            np.save(out / f"{name}.npy", array, allow_pickle=False)
    return asdict(quirks) if kind == "video" else {}


class _Store:
    """Preallocated float32 arrays as .npy files in the cache entry being built."""

    def __init__(self, out: Path):
        self.out = out

    def new(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.lib.format.open_memmap(self.out / f"{name}.npy", mode="w+", dtype=np.float32, shape=shape)


def trial_file(modality: str, i: int) -> str:
    return f"data/{modality}/{i}.npy"


def _check_trial_files(files: SessionFiles, modality: str, n: int) -> None:
    prefix = f"data/{modality}/"
    numbers = {name[len(prefix):-4] for name in files.names if name.startswith(prefix) and name.endswith(".npy")}
    if not numbers:
        raise UserError(f"{files.label(prefix.rstrip('/'))}: folder missing or empty; expected one .npy per trial "
                        f"({n} trials in {TIERS_FILE})")
    expected = {str(i) for i in range(n)}
    for i in range(n):
        if str(i) not in numbers:
            raise UserError(f"{files.label(trial_file(modality, i))}: file missing; expected one file per trial "
                            f"0..{n - 1} ({n} trials in {TIERS_FILE})")
    extra = sorted(numbers - expected)
    if extra:
        raise UserError(f"{files.label(TIERS_FILE)} lists {n} trials but {files.label(prefix.rstrip('/'))} holds "
                        f"{len(numbers)} files (first extra: {extra[0]}.npy); expected one entry per trial in both")


def _numeric(files: SessionFiles, name: str, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in NUMERIC_KINDS:
        raise UserError(f"{files.label(name)}: expected numbers, found dtype {array.dtype}")
    return array


def _read_neurons(files: SessionFiles) -> tuple[np.ndarray, np.ndarray]:
    unit_ids = _numeric(files, UNIT_IDS_FILE, files.load(UNIT_IDS_FILE, "one neuron id per response column"))
    coords = _numeric(files, COORDS_FILE, files.load(COORDS_FILE, "(x, y, z) in µm for every neuron"))
    if unit_ids.ndim != 1 or len(unit_ids) == 0:
        raise UserError(f"{files.label(UNIT_IDS_FILE)}: expected a non-empty 1-D array, found shape {unit_ids.shape}")
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise UserError(f"{files.label(COORDS_FILE)}: expected shape ({len(unit_ids)}, 3) to match "
                        f"{UNIT_IDS_FILE}, found {coords.shape}")
    if len(coords) != len(unit_ids):  # which of the two is short cannot be told: name both
        raise UserError(f"{files.label(UNIT_IDS_FILE)} has {len(unit_ids)} neuron ids but {files.label(COORDS_FILE)} "
                        f"has {len(coords)} rows; expected one per neuron in both")
    ids, counts = np.unique(unit_ids, return_counts=True)
    if (counts > 1).any():
        raise UserError(f"{files.label(UNIT_IDS_FILE)}: expected each neuron id once, found {int(ids[counts > 1][0])} "
                        f"{int(counts.max())} times ({int((counts > 1).sum())} id(s) repeated)")
    return unit_ids.astype(np.int64), coords.astype(np.float32)


def _statistic(files: SessionFiles):
    def load(modality: str, stat: str) -> tuple[np.ndarray, str]:
        name = f"meta/statistics/{modality}/all/{stat}.npy"
        return _numeric(files, name, files.load(name, f"the {stat} of {modality} over all trials")), files.label(name)
    return load


def _expect_shape(files: SessionFiles, name: str, shape: tuple[int, ...], expected: tuple[int, ...], why: str) -> None:
    if shape != expected:
        raise UserError(f"{files.label(name)}: expected shape {expected} ({why}), found {shape}")


def _trial_shapes_static(files: SessionFiles, first: dict[str, np.ndarray], n_neurons: int) -> dict[str, tuple]:
    shapes = {modality: array.shape for modality, array in first.items()}
    if len(shapes["images"]) != 3:
        raise UserError(f"{files.label(trial_file('images', 0))}: expected (channels, height, width), "
                        f"found shape {shapes['images']}")
    _expect_shape(files, trial_file("responses", 0), shapes["responses"], (n_neurons,), f"one per neuron in {UNIT_IDS_FILE}")
    for modality in ("behavior", "pupil_center"):
        if len(shapes[modality]) != 1:
            raise UserError(f"{files.label(trial_file(modality, 0))}: expected a 1-D array, found shape {shapes[modality]}")
    return shapes


def _read_static(files: SessionFiles, tiers: np.ndarray, n_neurons: int, scale: float, store: _Store,
                 behavior: str) -> np.ndarray:
    n = len(tiers)
    modalities = MODALITIES["static"]
    first = {m: _numeric(files, trial_file(m, 0), files.load(trial_file(m, 0), "one file per trial")) for m in modalities}
    shapes = _trial_shapes_static(files, first, n_neurons)
    standardize, response_std = build_standardizers("static", _statistic(files), shapes, None, behavior)
    channels, height, width = shapes["images"]
    rescale = Rescale(height, width, scale)
    out = {
        "images": store.new("stimuli", (n, channels, *rescale.shape)),
        "responses": store.new("responses", (n, n_neurons)),
        "behavior": store.new("behavior", (n, shapes["behavior"][0])),
        "pupil_center": store.new("pupil_center", (n, shapes["pupil_center"][0])),
    }
    digests, hidden = [], np.zeros(n, dtype=bool)
    for i in track(range(n), f"consolidating {files.name} into the cache", unit="trial", quiet_if_quick=True):
        for modality in modalities:
            name = trial_file(modality, i)
            raw = first[modality] if i == 0 else _numeric(files, name, files.load(name, "one file per trial"))
            _expect_shape(files, name, raw.shape, shapes[modality], f"like {trial_file(modality, 0)}")
            if not np.all(np.isfinite(raw)):
                raise UserError(f"{files.label(name)}: expected finite numbers, found NaN or inf")
            value = standardize[modality](raw)
            out[modality][i] = rescale(value) if modality == "images" else value
            if modality == "images":
                digests.append(stimulus_digest(raw))
            elif modality == "responses":
                hidden[i] = TIER_ROLES[str(tiers[i])] == "test" and not raw.any()
    for array in out.values():
        array.flush()
    _save_trial_records(store.out, hidden=hidden, repeat_groups=repeat_groups(digests))
    return np.broadcast_to(response_std, (n_neurons,))


def _save_trial_records(out: Path, **arrays: np.ndarray) -> None:
    for name, array in arrays.items():
        np.save(out / f"{name}.npy", array, allow_pickle=False)


VIDEO_DIMS = {"videos": "(height, width, T)", "responses": "(neurons, T)", "behavior": "(channels, T)",
              "pupil_center": "(channels, T)"}


def _video_headers(files: SessionFiles, trials: np.ndarray, n_neurons: int) -> tuple[dict[str, tuple], int]:
    """Per-modality trial shapes (time last, as long as the longest trial) and that length, read from the
    .npy headers only of ``trials``, each file checked against the first and the neuron count."""
    features: dict[str, tuple[int, ...]] = {"responses": (n_neurons,)}
    longest = 0
    for i in trials:
        frames = None
        for modality, dims in VIDEO_DIMS.items():
            name = trial_file(modality, i)
            shape, dtype = files.header(name, "one file per trial")
            if dtype.kind not in NUMERIC_KINDS:
                raise UserError(f"{files.label(name)}: expected numbers, found dtype {dtype}")
            if i == trials[0] and len(shape) != dims.count(",") + 1:
                raise UserError(f"{files.label(name)}: expected shape {dims}, found {shape}")
            want = features.setdefault(modality, shape[:-1])
            if shape[:-1] != want:
                why = (f"one row per neuron in {UNIT_IDS_FILE}" if modality == "responses"
                       else f"like {trial_file(modality, trials[0])}")
                raise UserError(f"{files.label(name)}: expected shape ({', '.join(map(str, want))}, T) ({why}), "
                                f"found {shape}")
            frames = shape[-1] if frames is None else min(frames, shape[-1])
        longest = max(longest, frames)
    return {m: f + (longest,) for m, f in features.items()}, longest


def _read_video(files: SessionFiles, tiers: np.ndarray, n_neurons: int, max_frames: int, store: _Store,
                quirks: VideoQuirks, behavior: str) -> np.ndarray:
    n = len(tiers)
    roles = np.array([TIER_ROLES[t] for t in tiers])
    read = np.flatnonzero(roles != "skip")
    if not len(read):
        raise UserError(f"{files.label(TIERS_FILE)}: expected some trial in a tier other than 'none', found none")
    shapes, longest = _video_headers(files, read, n_neurons)
    frames = min(max_frames, longest)
    standardize, response_std = build_standardizers("video", _statistic(files), shapes, frames, behavior)
    height, width = shapes["videos"][:2]
    out = {
        "videos": store.new("stimuli", (n, frames, height, width)),
        "responses": store.new("responses", (n, frames, n_neurons)),
        "behavior": store.new("behavior", (n, frames, shapes["behavior"][0])),
        "pupil_center": store.new("pupil_center", (n, frames, shapes["pupil_center"][0])),
    }
    lengths, trial_lengths = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    hidden = np.zeros(n, dtype=bool)
    digests: list[bytes | None] = [None] * n
    for i in track(read, f"consolidating {files.name} into the cache", unit="trial", quiet_if_quick=True):
        raw = {m: files.load(trial_file(m, i), "one file per trial") for m in MODALITIES["video"]}
        if roles[i] == "test" and bool(np.isnan(raw["responses"]).all()):
            hidden[i] = True
            del raw["responses"]  # hidden test responses: length from the other modalities, zeros stored
        labels = {m: files.label(trial_file(m, i)) for m in raw}
        trial = cut_trial(labels, raw, standardize, frames)
        if roles[i] == "test" and not hidden[i]:
            hidden[i] = not raw["responses"][:, :trial.trial_length].any()  # the release's dummy zeros
        lengths[i], trial_lengths[i] = trial.length, trial.trial_length
        quirks.add(trial, frames)
        for modality, value in trial.values.items():
            out[modality][i, :value.shape[-1]] = np.moveaxis(value, -1, 0)
        digests[i] = stimulus_digest(raw["videos"])
    for array in out.values():
        array.flush()
    quirks.unusable = [int(i) for i in read if lengths[i] == 0]
    quirks.none_skipped = int(n - len(read))
    _save_trial_records(store.out, lengths=lengths, trial_lengths=trial_lengths, hidden=hidden,
                        repeat_groups=repeat_groups(digests))
    if response_std.ndim == 2 and response_std.shape[-1] > 1:
        return response_std.T  # (T, N): per neuron and frame
    return np.broadcast_to(response_std[..., 0] if response_std.ndim == 2 else response_std, (n_neurons,))
