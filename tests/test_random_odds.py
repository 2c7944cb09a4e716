"""bench/random_odds.py: random search's epochs to target, worked out from a landscape's own draws."""
import numpy as np
import pytest
from ray import tune

from bench import random_odds
from bench.landscapes import Landscape, trap
from search.settings import SearchSettings

pytestmark = pytest.mark.timeout(120)

# 4 configurations: "hit" reaches the target at its 2nd epoch; "short" stops by itself after 1 epoch.
CURVES = {"hit": [0.1, 0.5, 0.6], "short": [0.2], "slow": [0.1, 0.2, 0.3], "flat": [0.0, 0.0, 0.0]}


def toy() -> Landscape:
    settings = SearchSettings(metric="val_corr", num_samples=8, max_concurrent=1, asha={"max_t": 3})
    return Landscape("toy", {"model": {"kind": tune.choice(sorted(CURVES)), "fixed": 7}},
                     lambda config: CURVES[config["model"]["kind"]], 3, 0.6, settings)


def by_hand(landscape: Landscape, searches: int, chunk: int) -> list[int]:
    """The same draws, walked one configuration at a time."""
    rng, found, spent = np.random.default_rng(0), [], 0
    while len(found) < searches:
        for _, config in random_odds.draw(landscape.param_space, chunk, rng):
            curve = landscape.curve(config)
            first = next((epoch for epoch, v in enumerate(curve, 1) if v >= 0.45), None)
            if first is None:
                spent += len(curve)
            else:
                found.append(spent + first)
                spent = 0
    return found[:searches]


def test_draws_nest_as_the_tuner_passes_them_and_keep_constants():
    drawn = random_odds.draw(toy().param_space, 400, np.random.default_rng(0))
    assert {config["model"]["fixed"] for _, config in drawn} == {7}
    assert {config["model"]["kind"] for _, config in drawn} == set(CURVES)
    assert all(key == (config["model"]["kind"],) for key, config in drawn)


@pytest.mark.parametrize("chunk", [3, 50])
def test_each_search_pays_whole_misses_and_the_hit_up_to_its_first_epoch_at_target(monkeypatch, chunk):
    monkeypatch.setattr(random_odds, "CHUNK", chunk)  # a search spanning chunks carries its epochs over
    landscape = toy()
    worked_out = random_odds.epochs_to_target(landscape, 0.45, searches=40, seed=0)
    assert list(worked_out) == by_hand(landscape, 40, chunk)
    assert worked_out.min() == 2  # a first draw that hits: its 2 epochs


def test_trap_odds_match_its_hit_rate_worked_out_by_hand():
    """trap-9's target (0.3557) needs 2 layers, 16 channels, batch 32 and |log10(lr / 0.009)| <= 0.0819: a
    chance of 1/27 x 0.1638 / 2.477 = 0.00245 per trial; 1-layer misses cost 7 epochs, the others 9."""
    landscape = trap(9)
    odds = random_odds.epochs_to_target(landscape, landscape.best_known - 0.02, searches=400, seed=1)
    p = 1 / 27 * 2 * 0.0819 / np.log10(3e-2 / 1e-4)
    expected = (1 - p) / p * (7 + 9 + 9) / 3 + 9  # misses x their mean cost + the hit's 8-9 epochs
    assert abs(odds.mean() - expected) < 4 * odds.std() / np.sqrt(len(odds))
