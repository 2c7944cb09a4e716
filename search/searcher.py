"""The searcher: Ray's OptunaSearch (Optuna's GPSampler by default, kept off configurations already tried:
``search.unseen``; or TPE), telling Optuna which trials the scheduler pruned.

Ray's OptunaSearch tells Optuna COMPLETE, with the last epoch's value, for every trial that ended without
an error, ASHA-stopped ones included, so TPE would rank a 2-epoch score like a finished model's and its
pruning-aware ranking (optuna#439: PRUNED trials ordered by the step they reached, below COMPLETE ones)
would never run. Here a trial the scheduler stopped before ``max_t`` is told PRUNED, with its stopping
epoch's value added to its intermediate values (Tune does not pass that result to the searcher). Trials
that ran to ``max_t`` or ended on their own plateau stay COMPLETE.

The values are the running best of the search metric (``results.OBJECTIVE``), the score the project
ranks and promotes trials by. ``build_searcher`` and ``build_scheduler`` make what ``search.algorithm``
names, for ``search launch`` and the benchmarks alike.
"""
from __future__ import annotations

from ray.tune.result import TRAINING_ITERATION
from ray.tune.schedulers import ASHAScheduler, TrialScheduler
from ray.tune.search.optuna import OptunaSearch

from search.settings import LARGE_SEARCH, SearchSettings
from search.objective import OBJECTIVE
from search.results import STOPPED_EARLY
from search.unseen import UnseenGPSampler
from sensorium_models.errors import UserError


class PruningAwareOptunaSearch(OptunaSearch):
    def _setup_study(self, mode) -> None:
        if isinstance(self._sampler, UnseenGPSampler) and isinstance(self._space, dict):
            self._sampler.space = self._space  # the distributions Tune's space converted to
        super()._setup_study(mode)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if error or not result or not result.get(STOPPED_EARLY) or trial_id in self._completed_trials:
            super().on_trial_complete(trial_id, result, error)
            return
        from optuna.trial import TrialState

        ot_trial = self._ot_trials[trial_id]
        ot_trial.report(float(result[self.metric]), int(result[TRAINING_ITERATION]))
        self._ot_study.tell(ot_trial, state=TrialState.PRUNED)  # its value: the last intermediate one
        self._completed_trials.add(trial_id)


def build_searcher(settings: SearchSettings, points: list[dict], study_name: str = "optuna", space=None):
    """The search algorithm ``settings.algorithm`` names, seeded, trying ``points`` first; ``space``: an Optuna
    define-by-run function (a cross-family search, TPE only), which then knows the metric itself."""
    if settings.algorithm == "bohb":
        check_installed(settings)
        from ray.tune.search.bohb import TuneBOHB

        return TuneBOHB(points_to_evaluate=points or None, seed=settings.seed)
    import optuna

    if settings.algorithm == "gp":
        sampler = UnseenGPSampler(settings.seed, settings.gp.n_startup_trials)
    else:
        tpe = settings.tpe
        sampler = optuna.samplers.TPESampler(seed=settings.seed, n_startup_trials=tpe.n_startup_trials,
                                             multivariate=multivariate(settings), group=multivariate(settings))
    storage = None if settings.optuna_storage is None else optuna_storage(settings.optuna_storage)
    given = {} if space is None else {"space": space, "metric": OBJECTIVE, "mode": settings.mode}
    return PruningAwareOptunaSearch(points_to_evaluate=points or None, sampler=sampler,
                                    study_name=study_name if storage else None, storage=storage, **given)


def multivariate(settings: SearchSettings) -> bool:
    """``tpe.multivariate`` as given, else whether the search is big enough for one-key-at-a-time TPE to be slow:
    it splits the whole history once per searched key, multivariate TPE once per suggestion (at 5 000 trials,
    0.18 against 0.07 CPU seconds per suggestion, on Tune's event loop: bench/results/tpe_scale.md)."""
    given = settings.tpe.multivariate
    return settings.num_samples >= LARGE_SEARCH if given is None else given


def optuna_storage(url: str):
    """Optuna's RDB storage at ``url``; one line naming the key when the URL is unusable."""
    import optuna

    try:
        return optuna.storages.RDBStorage(url)
    except Exception as err:  # sqlalchemy's errors for bad URLs, missing drivers, unreachable servers vary
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"search.optuna_storage: cannot open {url!r} as an Optuna storage ({first})") from None


def check_installed(settings: SearchSettings, where: str = "") -> None:
    """UserError when the algorithm needs packages this environment lacks (BOHB's are optional)."""
    import importlib.util

    missing = [name for name in ("hpbandster", "ConfigSpace") if importlib.util.find_spec(name) is None]
    if settings.algorithm == "bohb" and missing:
        raise UserError(f"{where}search.algorithm: bohb needs {' and '.join(missing)}, not installed here; "
                        f"install them with `pip install -r requirements-bohb.txt`")


class FullStartASHA(ASHAScheduler):
    """ASHA that stops none of its first ``full_start`` trials before ``max_t``.

    Their results still enter the rungs, so later trials are cut against full curves; TPE's start-up trials
    then reach it COMPLETE with their full-fidelity value instead of PRUNED at the first rung, where fast
    starters that plateau early outrank slow starters that end higher.
    """

    def __init__(self, full_start: int, **kwargs):
        super().__init__(**kwargs)
        self.full_start = full_start
        self._added = 0
        self._unstopped: set[str] = set()

    def on_trial_add(self, tune_controller, trial) -> None:
        super().on_trial_add(tune_controller, trial)
        if self._added < self.full_start:
            self._unstopped.add(trial.trial_id)
        self._added += 1

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        if (action == TrialScheduler.STOP and trial.trial_id in self._unstopped
                and result.get(self._time_attr, 0) < self._max_t):
            self._num_stopped -= 1
            return TrialScheduler.CONTINUE
        return action


def build_scheduler(settings: SearchSettings):
    """ASHA for TPE; BOHB's own HyperBand (it pauses and resumes trials) for BOHB, on the same max_t and factor;
    none for GP, whose trials run to max_t (the Tuner's stop) or to the trainer's own stop."""
    from ray.tune.schedulers import FIFOScheduler, HyperBandForBOHB

    asha = settings.asha
    if settings.algorithm == "gp":
        return FIFOScheduler()
    if settings.algorithm == "bohb":
        return HyperBandForBOHB(time_attr=TRAINING_ITERATION, max_t=asha.max_t,
                                reduction_factor=asha.reduction_factor)
    return FullStartASHA(asha.full_start, time_attr=TRAINING_ITERATION, max_t=asha.max_t,
                         grace_period=asha.grace_period, reduction_factor=asha.reduction_factor,
                         brackets=asha.brackets)


def build_stop(settings: SearchSettings) -> dict | None:
    """Tune's stop criterion: every trial ends at ``asha.max_t`` (GP has no scheduler to end it; ASHA decides
    the same STOP there). None for BOHB: HyperBand pauses and resumes its trials and must see their max_t result."""
    return None if settings.algorithm == "bohb" else {TRAINING_ITERATION: settings.asha.max_t}


def check_new_study(url: str, name: str, where: str = "") -> None:
    """UserError unless ``url`` opens and holds no study ``name`` (Optuna would merge a new search into it)."""
    import optuna

    try:
        names = optuna.study.get_all_study_names(optuna_storage(url))
    except UserError as err:
        raise UserError(f"{where}{err}") from None
    if name in names:
        raise UserError(f"{where}search.optuna_storage: {url!r} already holds a study named {name!r}; pick "
                        f"another --name, or remove it with `optuna delete-study --study-name {name} --storage {url}`")
