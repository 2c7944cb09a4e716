"""DEHB (the ``dehb`` package) as a search peer on a bench/landscapes.py landscape. DEHB is a multi-fidelity
method of its own: it picks both the configuration and the fidelity (epochs), so it is driven through its
ask/tell interface here, not replayed as a Ray searcher and scheduler pair.

A job at fidelity f trains from scratch (DEHB does not resume a trial), so it spends the first f epochs of the
configuration's curve (fewer where the trainer stops by itself) and scores their running best, as the project's
trainable reports it; DEHB minimises, so it is told the negative.
"""
from __future__ import annotations

import copy
import tempfile
from contextlib import contextmanager

from ray.tune.search.sample import Categorical, Domain, Float, Integer, LogUniform, Quantized, Uniform
from ray.tune.search.variant_generator import assign_value, parse_spec_vars

# DEHB's own defaults, given to DE too (DE's constructor has none for the first two).
DE_SETTINGS = {"mutation_factor": 0.5, "crossover_prob": 0.5, "strategy": "rand1_bin"}
GENERATIONS = 3  # DE (max_t 1): a population of a quarter of the evaluations, evolved this many times after it


class TuneSpace:
    """A Tune ``param_space`` as a ConfigSpace (seeded, so DEHB's first population follows the searcher seed), and
    a ConfigSpace configuration back as the Tune config it stands for, constants included. A ``choice`` becomes a
    categorical over its options' indices, so options need not be hashable."""

    def __init__(self, param_space: dict, seed: int):
        import ConfigSpace

        _, self.domains, grids = parse_spec_vars(param_space)
        if grids:
            raise ValueError(f"{[p for p, _ in grids]}: grid_search has no ConfigSpace counterpart")
        self.param_space = param_space
        self.configspace = ConfigSpace.ConfigurationSpace(seed=seed)
        self.configspace.add([hyperparameter("/".join(path), domain) for path, domain in self.domains])

    def config(self, configuration) -> dict:
        config = copy.deepcopy(self.param_space)
        for path, domain in self.domains:
            value = configuration["/".join(path)]
            if isinstance(domain, Categorical):
                value = domain.categories[int(value)]
            assign_value(config, path, int(value) if isinstance(domain, Integer) else value)
        return config


def hyperparameter(name: str, domain: Domain):
    """The ConfigSpace hyperparameter of one Tune domain: choice, (log)uniform floats and (log)randint."""
    import ConfigSpace

    if isinstance(domain, Categorical):
        return ConfigSpace.CategoricalHyperparameter(name, list(range(len(domain.categories))))
    sampler = domain.get_sampler()
    if isinstance(sampler, Quantized) or not isinstance(sampler, (Uniform, LogUniform)):
        raise ValueError(f"{name}: {type(sampler).__name__} sampling has no ConfigSpace counterpart here")
    log = isinstance(sampler, LogUniform)
    if isinstance(domain, Integer):  # Tune's upper bound is exclusive, ConfigSpace's inclusive
        return ConfigSpace.UniformIntegerHyperparameter(name, domain.lower, domain.upper - 1, log=log)
    if isinstance(domain, Float):
        return ConfigSpace.UniformFloatHyperparameter(name, domain.lower, domain.upper, log=log)
    raise ValueError(f"{name}: {type(domain).__name__} has no ConfigSpace counterpart here")


@contextmanager
def loguru_dropped():
    """``import dehb`` points loguru at stdout and each DEHB adds a log file (with a writer thread) that is never
    removed: both are dropped around a search, the bench prints its own table. Nothing else here uses loguru."""
    from loguru import logger

    logger.remove()
    try:
        yield
    finally:
        logger.remove()


def dehb_search(landscape, seed: int, *, min_fidelity: int, eta: int, budget: int) -> list[float]:
    """The epoch values a DEHB search on ``landscape`` spends, in order, until ``budget`` epochs are spent (the last
    job is cut to what is left). Fidelities run from ``min_fidelity`` to ``landscape.max_t`` epochs, rounded to
    whole epochs. DEHB refuses a single fidelity, so with ``min_fidelity == max_t`` its DE optimiser runs instead,
    on ``budget // max_t`` evaluations at max_t."""
    from dehb import DE, DEHB

    space, spent = TuneSpace(landscape.param_space, seed), []

    def train(configuration, fidelity: float = landscape.max_t) -> dict:
        values = landscape.curve(space.config(configuration))[:min(round(fidelity), budget - len(spent))]
        spent.extend(values)
        return {"fitness": -max(values), "cost": len(values)}

    with tempfile.TemporaryDirectory() as folder, loguru_dropped():
        if min_fidelity < landscape.max_t:
            optimizer = DEHB(cs=space.configspace, min_fidelity=min_fidelity, max_fidelity=landscape.max_t, eta=eta,
                             n_workers=1, seed=seed, output_path=folder, save_freq=None, **DE_SETTINGS)
            while len(spent) < budget:
                job = optimizer.ask()
                optimizer.tell(job, train(job["config"], job["fidelity"]))
        else:
            population = budget // landscape.max_t // (GENERATIONS + 1)
            DE(cs=space.configspace, f=train, pop_size=population, seed=seed, output_path=folder,
               **DE_SETTINGS).run(generations=GENERATIONS)
    return spent
