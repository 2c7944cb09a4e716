"""The 2023 starter kit's model options (plain 3-D core, rotation-equivariant core, factorised readout,
static-affine shifter): each computes what the kit's neuralpredictors module (43faede, vendored in
bench/reference/vendor) computes given the same weights, and each trains from its tiny config."""
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from bench.reference.vendor import neuralpredictors_kit as kit
from model_builders import batch_of, fake_sessions, one_adamw_step
from search.presets import read_preset
from sensorium_models.errors import UserError
from sensorium_models.models import ModelConfig, build_model
from sensorium_models.models.factorised_readout import FactorisedReadout
from sensorium_models.models.full3d import Full3dCore
from sensorium_models.models.gru import ConvGRUConfig
from sensorium_models.models.rotation import RotationEquivariant2dCore
from sensorium_models.models.shifters import AffineShifter
from sensorium_models.training import train

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(120)


def randomised(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The module's learned floating state with random weights and running statistics, not the initial ones
    (fixed tensors aside: the penalties' Laplace filters, the Hermite bases and rotations)."""
    generator = torch.Generator().manual_seed(seed)
    state = {k: v for k, v in module.state_dict().items()
             if v.is_floating_point() and "regularizer" not in k and "rotate_hermite" not in k}
    with torch.no_grad():
        for value in state.values():
            noise = torch.rand(value.shape, generator=generator)
            value.copy_(noise + 0.5 if value.ndim == 1 else (noise - 0.5) * 0.6)
    return state


def copy_into(ours: torch.nn.Module, values: list[torch.Tensor]) -> None:
    mine = {k: v for k, v in ours.state_dict().items() if v.is_floating_point()}
    assert [v.shape for v in values] == [v.shape for v in mine.values()]
    ours.load_state_dict(dict(zip(mine, values)), strict=False)


def test_the_full_3d_core_is_the_kits_basic3dcore():
    """In eval mode: in training, batch norm's batch statistics also see our causally padded burn-in frames,
    which the kit's valid convolution drops (as for the factorised core)."""
    original = kit.Basic3dCore(3, 4, (3, 5, 5), (2, 3, 3), layers=2, gamma_input_spatial=2.0,
                               gamma_input_temporal=0.5, momentum=0.7, padding=True, final_nonlin=True)
    ours = Full3dCore(3, ModelConfig(hidden_channels=4, layers=2, input_kern=5, hidden_kern=3, temporal_kern=3,
                                     hidden_temporal_kern=2, pad_input=True, pad_hidden=True, momentum=0.7,
                                     gamma_input=2.0, gamma_input_temporal=0.5))
    copy_into(ours, list(randomised(original, 0).values()))
    original.eval(), ours.eval()
    x = torch.randn(2, 3, 9, 12, 14)
    assert ours.burn_in == 2 + 1
    assert torch.allclose(ours(x)[:, :, ours.burn_in:], original(x), rtol=1e-4, atol=1e-5)
    assert ours.regularizer().item() == pytest.approx(sum(original.regularizer()).item(), rel=1e-5)


@pytest.mark.parametrize("stack", [-1, None])
@pytest.mark.parametrize("training", [False, True])
def test_the_rotation_equivariant_core_is_the_kits(stack, training):
    original = kit.RotationEquivariant2dCore(
        input_channels=3, hidden_channels=2, input_kern=5, hidden_kern=3, layers=3, num_rotations=4,
        gamma_input=2.0, gamma_hidden=0.5, pad_input=False, final_nonlinearity=False, stack=stack,
        use_avg_reg=False, momentum=0.9, input_regularizer="LaplaceL2norm", laplace_padding=None)  # the kit's
    ours = RotationEquivariant2dCore(3, ConvGRUConfig(
        frame_core="rotation_equivariant", hidden_channels=2, input_kern=5, hidden_kern=3, layers=3,
        num_rotations=4, gamma_input=2.0, gamma_hidden=0.5, pad_input=False, pad_hidden=True,
        final_nonlinearity=False, stack=stack, depth_separable=False, momentum=0.9))
    copy_into(ours, list(randomised(original, 1).values()))
    original.train(training), ours.train(training)
    for mine, theirs in zip(ours.blocks, original.features):
        assert torch.allclose(mine[0].weight, theirs.hermite_conv.weights_all_rotations, rtol=1e-4, atol=1e-5)
    x = torch.randn(2, 3, 20, 22)
    expected = original(x)
    assert ours.out_channels == expected.shape[1] == (2 if stack == -1 else 6) * 4
    assert torch.allclose(ours(x), expected, rtol=1e-4, atol=1e-4)
    assert ours.regularizer().item() == pytest.approx(original.regularizer().item(), rel=1e-4)


def test_rotating_the_image_by_a_quarter_turn_rotates_and_cycles_the_maps():
    """The equivariance itself: with 4 angles, a 90° turn of the input is a 90° turn of each map and a shift
    of one rotation in the channels (square, odd-sized, padded layers keep the centre)."""
    ours = RotationEquivariant2dCore(1, ConvGRUConfig(
        frame_core="rotation_equivariant", hidden_channels=2, input_kern=5, hidden_kern=3, layers=2,
        num_rotations=4, pad_input=True, pad_hidden=True, depth_separable=False)).eval()
    x = torch.randn(1, 1, 15, 15)
    with torch.no_grad():
        plain, turned = ours(x), ours(torch.rot90(x, 1, (2, 3)))
    expected = torch.rot90(plain, 1, (2, 3)).unflatten(1, (4, 2)).roll(1, dims=1).flatten(1, 2)
    assert torch.allclose(turned, expected, atol=1e-3 * plain.abs().max().item())


def test_the_factorised_readout_is_the_kits_fullfactorized2d():
    original = kit.FullFactorized2d((4, 5, 6), 7, bias=True, spatial_and_feature_reg_weight=0.3)
    ours = FactorisedReadout(4, (5, 6), np.zeros(7), 1e-3, 0.3)
    state = randomised(original, 2)
    copy_into(ours, [state["spatial"], state["_features"], state["bias"]])
    x = torch.randn(3, 4, 5, 6)
    assert torch.allclose(ours(x), original(x), rtol=1e-5, atol=1e-6)
    assert ours.regularizer().item() == pytest.approx(original.regularizer().item(), rel=1e-5)


def test_the_affine_shifter_is_the_kits_staticaffine2dshifter():
    original = kit.StaticAffine2dShifter(["a"], gamma_shifter=0.7)
    ours = AffineShifter(0.7)
    copy_into(ours, list(randomised(original, 3).values()))
    pupil = torch.randn(5, 2)
    assert torch.allclose(ours(pupil), original["a"](pupil)) and ours(pupil).abs().max() < 1
    assert ours.regularizer().item() == pytest.approx(original.regularizer("a").item())


TINY = {name: yaml.safe_load((ROOT / f"configs/train/{name}.yaml").read_text())
        for name in ("tiny_video_full3d", "tiny_video_equivariant", "tiny_static_samples")}


def tiny_model_block(name: str) -> dict:
    model = TINY[name]["model"]
    return {**read_preset(model["preset"]), **{k: v for k, v in model.items() if k != "preset"}}


@pytest.mark.parametrize("name, kind, moved", [
    ("tiny_video_full3d", "video", {"core", "readouts", "shifters"}),
    ("tiny_video_equivariant", "video", {"core", "readouts"}),
    ("tiny_static_samples", "static", {"core", "readouts", "shifters"}),
])
def test_each_tiny_config_steps_and_trains_an_epoch(name, kind, moved):
    sessions = fake_sessions(kind, n_trials=10, frames=12) if kind == "video" else fake_sessions(kind)
    model = build_model(sessions, tiny_model_block(name), seed=0)
    parts, loss = one_adamw_step(model.train(), batch_of(sessions[0], trials=[0, 1, 2]))
    assert {k.split(".")[0] for k in parts} == moved and torch.isfinite(loss)
    model = build_model(sessions, tiny_model_block(name), seed=0)
    recipe = {**TINY[name]["trainer"], "max_epochs": 1, "batch_size": 4}
    if kind == "video":
        recipe.update(clip_frames=8, eval_skip=5)
    result = train(model, sessions, recipe, seed=0)
    assert result.epochs == 1 and np.isfinite(result.best_val_corr)


@pytest.mark.parametrize("block, message", [
    ({"readout": "factorised", "shifter": True}, "shifter: a factorised readout has no position to shift"),
    ({"readout": "factorised", "readout_samples": 2}, "readout_samples: positions are drawn by the gaussian"),
    ({"gamma_shifter": 0.1}, "gamma_shifter: penalises the affine shifter only"),
    ({"family": "conv_gru", "video_core": "full"}, "video_core: a conv_gru model has no temporal convolution"),
    ({"family": "conv_gru", "frame_core": "rotation_equivariant"}, "depth_separable: the rotation-equivariant"),
    ({"readout": "factorized"}, r"model.readout: Input should be 'gaussian' or 'factorised'"),
])
def test_options_that_cannot_combine_are_one_line_errors(block, message):
    with pytest.raises(UserError, match=message):
        build_model(fake_sessions("video"), block, seed=0)
