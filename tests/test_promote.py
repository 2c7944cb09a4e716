"""Promotion end to end on tiny synthetic data: search → promote → registered ensemble → valid submissions.

Real Ray (in-process), Optuna and MLflow; nothing mocked.
"""
from __future__ import annotations

import ast
import csv
import filecmp

import mlflow
import numpy as np
import pytest
import torch
import yaml
from mlflow import MlflowClient

from search_builders import mlflow_runs, run_cli, tiny_session, tiny_space, write_space
from search.tracking import default_tracking_uri
from search.trainable import sessions_for
from sensorium_models.data import load_sessions
from sensorium_models.models import build_model
from sensorium_models.prediction import neuron_correlations, predict

pytestmark = pytest.mark.slow
SEEDS = 3


@pytest.fixture(scope="module")
def promoted(tmp_path_factory, ray_local):
    root = tmp_path_factory.mktemp("promote")
    data = tiny_session(root / "data").parent
    space = tiny_space(data, root / "cache", num_samples=3)
    space["trainer"]["max_epochs"] = 6
    runs = root / "runs"
    rc, _, err = run_cli("search", "launch", str(write_space(root / "tiny.yaml", space)), "--name", "tiny",
                         "--runs-dir", str(runs))
    assert rc == 0, err
    rc, out, err = run_cli("promote", "tiny", "--top-k", "2", "--seeds", str(SEEDS), "--runs-dir", str(runs))
    assert rc == 0, err
    return root, runs, data, out


def _members(runs):
    """The registered ensemble's members as trained (weights from its folder) and as untrained (same seed)."""
    folder = runs / "promotions" / "tiny" / "ensemble"
    spec = yaml.safe_load((folder / "ensemble.yaml").read_text())
    trained, untrained = [], []
    for entry in spec["members"]:
        sessions = sessions_for({**entry["config"]["data"], "resplit": True}, entry["seed"])
        untrained.append(build_model(sessions, entry["config"]["model"], entry["seed"]).eval())
        model = build_model(sessions, entry["config"]["model"], entry["seed"])
        model.load_state_dict(torch.load(folder / entry["weights"], weights_only=True))
        trained.append((entry["seed"], sessions, model.eval()))
    return spec, trained, untrained


def _validation_corr(model, sessions) -> float:
    return float(np.concatenate([neuron_correlations(s, s.indices("validation"),
                                                     predict(model, s, s.indices("validation")), 0)
                                 for s in sessions]).mean())


def test_registered_members_hold_the_weights_their_training_scored(promoted):
    """Each member's weights give the validation score its own training reported; an untrained one does not."""
    _, runs, _, _ = promoted
    spec, trained, untrained = _members(runs)
    reported = {int(r.data.params["seed"]): r.data.metrics["validation_corr_own_split"]
                for r in mlflow_runs(runs, "promotion-member") if r.data.tags["trial_id"] == spec["trial_id"]}
    assert sorted(reported) == sorted(seed for seed, _, _ in trained)
    for (seed, sessions, model), fresh in zip(trained, untrained):
        assert _validation_corr(model, sessions) == pytest.approx(reported[seed], abs=1e-5)
        assert abs(_validation_corr(fresh, sessions) - reported[seed]) > 1e-3  # 100x the tolerance above


def test_submission_files_and_the_registered_model_predict_with_the_trained_members(promoted):
    _, runs, data, out = promoted
    files = sorted((runs / "promotions" / "tiny" / "submission").rglob("*.csv"))
    assert [f.name for f in files] == ["submission_file_final_test.csv", "submission_file_live_test.csv"]
    assert all(str(path) in out for path in files)
    _, trained, untrained = _members(runs)
    (session,) = load_sessions({"paths": [str(data)]})
    mlflow.set_tracking_uri(default_tracking_uri(runs))
    registered = mlflow.pyfunc.load_model("models:/tiny-ensemble@champion").predict({"paths": [str(data)]})
    for tier, file in (("test", "submission_file_live_test.csv"), ("final_test", "submission_file_final_test.csv")):
        trials = session.tier_indices(tier)
        expected = np.mean([predict(model, session, trials) for _, _, model in trained], axis=0)
        untrained_mean = np.mean([predict(model, session, trials) for model in untrained], axis=0)
        np.testing.assert_allclose(registered[session.name][tier], expected, rtol=1e-5, atol=1e-6)
        with open(next(f for f in files if f.name == file), newline="") as handle:
            rows = {row["trial_indices"]: ast.literal_eval(row["prediction"]) for row in csv.DictReader(handle)}
        written = np.array([rows[str(session.trial_ids[t])] for t in trials], dtype=np.float32)
        np.testing.assert_allclose(written, expected, rtol=1e-5, atol=1e-6)
        assert np.abs(written - untrained_mean).max() > 1e-2


def test_members_train_on_their_own_splits_and_are_tracked(promoted):
    _, runs, _, _ = promoted
    members = mlflow_runs(runs, "promotion-member")
    assert len(members) == 2 * SEEDS
    by_trial: dict[str, set] = {}
    for run in members:
        by_trial.setdefault(run.data.tags["trial_id"], set()).add(run.data.tags["split"])
        assert "validation_corr_own_split" in run.data.metrics
    assert len(by_trial) == 2 and all(len(splits) == SEEDS for splits in by_trial.values())
    (parent,) = mlflow_runs(runs, "promotion")
    assert parent.info.status == "FINISHED"


def test_ensemble_scores_at_least_the_mean_of_its_members(promoted):
    _, runs, _, _ = promoted
    spec = yaml.safe_load((runs / "promotions" / "tiny" / "ensemble" / "ensemble.yaml").read_text())
    members = [r for r in mlflow_runs(runs, "promotion-member") if r.data.tags["trial_id"] == spec["trial_id"]]
    keys = [k for k in spec["scores"] if k.endswith("/test/single_trial_corr")]
    assert keys
    for key in keys:
        member_mean = np.mean([r.data.metrics[key.replace("/", ".")] for r in members])
        assert spec["scores"][key] >= member_mean


def test_alias_resolves_and_regenerates_the_same_files(promoted):
    root, runs, data, _ = promoted
    mlflow.set_tracking_uri(default_tracking_uri(runs))
    version = MlflowClient().get_model_version_by_alias("tiny-ensemble", "champion")
    assert version.status == "READY"
    rc, out, err = run_cli("submission", "write", "--model", "models:/tiny-ensemble@champion", "--data", str(data),
                           "--out", str(root / "again"), "--runs-dir", str(runs))
    assert rc == 0, err
    first = sorted((runs / "promotions" / "tiny" / "submission").rglob("*.csv"))
    again = sorted((root / "again").rglob("*.csv"))
    assert [p.name for p in first] == [p.name for p in again]
    assert all(filecmp.cmp(a, b, shallow=False) for a, b in zip(first, again))


def test_registered_pyfunc_predicts_every_test_tier(promoted):
    _, runs, data, _ = promoted
    mlflow.set_tracking_uri(default_tracking_uri(runs))
    model = mlflow.pyfunc.load_model("models:/tiny-ensemble@champion")
    predictions = model.predict({"paths": [str(data)]})
    ((name, tiers),) = predictions.items()
    (session,) = load_sessions({"paths": [str(data)]})
    assert name == session.name and sorted(tiers) == ["final_test", "test"]
    assert tiers["test"].shape == (len(session.tier_indices("test")), session.n_neurons)


def test_promote_refuses_unknown_search_and_reserved_alias(promoted):
    _, runs, _, _ = promoted
    rc, _, err = run_cli("promote", "nope", "--runs-dir", str(runs))
    assert rc == 2 and "search 'nope'" in err
    rc, _, err = run_cli("promote", "tiny", "--alias", "v1", "--runs-dir", str(runs))
    assert rc == 2 and "reserves" in err
