"""Model 4's modulators: history and state inputs hand-checked on a toy session, the smooth gain, leakage."""
import math
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
import torch

from model_builders import fake_session, fake_sessions
from sensorium_models.errors import UserError
from sensorium_models.models import build_model
from sensorium_models.models.modulators import SmoothGain, half_gaussian_kernel, history_features, state_features
from sensorium_models.models.trials import recent_means, trial_means

# Five trials in file order 0..4, presented in the order 1, 3, 0, 4, 2 (order = rank of each file trial).
# Trial 0, presented third, is a test trial: it must neither advance the history nor leak its response.
ORDER = np.array([2, 0, 4, 1, 3])
TIERS = np.array(["test", "train", "train", "validation", "train"])
RESPONSES = np.array([[10.0], [1.0], [100.0], [3.0], [1000.0]])


def toy(responses=RESPONSES, behavior=None):
    session = fake_session("toy", n_trials=5, n_neurons=1)
    behavior = np.arange(15, dtype=np.float32).reshape(5, 3) if behavior is None else behavior
    return replace(session, tiers=TIERS, roles=None, order=ORDER, responses=responses.astype(np.float32),
                   behavior=behavior)


def test_history_is_a_causal_moving_average_that_skips_test_trials_and_never_sees_itself():
    features = history_features(toy(), [1.0, 4.0]).astype(np.float64)
    for k, tau in enumerate([1.0, 4.0]):
        a = 1 - math.exp(-1 / tau)
        after_trial1 = a * 1.0                                   # presented 1st
        after_trial3 = after_trial1 + a * (3.0 - after_trial1)   # presented 2nd
        # trial 0 (3rd, test) sees after_trial3 and changes nothing
        after_trial4 = after_trial3 + a * (1000.0 - after_trial3)  # presented 4th
        expected = [after_trial3, 0.0, after_trial4, after_trial1, after_trial3]
        np.testing.assert_allclose(features[:, 0, k], expected, rtol=2e-3)


def test_history_ignores_the_test_trial_response_and_each_trial_its_own():
    base = history_features(toy(), [2.0])
    test_changed = RESPONSES.copy()
    test_changed[0] = -555.0
    np.testing.assert_array_equal(history_features(toy(test_changed), [2.0]), base)
    own_changed = RESPONSES.copy()
    own_changed[4] = 7.0  # trial 4's response may change later trials' features, never its own
    changed = history_features(toy(own_changed), [2.0])
    assert changed[4, 0, 0] == base[4, 0, 0] and changed[2, 0, 0] != base[2, 0, 0]


def test_model4_history_is_the_mean_of_the_last_l_usable_trials_zero_padded():
    # presented 1 (train, 1), 3 (validation, 3), 0 (test, 10), 4 (train, 1000), 2 (train, 100)
    expected = np.array([
        [3.0, 2.0, 4.0 / 3],            # trial 0: windows (3), (1, 3), (0, 1, 3)
        [0.0, 0.0, 0.0],                # trial 1: presented first
        [1000.0, 501.5, 1004.0 / 3],    # trial 2: the test trial 0 never entered a window
        [1.0, 0.5, 1.0 / 3],            # trial 3: only trial 1 before it
        [3.0, 2.0, 4.0 / 3],            # trial 4: as trial 0, whose response is not available
    ])
    np.testing.assert_allclose(recent_means(toy(), [1, 2, 3])[:, 0], expected, rtol=1e-6)
    features = history_features(toy(), [1.0], [1, 2, 3])
    assert features.dtype == np.float16 and features.shape == (5, 1, 4)
    np.testing.assert_allclose(features[:, 0, 1:], expected, rtol=1e-3)  # after the moving average
    np.testing.assert_array_equal(features[:, :, :1], history_features(toy(), [1.0]))


def test_model4_history_ignores_the_test_trial_response_and_each_trial_its_own():
    base = recent_means(toy(), [1, 2])
    test_changed = RESPONSES.copy()
    test_changed[0] = -555.0
    np.testing.assert_array_equal(recent_means(toy(test_changed), [1, 2]), base)
    own_changed = RESPONSES.copy()
    own_changed[4] = 7.0
    changed = recent_means(toy(own_changed), [1, 2])
    np.testing.assert_array_equal(changed[4], base[4])
    assert changed[2, 0, 0] == 7.0 and base[2, 0, 0] == 1000.0


def test_standardized_history_is_z_scored_over_the_training_trials_and_still_blind_to_test_trials():
    raw = history_features(toy(), [1.0, 4.0], [2]).astype(np.float64)
    features = history_features(toy(), [1.0, 4.0], [2], standardize=True).astype(np.float64)
    train = TIERS == "train"
    mean, std = raw[train].mean(axis=0), raw[train].std(axis=0)
    np.testing.assert_allclose(features, (raw - mean) / std, rtol=2e-3, atol=2e-3)  # validation rows too
    np.testing.assert_allclose(features[train].mean(axis=0), 0.0, atol=2e-3)
    np.testing.assert_allclose(features[train].std(axis=0), 1.0, rtol=2e-3)
    test_changed = RESPONSES.copy()
    test_changed[0] = -555.0
    np.testing.assert_array_equal(history_features(toy(test_changed), [1.0, 4.0], [2], standardize=True),
                                  history_features(toy(), [1.0, 4.0], [2], standardize=True))


def test_a_constant_history_regressor_standardizes_to_zero():
    features = history_features(toy(np.zeros((5, 1))), [2.0], [1], standardize=True)  # silent: all zero
    assert np.isfinite(features).all()
    np.testing.assert_array_equal(features, 0.0)


def test_history_needs_some_regressor():
    with pytest.raises(UserError, match="history_taus or history_lags must list one"):
        build_model(fake_sessions(), {"hidden_channels": 4, "layers": 1, "history": True, "history_taus": []}, seed=0)


def test_state_is_the_previous_trials_behaviour_and_the_last_usable_population_response():
    features = state_features(toy(), ["behavior", "response"])
    behavior = np.arange(15, dtype=np.float32).reshape(5, 3)
    # presented 1, 3, 0, 4, 2: previous trials are -, 1, 3, 0, 4; last usable responses 0, 1, 3, 3, 1000
    expected = np.array([
        [*behavior[3], 3.0],
        [0.0, 0.0, 0.0, 0.0],
        [*behavior[4], 1000.0],
        [*behavior[1], 1.0],
        [*behavior[0], 3.0],
    ])
    np.testing.assert_allclose(features, expected)
    np.testing.assert_allclose(state_features(toy(), ["response"]), expected[:, 3:])


def test_video_trials_are_summarised_over_their_valid_frames():
    session = fake_session("v", kind="video", n_trials=2, n_neurons=1, frames=4)
    session.lengths = np.array([4, 2])
    responses = np.array([[1.0, 2.0, 3.0, 6.0], [4.0, 8.0, 0.0, 0.0]])[:, :, None]
    np.testing.assert_allclose(trial_means(session, responses), [[3.0], [6.0]])


def ragged_video():
    session = fake_session("v", kind="video", n_trials=12, n_neurons=30, frames=40, seed=5)
    session.lengths = np.random.default_rng(5).integers(1, 41, 12)
    return session


def test_video_trial_means_are_unchanged_by_streaming_trial_by_trial():
    # The whole-array definition it replaced: float64 copy, masked to valid frames, summed, divided.
    session = ragged_video()
    responses = session.responses.astype(np.float32)
    valid = np.arange(40)[None, :] < session.lengths[:, None]
    whole = (responses.astype(np.float64) * valid[:, :, None]).sum(axis=1) / session.lengths[:, None]
    np.testing.assert_array_equal(trial_means(session, responses), whole)


def test_video_trial_means_hold_one_trial_at_a_time_not_a_float64_copy_of_the_responses():
    session = ragged_video()
    responses = np.random.default_rng(0).random((12, 40, 2000), dtype=np.float32)   # 3.8 MB
    tracemalloc.start()
    try:
        means = trial_means(session, responses)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    one_trial = 40 * 2000 * 8
    assert peak <= 2 * means.nbytes + 2 * one_trial, peak   # the float64 copy alone was 2 x 3.8 MB


@pytest.mark.parametrize("switch", ["history", "state", "gain"])
def test_a_session_without_presentation_order_is_named_in_the_error(switch):
    sessions = [fake_session("has-order"), fake_session("no-order", seed=3, with_order=False)]
    with pytest.raises(UserError, match="'no-order'.*presentation order"):
        build_model(sessions, {"hidden_channels": 4, "layers": 1, switch: True}, seed=0)
    build_model(sessions, {"hidden_channels": 4, "layers": 1}, seed=0)  # no modulator: order not needed


def test_half_gaussian_kernel_is_causal_normalised_and_decreasing():
    kernel = half_gaussian_kernel(2.0)
    assert len(kernel) == 7 and kernel.sum().item() == pytest.approx(1.0)
    assert torch.all(kernel[1:] < kernel[:-1])
    assert kernel[2].item() / kernel[0].item() == pytest.approx(math.exp(-0.5))


def test_model4_gain_kernel_is_the_originals_half_window():
    from scipy.signal.windows import gaussian

    window = gaussian(201, std=30)  # HistoryStateGainModulator: taps 0..99 zeroed, the rest normalised
    window[:100] = 0
    original = window[100:] / window.sum()  # lag k is tap 100 + k (conv1d with padding 'same')
    np.testing.assert_allclose(half_gaussian_kernel(30.0, 100).numpy(), original, rtol=1e-5)


def test_gain_at_a_position_depends_only_on_that_position_and_earlier_ones():
    gain = SmoothGain(np.arange(50), n_neurons=3, kernel_std=3.0, diff_reg=1.0, coupling_l1=1.0)
    before = gain.position_gain().detach()
    with torch.no_grad():
        gain.free_gain[30] += 1.0
    after = gain.position_gain().detach()
    assert torch.equal(after[:30], before[:30]) and torch.all(after[30:40] > before[30:40])


def test_gain_of_a_constant_free_gain_and_its_per_neuron_coupling():
    gain = SmoothGain(np.arange(40), n_neurons=2, kernel_std=2.0, diff_reg=1.0, coupling_l1=1.0)
    with torch.no_grad():
        gain.free_gain.fill_(0.5)
        gain.coupling.copy_(torch.tensor([0.0, 1.0]))
    g = gain.position_gain()
    assert g[0].item() == pytest.approx(0.5 * half_gaussian_kernel(2.0)[0].item() + 1)  # only lag 0 exists
    assert torch.allclose(g[10:], torch.full((30,), 1.5))  # a full window: elu(0.5) + 1
    factor = gain(torch.tensor([20]))[0]
    assert factor[0].item() == pytest.approx(1.5)       # c = elu(0) + 1 = 1
    assert factor[1].item() == pytest.approx(2.0)       # c = elu(1) + 1 = 2 → elu(2 · 0.5) + 1


def test_gain_penalties_smoothness_and_coupling_l1():
    gain = SmoothGain(np.arange(3), n_neurons=2, kernel_std=1.0, diff_reg=10.0, coupling_l1=0.5)
    with torch.no_grad():
        gain.free_gain.copy_(torch.tensor([0.0, 1.0, 3.0]))
        gain.coupling.copy_(torch.tensor([-2.0, 1.0]))
    assert gain.regularizer().item() == pytest.approx(10.0 * (1 + 4) + 0.5 * 3.0)


def test_modulators_are_built_per_session_and_looked_up_by_trial():
    sessions = fake_sessions()
    model = build_model(sessions, {"hidden_channels": 4, "layers": 1, "history": True, "state": True,
                                   "gain": True, "history_taus": [1.5, 8.0]}, seed=0)
    for session in sessions:
        expected = torch.as_tensor(history_features(session, [1.5, 8.0])).float()
        assert torch.equal(model.history[session.key].features.float(), expected)
        standardized = build_model([session], {"hidden_channels": 4, "layers": 1, "history": True,
                                               "history_taus": [1.5, 8.0], "history_standardize": True}, seed=0)
        expected = torch.as_tensor(history_features(session, [1.5, 8.0], standardize=True)).float()
        assert torch.equal(standardized.history[session.key].features.float(), expected)
        assert model.gain[session.key].free_gain.shape == (session.n_trials,)
    state = model.state_dict()  # the inputs are rebuilt from the sessions, not checkpointed
    assert "history.s-a.features" not in state and "state.s-a.features" not in state
    assert "history.s-a.weight" in state and "gain.s-a.free_gain" in state
