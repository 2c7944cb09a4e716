"""The 2023 GRU baseline family (conv_gru): a per-frame 2-D core, a ConvGRU over frames, the per-frame readout."""
import copy
from pathlib import Path

import pytest
import torch
import yaml

from model_builders import batch_of, fake_sessions, one_adamw_step
from search.presets import read_preset
from sensorium_models.errors import UserError
from sensorium_models.models import build_model
from sensorium_models.models.gru import ConvGRUConfig, Stacked2dGRUCore
from sensorium_models.models.cores import laplace_l2norm

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "configs/train/tiny_video_gru.yaml").read_text())
SMALL = {**read_preset("video_gru"), **{k: v for k, v in TINY["model"].items() if k != "preset"}}


def test_the_reference_core_keeps_frames_and_crops_space_like_the_kit():
    core = Stacked2dGRUCore(3, ConvGRUConfig(**{k: v for k, v in read_preset("video_gru").items() if k != "family"}))
    with torch.no_grad():
        assert core.eval()(torch.randn(1, 3, 3, 36, 64)).shape == (1, 64, 3, 28, 56)
    last = core.frames.blocks[-1]
    assert not any(isinstance(m, torch.nn.ELU) for m in last) and isinstance(core.frames.blocks[0][-1], torch.nn.ELU)


def test_it_builds_predicts_every_frame_and_is_causal():
    sessions = fake_sessions("video")
    model = build_model(sessions, SMALL, seed=0).eval()
    batch = batch_of(sessions[0], trials=[0, 3])
    changed = copy.copy(batch)
    changed.stimuli = batch.stimuli.clone()
    changed.stimuli[:, 8] += 3.0
    with torch.no_grad():
        before, after = model(batch), model(changed)
    assert before.shape == batch.responses.shape == (2, 20, 7) and torch.all(before > 0)
    assert torch.equal(before[:, :8], after[:, :8]) and not torch.allclose(before[:, 8], after[:, 8])


def test_one_adamw_step_moves_every_part_and_the_loss_carries_the_core_penalties():
    sessions = fake_sessions("video")
    model = build_model(sessions, SMALL, seed=0).train()
    batch = batch_of(sessions[0], trials=[0, 1, 2])
    frames = model.core.frames
    assert model.core.regularizer().item() == pytest.approx(
        1.0 * laplace_l2norm(frames.blocks[0][0].weight).item() + 0.01 * frames.group_sparsity().item(), rel=1e-5)
    moved, loss = one_adamw_step(model, batch)
    assert {k.split(".")[1] for k in moved if k.startswith("core.")} == {"frames", "gru"} and torch.isfinite(loss)


def test_group_sparsity_of_hand_computed_filters():
    core = Stacked2dGRUCore(1, ConvGRUConfig(hidden_channels=2, layers=2, input_kern=3, hidden_kern=3,
                                              depth_separable=False, gru_channels=2))
    with torch.no_grad():
        core.frames.blocks[1][0].weight.zero_()
        core.frames.blocks[1][0].weight[0, 0, 1, 1] = 3.0   # one filter of norm 3, three of norm 0
        core.frames.blocks[1][0].weight[1, 1, 0, :] = torch.tensor([1.0, 2.0, 2.0])  # one of norm 3
    assert core.frames.group_sparsity().item() == pytest.approx((3.0 + 3.0) / 4)


@pytest.mark.parametrize("block, message", [
    ({"family": "conv_gru", "temporal_kern": 3}, "temporal_kern: a conv_gru model has no temporal convolution"),
    ({"family": "conv_gru", "gamma_hidden": 1.0}, "gamma_hidden (group sparsity of full hidden filters) needs"),
    ({"family": "conv_gru", "gru_chanels": 4}, "model.gru_chanels: unknown key; did you mean 'gru_channels'?"),
])
def test_keys_meaningless_for_the_gru_are_errors(block, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        build_model(fake_sessions("video"), block, seed=0)


def test_the_gru_family_refuses_static_sessions():
    with pytest.raises(UserError, match="model.family: 'conv_gru' models video sessions, and these are static"):
        build_model(fake_sessions("static"), {**SMALL}, seed=0)


def test_the_fused_cell_is_neuralpredictors_gru_and_each_gate_starts_xavier():
    from sensorium_models.models.gru import ConvGRUCell

    torch.manual_seed(0)
    cell = ConvGRUCell(3, 4, 3, 5)
    x, h = torch.randn(2, 3, 6, 7), torch.randn(2, 4, 6, 7)
    with torch.no_grad():
        for conv in (cell.input_gates, cell.state_gates, cell.state_out):
            conv.bias.normal_()
        wz, wr, wo = cell.input_gates.weight.split(4)
        bz, br, bo = cell.input_gates.bias.split(4)
        (uz, ur), (cz, cr) = cell.state_gates.weight.split(4), cell.state_gates.bias.split(4)
        conv = torch.nn.functional.conv2d
        z = torch.sigmoid(conv(x, wz, bz, padding=1) + conv(h, uz, cz, padding=2))
        r = torch.sigmoid(conv(x, wr, br, padding=1) + conv(h, ur, cr, padding=2))
        o = torch.tanh(conv(x, wo, bo, padding=1) + conv(h * r, cell.state_out.weight, cell.state_out.bias, padding=2))
        assert torch.allclose(cell(cell.input_gates(x), h), h * (1 - z) + o * z, atol=1e-6)
    big = ConvGRUCell(64, 64, 7, 7)  # each gate's chunk: fan_in = fan_out = 64·49
    for gate in big.input_gates.weight.split(64):
        assert gate.std().item() == pytest.approx((2.0 / (2 * 64 * 49)) ** 0.5, rel=0.05)
