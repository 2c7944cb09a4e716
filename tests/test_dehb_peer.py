"""bench/dehb_peer.py: the Tune search space as DEHB sees it and back, and a DEHB search's epoch accounting."""
import pytest
from ray import tune

from bench.dehb_peer import TuneSpace
from bench.hpo_tables import tabular
from bench.landscapes import trap
from bench.search_peers import OWN_FIDELITIES, dehb_peer_search, one_search

pytestmark = pytest.mark.timeout(120)
DEHB = "DEHB (its own fidelities)"


def test_the_tune_space_round_trips_through_configspace():
    space = {"model": {"layers": tune.randint(1, 4), "channels": tune.choice([4, 8, 16]), "kern": 9},
             "trainer": {"lr": tune.loguniform(1e-4, 3e-2), "steps": tune.choice([[1, 2], [3]])}}
    encoded = TuneSpace(space, seed=0)
    layers, lr = encoded.configspace["model/layers"], encoded.configspace["trainer/lr"]
    assert (layers.lower, layers.upper, layers.log) == (1, 3, False)  # randint's upper bound is exclusive
    assert (lr.lower, lr.upper, lr.log) == (1e-4, 3e-2, True)
    assert sorted(encoded.configspace) == ["model/channels", "model/layers", "trainer/lr", "trainer/steps"]

    configs = [encoded.config(c) for c in encoded.configspace.sample_configuration(200)]
    assert {c["model"]["kern"] for c in configs} == {9}
    assert {c["model"]["layers"] for c in configs} == {1, 2, 3}
    assert all(type(c["model"]["layers"]) is int for c in configs)
    assert {c["model"]["channels"] for c in configs} == {4, 8, 16}
    assert {tuple(c["trainer"]["steps"]) for c in configs} == {(1, 2), (3,)}
    assert all(1e-4 <= c["trainer"]["lr"] <= 3e-2 for c in configs)
    assert isinstance(space["model"]["layers"], tune.search.sample.Integer)  # the space itself is left as it was

    with pytest.raises(ValueError, match="model/size: Quantized"):
        TuneSpace({"model": {"size": tune.qrandint(8, 64, 8)}}, seed=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_dehb_search_spends_its_epoch_budget_and_reports_the_best_it_spent(seed):
    landscape = trap(max_t=9, num_samples=8)
    spent = dehb_peer_search(landscape, seed)
    assert len(spent) == 8 * 9  # num_samples x max_t, the last job cut to what was left
    assert spent == dehb_peer_search(landscape, seed)  # the searcher seed fixes the search
    record = one_search(landscape, DEHB, seed)
    assert record["spent"] == len(spent) and record["best"] == max(spent)
    assert record["to_target"] is None or spent[record["to_target"] - 1] >= landscape.best_known - 0.02


def test_on_a_one_epoch_landscape_de_runs_one_evaluation_per_trial():
    landscape = tabular("hpobench", "kc1", num_samples=32)
    spent = OWN_FIDELITIES[DEHB](landscape, 0)
    assert len(spent) == 32
    assert len(set(spent)) > 8  # more than the first population: DE evolved it
