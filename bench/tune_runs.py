"""Run a search spec through Ray Tune with a chosen searcher and scheduler, and read back every trial's curve.

The trainable, the spec's search space and the Tuner settings are the search stack's own (``search.trainable``,
``search.config``); only the searcher (Optuna TPE or Tune's random sampler) and the scheduler (ASHA or none)
vary, so benchmarks compare strategies rather than code paths. Trials run one at a time, so the order in
which epochs were spent is the order of the trials.
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

    @property
    def best(self) -> float:
        return max(self.val_corr, default=float("-inf"))


def searcher(kind: str, seed: int):
    """``tpe-pruned``: TPE as ``search launch`` builds it (told PRUNED for ASHA's stops, the running best);
    ``tpe``: Tune's own OptunaSearch (every stop COMPLETE, last epoch's value); ``random``: Tune's seeded
    random sampler."""
    if kind == "tpe-pruned":
        from search.searcher import PruningAwareOptunaSearch

        return PruningAwareOptunaSearch(seed=seed)
    if kind == "tpe":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(seed=seed)
    if kind == "random":
        from ray.tune.search.basic_variant import BasicVariantGenerator

        return BasicVariantGenerator(random_state=seed)
    raise ValueError(f"searcher: expected tpe or random, found {kind!r}")


def scheduler(kind: str, spec: SearchSpec):
    """``asha``: the spec's ASHA settings, as ``search run`` builds it; ``fifo``: no early stopping."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if kind == "fifo":
        return FIFOScheduler()
    asha = spec.settings.asha
    return ASHAScheduler(time_attr="training_iteration", max_t=asha.max_t, grace_period=asha.grace_period,
                         reduction_factor=asha.reduction_factor)


def trial_order(metrics: dict) -> int:
    """Tune tags each result with ``experiment_tag`` = ``<creation counter>_<values>``; a trial that never
    reported spent no epoch and sorts last."""
    tag = str(metrics.get("experiment_tag", ""))
    head = tag.split("_", 1)[0]
    return int(head) if head.isdigit() else 10**9


def run_search(spec: SearchSpec, searcher_kind: str, scheduler_kind: str, searcher_seed: int,
               storage: Path, name: str) -> list[TrialCurve]:
    """Run ``spec`` one trial at a time; return the trials in the order they ran."""
    environment.apply(None)
    from ray import tune

    from search.progress import EarlyStopMarker
    from search.results import OBJECTIVE
    from search.run import connect_ray
    from search.trainable import trainable, trial_dirname

    connect_ray(None)
    settings = spec.settings
    new_wiring = searcher_kind == "tpe-pruned"  # the searcher reads the marks EarlyStopMarker makes
    tuner = tune.Tuner(
        trainable(spec), param_space=spec.param_space(),
        tune_config=tune.TuneConfig(
            metric=OBJECTIVE if new_wiring else settings.metric, mode=settings.mode,
            search_alg=searcher(searcher_kind, searcher_seed),
            scheduler=scheduler(scheduler_kind, spec), num_samples=settings.num_samples,
            max_concurrent_trials=1, reuse_actors=True, trial_dirname_creator=trial_dirname),
        run_config=tune.RunConfig(
            name=name, storage_path=str(storage.absolute()), verbose=0,
            callbacks=[EarlyStopMarker(settings.asha.max_t)] if new_wiring else [],
            failure_config=tune.FailureConfig(max_failures=0),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
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
    return sorted(curves, key=lambda c: c.order)


def epochs_until(curves: list[TrialCurve], target: float) -> int | None:
    """Training epochs spent, in run order, up to and including the first epoch that reaches ``target``."""
    spent = 0
    for curve in curves:
        for value in curve.val_corr:
            spent += 1
            if value >= target:
                return spent
    return None
