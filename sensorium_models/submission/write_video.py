"""SENSORIUM 2023 submission parquet files, streamed one trial at a time.

Each row is one trial: ``mouse`` (the session's folder name), ``trial_indices`` (the file number),
``prediction`` (N lists of the scored frames, in ``unit_ids`` order) and ``neuron_ids``. The starter kit
builds these rows with ``.tolist()`` into a DataFrame, which costs ~40 bytes per value and minutes per
file; here each row's Arrow list arrays wrap one float32 copy of the trial's predictions, and a
ParquetWriter appends it as a row group, so memory stays about one trial whatever the file size. A
track's files are written together from a per-mouse source (``write_tiers``): its predictions are asked
for one mouse at a time, never all mice at once.
"""
from __future__ import annotations

import contextlib
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_path
from ..data.session import Session
from ..errors import UserError
from ..metrics import SCORED_FROM
from ..progress import Progress
from .formats import (
    BONUS_TRACK_ZIPS, MAIN_TRACK_ZIP, TRACKS, VIDEO_COLUMNS, VIDEO_FILES, check_tier, mouse_name_warning,
    scored_frames, sessions_of_kind,
)

VIDEO_SCHEMA = pa.schema([
    (VIDEO_COLUMNS[0], pa.string()),
    (VIDEO_COLUMNS[1], pa.int64()),
    (VIDEO_COLUMNS[2], pa.list_(pa.list_(pa.float32()))),
    (VIDEO_COLUMNS[3], pa.list_(pa.int64())),
])
# Brotli's level barely changes the size of float predictions (<0.1 %) but level 8, pyarrow's default,
# compresses ~6x slower than level 1 (bench/results/submission_write.md).
BROTLI_LEVEL = 1

# Predictions of one trial, (frames, neurons) time-first like Session.responses: either a function of
# (session, trial index), or per session name an iterable in the order of session.tier_indices(tier).
PredictionSource = Callable[[Session, int], np.ndarray] | Mapping[str, Iterable[np.ndarray]]
# One mouse's predictions, asked once per session in the order of the files' rows: per tier, an iterable
# in the order of session.tier_indices(tier). A list holds the mouse in memory; a generator one trial.
MousePredictions = Callable[[Session], Mapping[str, Iterable[np.ndarray]]]


def by_trial(predictions: Callable[[Session, int], np.ndarray], tiers: Iterable[str]) -> MousePredictions:
    """A per-trial function as a per-mouse source that asks it one trial at a time."""
    tiers = list(tiers)
    return lambda session: {tier: (predictions(session, int(t)) for t in session.tier_indices(tier))
                            for tier in tiers}


def _checked(session: Session, tier: str, predictions: Mapping[str, Iterable[np.ndarray]]
             ) -> Iterator[tuple[int, np.ndarray]]:
    """(trial, prediction) for every trial of ``tier``, or a UserError if the counts differ."""
    trials = session.tier_indices(tier)
    if tier not in predictions:
        if len(trials):
            raise UserError(f"no predictions for mouse {session.name} ({len(trials)} trials of tier {tier})")
        return
    source = iter(predictions[tier])
    for trial in trials:
        prediction = next(source, None)
        if prediction is None:
            raise UserError(f"mouse {session.name}: fewer predictions than its {len(trials)} {tier} trials")
        yield int(trial), prediction
    if next(source, None) is not None:
        raise UserError(f"mouse {session.name}: more predictions than its {len(trials)} {tier} trials")


def _list_array(values: pa.Array, length: int) -> pa.ListArray:
    """Split ``values`` into consecutive lists of ``length`` items, without copying them."""
    offsets = np.arange(0, len(values) + 1, length, dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def video_row(session: Session, trial: int, prediction: np.ndarray, first_frame: int = SCORED_FROM) -> pa.RecordBatch:
    """One submission row: the trial's scored frames transposed to (neurons, frames), as float32."""
    prediction = np.asarray(prediction)
    frames = scored_frames(session, trial, first_frame)
    where = f"mouse {session.name}, trial {trial}"
    if prediction.ndim != 2 or prediction.shape[1] != session.n_neurons or prediction.shape[0] < frames.stop:
        raise UserError(
            f"{where}: prediction has shape {prediction.shape}, expected (frames >= {frames.stop}, "
            f"{session.n_neurons}) time-first"
        )
    block = np.ascontiguousarray(prediction[frames].T, dtype=np.float32)
    if not np.isfinite(block).all():
        raise UserError(f"{where}: prediction holds NaN or infinite values")
    n_neurons, n_frames = block.shape
    rows = _list_array(_list_array(pa.array(block.reshape(-1)), n_frames), n_neurons)
    neuron_ids = _list_array(pa.array(np.asarray(session.unit_ids, dtype=np.int64)), n_neurons)
    return pa.RecordBatch.from_arrays(
        [pa.array([session.name]), pa.array([trial], pa.int64()), rows, neuron_ids], schema=VIDEO_SCHEMA
    )


def write_video_submission(
    sessions: list[Session],
    tier: str,
    predictions: PredictionSource,
    folder: str | Path,
    compression_level: int = BROTLI_LEVEL,
    first_frame: int = SCORED_FROM,
) -> Path:
    """Write the parquet file of one test tier (e.g. ``live_test_main``) for every video session given
    that holds it (pass exactly the mice the server scores: ``formats.submission_mice``).

    Predictions are pulled one trial at a time (see ``PredictionSource``) and written as one row group
    each, to a temporary name renamed on success. Rows start at ``first_frame`` (``formats.FIRST_FRAMES``).
    Returns the path written.
    """
    if callable(predictions):
        return write_tiers(sessions, [tier], by_trial(predictions, [tier]), folder, compression_level, first_frame)[0]
    unknown = sorted(set(predictions) - {session.name for session in sessions})
    if unknown:
        raise UserError(f"predictions given for unknown mice {unknown}")

    def mouse(session: Session) -> dict[str, Iterable[np.ndarray]]:
        return {tier: predictions[session.name]} if session.name in predictions else {}

    return write_tiers(sessions, [tier], mouse, folder, compression_level, first_frame)[0]


def write_tiers(
    sessions: list[Session],
    tiers: list[str],
    predictions: MousePredictions,
    folder: str | Path,
    compression_level: int = BROTLI_LEVEL,
    first_frame: int = SCORED_FROM,
) -> list[Path]:
    """The parquet files of ``tiers`` at once, filled mouse by mouse: ``predictions(session)`` is asked once
    per video session, in order, and dropped before the next, so writing holds one mouse's predictions at
    most (one trial's when its iterables are lazy), whatever the number of mice. Each file is written to a
    temporary name renamed when all are done; returns the paths in the order of ``tiers``."""
    video = sessions_of_kind(sessions, "video")
    for tier in tiers:
        if not any(len(check_tier(session, tier, VIDEO_FILES)) for session in video):
            raise UserError(f"no video session has trials in tier {tier!r}")
    for session in video:
        warning = mouse_name_warning(session.name)
        if warning:
            warnings.warn(warning, stacklevel=3)
    targets = [Path(folder) / VIDEO_FILES[tier] for tier in tiers]
    n_trials = sum(len(session.tier_indices(tier)) for session in video for tier in tiers)
    with contextlib.ExitStack() as files:
        writers = [files.enter_context(_parquet_writer(target, compression_level)) for target in targets]
        what = f"writing {', '.join(target.name for target in targets)}"
        with Progress(n_trials, what, unit="trial", quiet_if_quick=True) as bar:
            for session in video:
                mouse = predictions(session)
                for tier, writer in zip(tiers, writers):
                    for trial, prediction in _checked(session, tier, mouse):
                        writer.write_batch(video_row(session, trial, prediction, first_frame))
                        bar.update()
                del mouse   # before the next mouse is predicted
    return targets


@contextlib.contextmanager
def _parquet_writer(target: Path, compression_level: int) -> Iterator[pq.ParquetWriter]:
    """A writer of ``target``'s rows into a temporary file, renamed to ``target`` on success."""
    with atomic_path(target) as tmp, pq.ParquetWriter(
        tmp, VIDEO_SCHEMA, compression="brotli", compression_level=compression_level,
        use_dictionary=["mouse", "neuron_ids"], write_statistics=["mouse", "trial_indices"],
    ) as writer:
        yield writer


def zip_files(paths: list[Path], target: str | Path) -> Path:
    """Zip ``paths`` at the archive root, stored uncompressed (parquet is already brotli), atomically."""
    target = Path(target)
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path in paths:
            archive.write(path, arcname=Path(path).name)
    return target


def write_track(
    sessions: list[Session], track: str, predictions: Callable[[Session, int], np.ndarray], folder: str | Path,
    first_frame: int = SCORED_FROM,
) -> list[Path]:
    """A track's upload from a per-trial function (see ``write_track_by_mouse``)."""
    return write_track_by_mouse(sessions, track, by_trial(predictions, TRACKS[track]), folder, first_frame)


def write_track_by_mouse(
    sessions: list[Session], track: str, predictions: MousePredictions, folder: str | Path,
    first_frame: int = SCORED_FROM,
) -> list[Path]:
    """A track's upload: ``main``, the live and final parquet files and ``submission_main.zip`` holding
    both; ``bonus``, each of its parquet files and a zip of its own (they are uploaded separately).
    Tiers no given session holds are left out. The track's files are written together, mouse by mouse
    (``write_tiers``)."""
    tiers = [tier for tier in TRACKS[track] if any(len(s.tier_indices(tier)) for s in sessions_of_kind(sessions, "video"))]
    files = write_tiers(sessions, tiers, predictions, folder, first_frame=first_frame) if tiers else []
    if track == "main":
        return [*files, zip_files(files, Path(folder) / MAIN_TRACK_ZIP)]
    return [path for tier, file in zip(tiers, files)
            for path in (file, zip_files([file], Path(folder) / BONUS_TRACK_ZIPS[tier]))]


def write_main_track(
    sessions: list[Session], predictions: Callable[[Session, int], np.ndarray], folder: str | Path,
    first_frame: int = SCORED_FROM,
) -> list[Path]:
    """The live and final main-track parquet files and ``submission_main.zip`` holding both, for upload."""
    return write_track(sessions, "main", predictions, folder, first_frame)
