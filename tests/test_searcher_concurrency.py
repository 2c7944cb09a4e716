"""The default GP searcher spends no trial on a configuration the search already has: trials train with the
search's seed, so a repeat scores the same (search.unseen). Trials run concurrently on a cluster
(``search.max_concurrent``, 2 by default), where a plain GPSampler gave 3 of 4 free workers one configuration
(seed 0 below), and one at a time it proposed 12 distinct configurations in the 24 trials below."""
import pytest
from ray import tune

from search.searcher import build_searcher
from search.settings import SearchSettings
from search.unseen import REPEAT_OF

pytestmark = pytest.mark.timeout(180)
SPACE = {"model": {"layers": tune.randint(1, 7)}, "trainer": {"batch_size": tune.choice([16, 32, 64, 128])}}
POINTS = 6 * 4


def searcher(seed: int):
    settings = SearchSettings(metric="val_corr", num_samples=40, asha={"max_t": 4}, seed=seed)
    made = build_searcher(settings, [])
    made.set_search_properties("objective", "max", SPACE)
    return made


def point(config: dict) -> tuple:
    return config["model"]["layers"], config["trainer"]["batch_size"]


def score(config: dict) -> float:
    """Peaked at 3 layers, batch 32."""
    return -abs(config["model"]["layers"] - 3) - abs(config["trainer"]["batch_size"] - 32) / 32


def fitted(seed: int, trials: int = 12):
    made = searcher(seed)
    for i in range(trials):  # past the GP's 10 start-up trials
        config = made.suggest(f"t{i}")
        made.on_trial_complete(f"t{i}", {"objective": score(config)})
    return made


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_four_trials_running_at_once_get_four_different_configurations(seed):
    made = fitted(seed)
    running = [point(made.suggest(f"running{i}")) for i in range(4)]
    assert len(set(running)) == 4, running


def test_a_search_one_trial_at_a_time_tries_every_configuration_once_before_any_again():
    made = searcher(0)
    tried = []
    for i in range(POINTS + 1):
        config = made.suggest(f"t{i}")
        tried.append(point(config))
        made.on_trial_complete(f"t{i}", {"objective": score(config)})
    assert len(set(tried[:POINTS])) == POINTS  # the whole space, each once
    assert tried[POINTS] in tried[:POINTS]     # then, with nothing left, the GP's own proposal
    study = made._ot_study
    copies = [t for t in study.trials if REPEAT_OF in t.user_attrs]
    assert copies  # the GP did propose finished configurations again: they were recorded, not trained
    for copy in copies:
        original = study.trials[copy.user_attrs[REPEAT_OF]]
        assert (copy.params, copy.value) == (original.params, original.value)

