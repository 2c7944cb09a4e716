"""Model 4's network state (sqrt → PCA → reduced-rank VAR → NMF): shapes, no leak of held-out responses, cache."""
from dataclasses import replace

import numpy as np
import pytest

from data_builders import static_parts, write
from model_builders import fake_session
from sensorium_models.data import load_sessions
from sensorium_models.errors import UserError
from sensorium_models.models import build_model
from sensorium_models.models.network_state import NetworkState, reduced_rank_var
from sensorium_models.models.trials import presentation_ranks

SMALL_STATE = {"hidden_channels": 4, "layers": 1, "state": True, "state_inputs": ["behavior", "network"]}


def session(n_trials=60, n_neurons=12, seed=0):
    return fake_session("ns", n_trials=n_trials, n_neurons=n_neurons, seed=seed)


def test_state_has_one_row_per_trial_and_one_non_negative_column_per_component():
    state = NetworkState(pca_components=500, var_rank=20, components=10).features(session())
    assert state.shape == (60, 10) and state.dtype == np.float32
    assert np.all(np.isfinite(state)) and np.all(state >= 0) and state.std(axis=0).max() > 0
    assert NetworkState(4, 2, 3).features(session()).shape == (60, 3)


def test_the_model_concatenates_the_state_inputs_in_order():
    sessions = [session(), fake_session("other", n_trials=40, n_neurons=9, seed=5)]
    model = build_model(sessions, {**SMALL_STATE, "state_components": 6}, seed=0)
    for s in sessions:
        features = model.state[s.key].features.numpy()
        assert features.shape == (s.n_trials, 3 + 6)
        np.testing.assert_array_equal(features[:, 3:], NetworkState(500, 20, 6).features(s))
        assert model.state[s.key].linear.weight.shape == (s.n_neurons, 9)


def test_reduced_rank_var_recovers_a_low_rank_linear_map():
    rng = np.random.default_rng(0)
    true_map = rng.normal(size=(8, 2)) @ rng.normal(size=(2, 8)) / 3
    now = rng.normal(size=(400, 8))
    w, v = reduced_rank_var(now, now @ true_map.T, rank=2)
    assert w.shape == (8, 2) and v.shape == (2, 8)
    np.testing.assert_allclose(w @ v, true_map, atol=1e-8)


def test_no_test_tier_response_enters_and_no_trial_sees_its_own():
    base_session = session()
    base = NetworkState().features(base_session)
    responses = np.array(base_session.responses)
    test = base_session.roles == "test"
    responses[test] = 50.0 * np.arange(1, 1 + base_session.n_neurons)  # every test response changed
    np.testing.assert_array_equal(NetworkState().features(replace(base_session, responses=responses)), base)

    # a validation trial's response is not fitted on: it changes the trial presented after it, never itself
    ranks = presentation_ranks(base_session, "test")
    order = np.argsort(ranks)
    validation = [t for t in order[:-1] if base_session.roles[t] == "validation"][0]
    responses = np.array(base_session.responses)
    responses[validation] *= 3.0
    changed = NetworkState().features(replace(base_session, responses=responses))
    following = order[ranks[validation] + 1]
    np.testing.assert_array_equal(changed[validation], base[validation])
    assert not np.array_equal(changed[following], base[following])
    unaffected = np.ones(len(base), dtype=bool)
    unaffected[order[ranks[validation] + 1:]] = False  # later trials may see it through their lag-1 history
    np.testing.assert_array_equal(changed[unaffected], base[unaffected])


def test_too_few_training_pairs_is_a_user_error():
    s = session(n_trials=20)
    roles = np.array(s.roles)
    roles[roles == "train"] = "validation"
    roles[np.argsort(presentation_ranks(s, "test"))[:2]] = "train"  # one pair only
    with pytest.raises(UserError, match="'ns'.*at least 2 such pairs, found 1"):
        NetworkState().features(s.with_roles(roles))


def test_the_fit_is_cached_with_the_session_and_refitted_for_other_roles(tmp_path, monkeypatch):
    folder = write(static_parts(), tmp_path, "static")
    data = {"paths": [str(folder)], "cache_dir": str(tmp_path / "cache")}
    fits = []
    real_fit = NetworkState.fit

    def counted(self, *args):
        fits.append(1)
        return real_fit(self, *args)

    monkeypatch.setattr(NetworkState, "fit", counted)
    (first,) = load_sessions(data)
    state = NetworkState().features(first)
    assert len(fits) == 1 and len(list(first.cache_entry.glob("network_state-*.npz"))) == 1
    (again,) = load_sessions(data)  # a later build, as another trial's process would do
    np.testing.assert_array_equal(NetworkState().features(again), state)
    assert len(fits) == 1

    (resplit,) = load_sessions({**data, "resplit": True}, seed=3)  # other train trials: another fit
    NetworkState().features(resplit)
    assert len(fits) == 2 and len(list(first.cache_entry.glob("network_state-*.npz"))) == 2
