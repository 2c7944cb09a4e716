"""DwiseNeuro's training recipe in the trainer: warm-up + cosine schedule, EMA of the weights, stepped clips
drawn several times per trial, and resuming all of it from a checkpoint."""
import math
import shutil

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from sensorium_models.errors import UserError
from sensorium_models.schedules import WarmupCosine
from sensorium_models.training import train
from training_builders import TinyModel, fast_trainer, learnable_video_session, two_static_sessions, without_timing

FAST = fast_trainer(max_epochs=4)
RECIPE = {**FAST, "lr_schedule": "warmup_cosine", "warmup_epochs": 1, "ema_decay": 0.8}


def test_warmup_rises_linearly_then_the_cosine_falls_to_the_floor():
    shape = WarmupCosine(warmup_steps=2, total_steps=6, floor=0.1)
    assert [shape(s) for s in range(7)] == pytest.approx(
        [0.5, 1.0, 1.0, 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)), 0.55,
         0.1 + 0.9 * 0.5 * (1 + math.cos(3 * math.pi / 4)), 0.1])


def test_the_schedule_moves_every_step_and_runs_to_max_epochs_without_plateaus():
    sessions = two_static_sessions()
    lrs = []
    handle = register_optimizer_step_post_hook(lambda opt, a, k: lrs.append(opt.param_groups[0]["lr"]))
    try:  # a rate too small to change the score: with plateaus this would stop after 2 (lr_decay_steps)
        result = train(TinyModel(sessions), sessions, {**RECIPE, "lr_init": 1e-9, "min_lr": 0.0, "ema_decay": None},
                       seed=0)
    finally:
        handle.remove()
    shape = WarmupCosine(5, 20, 0.0)
    assert result.epochs == 4 and lrs == pytest.approx([1e-9 * shape(s) for s in range(20)])
    assert [h["lr"] for h in result.history] == pytest.approx([1e-9 * shape(s) for s in (5, 10, 15, 20)])


def test_the_weight_average_is_what_is_validated_kept_and_checkpointed(tmp_path):
    sessions = two_static_sessions()
    model = TinyModel(sessions)
    seen = []
    handle = register_optimizer_step_post_hook(lambda opt, a, k: seen.append(model.readouts["a"].weight.clone()))
    try:
        result = train(model, sessions, {**RECIPE, "max_epochs": 1, "warmup_epochs": 0}, seed=0,
                       report=lambda e, m, f: shutil.copytree(f, tmp_path / "ckpt"))
    finally:
        handle.remove()
    average = seen[0]
    for weights in seen[1:]:
        average = 0.8 * average + 0.2 * weights
    state = torch.load(tmp_path / "ckpt" / "state.pt", weights_only=True)
    assert len(seen) == 5 and int(state["ema"]["n_averaged"]) == 5
    assert torch.allclose(state["ema"]["module.readouts.a.weight"], average, atol=1e-6)
    assert torch.equal(state["model"]["readouts.a.weight"], seen[-1])
    assert result.best_val_corr == result.history[0]["val_corr"] > 0.1   # the average improved on the start
    assert torch.allclose(result.best_state["readouts.a.weight"], average, atol=1e-6)
    assert torch.allclose(model.readouts["a"].weight, average, atol=1e-6)


def test_resume_restores_the_average_and_the_schedule(tmp_path):
    sessions = two_static_sessions()
    kept = tmp_path / "epoch2"

    def keep(epoch, metrics, folder):
        if epoch == 2:
            shutil.copytree(folder, kept)

    full = train(TinyModel(sessions, dropout=0.2), sessions, RECIPE, seed=3, report=keep)
    resumed = train(TinyModel(sessions, dropout=0.2), sessions, RECIPE, seed=3, checkpoint=kept)
    assert without_timing(resumed.history) == without_timing(full.history)
    assert len({h["lr"] for h in full.history}) == 4
    assert all(torch.equal(resumed.best_state[k], full.best_state[k]) for k in full.best_state)
    with pytest.raises(UserError, match="written by a run with trainer.ema_decay, resumed without it"):
        train(TinyModel(sessions), sessions, {**RECIPE, "ema_decay": None}, seed=3, checkpoint=kept)


def test_a_plateau_restores_the_best_average_into_the_trained_weights_too(tmp_path):
    sessions = two_static_sessions()
    model = TinyModel(sessions)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    # no gain ever exceeds a tolerance of 10: every epoch ends a plateau, and the best stays the start
    cfg = {**FAST, "ema_decay": 0.8, "patience": 1, "tolerance": 10.0, "lr_decay_steps": 2}
    result = train(model, sessions, cfg, seed=0, report=lambda e, m, f: shutil.copytree(f, tmp_path / f"e{e}"))
    state = torch.load(tmp_path / "e1" / "state.pt", weights_only=True)
    assert result.epochs == 2 and int(state["ema"]["n_averaged"]) == 5
    for key, value in start.items():
        assert torch.equal(state["model"][key], value) and torch.equal(state["ema"][f"module.{key}"], value)


class SteppedModel(TinyModel):
    frame_step = 2


def test_video_clips_follow_the_models_frame_step_and_clips_per_trial():
    session = learnable_video_session("v", seed=4)                 # 16 train trials of 22-30 frames
    model = SteppedModel([session])
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0]) if m.training else None)
    cfg = {**FAST, "batch_size": 8, "clips_per_trial": 3, "max_epochs": 1, "eval_skip": 3}
    train(model, [session], {**cfg, "clip_frames": 8}, seed=0)
    trials = torch.cat([batch.trials for batch in seen]).tolist()
    assert sorted(trials) == sorted(session.indices("train").tolist() * 3) and len(seen) == 6
    batch = seen[0]
    for row, (trial, start) in enumerate(zip(batch.trials.tolist(), batch.frames.tolist())):
        np.testing.assert_array_equal(batch.stimuli[row].numpy(), session.stimuli[trial, start:start + 15:2])
    seen.clear()   # clips are capped to fit the shortest train trial (22 frames: 11 frames every 2nd)
    train(model, [session], {**cfg, "clip_frames": 40}, seed=0)
    assert int(session.lengths[session.indices("train")].min()) == 22
    assert {batch.stimuli.shape[1] for batch in seen} == {11}


@pytest.mark.parametrize("cfg, message", [
    ({"warmup_epochs": 2}, "warmup_epochs needs lr_schedule: warmup_cosine"),
    ({"lr_schedule": "warmup_cosine", "warmup_epochs": 4, "max_epochs": 4}, "must be fewer than max_epochs"),
    ({"lr_schedule": "warmup_cosine", "min_lr": 0.1, "lr_init": 0.01}, r"min_lr \(0.1\), where the cosine ends"),
    ({"ema_decay": 1.0}, "trainer.ema_decay: Input should be less than 1"),
    ({"clips_per_trial": 0}, "trainer.clips_per_trial: Input should be greater than 0"),
])
def test_recipe_config_errors_name_the_key(cfg, message):
    sessions = two_static_sessions()
    with pytest.raises(UserError, match=message):
        train(TinyModel(sessions), sessions, cfg, seed=0)
