"""The default searcher's state survives Tune's save and restore (what `search resume` relies on): a GP
searcher restored from its saved folder proposes exactly what the original proposes next."""
import pytest
from ray import tune

from search.searcher import build_searcher
from search.settings import SearchSettings

pytestmark = pytest.mark.timeout(120)
SPACE = {"model": {"layers": tune.randint(1, 4)},
         "trainer": {"lr_init": tune.loguniform(1e-4, 3e-2), "batch_size": tune.choice([32, 64, 128])}}


def searcher():
    settings = SearchSettings(metric="val_corr", num_samples=40, asha={"max_t": 4}, seed=3)
    assert settings.algorithm == "gp"
    made = build_searcher(settings, [])
    made.set_search_properties("objective", "max", SPACE)
    return made


def test_a_restored_gp_searcher_proposes_what_the_original_would(tmp_path):
    original = searcher()
    for i in range(14):  # past GP's 10 random start-up trials
        config = original.suggest(f"t{i}")
        score = config["trainer"]["lr_init"] * 100 - abs(config["model"]["layers"] - 2)
        original.on_trial_complete(f"t{i}", {"objective": score})
    running = original.suggest("running")  # one still running when the driver died
    original.save_to_dir(str(tmp_path))
    restored = searcher()
    restored.restore_from_dir(str(tmp_path))
    assert [restored.suggest(f"n{i}") for i in range(3)] == [original.suggest(f"n{i}") for i in range(3)]
    assert running is not None
