"""``asha.full_start``: ASHA leaves the first N trials unstopped, and with 0 it is Ray's ASHA unchanged.
Driven by bench/search_replay.py (the real searcher and scheduler in Tune's order) on the analytic landscape."""
import pytest
from ray.tune.result import TRAINING_ITERATION
from ray.tune.schedulers import ASHAScheduler

from bench.landscapes import TPE_ASHA, trap
from bench.search_efficiency import merged
from bench.search_replay import replay
from search.settings import SearchSettings
from search.objective import OBJECTIVE
from search.searcher import build_scheduler, build_searcher

pytestmark = pytest.mark.timeout(120)


def settings_with(**asha) -> SearchSettings:
    landscape = trap(max_t=9, num_samples=16)
    block = merged(landscape.settings.model_dump(), TPE_ASHA)
    block["asha"].update(asha)
    return SearchSettings.model_validate({**block, "tpe": {"n_startup_trials": 5}})


def replayed(settings: SearchSettings, scheduler):
    landscape = trap(max_t=9, num_samples=16)
    return replay(build_searcher(settings, []), scheduler, landscape.param_space, landscape.curve,
                  metric="val_corr", mode="max", objective=OBJECTIVE, num_samples=16, max_concurrent=1, max_t=9)


def test_the_first_trials_run_to_max_t_or_their_own_end_and_later_ones_are_still_cut():
    run = replayed(settings_with(full_start=6), build_scheduler(settings_with(full_start=6)))
    landscape = trap()
    for trial in run.trials[:6]:
        assert not trial["stopped_early"]
        assert trial["epochs"] == min(len(landscape.curve(trial["config"])), 9)
    assert any(trial["stopped_early"] for trial in run.trials[6:])


def test_full_start_zero_is_rays_asha():
    settings = settings_with(full_start=0)
    plain = ASHAScheduler(time_attr=TRAINING_ITERATION, max_t=9, grace_period=settings.asha.grace_period,
                          reduction_factor=settings.asha.reduction_factor)
    ours, theirs = replayed(settings, build_scheduler(settings)), replayed(settings, plain)
    assert ours.events == theirs.events and ours.trials == theirs.trials
    assert any(trial["stopped_early"] for trial in ours.trials)
