"""The video model: per-frame outputs, causality in time, burn-in, and trial-level modulators on every frame."""
import copy
from pathlib import Path

import pytest
import torch
import yaml

from model_builders import SMALL_VIDEO, batch_of, fake_sessions
from sensorium_models.models import ModelConfig, build_model
from sensorium_models.models.video import Factorised3dCore, temporal_laplace_l2norm

REFERENCE = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs/model/video_factorised3d.yaml").read_text())
VIDEO_MODEL4 = {**SMALL_VIDEO, "shifter": True, "behavior_channels": True, "history": True, "state": True,
                "gain": True}


def test_video_model_predicts_every_frame_of_every_session():
    sessions = fake_sessions("video")
    model = build_model(sessions, VIDEO_MODEL4, seed=0)
    for session in sessions:
        batch = batch_of(session, trials=[1, 11, 16])
        rates = model(batch)
        assert rates.shape == batch.responses.shape == (3, 20, 7)
        assert torch.all(rates > 0)
    assert model.burn_in == (3 - 1) + (2 - 1)


def test_reference_core_keeps_frames_and_crops_space_like_the_baseline():
    core = Factorised3dCore(3, ModelConfig(**REFERENCE))
    with torch.no_grad():
        assert core.eval()(torch.randn(1, 3, 20, 36, 64)).shape == (1, 128, 20, 18, 46)
    assert core.burn_in == 18  # the baseline crops T → T − 18


def test_reference_video_config_builds_and_runs_on_two_trials():
    sessions = fake_sessions("video")
    model = build_model(sessions, REFERENCE, seed=0).eval()
    with torch.no_grad():
        rates = model(batch_of(sessions[0], trials=[0, 1]))
    assert rates.shape == (2, 20, 7) and torch.all(rates > 0)


@pytest.mark.parametrize("frame", [5, 12])
def test_changing_a_frame_never_changes_earlier_outputs(frame):
    sessions = fake_sessions("video")
    model = build_model(sessions, VIDEO_MODEL4, seed=0).eval()
    batch = batch_of(sessions[0], trials=[0, 3])
    changed = copy.copy(batch)
    changed.stimuli = batch.stimuli.clone()
    changed.stimuli[:, frame] += 3.0
    changed.behavior = batch.behavior.clone()
    changed.behavior[:, frame] += 3.0
    changed.pupil_center = batch.pupil_center.clone()
    changed.pupil_center[:, frame] += 3.0
    with torch.no_grad():
        before, after = model(batch), model(changed)
    assert torch.equal(before[:, :frame], after[:, :frame])
    assert not torch.allclose(before[:, frame], after[:, frame])


def test_trial_gain_scales_every_frame_of_the_trial_alike():
    sessions = fake_sessions("video")
    model = build_model(sessions, VIDEO_MODEL4, seed=0).eval()
    without_gain = copy.deepcopy(model)
    del without_gain.gain["s-a"]
    batch = batch_of(sessions[0], trials=[2, 7, 12])
    with torch.no_grad():
        ratio = model(batch) / without_gain(batch)
        factor = model.gain["s-a"](batch.trials)
    assert torch.allclose(ratio, factor[:, None].expand_as(ratio), rtol=1e-5)


def test_temporal_laplace_of_hand_computed_kernels():
    delta = torch.tensor([0.0, 1.0, 0.0]).view(1, 1, 3, 1, 1)
    ones = torch.ones(1, 1, 3, 1, 1)
    assert temporal_laplace_l2norm(delta).item() == pytest.approx(18.0)        # (−1, 4, −1)
    assert temporal_laplace_l2norm(ones).item() == pytest.approx(22.0 / 3.0)   # (3, 2, 3) over 3


def test_factorised_convolutions_start_xavier_normal_as_the_reference():
    core = Factorised3dCore(3, ModelConfig(**REFERENCE))
    spatial = core.blocks[0].spatial.weight  # (32, 3, 1, 11, 11): fan_in 3·121, fan_out 32·121
    assert spatial.std().item() == pytest.approx((2.0 / (3 * 121 + 32 * 121)) ** 0.5, rel=0.05)
    temporal = core.blocks[1].temporal.weight  # (64, 64, 5, 1, 1)
    assert temporal.std().item() == pytest.approx((2.0 / (64 * 5 + 64 * 5)) ** 0.5, rel=0.05)
