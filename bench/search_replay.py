"""Replay a search against known learning curves: the real searcher and scheduler objects, called in Tune's order,
with each trial's curve read from a landscape instead of trained. A search then costs seconds, not hours.

The order is ``TuneController``'s (ray 2.60, tune/execution/tune_controller.py), for a ``Searcher``:
- Tune wraps it in a ``ConcurrencyLimiter`` (``max_concurrent_trials``) and tells both its metric and mode
  (the searcher also the param space); ``SearchGenerator`` asks for suggestions until ``num_samples``;
  ``scheduler.on_trial_add`` follows each suggestion.
- Per epoch: a result at ``max_t`` is stopped by the Tuner's ``stop`` criterion (as ``search launch`` sets it)
  before the scheduler sees it; otherwise ``scheduler.on_trial_result`` decides; on CONTINUE
  ``searcher.on_trial_result`` is called, on STOP it is not and the result gets ``done``; then the callbacks
  (the project's ``EarlyStopMarker``) may edit it and it becomes the trial's last result. A STOP calls
  ``scheduler.on_trial_complete`` and ``searcher.on_trial_complete`` with that last result.
- A trial whose curve ends before the scheduler stops it (the trainer's own plateau stop) ends with Tune's
  duplicate of its last result, ``done`` added, seen by neither ``on_trial_result`` nor the callbacks.
Running trials report in turn, one epoch each (Tune's real interleaving depends on timing); with one trial at a
time the replay is exact (tests/test_search_replay.py checks it against a real Tune run). Schedulers that pause
trials (BOHB's HyperBand) are not replayed.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

from ray.tune.result import TRAINING_ITERATION
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.utils.util import merge_dicts

from search.objective import OBJECTIVE, Objective
from search.progress import EarlyStopMarker
from search.results import STOPPED_EARLY


class ReplayTrial:
    """What schedulers read of a Tune trial: its id, status and config."""

    def __init__(self, trial_id: str, config: dict):
        self.trial_id = trial_id
        self.config = config
        self.status = "RUNNING"
        self.last_result: dict = {}
        self.best: float | None = None  # the running best of the metric, the trainable's OBJECTIVE
        self.values: list[float] = []   # the curve's metric per epoch, as reported


class ReplayController:
    """The little of ``TuneController`` that ASHA and FIFO consult."""

    def __init__(self):
        self.trials: list[ReplayTrial] = []

    def get_trials(self) -> list[ReplayTrial]:
        return self.trials

    def has_resources_for_trial(self, trial) -> bool:
        return True


@dataclass
class Replayed:
    """A replayed search: trials in creation order, and every epoch's metric in the order spent."""

    trials: list[dict]
    spent: list[float]
    events: list[tuple] = field(default_factory=list)  # (trial index, epoch, decision), in order

    @property
    def best(self) -> float:
        return max(self.spent, default=float("-inf"))


def replay(searcher: Searcher, scheduler: TrialScheduler, param_space: dict, curve: Callable[[dict], list[float]],
           *, metric: str, mode: str, objective: str, num_samples: int, max_concurrent: int,
           max_t: int) -> Replayed:
    """Run ``num_samples`` trials of ``curve`` through ``searcher`` and ``scheduler`` as Tune would.

    Each epoch reports ``metric`` (the curve's value), ``OBJECTIVE`` (its running best, as the project's
    trainable reports it) and ``training_iteration``; the searcher and scheduler compare ``objective``:
    ``OBJECTIVE`` as ``search launch`` wires them, or ``metric`` (Tune's stock wiring).
    """
    limiter = ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
    limiter.set_search_properties(objective, mode, param_space)
    scheduler.set_search_properties(objective, mode)
    marker, controller, ranking = EarlyStopMarker(max_t), ReplayController(), Objective(metric, mode)
    running: list[ReplayTrial] = []
    spent, events = [], []
    finished = False

    def add_trials() -> None:
        nonlocal finished
        while not finished and len(controller.trials) < num_samples:
            trial_id = f"replay_{len(controller.trials):05d}"
            suggestion = limiter.suggest(trial_id)
            if suggestion == Searcher.FINISHED:
                finished = True
            if suggestion in (None, Searcher.FINISHED):
                return
            trial = ReplayTrial(trial_id, merge_dicts(param_space, copy.deepcopy(suggestion)))
            trial.values = list(curve(trial.config))
            controller.trials.append(trial)
            running.append(trial)
            scheduler.on_trial_add(controller, trial)

    def stop(trial: ReplayTrial) -> None:
        trial.status = "TERMINATED"
        running.remove(trial)
        scheduler.on_trial_complete(controller, trial, trial.last_result)
        limiter.on_trial_complete(trial.trial_id, result=trial.last_result)

    add_trials()
    while running:
        trial = running[0]
        epoch = trial.last_result.get(TRAINING_ITERATION, 0) + 1
        index = controller.trials.index(trial)
        if epoch > len(trial.values):  # the trainer stopped by itself: Tune's duplicate of the last result
            trial.last_result = {**trial.last_result, "done": True}
            events.append((index, epoch - 1, "END"))
            stop(trial)
        else:
            value = trial.values[epoch - 1]
            trial.best = ranking.running_best(trial.best, value)
            result = {metric: value, OBJECTIVE: trial.best, TRAINING_ITERATION: epoch, "done": False,
                      "trial_id": trial.trial_id}
            spent.append(value)
            decision = (TrialScheduler.STOP if epoch >= max_t
                        else scheduler.on_trial_result(controller, trial, result))
            if decision == TrialScheduler.STOP:
                result["done"] = True
            else:
                limiter.on_trial_result(trial.trial_id, result)
            marker.on_trial_result(0, controller.trials, trial, result)
            trial.last_result = result
            events.append((index, epoch, decision))
            if decision == TrialScheduler.STOP:
                stop(trial)
            elif decision != TrialScheduler.CONTINUE:
                raise ValueError(f"replay: the scheduler decided {decision!r}; only CONTINUE and STOP replay")
            else:
                running.append(running.pop(0))  # the next running trial reports next
        add_trials()
    trials = [{"config": t.config, "epochs": t.last_result.get(TRAINING_ITERATION, 0),
               "values": t.values[:t.last_result.get(TRAINING_ITERATION, 0)],
               "stopped_early": bool(t.last_result.get(STOPPED_EARLY))} for t in controller.trials]
    return Replayed(trials, spent, events)
