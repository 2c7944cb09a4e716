"""What became of each trial, read from Tune's trial objects (live in the driver, or restored from disk).

Imports no Ray at module level: callers set Ray's environment before Ray is first imported.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from search.alternatives import CHOSEN_KEY
from search.config import SearchSpec
from search.objective import Objective

FINISHED, EARLY_STOPPED, FAILED = "FINISHED", "EARLY_STOPPED", "FAILED"
STOPPED_EARLY = "stopped_early"  # result key progress.EarlyStopMarker adds where the scheduler stopped a trial


@dataclass
class TrialRow:
    trial_id: str
    state: str                # FINISHED, EARLY_STOPPED, FAILED, or Tune's RUNNING / PENDING / PAUSED
    epochs: int
    best: float | None        # the best value of the search metric over the trial's epochs
    params: dict[str, Any]    # the searched keys, decoded
    config: dict = field(repr=False, default_factory=dict)  # the trial's config as Tune holds it
    error: str = ""


TUNE_ENDED = ("TERMINATED", "ERROR")  # Tune's statuses of a trial that will not run again


def has_ended(trial) -> bool:
    """Whether Tune is done with the trial (completed or failed for good)."""
    return trial.status in TUNE_ENDED


def search_finished(trials, num_samples: int) -> bool:
    """Every trial the search asked for exists and has ended (completed, or failed for good)."""
    return len(trials) >= num_samples and all(has_ended(t) for t in trials)


def nothing_to_resume(trials, num_samples: int) -> bool:
    """Finished, and no trial failed: ``resume`` retries failed trials (Tune's ``resume_errored``)."""
    return search_finished(trials, num_samples) and all(t.status != "ERROR" for t in trials)


def is_completed(row: "TrialRow") -> bool:
    """Ended by itself or stopped early by the scheduler, with a score: a trial promotion may take."""
    return row.state in (FINISHED, EARLY_STOPPED) and row.best is not None


def completed_state(trial) -> str:
    """How a trial that Tune completed (not errored) ended: by itself, or stopped early by the scheduler."""
    return EARLY_STOPPED if trial.last_result.get(STOPPED_EARLY) else FINISHED


def trial_state(trial) -> str:
    """FINISHED, EARLY_STOPPED or FAILED once Tune is done with the trial, else Tune's own status."""
    if not has_ended(trial):
        return trial.status
    return FAILED if trial.status == "ERROR" else completed_state(trial)


def error_reason(trial) -> str:
    """The failed trial's exception as one line, e.g. ``RuntimeError: Kernel size can't be greater ...``.

    The last line of Tune's text trace: the driver's copy while Tune runs (the stored one lags until the
    next sync), else the stored one. The pickled exception beside it is not loaded.
    """
    import ray

    local = trial.error_file if ray.is_initialized() else None  # the driver's copy needs a Ray session
    if local and os.path.exists(local):
        with open(local) as f:
            text = f.read()
    else:
        text = trial.get_error() or ""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def trial_rows(trials, spec: SearchSpec, details: bool = True) -> list[TrialRow]:
    """One row per trial. Without ``details`` a row has no params and no error (no config is decoded, no
    error file read): enough for ``summary_line``, which the driver prints after every trial that ends."""
    objective = spec.settings.objective
    rows = []
    for trial in trials:
        best = objective.trial_best(trial)
        state = trial_state(trial)
        rows.append(TrialRow(
            trial_id=trial.trial_id,
            state=state,
            epochs=int(trial.last_result.get("training_iteration", 0)),
            best=best,
            params=spec.searched_values(trial.config) if details else {},
            config=trial.config,
            error=error_reason(trial) if details and state == FAILED else "",
        ))
    return rows


def best_row(rows: list[TrialRow], objective: Objective) -> TrialRow | None:
    """The trial with the best metric at any epoch, failed trials excluded."""
    return objective.best([r for r in rows if r.state != FAILED], lambda r: r.best)


def format_table(rows: list[TrialRow], spec: SearchSpec) -> str:
    """A plain-text table: best trials first, failed ones last with their reason."""
    ordered = spec.settings.objective.ranked(rows, lambda r: r.best)
    if spec.alternatives:  # a cross-family search: one group per model alternative, the best group first
        groups = list(dict.fromkeys(r.params.get(CHOSEN_KEY) for r in ordered))
        ordered.sort(key=lambda r: groups.index(r.params.get(CHOSEN_KEY)))
    keys = spec.searched_names()
    header = ["trial", "state", "epochs", f"best {spec.settings.metric}", *keys]
    body = [[r.trial_id, r.state, str(r.epochs), "-" if r.best is None else f"{r.best:.4f}",
             *(short_value(r.params[k]) if k in r.params else "-" for k in keys)] for r in ordered]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in [header, *body]]
    lines += [f"{r.trial_id}: {r.error}" for r in ordered if r.error]
    return "\n".join(lines)


def short_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def summary_line(rows: list[TrialRow], spec: SearchSpec) -> str:
    """``3 running, 2 finished, 1 stopped early, 0 failed, 4 pending; best val_corr 0.31 (abc123)``."""
    count = {s: sum(r.state == s for r in rows) for s in ("RUNNING", FINISHED, EARLY_STOPPED, FAILED)}
    pending = spec.settings.num_samples - sum(count.values())
    text = (f"{count['RUNNING']} running, {count[FINISHED]} finished, {count[EARLY_STOPPED]} stopped early, "
            f"{count[FAILED]} failed, {max(pending, 0)} to go")
    best = best_row(rows, spec.settings.objective)
    if best is not None:
        text += f"; best {spec.settings.metric} {best.best:.4f} ({best.trial_id})"
    return text
