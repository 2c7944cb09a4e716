"""Read one session as the organisers ship it (SENSORIUM 2022 static, 2023 video) into normalised arrays.

The per-trial files (``data/<modality>/<i>.npy``) are read once, each checked, normalised
(:mod:`.normalize`) and written straight into preallocated float32 ``.npy`` files in ``out`` (memory-mapped,
so a session larger than RAM is fine and nothing is held twice). The names written are the
:class:`~.session.Session` field names; :mod:`.cache` opens them again memory-mapped.

Video: a trial's length is the first frame that is NaN in every value, the minimum over modalities,
cropped at ``max_frames``; frames past it are zero. NaN is allowed only as that trailing padding,
except that a test/skip trial whose responses are all NaN counts as unlabelled (zeros).

Of ``meta/statistics/<modality>/all`` only ``mean`` and ``std`` are read: the reference normaliser uses
nothing else. Static behaviour and pupil values must be finite too (a NaN would poison every batch).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from .layout import MODALITIES, STIMULUS
from .normalize import Rescale, build_standardizers
from .session import TIER_ROLES
from .sources import TIERS_FILE, SessionFiles
from .trials import NUMERIC_KINDS, read_trial_meta

UNIT_IDS_FILE = "meta/neurons/unit_ids.npy"
COORDS_FILE = "meta/neurons/cell_motor_coordinates.npy"


def detect_kind(files: SessionFiles) -> str:
    found = [kind for kind, stimulus in STIMULUS.items() if any(n.startswith(f"data/{stimulus}/") for n in files.names)]
    if len(found) != 1:
        what = "both" if found else "neither"
        raise UserError(f"{files.label('data')}: expected data/images (static) or data/videos (video), found {what}")
    return found[0]


def read_session(files: SessionFiles, out: Path, scale: float, max_frames: int) -> None:
    """Write the session's arrays into the existing folder ``out``."""
    kind = detect_kind(files)
    meta = read_trial_meta(files)
    n = len(meta.tiers)
    for modality in MODALITIES[kind]:
        _check_trial_files(files, modality, n)
    unit_ids, coords = _read_neurons(files)
    store = _Store(out)
    if kind == "static":
        response_std = _read_static(files, n, len(unit_ids), scale, store)
    else:
        response_std = _read_video(files, meta.tiers, len(unit_ids), max_frames, store)
    small = {"tiers": meta.tiers, "trial_ids": meta.trial_ids, "unit_ids": unit_ids, "coords": coords,
             "response_std": response_std.astype(np.float32), "image_ids": meta.image_ids, "order": meta.order}
    for name, array in small.items():
        if array is not None:
            np.save(out / f"{name}.npy", array, allow_pickle=False)


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
        raise UserError(f"{files.label(prefix + extra[0] + '.npy')}: expected files 0..{n - 1}.npy only "
                        f"({n} trials in {TIERS_FILE}), found {len(extra)} more")


def _numeric(files: SessionFiles, name: str, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in NUMERIC_KINDS:
        raise UserError(f"{files.label(name)}: expected numbers, found dtype {array.dtype}")
    return array


def _read_neurons(files: SessionFiles) -> tuple[np.ndarray, np.ndarray]:
    unit_ids = _numeric(files, UNIT_IDS_FILE, files.load(UNIT_IDS_FILE, "one neuron id per response column"))
    coords = _numeric(files, COORDS_FILE, files.load(COORDS_FILE, "(x, y, z) in µm for every neuron"))
    if unit_ids.ndim != 1 or len(unit_ids) == 0:
        raise UserError(f"{files.label(UNIT_IDS_FILE)}: expected a non-empty 1-D array, found shape {unit_ids.shape}")
    if coords.shape != (len(unit_ids), 3):
        raise UserError(f"{files.label(COORDS_FILE)}: expected shape ({len(unit_ids)}, 3) to match "
                        f"{UNIT_IDS_FILE}, found {coords.shape}")
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


def _read_static(files: SessionFiles, n: int, n_neurons: int, scale: float, store: _Store) -> np.ndarray:
    modalities = MODALITIES["static"]
    first = {m: _numeric(files, trial_file(m, 0), files.load(trial_file(m, 0), "one file per trial")) for m in modalities}
    shapes = _trial_shapes_static(files, first, n_neurons)
    standardize, response_std = build_standardizers("static", _statistic(files), shapes, None)
    channels, height, width = shapes["images"]
    rescale = Rescale(height, width, scale)
    out = {
        "images": store.new("stimuli", (n, channels, *rescale.shape)),
        "responses": store.new("responses", (n, n_neurons)),
        "behavior": store.new("behavior", (n, shapes["behavior"][0])),
        "pupil_center": store.new("pupil_center", (n, shapes["pupil_center"][0])),
    }
    for i in range(n):
        for modality in modalities:
            name = trial_file(modality, i)
            raw = first[modality] if i == 0 else _numeric(files, name, files.load(name, "one file per trial"))
            _expect_shape(files, name, raw.shape, shapes[modality], f"like {trial_file(modality, 0)}")
            if not np.all(np.isfinite(raw)):
                raise UserError(f"{files.label(name)}: expected finite numbers, found NaN or inf")
            value = standardize[modality](raw)
            out[modality][i] = rescale(value) if modality == "images" else value
    for array in out.values():
        array.flush()
    return np.broadcast_to(response_std, (n_neurons,))


def _valid_frames(files: SessionFiles, name: str, array: np.ndarray) -> int:
    """Frames before the trailing all-NaN padding; NaN anywhere else is an error."""
    frames = array.shape[-1]
    nan = np.isnan(array).reshape(-1, frames)
    all_nan, any_nan = nan.all(axis=0), nan.any(axis=0)
    length = int(np.argmax(all_nan)) if all_nan.any() else frames
    if any_nan[:length].any():
        raise UserError(f"{files.label(name)}: expected NaN only as trailing padding, found NaN inside the trial "
                        f"at frame {int(np.argmax(any_nan))}")
    if not all_nan[length:].all():
        raise UserError(f"{files.label(name)}: expected only NaN after the padding starting at frame {length}, "
                        f"found values at frame {length + int(np.argmin(all_nan[length:]))}")
    if np.isinf(array).any():
        raise UserError(f"{files.label(name)}: expected finite numbers, found inf")
    return length


VIDEO_DIMS = {"videos": "(height, width, T)", "responses": "(neurons, T)", "behavior": "(channels, T)",
              "pupil_center": "(channels, T)"}


def _video_headers(files: SessionFiles, n: int, n_neurons: int) -> tuple[dict[str, tuple], int]:
    """Per-modality trial shapes (time last, as long as the longest trial) and that length, read from the
    .npy headers only, each file checked against trial 0 and the neuron count."""
    features: dict[str, tuple[int, ...]] = {"responses": (n_neurons,)}
    longest = 0
    for i in range(n):
        frames = None
        for modality, dims in VIDEO_DIMS.items():
            name = trial_file(modality, i)
            shape, dtype = files.header(name, "one file per trial")
            if dtype.kind not in NUMERIC_KINDS:
                raise UserError(f"{files.label(name)}: expected numbers, found dtype {dtype}")
            if i == 0 and len(shape) != dims.count(",") + 1:
                raise UserError(f"{files.label(name)}: expected shape {dims}, found {shape}")
            want = features.setdefault(modality, shape[:-1])
            if shape[:-1] != want:
                why = f"one row per neuron in {UNIT_IDS_FILE}" if modality == "responses" else f"like {trial_file(modality, 0)}"
                raise UserError(f"{files.label(name)}: expected shape ({', '.join(map(str, want))}, T) ({why}), "
                                f"found {shape}")
            frames = shape[-1] if frames is None else min(frames, shape[-1])
        longest = max(longest, frames)
    return {m: f + (longest,) for m, f in features.items()}, longest


def _read_video(files: SessionFiles, tiers: np.ndarray, n_neurons: int, max_frames: int, store: _Store) -> np.ndarray:
    n = len(tiers)
    shapes, longest = _video_headers(files, n, n_neurons)
    frames = min(max_frames, longest)
    standardize, response_std = build_standardizers("video", _statistic(files), shapes, frames)
    height, width = shapes["videos"][:2]
    out = {
        "videos": store.new("stimuli", (n, frames, height, width)),
        "responses": store.new("responses", (n, frames, n_neurons)),
        "behavior": store.new("behavior", (n, frames, shapes["behavior"][0])),
        "pupil_center": store.new("pupil_center", (n, frames, shapes["pupil_center"][0])),
    }
    lengths = np.zeros(n, dtype=np.int64)
    for i in range(n):
        trial = {m: files.load(trial_file(m, i), "one file per trial") for m in MODALITIES["video"]}
        unlabelled = TIER_ROLES[tiers[i]] in ("test", "skip") and bool(np.isnan(trial["responses"]).all())
        if unlabelled:
            del trial["responses"]  # hidden test responses: length from the other modalities, zeros stored
        length = lengths[i] = _video_trial_length(files, i, trial, frames)
        for modality, raw in trial.items():
            value = standardize[modality](raw[..., :length], frames=length)
            out[modality][i, :length] = np.moveaxis(value, -1, 0)
    for array in out.values():
        array.flush()
    np.save(store.out / "lengths.npy", lengths)
    if response_std.ndim == 2 and response_std.shape[-1] > 1:
        return response_std.T  # (T, N): per neuron and frame
    return np.broadcast_to(response_std[..., 0] if response_std.ndim == 2 else response_std, (n_neurons,))


def _video_trial_length(files: SessionFiles, i: int, trial: dict[str, np.ndarray], frames: int) -> int:
    lengths = {modality: _valid_frames(files, trial_file(modality, i), raw) for modality, raw in trial.items()}
    shortest = min(lengths, key=lengths.get)
    if lengths[shortest] == 0:
        raise UserError(f"{files.label(trial_file(shortest, i))}: expected at least one frame before the NaN "
                        f"padding, found none")
    return min(lengths[shortest], frames)
