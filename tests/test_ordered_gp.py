"""bench/ordered_gp.py: a GP that models a choice of numbers by rank, and proposes only the options given; one
that picks, per proposal, the categorical or the ordered GP by marginal likelihood; and one that takes turns."""
from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from bench.ordered_gp import AlternatingGPSampler, EvidenceGPSampler, OrderedGPSampler, ordered_options

pytestmark = pytest.mark.timeout(120)
optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("choices, options", [
    ([16, 4, 8], [4, 8, 16]), ([1, 2, 3], [1, 2, 3]), ([0, 0.5, 1e-3], [0, 1e-3, 0.5]),
    (["none", "skip"], None), ([True, False], None), ([3], None), ([2, 2.0], None), ([1, "a"], None)])
def test_only_distinct_numbers_are_ordered(choices, options):
    assert ordered_options(choices) == options


WIDTHS = [2 ** k for k in range(2, 14)]  # 4 .. 8192: twelve options
TRIED = [4, 8, 16, 256, 512, 1024, 4096, 8192]  # the peak, at 64 or 128, lies between tried options
WIDTH = {"width": CategoricalDistribution(WIDTHS)}  # the studies' one key


def score(width: int) -> float:
    return -(math.log2(width) - 6.5) ** 2


def study_with(sampler, tried: list[int], scores=score, running: list[int] = ()) -> optuna.Study:
    """A study of ``sampler`` on one key, ``width``, with ``tried`` finished and ``running`` still running."""
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for width in tried:
        study.add_trial(create_trial(params={"width": width}, distributions=WIDTH, value=scores(width)))
    for width in running:
        study.add_trial(create_trial(params={"width": width}, distributions=WIDTH, state=TrialState.RUNNING))
    return study


def proposal(study: optuna.Study, space: dict) -> dict:
    """What the study's sampler proposes for its next trial over ``space``."""
    trial = study.ask()
    return study.sampler.sample_relative(study, study._storage.get_trial(trial._trial_id), space)


@pytest.mark.parametrize("seed", range(4))
def test_the_gp_proposes_an_untried_option_between_the_best_tried_ones(seed):
    """A categorical kernel learns nothing about 64 from 16 and 256 (Optuna's GPSampler proposed 2048 on seeds
    0 and 3 here); by rank the GP aims between them."""
    study = study_with(OrderedGPSampler(seed=seed, n_startup_trials=len(TRIED)), TRIED)
    width = proposal(study, WIDTH)["width"]
    assert width in {64, 128} and type(width) is int


@pytest.mark.parametrize("seed", range(2))
def test_a_choice_of_fewer_than_min_options_stays_a_label(seed):
    """Twelve widths: ranked from 12 options up, left to Optuna's categorical kernel from 13."""
    def proposed(sampler) -> int:
        return proposal(study_with(sampler, TRIED), WIDTH)["width"]

    categorical = proposed(optuna.samplers.GPSampler(seed=seed, n_startup_trials=len(TRIED)))
    assert proposed(OrderedGPSampler(seed=seed, n_startup_trials=len(TRIED), min_options=13)) == categorical
    assert proposed(OrderedGPSampler(seed=seed, n_startup_trials=len(TRIED), min_options=12)) in {64, 128}


def test_a_running_trial_is_read_by_rank_too():
    """Optuna's qLogEI counts a running trial as taken: with 128 running, the GP aims at the other side, 64."""
    study = study_with(OrderedGPSampler(seed=0, n_startup_trials=len(TRIED)), TRIED, running=[128])
    assert proposal(study, WIDTH)["width"] == 64


def test_choices_that_are_not_numbers_stay_categorical():
    ops = CategoricalDistribution(["none", "skip_connect", "conv"])
    study = optuna.create_study(direction="maximize", sampler=OrderedGPSampler(seed=0, n_startup_trials=3))
    for op, value in zip(ops.choices, (0.1, 0.5, 0.9)):
        study.add_trial(create_trial(params={"op": op}, distributions={"op": ops}, value=value))
    assert proposal(study, {"op": ops})["op"] in ops.choices


def started(sampler: EvidenceGPSampler) -> EvidenceGPSampler:
    """``sampler`` with both its GPs done with start-up once ``TRIED`` have finished."""
    for model in sampler.models:
        model._n_startup_trials = len(TRIED)
    return sampler


def proposed_by_evidence(scores, seed: int = 0) -> tuple[list[int], dict]:
    sampler = started(EvidenceGPSampler(seed=seed))
    proposed = proposal(study_with(sampler, TRIED, scores), WIDTH)
    return sampler.picks, proposed


@pytest.mark.parametrize("seed", range(3))
def test_evidence_picks_the_ordered_gp_where_scores_are_smooth_in_rank(seed):
    picks, proposed = proposed_by_evidence(score, seed)
    assert picks == [1] and proposed["width"] in {64, 128}


@pytest.mark.parametrize("seed", range(3))
def test_evidence_picks_the_categorical_gp_where_neighbours_disagree(seed):
    """Scores that flip sign from each option to the next: rank explains nothing there."""
    picks, _ = proposed_by_evidence(lambda width: (-1) ** int(math.log2(width)), seed)
    assert picks == [0]


@pytest.mark.parametrize("seed", range(2))
def test_alternating_takes_the_categorical_gp_on_even_trials_and_the_ordered_on_odd(seed):
    def proposed(sampler, tried: list[int]) -> int:
        return proposal(study_with(sampler, tried), WIDTH)["width"]

    even = TRIED  # eight finished trials: the next is trial 8
    assert proposed(started(AlternatingGPSampler(seed=seed)), even) == proposed(
        optuna.samplers.GPSampler(seed=seed, n_startup_trials=len(TRIED)), even)
    assert proposed(started(AlternatingGPSampler(seed=seed)), [*TRIED, 2048]) in {64, 128}
