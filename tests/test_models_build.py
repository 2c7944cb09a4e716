"""build_model: the contract's shapes, determinism, config validation, gradients and regularisers."""
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from model_builders import SMALL, SMALL_VIDEO, batch_of, fake_session, fake_sessions
from sensorium_models.errors import UserError
from sensorium_models.models import ModelConfig, build_model

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "model"
MODEL4_SMALL = {**SMALL, "shifter": True, "behavior_channels": True, "history": True, "state": True, "gain": True}


def shipped(name: str) -> dict:
    return yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", ["sota2022", "sensorium_plus", "model4", "model4_ema"])
def test_shipped_static_configs_give_positive_rates_shaped_like_the_responses(name):
    sessions = fake_sessions()
    model = build_model(sessions, shipped(name), seed=0)
    for session in sessions:
        batch = batch_of(session, trials=[0, 5, 11])
        rates = model(batch)
        assert rates.shape == batch.responses.shape == (3, 7)
        assert torch.all(rates > 0)
    assert model.burn_in == 0


def test_defaults_are_the_2022_sota_config():
    assert ModelConfig() == ModelConfig.model_validate(shipped("sota2022"))


def test_same_seed_same_weights_other_seed_other_weights_global_rng_untouched():
    sessions = fake_sessions()
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = build_model(sessions, MODEL4_SMALL, seed=7).state_dict()
    assert torch.equal(torch.rand(1), expected_next)
    second = build_model(sessions, MODEL4_SMALL, seed=7).state_dict()
    other = build_model(sessions, MODEL4_SMALL, seed=8).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_unknown_or_bad_keys_are_user_errors_naming_the_key():
    sessions = fake_sessions()
    with pytest.raises(UserError, match="model.hiden_channels: unknown key"):
        build_model(sessions, {"hiden_channels": 8}, seed=0)
    with pytest.raises(UserError, match="model.history_taus.1: "):
        build_model(sessions, {"history_taus": [1.0, "long"]}, seed=0)
    with pytest.raises(UserError, match="model.hidden_channels.1: Input should be greater than 0"):
        build_model(sessions, {"layers": 3, "hidden_channels": [4, 0, 4]}, seed=0)
    with pytest.raises(UserError, match="3 widths for 2 layers"):
        build_model(sessions, {"layers": 2, "hidden_channels": [4, 4, 4]}, seed=0)
    with pytest.raises(UserError, match="stack must index one of the 2 layers"):
        build_model(sessions, {**SMALL, "stack": 2}, seed=0)
    with pytest.raises(UserError, match="history_taus must all be > 0"):
        build_model(sessions, {"history_taus": [0.0]}, seed=0)
    assert isinstance(build_model(sessions, ModelConfig(**SMALL), seed=0), torch.nn.Module)


def test_sessions_must_share_one_kind_and_unique_keys():
    with pytest.raises(UserError, match="one kind.*s-a=static, s-v=video"):
        build_model([fake_session("s-a"), fake_session("s-v", kind="video")], SMALL, seed=0)
    with pytest.raises(UserError, match="unique"):
        build_model([fake_session("s-a"), fake_session("s-a", seed=4)], SMALL, seed=0)


@pytest.mark.parametrize("kind, cfg", [("static", MODEL4_SMALL), ("video", {**MODEL4_SMALL, **SMALL_VIDEO})])
def test_every_parameter_gets_a_gradient(kind, cfg):
    sessions = fake_sessions(kind, n_trials=12, frames=6)
    model = build_model(sessions, {**cfg, "grid_predictor": False}, seed=0)
    grid_model = build_model(sessions, cfg, seed=0)
    for net in (model, grid_model):
        net.train()
        with torch.no_grad():  # shifters start from zero shift, which blocks their hidden layers' gradients
            for shifter in net.shifters.values():
                shifter[-2].weight.normal_(0, 0.1)
        loss = sum(net(batch_of(s)).sum() + net.regularizer(s.key) for s in sessions)
        loss.backward()
        missing = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert missing == []


def test_regularizer_adds_core_readout_and_only_that_sessions_modulators():
    model = build_model(fake_sessions(), MODEL4_SMALL, seed=0)
    parts = (model.core.regularizer() + model.readouts["s-a"].regularizer() + model.history["s-a"].regularizer()
             + model.state["s-a"].regularizer() + model.gain["s-a"].regularizer())
    assert model.regularizer("s-a").item() == pytest.approx(parts.item())
    before = model.regularizer("s-a").item()
    with torch.no_grad():
        model.history["s-b"].weight.fill_(100.0)
    assert model.regularizer("s-a").item() == before


def test_readout_bias_starts_at_the_mean_training_response_when_asked():
    sessions = fake_sessions()
    model = build_model(sessions, {**SMALL, "readout_bias_from_mean": True}, seed=0)
    train = sessions[0].roles == "train"
    expected = sessions[0].responses[train].mean(axis=0)
    np.testing.assert_allclose(model.readouts["s-a"].bias.detach().numpy(), expected, rtol=1e-5)
    assert torch.all(build_model(sessions, SMALL, seed=0).readouts["s-a"].bias == 0)


def test_a_few_steps_of_poisson_loss_fit_a_session():
    session = fake_session("fit", n_trials=16, n_neurons=5)
    model = build_model([session], MODEL4_SMALL, seed=0).train()
    batch = batch_of(session)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.03)
    losses = []
    torch.manual_seed(0)
    for _ in range(8):
        rates = model(batch)
        loss = (rates - batch.responses * torch.log(rates)).mean()
        losses.append(loss.item())
        optimiser.zero_grad()
        (loss + 1e-4 * model.regularizer("fit")).backward()
        optimiser.step()
    assert losses[-1] < losses[0] - 0.1


def test_a_state_dict_restores_the_model_in_a_fresh_build(tmp_path):
    sessions = fake_sessions()
    trained = build_model(sessions, MODEL4_SMALL, seed=0)
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    torch.save(trained.state_dict(), tmp_path / "weights.pt")
    fresh = build_model(sessions, MODEL4_SMALL, seed=1)
    fresh.load_state_dict(torch.load(tmp_path / "weights.pt", weights_only=True))
    batch = batch_of(sessions[1])
    with torch.no_grad():
        assert torch.equal(trained.eval()(batch), fresh.eval()(batch))


def test_softplus_beta_replaces_elu_plus_one_on_the_same_readout_drive():
    import torch.nn.functional as F

    sessions = fake_sessions()
    batch = batch_of(sessions[0], trials=[0, 1, 2])
    with torch.no_grad():
        elu1 = build_model(sessions, SMALL, seed=0).eval()(batch)
        softplus = build_model(sessions, {**SMALL, "softplus_beta": 0.07}, seed=0).eval()(batch)
    drive = torch.where(elu1 >= 1, elu1 - 1, torch.log(elu1))  # elu(x) + 1 inverted
    assert torch.allclose(softplus, F.softplus(drive, beta=0.07), rtol=1e-4, atol=1e-5)
    assert torch.all(softplus > 0) and not torch.allclose(softplus, elu1)
