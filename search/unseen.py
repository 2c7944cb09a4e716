"""A GP sampler that does not spend a trial on a configuration the search already has.

Every trial of a search trains with its seed, so a configuration tried twice scores the same twice: the second
run is a GPU spent for nothing. Optuna's GPSampler repeats configurations on discrete spaces. Once it has found a
good one, its acquisition's maximum is often that configuration again (half its proposals after start-up, seed 0
on the benchmark's grid-20); trials running at once can share it too (3 of 4 in
tests/test_searcher_concurrency.py). The repeat is not useless to the GP, though: the same value again tells it
the score is not noise, and its next proposal moves on. So a proposal of a finished configuration is answered
without training: a copy of that trial, its value included, is added to the study (user attribute
``repeat_of``: the trial number it repeats), and the GP proposes again. A proposal of a running or pruned
configuration, or one still repeating after ``REPEATS`` copies, gets a random configuration no trial has, as do
the start-up trials (which a plain GPSampler draws one key at a time and cannot check). A space with none left
after ``ATTEMPTS`` draws keeps the GP's proposal.
"""
from __future__ import annotations

from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, GPSampler, RandomSampler
from optuna.trial import FrozenTrial, TrialState, create_trial

REPEATS, ATTEMPTS = 3, 100
TRIED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
REPEAT_OF = "repeat_of"


class UnseenGPSampler(BaseSampler):
    """GPSampler(seed, n_startup_trials) whose every proposal is a configuration no other trial of the study has.

    ``space``: the search's distributions by name, which Tune's searcher sets once it knows them
    (``PruningAwareOptunaSearch``); without it the GP samples as it would alone."""

    def __init__(self, seed: int | None, n_startup_trials: int):  # both from SearchSettings
        self._gp = GPSampler(seed=seed, n_startup_trials=n_startup_trials)
        self._random = RandomSampler(seed=seed)
        self.space: dict[str, BaseDistribution] | None = None

    def infer_relative_search_space(self, study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """The whole space, sorted by name as the GP's own (an intersection of finished trials) would be."""
        return dict(sorted(self.space.items())) if self.space else self._gp.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not self.space:
            return self._gp.sample_relative(study, trial, search_space)
        names = list(self.space)  # random draws in Tune's order, as a plain GPSampler's start-up makes them
        seen = tried(study, trial, names)  # a copy added below repeats a configuration already in it
        proposal: dict[str, Any] = {}
        for _ in range(REPEATS):
            proposal = self._gp.sample_relative(study, trial, search_space)  # {} until its start-up trials ended
            same = seen.get(key(proposal, names)) if proposal else None
            if same is None or same.state != TrialState.COMPLETE:
                break
            study.add_trial(create_trial(params=same.params, distributions=same.distributions, value=same.value,
                                         user_attrs={REPEAT_OF: same.user_attrs.get(REPEAT_OF, same.number)}))
        proposed = proposal
        for _ in range(ATTEMPTS):
            if proposal and key(proposal, names) not in seen:
                return proposal
            proposal = {n: self._random.sample_independent(study, trial, n, search_space[n]) for n in names}
        return proposed or proposal

    def sample_independent(self, study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution):
        return self._gp.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial: FrozenTrial) -> None:
        self._gp.before_trial(study, trial)

    def after_trial(self, study, trial: FrozenTrial, state: TrialState, values) -> None:
        self._gp.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._gp.reseed_rng()
        self._random.reseed_rng()


def key(params: dict[str, Any], names: list[str]) -> tuple:
    return tuple(params[n] for n in names)


def tried(study, trial: FrozenTrial, names: list[str]) -> dict[tuple, FrozenTrial]:
    """The study's other finished, pruned and running trials by configuration (finished ones win)."""
    found: dict[tuple, FrozenTrial] = {}
    for other in study.get_trials(deepcopy=False, states=TRIED):
        if other.number != trial.number and all(n in other.params for n in names):
            if found.get(key(other.params, names)) is None or other.state == TrialState.COMPLETE:
                found[key(other.params, names)] = other
    return found
