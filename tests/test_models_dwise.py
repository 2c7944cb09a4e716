"""The DwiseNeuro family (dwiseneuro): builds from its YAMLs, predicts every frame, trains, and refuses bad keys."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from model_builders import batch_of, fake_sessions, one_adamw_step
from search.presets import read_preset
from sensorium_models.errors import UserError
from sensorium_models.models import build_model
from sensorium_models.models.dwise import DropPath, DwiseConfig, DwiseCore, inverse_softplus, sinusoidal_encoding
from sensorium_models.prediction import predict
from sensorium_models.training import train
from training_builders import learnable_video_session

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "configs/train/tiny_video_dwise.yaml").read_text())
SMALL = {**read_preset("video_dwise"), **{k: v for k, v in TINY["model"].items() if k != "preset"}}


def test_the_reference_core_has_the_winners_stages_strides_and_drop_path():
    cfg = DwiseConfig(**{k: v for k, v in read_preset("video_dwise").items() if k != "family"})
    core = DwiseCore(5, cfg).eval()
    with torch.no_grad():
        assert core(torch.randn(1, 5, 2, 64, 64)).shape == (1, 256, 2, 8, 8)
    assert [b.stride for b in core.blocks] == [2, 1, 1, 1, 2, 1, 1, 2, 1]
    assert [b.out_channels for b in core.blocks] == [64, 64, 64, 128, 128, 128, 256, 256, 256]
    assert [b.drop_path.rate for b in core.blocks] == pytest.approx([0.1 * i / 9 for i in range(9)])
    first = core.blocks[0]
    assert first.expand[0].out_channels == 64 * 7 and first.excite.reduce.out_channels == 64 * 7 // 32
    assert first.spatial[0].groups == first.temporal[0].groups == 448 and first.temporal[0].kernel_size == (5, 1, 1)


def test_it_builds_from_the_tiny_config_and_predicts_every_frame_of_each_mouse():
    sessions = fake_sessions("video")
    model = build_model(sessions, SMALL, seed=0).eval()
    batch = batch_of(sessions[1], trials=[0, 3])
    assert model.inputs(batch).shape == (2, 5, 20, 36, 64)   # frame, 2 behaviour, 2 pupil
    padded = build_model(sessions, {**SMALL, "pad_to": [40, 66]}, seed=0).inputs(batch)
    assert padded.shape == (2, 5, 20, 40, 66) and torch.equal(padded[:, 0, :, 2:38, 1:65], batch.stimuli)
    assert torch.equal(padded[:, 1:3, :, 2, 1], batch.behavior.transpose(1, 2)) and padded[:, :, :, :2].abs().sum() == 0
    with torch.no_grad():
        out = model(batch)
    assert out.shape == batch.responses.shape == (2, 20, 7) and torch.all(out > 0)
    assert (model.frame_step, model.predict_window, model.predict_stride) == (2, 16, 4)
    mix = model.cortex[1].mix[0]                        # DwiseNeuro's init: N(0, 2 / fan_out), fan_out 64 / 2
    assert mix.weight.std().item() == pytest.approx(math.sqrt(2 / 32), rel=0.1) and mix.groups == 2
    again = build_model(sessions, SMALL, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_one_adamw_step_moves_core_cortex_and_readout():
    sessions = fake_sessions("video")
    model = build_model(sessions, SMALL, seed=0).train()
    batch = batch_of(sessions[0], trials=[0, 1, 2])
    moved, loss = one_adamw_step(model, batch, weight_decay=0.05)
    assert {k.split(".")[0] for k in moved} == {"core", "cortex", "readouts"} and torch.isfinite(loss)
    readouts = {k for k in model.state_dict() if k.startswith("readouts.")}
    assert readouts & moved == {"readouts.s-a.conv.weight", "readouts.s-a.conv.bias"}   # the other mouse's: untouched


def test_the_tiny_recipe_trains_an_epoch_and_predicts_whole_trials():
    sessions = [learnable_video_session("v", seed=4), learnable_video_session("w", n_trials=28, seed=5)]
    model = build_model(sessions, {**SMALL, "pad_to": None, "predict_window": 8}, seed=0)
    recipe = {k: v for k, v in TINY["trainer"].items() if k not in ("max_epochs", "warmup_epochs")}
    result = train(model, sessions, {**recipe, "batch_size": 4, "clip_frames": 8, "max_epochs": 1, "eval_skip": 3},
                   seed=0)
    assert result.epochs == 1 and np.isfinite(result.best_val_corr)
    trials = sessions[0].indices("validation")
    predictions = predict(model, sessions[0], trials)
    assert [p.shape for p in predictions] == [(sessions[0].lengths[t], 5) for t in trials]
    assert all(np.isfinite(p).all() and (p > 0).all() for p in predictions)


def test_drop_path_drops_whole_samples_in_training_only():
    torch.manual_seed(0)
    drop = DropPath(0.25)
    x = torch.ones(4000, 2, 3)
    out = drop.train()(x)
    per_sample = out.flatten(1)
    assert torch.all((per_sample == 0).all(1) | (per_sample == 4 / 3).all(1))
    assert (per_sample[:, 0] == 0).float().mean().item() == pytest.approx(0.25, abs=0.03)
    assert torch.equal(drop.eval()(x), x)


def test_the_position_encoding_is_sin_and_cos_of_each_axis():
    like = torch.zeros(1)
    encoding = sinusoidal_encoding(6, 3, 2, 4, like)   # 2 channels per axis, frequency 1
    t, y, x = torch.meshgrid(torch.arange(3.0), torch.arange(2.0), torch.arange(4.0), indexing="ij")
    expected = torch.stack([t.sin(), t.cos(), y.sin(), y.cos(), x.sin(), x.cos()])[None]
    assert encoding.shape == (1, 6, 3, 2, 4) and torch.allclose(encoding, expected)
    assert torch.equal(sinusoidal_encoding(5, 3, 2, 4, like), encoding[:, :5])
    wide = sinusoidal_encoding(12, 3, 1, 1, like)     # 4 per axis: frequencies 1 and 1/100 for time
    assert torch.allclose(wide[0, :4, :, 0, 0], torch.stack([t[:, 0, 0].sin(), (t[:, 0, 0] / 100).sin(),
                                                             t[:, 0, 0].cos(), (t[:, 0, 0] / 100).cos()]))


def test_the_bias_from_the_mean_starts_softplus_at_the_mean():
    rates = np.array([1e-3, 0.2, 1.0, 9.0, 300.0])
    beta = 0.07
    back = torch.nn.functional.softplus(torch.as_tensor(inverse_softplus(rates, beta)), beta=beta).numpy()
    assert np.allclose(back, rates, rtol=1e-6)
    assert math.log(2) / beta == pytest.approx(9.9, abs=0.01)   # what a zero bias would start at


@pytest.mark.parametrize("block, message", [
    ({"stage_depths": [4, 3, 2]}, "stage_channels, stage_depths and stage_strides must list one value per stage"),
    ({"temporal_kernel": 4}, "temporal_kernel must be odd"),
    ({"se_ratio": 1000}, "se_ratio 1000 leaves no squeeze-excite channel"),
    ({"groups": 3}, "groups 3 must divide the last stage's and every cortex width"),
    ({"drop_path_rate": 1.0}, "model.drop_path_rate: Input should be less than 1"),
    ({"stage_chanels": [4]}, "model.stage_chanels: unknown key; did you mean 'stage_channels'?"),
    ({"pad_to": [32, 64]}, r"model.pad_to: \[32, 64\] is smaller than the frames \(36x64\); expected at least"),
])
def test_bad_keys_are_one_line_naming_them(block, message):
    with pytest.raises(UserError, match=message.replace("?", r"\?")):
        build_model(fake_sessions("video"), {**SMALL, **block}, seed=0)


def test_the_family_refuses_static_sessions():
    with pytest.raises(UserError, match="model.family: 'dwiseneuro' models video sessions, and these are static"):
        build_model(fake_sessions("static"), SMALL, seed=0)


def test_the_search_yaml_searches_the_model_and_its_recipe():
    from search.config import load_spec
    from sensorium_models.compose import schemas

    spec = load_spec("configs/search/video2023_dwise.yaml", schemas(), check_paths=False)
    assert spec.blocks["model"]["family"] == "dwiseneuro" and spec.blocks["trainer"]["lr_schedule"] == "warmup_cosine"
    assert {("model", "stage_depths"), ("model", "softplus_beta"), ("trainer", "ema_decay")} <= set(spec.searched)
    assert spec.blocks["model"]["predict_window"] == spec.blocks["trainer"]["clip_frames"] == 16


@pytest.mark.parametrize("training", [False, True])
def test_it_computes_what_the_winners_own_code_computes(training):
    from bench.reference.vendor.dwiseneuro import DwiseNeuro as Original

    sessions = fake_sessions("video")
    keys = {"pad_to": None, "stage_channels": [4, 8, 16], "stage_depths": [2, 2, 1], "stage_strides": [2, 2, 2],
            "expansion_ratio": 3, "se_ratio": 4, "cortex_channels": [32, 64], "readout_dropout": 0.0,
            "drop_path_rate": 0.0}
    ours = build_model(sessions, {**SMALL, **keys}, seed=0)
    torch.manual_seed(1)
    original = Original((7, 7), in_channels=5, core_features=(4, 4, 8, 8, 16), spatial_strides=(2, 1, 2, 1, 2),
                        spatial_kernel=3, temporal_kernel=5, expansion_ratio=3, se_reduce_ratio=4,
                        cortex_features=(32, 64), groups=2, softplus_beta=0.07, drop_rate=0.0, drop_path_rate=0.0)
    state = {k: v for k, v in original.state_dict().items() if not k.endswith("inv_freq")}
    with torch.no_grad():
        for value in state.values():   # random weights and running statistics, not the initial ones
            if value.is_floating_point():
                value.copy_(torch.rand_like(value) + 0.5 if value.ndim == 1 else torch.randn_like(value) * 0.3)
    mine = ours.state_dict()
    assert [v.shape for v in state.values()] == [v.shape for v in mine.values()]
    ours.load_state_dict(dict(zip(mine, state.values())))
    ours.train(training), original.train(training)
    for index in range(2):
        batch = batch_of(sessions[index], trials=[0, 1, 2])
        expected = original(ours.inputs(batch), index).transpose(1, 2)
        assert torch.allclose(ours(batch), expected, rtol=1e-4, atol=1e-5)
