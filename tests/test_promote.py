"""Promotion end to end on tiny synthetic data: search → promote → registered ensemble → valid submissions.

Real Ray (in-process), Optuna and MLflow; nothing mocked.
"""
from __future__ import annotations

import filecmp

import mlflow
import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from search_builders import mlflow_runs, run_cli, tiny_session, tiny_space, write_space
from search.tracking import default_tracking_uri
from sensorium_models.data import load_sessions
from sensorium_models.submission import validate_submission

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


def test_promotion_writes_submission_files_that_pass_the_validator(promoted):
    _, runs, data, out = promoted
    files = sorted((runs / "promotions" / "tiny" / "submission").rglob("*.csv"))
    assert [f.name for f in files] == ["submission_file_final_test.csv", "submission_file_live_test.csv"]
    sessions = load_sessions({"paths": [str(data)]})
    for path in files:
        assert validate_submission(path, sessions) == []
        assert str(path) in out


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
