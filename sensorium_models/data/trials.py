"""``meta/trials``: tier labels, trial and image ids, and the presentation order when it can be recovered.

File names carry no order ("trials are randomly ordered"). The order comes from, in this preference:
a numeric ``trial_idx`` (the pre-training sessions of 2022), else ``frame_trial_ts`` strings
``"Timestamp('YYYY-MM-DD HH:MM:SS')"`` (how Model 4 recovered it, even for a competition session),
ties broken by file number. A hashed ``trial_idx`` (32-hex strings) gives none; so does a video session
with only ``tiers``.

Only ``tiers.npy`` is required. In a video session (2023 documents nothing else, and the organisers' loader
reads nothing else) an optional field that is pickled, of the wrong shape or dtype, or unparsable is left
out with a note (never unpickled: its header is read first) and the session has no presentation order; a
model that needs one then stops with one clear error. A truncated optional file is still an error. Static
(2022) sessions document these fields and the CSV submission needs ``frame_image_id``: there they are checked
strictly.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError
from .session import TIER_ROLES
from .sources import TIERS_FILE, SessionFiles

TRIAL_IDX_FILE = "meta/trials/trial_idx.npy"
IMAGE_ID_FILE = "meta/trials/frame_image_id.npy"
TIMESTAMP_FILE = "meta/trials/frame_trial_ts.npy"
OPTIONAL_FILES = (TRIAL_IDX_FILE, IMAGE_ID_FILE, TIMESTAMP_FILE)
NUMERIC_KINDS = "biuf"


@dataclass
class TrialMeta:
    tiers: np.ndarray               # (n,) str, as shipped
    trial_ids: np.ndarray           # (n,) trial_idx as shipped (int or str), else the file numbers
    image_ids: np.ndarray | None    # (n,) int64 frame_image_id
    order: np.ndarray | None        # (n,) int64 rank in presentation order
    notes: list[str] = field(default_factory=list)   # optional fields left out, and why


class _Skipped(Exception):
    """An optional field that a tolerant read leaves out; the message says why."""


def read_trial_meta(files: SessionFiles, tolerant: bool = False) -> TrialMeta:
    """``meta/trials`` of one session; ``tolerant`` (video) leaves malformed optional fields out with a note."""
    notes: list[str] = []
    skip: set[str] = set()
    while True:
        try:
            return _read(files, tolerant, notes, skip)
        except _Skipped as skipped:
            named = {name for name in OPTIONAL_FILES if str(skipped).startswith(files.label(name) + ":")}
            if not named - skip:
                raise UserError(str(skipped)) from None
            notes.append(f"{skipped}; left out")
            skip |= named


def _read(files: SessionFiles, tolerant: bool, notes: list[str], skip: set[str]) -> TrialMeta:
    tiers = _strings(files, TIERS_FILE, files.load(TIERS_FILE, "the tier label of every trial"))
    if tiers.ndim != 1 or len(tiers) == 0:
        raise UserError(f"{files.label(TIERS_FILE)}: expected a non-empty 1-D array of tier labels, "
                        f"found shape {tiers.shape}")
    unknown = sorted(set(map(str, np.unique(tiers))) - set(TIER_ROLES))
    if unknown:
        raise UserError(f"{files.label(TIERS_FILE)}: expected tier labels among {sorted(TIER_ROLES)}, "
                        f"found {unknown}")
    n = len(tiers)
    fail = _Skipped if tolerant else UserError
    fields = {name: None if name in skip else _optional_per_trial(files, name, n, fail) for name in OPTIONAL_FILES}
    trial_idx, raw_image_ids, timestamps = fields.values()

    numeric_idx = None if trial_idx is None else _as_integers(trial_idx)
    image_ids = None if raw_image_ids is None else _as_integers(raw_image_ids)
    if raw_image_ids is not None and image_ids is None:
        raise fail(f"{files.label(IMAGE_ID_FILE)}: expected integer image ids, found dtype {raw_image_ids.dtype}")
    if numeric_idx is not None:
        order = _rank(numeric_idx)
    elif timestamps is not None:
        try:
            order = _rank(parse_timestamps(files.label(TIMESTAMP_FILE), timestamps))
        except UserError as err:
            raise fail(str(err)) from None
    else:
        order = None
    if trial_idx is None:
        trial_ids = np.arange(n)
    elif numeric_idx is not None:
        trial_ids = numeric_idx
    elif trial_idx.dtype.kind in "US":
        trial_ids = trial_idx.astype(str)
    else:
        raise fail(f"{files.label(TRIAL_IDX_FILE)}: expected strings or integers, found dtype {trial_idx.dtype}")
    return TrialMeta(tiers=tiers.astype(str), trial_ids=trial_ids, image_ids=image_ids, order=order, notes=notes)


def parse_timestamps(label: str, values: np.ndarray) -> np.ndarray:
    """``"Timestamp('2019-07-23 13:45:12')"`` (or the bare date-time, or datetime64) → datetime64[us]."""
    if values.dtype.kind == "M":
        stamps = values.astype("datetime64[us]")
    else:
        text = np.char.strip(values.astype(str))
        inner = np.char.replace(np.char.replace(text, "Timestamp('", ""), "')", "")
        try:
            stamps = inner.astype("datetime64[us]")
        except ValueError:
            bad = next(str(v) for v in text if not _parses(v))
            raise UserError(f"{label}: expected strings like \"Timestamp('YYYY-MM-DD HH:MM:SS')\", "
                            f"found {bad!r}") from None
    if np.isnat(stamps).any():
        raise UserError(f"{label}: expected a timestamp for every trial, found NaT at trial "
                        f"{int(np.flatnonzero(np.isnat(stamps))[0])}")
    return stamps


def _parses(value: str) -> bool:
    try:
        np.datetime64(value.replace("Timestamp('", "").replace("')", ""), "us")
    except ValueError:
        return False
    return True


def _rank(keys: np.ndarray) -> np.ndarray:
    """Rank of each trial when sorted by ``keys``, ties kept in file order."""
    order = np.empty(len(keys), dtype=np.int64)
    order[np.argsort(keys, kind="stable")] = np.arange(len(keys))
    return order


def _as_integers(values: np.ndarray) -> np.ndarray | None:
    """Integer view of ids shipped as ints, integral floats or digit strings; None if they are not numbers."""
    if values.dtype.kind in "iub":
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        return values.astype(np.int64) if np.all(np.isfinite(values)) and np.all(values == np.round(values)) else None
    if values.dtype.kind in "US":
        text = np.char.strip(values.astype(str))
        return text.astype(np.int64) if np.all(np.char.isdigit(text)) else None
    return None


def _optional_per_trial(files: SessionFiles, name: str, n: int, fail: type[Exception]) -> np.ndarray | None:
    """An optional per-trial field, or None if absent; its header is checked before any data is read."""
    if name not in files.names:
        return None
    shape, dtype = files.header(name, "one entry per trial")
    if dtype.hasobject:
        raise fail(f"{files.label(name)}: expected a plain numeric .npy array, found a pickled/object array "
                   f"(not unpickled)")
    if shape != (n,):
        # which of the two is wrong cannot be told; the field leads, since a tolerant read may leave it out
        raise fail(f"{files.label(name)}: has shape {shape} but {TIERS_FILE} lists {n} trials; expected one "
                   f"entry per trial in both")
    return files.load(name, "one entry per trial")


def _strings(files: SessionFiles, name: str, values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "S":
        return values.astype(str)
    if values.dtype.kind != "U":
        raise UserError(f"{files.label(name)}: expected strings, found dtype {values.dtype}")
    return values

