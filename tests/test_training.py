"""The trainer on tiny sessions: learning, determinism, resume, divergence, early stopping, cycling."""
import pickle
import shutil

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook
from dataclasses import replace

from sensorium_models.errors import UserError
from sensorium_models.scoring import neuron_correlations, score_predictions
from sensorium_models.train_state import EarlyStopping
from sensorium_models.training import NonFiniteLoss, TrainerConfig, predict, train
from training_builders import TinyModel, fast_trainer, learnable_video_session, two_static_sessions, without_timing

FAST = fast_trainer(max_epochs=6)


def _states_equal(first, second):
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_training_learns_and_ends_on_the_best_weights():
    sessions = two_static_sessions()
    model = TinyModel(sessions)
    result = train(model, sessions, FAST, seed=0)
    scores = [h["val_corr"] for h in result.history]
    assert result.best_val_corr > 0.4 and result.best_val_corr >= max(scores)
    assert result.epochs == len(result.history) and 1 <= result.epochs <= FAST["max_epochs"]
    assert _states_equal(model.state_dict(), result.best_state)
    pooled = np.concatenate([neuron_correlations(s, s.indices("validation"), predict(model, s, s.indices("validation")))
                             for s in sessions])
    assert pooled.mean() == pytest.approx(result.best_val_corr, abs=1e-6)
    test = sessions[0].indices("test")
    scores = score_predictions(sessions[0], test, predict(model, sessions[0], test))
    assert set(scores) == {"single_trial_corr", "corr_to_average", "feve"}


def test_bf16_autocast_on_cpu_learns_as_fp32_does():
    sessions = two_static_sessions()
    fp32, bf16 = (train(TinyModel(sessions), sessions, {**FAST, "amp": amp}, seed=0) for amp in (False, True))
    assert bf16.best_val_corr > 0.4 and bf16.best_val_corr == pytest.approx(fp32.best_val_corr, abs=0.05)


def test_same_seed_same_run_and_other_seed_another():
    sessions = two_static_sessions()
    cfg = {**FAST, "max_epochs": 3}
    runs = [train(TinyModel(sessions, dropout=0.2), sessions, cfg, seed=s) for s in (5, 5, 6)]
    strip = [without_timing(r.history) for r in runs]
    assert strip[0] == strip[1] and _states_equal(runs[0].best_state, runs[1].best_state)
    assert strip[0] != strip[2]


def test_resume_from_a_checkpoint_equals_the_uninterrupted_run(tmp_path):
    sessions = two_static_sessions()
    # patience 1 at a high rate: plateaus (LR decays, restores) happen after the resume point
    cfg = {**FAST, "lr_init": 0.3, "patience": 1, "lr_decay_steps": 4, "max_epochs": 8}
    kept = {}

    def keep(epoch, metrics, folder):
        assert metrics["epoch"] == epoch and (folder / "state.pt").is_file()
        shutil.copytree(folder, tmp_path / f"epoch{epoch}")
        kept[epoch] = metrics

    full = train(TinyModel(sessions, dropout=0.2), sessions, cfg, seed=3, report=keep)
    assert sorted(kept) == list(range(1, full.epochs + 1))
    assert len({h["lr"] for h in full.history[2:]}) > 1
    resumed_reports = []
    resumed = train(TinyModel(sessions, dropout=0.2), sessions, cfg, seed=3,
                    report=lambda e, m, f: resumed_reports.append(e), checkpoint=tmp_path / "epoch2")
    assert resumed_reports == list(range(3, full.epochs + 1))
    assert without_timing(resumed.history) == without_timing(full.history)
    assert resumed.best_val_corr == full.best_val_corr
    assert _states_equal(resumed.best_state, full.best_state)
    with pytest.raises(UserError, match="seed 3, resumed with 4"):
        train(TinyModel(sessions), sessions, cfg, seed=4, checkpoint=tmp_path / "epoch2")


def test_nan_loss_raises_with_epoch_and_session():
    sessions = two_static_sessions()
    responses = sessions[1].responses.copy()
    responses[sessions[1].indices("train")[3], 0] = np.nan
    sessions[1] = replace(sessions[1], responses=responses)
    with pytest.raises(NonFiniteLoss, match="epoch 1 on session b") as caught:
        train(TinyModel(sessions), sessions, FAST, seed=0)
    assert caught.value.epoch == 1 and caught.value.session == "b" and isinstance(caught.value, RuntimeError)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.epoch, copy.session, str(copy)) == (1, "b", str(caught.value))


def test_early_stopping_restores_the_best_weights_at_each_plateau():
    model = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(best_score=0.1, best_state=model.state_dict())
    with torch.no_grad():
        model.weight.fill_(1.0)
    stopper.update(1, 0.5, model, patience=2, tolerance=1e-6)        # new best: weights 1
    for epoch, score in ((2, 0.4), (3, 0.5 + 1e-7)):                 # two epochs without a real gain
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        stopper.update(epoch, score, model, patience=2, tolerance=1e-6)
    assert stopper.plateaus == 1 and stopper.bad_epochs == 0 and stopper.best_score == 0.5
    assert (model.weight == 1.0).all()
    assert not stopper.finished(max_epochs=10, lr_decay_steps=2) and stopper.finished(10, 1)
    assert stopper.finished(max_epochs=3, lr_decay_steps=5)


def test_plateaus_decay_the_learning_rate_and_stop_training():
    sessions = two_static_sessions()
    # A learning rate too small to change the score: every epoch is a plateau of patience 1.
    cfg = {**FAST, "lr_init": 1e-12, "min_lr": 0.0, "patience": 1, "lr_decay_steps": 3, "max_epochs": 50}
    result = train(TinyModel(sessions), sessions, cfg, seed=0)
    assert result.epochs == 3
    assert [h["lr"] for h in result.history] == pytest.approx([1e-12 * 0.3 ** k for k in (1, 2, 3)])


def test_one_optimiser_step_per_cycle_over_two_sessions():
    sessions = two_static_sessions()                       # 72 and 36 train trials: 5 and 3 batches of at most 16
    model = TinyModel(sessions)
    seen, steps = [], []
    model.register_forward_pre_hook(lambda module, args: seen.append(args[0].key) if module.training else None)
    handle = register_optimizer_step_post_hook(lambda opt, a, k: steps.append(list(seen)))
    try:
        train(model, sessions, {**FAST, "max_epochs": 1}, seed=0)
    finally:
        handle.remove()
    assert len(steps) == 5
    # between consecutive steps, exactly one training batch of each session (validation runs after)
    per_step = [steps[0]] + [later[len(earlier):] for earlier, later in zip(steps, steps[1:])]
    assert all(sorted(keys) == ["a", "b"] for keys in per_step)


def test_video_training_excludes_burn_in_and_respects_lengths():
    sessions = [learnable_video_session("v", seed=4), learnable_video_session("w", n_trials=28, seed=5)]
    model = TinyModel(sessions, burn_in=3)      # NaN output before frame 3
    cfg = {**FAST, "batch_size": 4, "clip_frames": 12, "max_epochs": 4, "eval_skip": 3}  # trials under 52 frames
    result = train(model, sessions, cfg, seed=0)
    assert np.isfinite(result.best_val_corr) and result.best_val_corr > 0.3
    predictions = predict(model, sessions[0], np.array([20, 2, 21]))
    assert [p.shape for p in predictions] == [(sessions[0].lengths[t], 5) for t in (20, 2, 21)]
    with pytest.raises(NonFiniteLoss):
        train(TinyModel(sessions, burn_in=3), sessions, {**cfg, "burn_in": 2}, seed=0)
    with pytest.raises(UserError, match="trainer.clip_frames"):
        train(TinyModel(sessions, burn_in=3), sessions, {**cfg, "clip_frames": 3}, seed=0)
    with pytest.raises(UserError, match="trainer.eval_skip: the validation trials of session v have at most "):
        train(TinyModel(sessions, burn_in=3), sessions, {**cfg, "eval_skip": None}, seed=0)


def test_video_validation_score_is_the_competition_score_mean_over_mice():
    """Frames 51..min(T, 300)-1 of each validation trial, mean over neurons per mouse, then over mice."""
    sessions = [learnable_video_session("v", frames=70, seed=4),
                learnable_video_session("w", n_trials=28, n_neurons=3, frames=70, seed=5)]
    model = TinyModel(sessions)
    result = train(model, sessions, {**FAST, "batch_size": 4, "clip_frames": 20, "max_epochs": 2}, seed=0)
    per_mouse = [neuron_correlations(s, s.indices("validation"), predict(model, s, s.indices("validation")))
                 for s in sessions]
    assert result.best_val_corr == pytest.approx(np.mean([values.mean() for values in per_mouse]), abs=1e-6)
    assert result.best_val_corr != pytest.approx(np.concatenate(per_mouse).mean(), abs=1e-6)  # not pooled


def test_config_errors_name_the_key():
    assert TrainerConfig().lr_init == 0.009 and TrainerConfig().lr_decay_steps == 4
    sessions = two_static_sessions()
    with pytest.raises(UserError, match="trainer.bogus"):
        train(TinyModel(sessions), sessions, {"bogus": 1}, seed=0)
    with pytest.raises(UserError, match="trainer.optimizer"):
        train(TinyModel(sessions), sessions, {"optimizer": "sgd"}, seed=0)
    with pytest.raises(UserError, match="trainer.lr_decay_factor"):
        train(TinyModel(sessions), sessions, {"lr_decay_factor": 1.5}, seed=0)


def test_a_train_trial_cut_at_a_dropout_is_left_out_of_clips_instead_of_shortening_them():
    session = learnable_video_session("v", seed=4)
    cut = int(session.indices("train")[0])
    session.trial_lengths = session.lengths.copy()
    session.lengths = session.lengths.copy()
    session.lengths[cut] = 6                      # cut at an interior NaN (an eye-tracker dropout)
    model = TinyModel([session], burn_in=3)
    seen: list[tuple[list[int], int]] = []
    model.register_forward_pre_hook(
        lambda m, args: seen.append((args[0].trials.tolist(), args[0].stimuli.shape[1])) if m.training else None)
    train(model, [session], {**FAST, "batch_size": 4, "clip_frames": 12, "max_epochs": 1, "eval_skip": 3}, seed=0)
    assert seen and all(frames == 12 for _, frames in seen)
    drawn = {t for trials, _ in seen for t in trials}
    assert cut not in drawn and drawn == set(session.indices("train")) - {cut}
