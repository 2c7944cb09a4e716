"""Ensembles: the mean of members, saved and rebuilt from weights (registration: test_registry_standalone.py)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from model_builders import SMALL, fake_sessions
from search.registry import Member, load_ensemble_folder, save_ensemble
from sensorium_models.ensemble import Ensemble, mean_predictions
from sensorium_models.errors import UserError
from sensorium_models.models import build_model
from sensorium_models.prediction import predict


def _members(sessions, seeds=(1, 2)):
    """Members whose weights are not those their seed builds (as trained ones are not): each tensor shifted."""
    config = {"data": {"paths": ["unused"]}, "model": SMALL, "trainer": {"max_epochs": 1}}
    members = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(seed)
        state = {k: v + 0.1 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v
                 for k, v in build_model(sessions, SMALL, seed).state_dict().items()}
        members.append(Member(config, seed, state))
    return members


def test_mean_predictions_static_and_video():
    a, b = np.ones((2, 3), np.float32), np.full((2, 3), 3.0, np.float32)
    np.testing.assert_allclose(mean_predictions([a, b]), np.full((2, 3), 2.0))
    video = mean_predictions([[a, a[:1]], [b, b[:1]]])
    assert [v.shape for v in video] == [(2, 3), (1, 3)] and np.allclose(video[1], 2.0)


def test_saved_ensemble_rebuilds_and_predicts_the_mean_of_its_members(tmp_path):
    sessions = fake_sessions()
    members = _members(sessions)
    folder = save_ensemble(tmp_path / "ensemble", members, sessions, {"search": "t"})
    ensemble, matched = load_ensemble_folder(folder, sessions)
    assert [s.key for s in matched] == [s.key for s in sessions]
    trials = sessions[0].indices("test")
    singles, untrained = [], []
    for member in members:
        untrained.append(predict(build_model(sessions, SMALL, member.seed).eval(), sessions[0], trials))
        model = build_model(sessions, SMALL, member.seed)
        model.load_state_dict(member.state_dict)
        singles.append(predict(model.eval(), sessions[0], trials))
    rebuilt = ensemble.predict(sessions[0], trials)
    np.testing.assert_allclose(rebuilt, np.mean(singles, axis=0), rtol=1e-5)
    assert np.abs(rebuilt - np.mean(untrained, axis=0)).max() > 1e-3  # the saved weights, not the seed's
    assert isinstance(ensemble, Ensemble) and len(ensemble.members) == 2


def test_ensemble_refuses_data_with_other_neurons(tmp_path):
    sessions = fake_sessions()
    folder = save_ensemble(tmp_path / "ensemble", _members(sessions, seeds=(1,)), sessions, {})
    changed = [dataclasses.replace(sessions[0], unit_ids=sessions[0].unit_ids + 100), sessions[1]]
    with pytest.raises(UserError, match="neuron ids differ"):
        load_ensemble_folder(folder, changed)
    with pytest.raises(UserError, match="does not hold"):
        load_ensemble_folder(folder, sessions[1:])
