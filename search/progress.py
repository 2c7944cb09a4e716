"""Driver-side callbacks that follow trials as they run: the early-stop marker, and a few lines per trial
with a periodic summary on stdout in place of Tune's wide status tables."""
from __future__ import annotations

import time

from ray import tune

from search.config import SearchSpec
from search.results import FAILED, STOPPED_EARLY, completed_state, error_reason, short_value, summary_line, trial_rows


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


class ProgressPrinter(tune.Callback):
    def __init__(self, spec: SearchSpec, every_s: float = 30.0):
        self.spec = spec
        self.every_s = every_s
        self._start = self._last = time.monotonic()

    def setup(self, **info):
        self._start = self._last = time.monotonic()

    def _say(self, text: str) -> None:
        print(f"[{time.monotonic() - self._start:6.0f}s] {text}", flush=True)

    def _summary(self, trials, ended=None, state: str = "") -> None:
        """Print the counts; ``ended`` is a trial whose end Tune is reporting but has not recorded yet."""
        self._last = time.monotonic()
        rows = trial_rows(trials, self.spec, details=False)  # every trial, after each one ends: kept cheap
        for row in rows:
            if ended is not None and row.trial_id == ended.trial_id:
                row.state = state
        self._say(summary_line(rows, self.spec))

    def on_trial_start(self, iteration, trials, trial, **info):
        params = ", ".join(f"{k}={short_value(v)}" for k, v in self.spec.searched_values(trial.config).items())
        self._say(f"trial {trial.trial_id} started: {params}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        best = trial.metric_analysis.get(self.spec.settings.metric, {}).get(self.spec.settings.mode)
        score = "" if best is None else f", best {self.spec.settings.metric} {best:.4f}"
        epochs = trial.last_result.get("training_iteration", 0)
        state = completed_state(trial)
        self._say(f"trial {trial.trial_id} {state.lower().replace('_', ' ')} after {epochs} epoch(s){score}")
        self._summary(trials, trial, state)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._say(f"trial {trial.trial_id} {FAILED.lower()}: {error_reason(trial)}")
        self._summary(trials, trial, FAILED)

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._say(f"trial {trial.trial_id} failed, retrying: {error_reason(trial)}")

    def on_step_end(self, iteration, trials, **info):
        if time.monotonic() - self._last >= self.every_s:
            self._summary(trials)
