"""Check a SENSORIUM 2023 submission parquet against the video sessions, streaming a few rows at a time.

Like the organisers' scorer, the file must hold exactly the mice it is scored on (``formats.submission_mice``:
by default those whose test responses of the file's track are hidden), each with every trial of its tier.
"""
from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..data.session import Session
from ..errors import UserError
from .checks import Findings, TrialLedger, column_problems, neuron_ids_problem
from .formats import VIDEO_COLUMNS, mouse_name_warning, scored_frames, sessions_of_kind, submission_mice, track_of

ROWS_PER_BATCH = 4  # ~8 MB of predictions per main-track row


def _is_list(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


COLUMN_TYPES = {
    "mouse": ("a string", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
    "trial_indices": ("an integer", pa.types.is_integer),
    "prediction": (
        "a list of lists of floats",
        lambda t: _is_list(t) and _is_list(t.value_type) and pa.types.is_floating(t.value_type.value_type),
    ),
    "neuron_ids": ("a list of integers", lambda t: _is_list(t) and pa.types.is_integer(t.value_type)),
}


def schema_problems(schema: pa.Schema) -> list[str]:
    """Columns missing, unexpected or of the wrong Arrow type."""
    problems = column_problems(schema.names, VIDEO_COLUMNS)
    for name in VIDEO_COLUMNS:
        if name in schema.names:
            expected, accepts = COLUMN_TYPES[name]
            if not accepts(schema.field(name).type):
                problems.append(f"column {name} has type {schema.field(name).type}, expected {expected}")
    return problems


def _lengths(lists: pa.Array) -> np.ndarray:
    """Length of every list, -1 for a null one."""
    return pc.list_value_length(lists).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _bounds(lengths: np.ndarray) -> np.ndarray:
    """Start offsets (plus the end) of consecutive lists of ``lengths`` in their flattened values."""
    return np.concatenate([[0], np.cumsum(np.maximum(lengths, 0))])


class _RowChecker:
    """Checks the rows of one file, batch by batch, against the video sessions."""

    def __init__(self, sessions: list[Session], expected: list[str], ledger: TrialLedger, findings: Findings) -> None:
        self.sessions = {session.name: session for session in sessions}
        self.expected = set(expected)
        self.ledger = ledger
        self.findings = findings
        self.rows_per_mouse: Counter[str] = Counter()

    def batch(self, batch: pa.RecordBatch) -> None:
        mice = batch.column("mouse").to_pylist()
        trials = batch.column("trial_indices").to_pylist()
        outer = batch.column("prediction")
        rows_lengths = _lengths(outer)
        inner = outer.flatten()
        inner_lengths = _lengths(inner)
        values = inner.flatten().to_numpy(zero_copy_only=False)
        inner_bounds, value_bounds = _bounds(rows_lengths), _bounds(inner_lengths)
        ids = batch.column("neuron_ids")
        id_bounds = _bounds(_lengths(ids))
        id_values = ids.flatten().to_numpy(zero_copy_only=False)
        for r, (mouse, trial) in enumerate(zip(mice, trials)):
            label = f"mouse {mouse}, trial {trial}"
            session = self.sessions.get(mouse)
            if session is None:
                self.ledger.unknown("unknown mouse (no such video session in the data)", label)
                continue
            self.rows_per_mouse[mouse] += 1
            if mouse not in self.expected:
                continue  # reported once per mouse, as an extra one
            if trial is None or not 0 <= trial < session.n_trials:
                self.ledger.unknown("trial index not in the mouse's session", label)
                continue
            self.ledger.add(session, trial, label)
            self._neuron_ids(session, id_values[id_bounds[r]:id_bounds[r + 1]], label)
            first, last = inner_bounds[r], inner_bounds[r + 1]
            self._prediction(session, trial, rows_lengths[r], inner_lengths[first:last], label)
            if not np.isfinite(values[value_bounds[first]:value_bounds[last]]).all():
                self.findings.row("non-finite prediction (NaN, inf or null)", label)

    def _neuron_ids(self, session: Session, ids: np.ndarray, label: str) -> None:
        problem = neuron_ids_problem(ids, np.asarray(session.unit_ids), "mouse")
        if problem:
            self.findings.row(problem, label)

    def _prediction(self, session: Session, trial: int, n_lists: int, lengths: np.ndarray, label: str) -> None:
        try:
            frames = scored_frames(session, trial)
        except UserError as err:
            self.findings.row("trial too short to score", f"{label}: {err}")
            return
        expected = (session.n_neurons, frames.stop - frames.start)
        if n_lists < 0:
            self.findings.row("null prediction", label)
        elif n_lists != expected[0] or (lengths != expected[1]).any():
            found = np.unique(lengths)
            shape = (int(n_lists), int(found[0]) if len(found) == 1 else f"{found.min()}..{found.max()}")
            self.findings.row("wrong prediction shape", f"{label}: {shape}, expected {expected}")


def validate_video(path: Path, tier: str, sessions: list[Session], mice: list[str] | None = None) -> list[str]:
    """Problems of a 2023 parquet file for ``tier`` (e.g. ``live_test_main``); empty if it is valid.

    ``mice`` (folder names or keys) are the mice the file must hold; default: the mice whose test
    responses of the tier's track are hidden, the ones the server scores."""
    video = sessions_of_kind(sessions, "video")
    if not video:
        return ["the data holds no video (2023) session to check a parquet file against"]
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        return [f"{path.name} is not a readable parquet file: {err}"]
    problems = schema_problems(parquet.schema_arrow)
    if problems:
        return problems
    track = track_of(tier)
    expected = [s for s in submission_mice(video, track, mice) if len(s.tier_indices(tier))]
    findings = Findings()
    ledger = TrialLedger(tier, path.name, findings)
    checker = _RowChecker(video, [s.name for s in expected], ledger, findings)
    try:
        for batch in parquet.iter_batches(batch_size=ROWS_PER_BATCH, columns=list(VIDEO_COLUMNS)):
            checker.batch(batch)
    except (pa.ArrowException, OSError) as err:
        return [f"{path.name} is not a readable parquet file (a damaged page?): {' '.join(str(err).split())}"]
    for mouse in checker.rows_per_mouse:
        warning = mouse_name_warning(mouse)
        if warning:
            warnings.warn(f"{path.name}: {warning}", stacklevel=2)
    present = [s for s in expected if checker.rows_per_mouse[s.name]]
    ledger.finish(present)
    which = "the chosen mice" if mice is not None else f"the mice whose {track}-track test responses are hidden"
    scored = f"{len(expected)} mice this file must hold ({which})"
    extra = {m: n for m, n in checker.rows_per_mouse.items() if m not in {s.name for s in expected}}
    if extra:
        findings.line(f"extra mice: {', '.join(f'{m} ({n} rows)' for m, n in extra.items())} are not among the "
                      f"{scored}")
    missing = [s.name for s in expected if s not in present]
    if missing:
        findings.line(f"missing mice: {', '.join(missing)} have no row; they are among the {scored}")
    return findings.messages()
