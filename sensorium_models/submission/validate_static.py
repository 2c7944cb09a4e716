"""Check a SENSORIUM 2022 submission CSV against the static session it is for."""
from __future__ import annotations

import ast
import csv
import re
from pathlib import Path

import numpy as np

from ..data.session import Session
from .checks import Findings, TrialLedger, column_problems, neuron_ids_problem
from .formats import STATIC_COLUMNS, sessions_of_kind

_FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_INT = r"[-+]?\d+"
# Lists of plain number literals: what ast.literal_eval certainly reads, parsed here with numpy instead.
_FLOAT_LIST = re.compile(rf"\s*\[\s*(?:{_FLOAT}(?:\s*,\s*{_FLOAT})*)?\s*\]\s*\Z")
_INT_LIST = re.compile(rf"\s*\[\s*(?:{_INT}(?:\s*,\s*{_INT})*)?\s*\]\s*\Z")
_NON_FINITE = re.compile(r"\b(?:nan|inf|infinity)\b", re.IGNORECASE)


def parse_list(text: str, integer: bool) -> np.ndarray | None:
    """The numbers of a list literal as the backend's ``ast.literal_eval`` reads them; None if it cannot."""
    if (_INT_LIST if integer else _FLOAT_LIST).match(text):
        inner = text.strip()[1:-1]
        return np.array(inner.split(",") if inner.strip() else [], dtype=np.int64 if integer else np.float64)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    allowed = (int,) if integer else (int, float)
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, allowed) and not isinstance(v, bool) for v in value
    ):
        return None
    return np.array(value, dtype=np.int64 if integer else np.float64)


def _match_session(path: Path, static: list[Session], trial_values: set[str]) -> Session | None:
    """The session a file is for: the one named by its folder, else the one sharing most trial indices."""
    for session in static:
        if path.resolve().parent.name in (session.name, session.key):
            return session
    overlap = {session.name: len(trial_values & set(map(str, session.trial_ids))) for session in static}
    best = max(static, key=lambda session: overlap[session.name])
    return best if overlap[best.name] or len(static) == 1 else None


def _check_prediction(text: str, n_neurons: int, label: str, findings: Findings) -> None:
    values = parse_list(text, integer=False)
    if values is None:
        non_finite = _NON_FINITE.search(text)
        findings.row("non-finite prediction (nan/inf is no literal)" if non_finite else "unparseable prediction list", label)
    elif values.shape != (n_neurons,):
        findings.row(f"wrong prediction length (expected {n_neurons} neurons)", f"{label} has {len(values)}")
    elif not np.isfinite(values).all():
        findings.row("non-finite prediction", label)


def _check_neuron_ids(text: str, unit_ids: np.ndarray, label: str, findings: Findings) -> None:
    ids = parse_list(text, integer=True)
    problem = "unparseable neuron_ids list" if ids is None else neuron_ids_problem(ids, unit_ids, "session")
    if problem:
        findings.row(problem, label)


def validate_static(path: Path, tier: str, sessions: list[Session]) -> list[str]:
    """Problems of a 2022 CSV for ``tier`` (``test`` or ``final_test``); empty if the file is valid."""
    static = sessions_of_kind(sessions, "static")
    if not static:
        return ["the data holds no static (2022) session to check a CSV against"]
    csv.field_size_limit(2**31 - 1)  # one prediction list of ~8000 neurons exceeds the 128 kB default
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            rows = list(reader)
    except UnicodeDecodeError as err:
        return [f"{path.name} is not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start}); "
                f"expected a CSV file"]
    if not header:
        return [f"{path.name} has no header line"]
    problems = column_problems(header, STATIC_COLUMNS)
    if problems:
        return problems
    column = {name: header.index(name) for name in STATIC_COLUMNS}
    trial_values = {row[column["trial_indices"]] for row in rows if len(row) == len(STATIC_COLUMNS)}
    session = _match_session(path, static, trial_values)
    if session is None:
        return [f"no static session in the data has the trial indices of {path.name}"]

    findings = Findings()
    trial_of = {str(value): index for index, value in enumerate(session.trial_ids)}
    unit_ids = np.asarray(session.unit_ids, dtype=np.int64)
    ledger = TrialLedger(tier, path.name, findings, lambda s, t: s.trial_ids[t])
    for number, row in enumerate(rows, start=2):
        label = f"line {number}"
        if len(row) != len(STATIC_COLUMNS):
            ledger.unknown(f"wrong number of fields (expected {len(STATIC_COLUMNS)})", f"{label} has {len(row)}")
            continue
        value = row[column["trial_indices"]]
        label = f"line {number} (trial {value})"
        trial = trial_of.get(value)
        if trial is None:
            ledger.unknown(f"trial index not in session {session.name}", label)
        else:
            ledger.add(session, trial, label)
            image = row[column["image_ids"]].strip()
            if not re.fullmatch(_INT, image):
                findings.row("image_ids is not an integer", f"{label}: {image!r}")
            elif int(image) != int(session.image_ids[trial]):
                findings.row("image id differs from the trial's frame_image_id", f"{label}: {image}")
        _check_prediction(row[column["prediction"]], session.n_neurons, label, findings)
        _check_neuron_ids(row[column["neuron_ids"]], unit_ids, label, findings)
    ledger.finish([session])
    return findings.messages()
