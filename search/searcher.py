"""The searcher: Ray's OptunaSearch, telling Optuna which trials the scheduler pruned.

Ray's OptunaSearch tells Optuna COMPLETE, with the last epoch's value, for every trial that ended without
an error, ASHA-stopped ones included, so TPE would rank a 2-epoch score like a finished model's and its
pruning-aware ranking (optuna#439: PRUNED trials ordered by the step they reached, below COMPLETE ones)
would never run. Here a trial the scheduler stopped before ``max_t`` is told PRUNED, with its stopping
epoch's value added to its intermediate values (Tune does not pass that result to the searcher). Trials
that ran to ``max_t`` or ended on their own plateau stay COMPLETE.

The values are the running best of the search metric (``results.OBJECTIVE``), the score the project
ranks and promotes trials by.
"""
from __future__ import annotations

from ray.tune.result import TRAINING_ITERATION
from ray.tune.search.optuna import OptunaSearch

from search.results import STOPPED_EARLY


class PruningAwareOptunaSearch(OptunaSearch):
    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if error or not result or not result.get(STOPPED_EARLY) or trial_id in self._completed_trials:
            super().on_trial_complete(trial_id, result, error)
            return
        from optuna.trial import TrialState

        ot_trial = self._ot_trials[trial_id]
        ot_trial.report(float(result[self.metric]), int(result[TRAINING_ITERATION]))
        self._ot_study.tell(ot_trial, state=TrialState.PRUNED)  # its value: the last intermediate one
        self._completed_trials.add(trial_id)
