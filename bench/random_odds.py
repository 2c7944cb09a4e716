"""Random search without early stopping, worked out from a landscape instead of replayed.

Its trials are independent draws from the search space, each trained to ``max_t`` (or until the trainer stops by
itself), so its epochs to a target need no searcher and no budget: thousands of searches are simulated from one
stream of draws, each ending at its first configuration that reaches the target. That gives random search's median
epochs to target where 30 replayed searches of 32 trials mostly never get there (issue 22's "vs random"), and its
chance of getting there within any budget. The draws use Tune's own domains (``Domain.sample``), whose
distributions are the ones Optuna's RandomSampler draws from (uniform choices and integers, log-uniform floats).
"""
from __future__ import annotations

import numpy as np

CHUNK = 50_000  # configurations drawn at a time


def domains(space: dict, prefix: tuple = ()) -> list[tuple[tuple, object]]:
    """``space`` flattened: (key path, Tune domain or constant) pairs."""
    pairs = []
    for key, value in space.items():
        if isinstance(value, dict):
            pairs += domains(value, (*prefix, key))
        else:
            pairs.append(((*prefix, key), value))
    return pairs


def draw(space: dict, size: int, rng: np.random.Generator) -> list[tuple[tuple, dict]]:
    """``size`` configurations drawn independently from ``space``, each as (its drawn values, the config nested
    as the Tuner passes it)."""
    from ray.tune.search.sample import Domain

    pairs = domains(space)
    columns = [[v.item() if isinstance(v, np.generic) else v for v in value.sample(size=size, random_state=rng)]
               if isinstance(value, Domain) else [value] * size for _, value in pairs]
    drawn = [i for i, (_, value) in enumerate(pairs) if isinstance(value, Domain)]
    configs = []
    for row in zip(*columns):
        config: dict = {}
        for (path, _), value in zip(pairs, row):
            node = config
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
        configs.append((tuple(row[i] for i in drawn), config))
    return configs


def epochs_to_target(landscape, target: float, searches: int = 2000, seed: int = 0) -> np.ndarray:
    """Epochs each of ``searches`` random searches spends until its first epoch at or above ``target``: one
    stream of draws, a search ending at its first configuration that reaches it and the next starting after."""
    rng = np.random.default_rng(seed)
    cost = costing(landscape, target)
    found: list[float] = []
    carried = 0  # epochs the search under way spent in earlier chunks
    while len(found) < searches:
        spent = np.array([cost(key, config) for key, config in draw(landscape.param_space, CHUNK, rng)])
        hit = spent[:, 1] > 0
        paid = np.where(hit, spent[:, 1], spent[:, 0]).cumsum()  # a hit counts up to its first epoch at target
        ends = paid[hit]
        if len(ends):
            found += [carried + ends[0], *np.diff(ends)]
            carried = paid[-1] - ends[-1]
        else:
            carried += paid[-1]
    return np.array(found[:searches], dtype=float)


def costing(landscape, target: float):
    """(drawn values, config) -> (epochs it trains, epoch of its first value >= target, 0 if none); cached
    per configuration where the space is discrete."""
    from ray.tune.search.sample import Categorical, Domain, Integer

    discrete = all(isinstance(v, (Categorical, Integer)) for _, v in domains(landscape.param_space)
                   if isinstance(v, Domain))
    cache: dict[tuple, tuple[int, int]] = {}

    def cost(key: tuple, config: dict) -> tuple[int, int]:
        if key in cache:
            return cache[key]
        curve = landscape.curve(config)[:landscape.max_t]
        value = len(curve), next((epoch for epoch, v in enumerate(curve, 1) if v >= target), 0)
        if discrete:
            cache[key] = value
        return value
    return cost
