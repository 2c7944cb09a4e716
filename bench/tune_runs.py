"""Run a search spec through Ray Tune with a chosen searcher and scheduler, and read back every trial's curve.

The trainable, the spec's search space and the Tuner settings are the search stack's own (``search.trainable``,
``search.config``); only the searcher and scheduler vary (the spec's own settings, Tune's OptunaSearch, or
random search without early stopping), so benchmarks compare strategies rather than code paths. Trials run
one at a time; a callback records the order in which epochs were spent.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from search import environment
from search.config import SearchSpec


@dataclass
class TrialCurve:
    """One trial: its place in the run order, its searched values and its per-epoch validation correlation."""

    order: int
    trial_id: str
    values: dict
    val_corr: list[float]
    error: str | None = None


@dataclass
class SearchRun:
    """A search's trials in creation order, and every epoch's validation correlation in the order spent."""

    curves: list[TrialCurve]
    spent: list[float]

    @property
    def best(self) -> float:
        return max(self.spent, default=float("-inf"))


def searcher(kind: str, spec: SearchSpec, seed: int):
    """``shipped``: what ``search launch`` builds from the spec's settings (the searcher seeded ``seed``);
    ``tune-optuna``: Tune's own OptunaSearch (every stop COMPLETE, last epoch's value); ``random``: Tune's
    seeded random sampler."""
    if kind == "shipped":
        from search.searcher import build_searcher

        return build_searcher(spec.settings.model_copy(update={"seed": seed}), spec.points)
    if kind == "tune-optuna":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(seed=seed)
    if kind == "random":
        from ray.tune.search.basic_variant import BasicVariantGenerator

        return BasicVariantGenerator(random_state=seed)
    raise ValueError(f"searcher: expected shipped, tune-optuna or random, found {kind!r}")


def scheduler(kind: str, spec: SearchSpec):
    """The spec's scheduler as ``search launch`` builds it (ASHA, or BOHB's HyperBand); none for ``random``."""
    from ray.tune.schedulers import FIFOScheduler

    from search.searcher import build_scheduler

    return FIFOScheduler() if kind == "random" else build_scheduler(spec.settings)


def result_log(metric: str):
    """A Tune callback keeping every reported value of ``metric`` in the order the driver received them:
    the order epochs were spent, also when a scheduler pauses trials and resumes them later (BOHB)."""
    from ray.tune import Callback

    class ResultLog(Callback):
        def __init__(self):
            self.values: list[float] = []

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.values.append(float(result[metric]))

    return ResultLog()


def trial_order(metrics: dict) -> int:
    """Tune tags each result with ``experiment_tag`` = ``<creation counter>_<values>``; a trial that never
    reported spent no epoch and sorts last."""
    tag = str(metrics.get("experiment_tag", ""))
    head = tag.split("_", 1)[0]
    return int(head) if head.isdigit() else 10**9


def run_search(spec: SearchSpec, kind: str, searcher_seed: int, storage: Path, name: str) -> SearchRun:
    """Run ``spec`` one trial at a time with the ``kind`` of searcher (see ``searcher``)."""
    environment.apply(None)
    from ray import tune

    from search.progress import EarlyStopMarker
    from search.objective import OBJECTIVE
    from search.run import connect_ray
    from search.searcher import build_stop
    from search.trainable import trainable, trial_dirname

    connect_ray(None)
    settings = spec.settings
    new_wiring = kind == "shipped"  # the searcher reads the marks EarlyStopMarker makes
    log = result_log(settings.metric)
    tuner = tune.Tuner(
        trainable(spec), param_space=spec.param_space(),
        tune_config=tune.TuneConfig(
            metric=OBJECTIVE if new_wiring else settings.metric, mode=settings.mode,
            search_alg=searcher(kind, spec, searcher_seed), scheduler=scheduler(kind, spec),
            num_samples=settings.num_samples, max_concurrent_trials=1, reuse_actors=True, trial_dirname_creator=trial_dirname),
        run_config=tune.RunConfig(
            name=name, storage_path=str(storage.absolute()), verbose=0, stop=build_stop(settings),
            callbacks=[EarlyStopMarker(settings.asha.max_t)] * new_wiring + [log],
            failure_config=tune.FailureConfig(max_failures=0),
            # As launch: no rotation (a rotation forces an experiment snapshot at every checkpoint).
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None)),
    )
    curves = []
    for result in tuner.fit():
        frame = result.metrics_dataframe
        rows = frame.sort_values("training_iteration") if frame is not None and len(frame) else None
        curves.append(TrialCurve(
            order=trial_order(result.metrics), trial_id=result.metrics.get("trial_id", Path(result.path).name),
            values=spec.searched_values(result.config),
            val_corr=[] if rows is None else [float(v) for v in rows[settings.metric]],
            error=None if result.error is None else str(result.error).splitlines()[0]))
    return SearchRun(sorted(curves, key=lambda c: c.order), log.values)


def epochs_until(spent: list[float], target: float) -> int | None:
    """Training epochs spent, in the order they were spent, up to and including the first that reaches ``target``."""
    for count, value in enumerate(spent, 1):
        if value >= target:
            return count
    return None
