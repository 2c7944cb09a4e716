"""Driver-side callbacks that follow trials as they run: the early-stop marker, and a few lines per trial
with a periodic summary on stdout in place of Tune's wide status tables: the counts, then one line per
running trial with its epoch, latest and best score and the time it has left at its pace so far."""
from __future__ import annotations

import logging
import time

from ray import tune

from search.config import SearchSpec
from search.objective import OBJECTIVE
from search.results import FAILED, STOPPED_EARLY, completed_state, error_reason, short_value, summary_line, trial_rows

log = logging.getLogger(__name__)


class EarlyStopMarker(tune.Callback):
    """Mark the result at which the scheduler stopped a trial before ``max_t``.

    Tune ends a trial ASHA stopped and one that ran to its end the same way (TERMINATED, ``done``), so the
    difference is written into the trial's last result, which Tune saves with the experiment.
    Callbacks may edit a result in place; this one must come before those that read the state.
    """

    def __init__(self, max_t: int):
        self.max_t = max_t

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if result.get("done") and result.get("training_iteration", 0) < self.max_t:
            result[STOPPED_EARLY] = True


def trial_line(trial_id: str, result: dict, metric: str, max_epochs: int) -> str:
    """``trial 1a2b: epoch 3/8, val_corr 0.2104 (best 0.2231), ~2m30s left`` (at its last epoch's pace; a
    scheduler may stop it sooner)."""
    epoch = result.get("training_iteration", 0)
    latest, best = result.get(metric), result.get(OBJECTIVE)
    text = f"trial {trial_id}: epoch {epoch}/{max_epochs}"
    if latest is not None:
        text += f", {metric} {latest:.4f}" + ("" if best is None else f" (best {best:.4f})")
    pace = result.get("time_this_iter_s")  # the last epoch's: the first ones carry the start-up
    if epoch and pace is not None:
        left = pace * max(max_epochs - epoch, 0)
        text += f", ~{int(left // 60)}m{int(left % 60):02d}s left"
    return text


class ProgressPrinter(tune.Callback):
    def __init__(self, spec: SearchSpec, every_s: float = 30.0):
        self.spec = spec
        self.every_s = every_s
        self._start = self._last = time.monotonic()
        self._latest: dict[str, dict] = {}  # running trial id -> its last result

    def setup(self, **info):
        self._start = self._last = time.monotonic()

    def _say(self, text: str) -> None:
        log.info(f"[{time.monotonic() - self._start:6.0f}s] {text}")

    def _summary(self, trials, ended=None, state: str = "") -> None:
        """Print the counts; ``ended`` is a trial whose end Tune is reporting but has not recorded yet."""
        self._last = time.monotonic()
        rows = trial_rows(trials, self.spec, details=False)  # every trial, after each one ends: kept cheap
        for row in rows:
            if ended is not None and row.trial_id == ended.trial_id:
                row.state = state
        self._say(summary_line(rows, self.spec))
        if ended is None:
            for trial_id, result in self._latest.items():
                self._say("  " + trial_line(trial_id, result, self.spec.settings.metric, self.spec.settings.asha.max_t))

    def on_trial_start(self, iteration, trials, trial, **info):
        params = ", ".join(f"{k}={short_value(v)}" for k, v in self.spec.searched_values(trial.config).items())
        self._say(f"trial {trial.trial_id} started: {params}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._latest[trial.trial_id] = result

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._latest.pop(trial.trial_id, None)
        best = self.spec.settings.objective.trial_best(trial)
        score = "" if best is None else f", best {self.spec.settings.metric} {best:.4f}"
        epochs = trial.last_result.get("training_iteration", 0)
        state = completed_state(trial)
        self._say(f"trial {trial.trial_id} {state.lower().replace('_', ' ')} after {epochs} epoch(s){score}")
        self._summary(trials, trial, state)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._latest.pop(trial.trial_id, None)
        self._say(f"trial {trial.trial_id} {FAILED.lower()}: {error_reason(trial)}")
        self._summary(trials, trial, FAILED)

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._say(f"trial {trial.trial_id} failed, retrying: {error_reason(trial)}")

    def on_step_end(self, iteration, trials, **info):
        if time.monotonic() - self._last >= self.every_s:
            self._summary(trials)
