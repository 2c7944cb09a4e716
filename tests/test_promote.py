"""Promotion end to end on tiny synthetic data: search → promote → registered ensemble → valid submissions.

The promotion runs as it would on a fresh machine after a crash: the runs folder deleted, the search
read from ``--storage``, the first ``promote`` killed after some members, the second continuing.
Real Ray (in-process), Optuna and MLflow; nothing mocked.
"""
from __future__ import annotations

import ast
import csv
import filecmp
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
import yaml
from mlflow import MlflowClient

from search_builders import mlflow_runs, run_cli, tiny_session, tiny_space, write_space
from sensorium_models.compose import RunConfig, sessions_of
from sensorium_models.data import load_sessions
from sensorium_models.models import build_model
from sensorium_models.prediction import predict
from sensorium_models.scoring import neuron_correlations

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[1]
SEEDS = 3
TRAINED = re.compile(r"member trial (\w+) seed (\d+):")


def finished_members(promotion: Path) -> dict[str, str]:
    """Member folder → hash of its weights, for the members a promotion has saved completely."""
    return {m.parent.name: hashlib.sha256((m.parent / "weights.pt").read_bytes()).hexdigest()
            for m in (promotion / "members").glob("*/member.json")}


def killed_promotion(argv: list[str], log: Path, promotion: Path, members: int) -> None:
    """``promote`` in a child process, SIGKILLed once ``members`` members are saved."""
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "search.cli", "promote", *argv], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while len(finished_members(promotion)) < members:
            assert proc.poll() is None, f"promote ended before it could be killed:\n{log.read_text()}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        for _ in range(60):  # what is left of its session (Ray's workers)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            time.sleep(0.5)


@pytest.fixture(scope="module")
def promoted(tmp_path_factory, ray_local):
    root = tmp_path_factory.mktemp("promote")
    data = tiny_session(root / "data").parent
    space = tiny_space(data, root / "cache", num_samples=3)
    space["trainer"]["max_epochs"] = 6
    runs, storage = root / "runs", root / "storage"
    uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"  # outside runs: a tracking server in real life
    (root / "mlflow").mkdir()
    rc, _, err = run_cli("search", "launch", str(write_space(root / "tiny.yaml", space)), "--name", "tiny",
                         "--runs-dir", str(runs), "--storage", str(storage), "--mlflow-uri", uri)
    assert rc == 0, err
    shutil.rmtree(runs)  # a fresh machine: only the storage and the tracking store are left
    promotion = storage / "tiny" / "sensorium-search" / "promotion"
    argv = ["tiny", "--top-k", "2", "--seeds", str(SEEDS), "--storage", str(storage), "--mlflow-uri", uri,
            "--runs-dir", str(root / "fresh")]
    killed_promotion(argv, root / "killed.log", promotion, members=2)
    before = finished_members(promotion)
    rc, out, err = run_cli("promote", *argv)
    assert rc == 0, err
    return {"root": root, "storage": storage, "uri": uri, "data": data, "out": out, "argv": argv,
            "promotion": promotion, "before": before}


def test_a_killed_promotion_continues_with_the_missing_members_only(promoted):
    before, out = promoted["before"], promoted["out"]
    assert 2 <= len(before) < 2 * SEEDS
    assert f"members: {len(before)} of {2 * SEEDS} reused" in out
    trained = {f"{trial}-seed{seed}" for trial, seed in TRAINED.findall(out)}
    assert len(trained) == 2 * SEEDS - len(before) and not trained & set(before)
    after = finished_members(promoted["promotion"])
    assert len(after) == 2 * SEEDS and all(after[name] == digest for name, digest in before.items())

    # A member of the ensemble lost: the next run retrains that one only, and writes the same files.
    first = sorted((promoted["promotion"] / "submission").rglob("*.csv"))
    copies = {p: p.read_bytes() for p in first}
    best = yaml.safe_load((promoted["promotion"] / "ensemble" / "ensemble.yaml").read_text())["trial_id"]
    shutil.rmtree(promoted["promotion"] / "members" / f"{best}-seed101")
    rc, again, err = run_cli("promote", *promoted["argv"])
    assert rc == 0, err
    assert f"members: {2 * SEEDS - 1} of {2 * SEEDS} reused" in again
    assert TRAINED.findall(again) == [(best, "101")]
    assert sorted((promoted["promotion"] / "submission").rglob("*.csv")) == first
    assert all(p.read_bytes() == content for p, content in copies.items())


def _members(promotion):
    """The registered ensemble's members as trained (weights from its folder) and as untrained (same seed)."""
    folder = promotion / "ensemble"
    spec = yaml.safe_load((folder / "ensemble.yaml").read_text())
    trained, untrained = [], []
    for entry in spec["members"]:
        run = RunConfig.from_blocks(entry["config"]).resplit()
        sessions = sessions_of(run.data, entry["seed"])
        untrained.append(build_model(sessions, run.model, entry["seed"]).eval())
        model = build_model(sessions, run.model, entry["seed"])
        model.load_state_dict(torch.load(folder / entry["weights"], weights_only=True))
        trained.append((entry["seed"], sessions, model.eval()))
    return spec, trained, untrained


def _validation_corr(model, sessions) -> float:
    return float(np.concatenate([neuron_correlations(s, s.indices("validation"),
                                                     predict(model, s, s.indices("validation")), 0)
                                 for s in sessions]).mean())


def test_registered_members_hold_the_weights_their_training_scored(promoted):
    """Each member's weights give the validation score its own training reported; an untrained one does not."""
    spec, trained, untrained = _members(promoted["promotion"])
    reported = {int(r.data.params["seed"]): r.data.metrics["validation_corr_own_split"]
                for r in mlflow_runs(None, "promotion-member", promoted["uri"])
                if r.data.tags["trial_id"] == spec["trial_id"]}
    assert sorted(reported) == sorted(seed for seed, _, _ in trained)
    for (seed, sessions, model), fresh in zip(trained, untrained):
        assert _validation_corr(model, sessions) == pytest.approx(reported[seed], abs=1e-5)
        assert abs(_validation_corr(fresh, sessions) - reported[seed]) > 1e-3  # 100x the tolerance above


def test_submission_files_and_the_registered_model_predict_with_the_trained_members(promoted):
    data, out = promoted["data"], promoted["out"]
    files = sorted((promoted["promotion"] / "submission").rglob("*.csv"))
    assert [f.name for f in files] == ["submission_file_final_test.csv", "submission_file_live_test.csv"]
    assert all(str(path) in out for path in files)
    _, trained, untrained = _members(promoted["promotion"])
    (session,) = load_sessions({"paths": [str(data)]})
    mlflow.set_tracking_uri(promoted["uri"])
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
    members = mlflow_runs(None, "promotion-member", promoted["uri"])
    assert len(members) == 2 * SEEDS
    by_trial: dict[str, set] = {}
    for run in members:
        by_trial.setdefault(run.data.tags["trial_id"], set()).add(run.data.tags["split"])
        assert "validation_corr_own_split" in run.data.metrics
    assert len(by_trial) == 2 and all(len(splits) == SEEDS for splits in by_trial.values())
    (parent,) = mlflow_runs(None, "promotion", promoted["uri"])  # the re-runs continued it
    assert parent.info.status == "FINISHED"
    assert all(r.info.status == "FINISHED" and r.data.tags["mlflow.parentRunId"] == parent.info.run_id
               for r in members)


def test_ensemble_scores_at_least_the_mean_of_its_members(promoted):
    spec = yaml.safe_load((promoted["promotion"] / "ensemble" / "ensemble.yaml").read_text())
    members = [r for r in mlflow_runs(None, "promotion-member", promoted["uri"])
               if r.data.tags["trial_id"] == spec["trial_id"]]
    keys = [k for k in spec["scores"] if k.endswith("/test/single_trial_corr")]
    assert keys
    for key in keys:
        member_mean = np.mean([r.data.metrics[key.replace("/", ".")] for r in members])
        assert spec["scores"][key] >= member_mean


def test_alias_resolves_and_regenerates_the_same_files(promoted):
    root, data = promoted["root"], promoted["data"]
    mlflow.set_tracking_uri(promoted["uri"])
    version = MlflowClient().get_model_version_by_alias("tiny-ensemble", "champion")
    assert version.status == "READY"
    rc, out, err = run_cli("submission", "write", "--model", "models:/tiny-ensemble@champion", "--data", str(data),
                           "--out", str(root / "again"), "--mlflow-uri", promoted["uri"])
    assert rc == 0, err
    first = sorted((promoted["promotion"] / "submission").rglob("*.csv"))
    again = sorted((root / "again").rglob("*.csv"))
    assert [p.name for p in first] == [p.name for p in again]
    assert all(filecmp.cmp(a, b, shallow=False) for a, b in zip(first, again))


def test_registered_pyfunc_predicts_every_test_tier(promoted):
    data = promoted["data"]
    mlflow.set_tracking_uri(promoted["uri"])
    model = mlflow.pyfunc.load_model("models:/tiny-ensemble@champion")
    predictions = model.predict({"paths": [str(data)]})
    ((name, tiers),) = predictions.items()
    (session,) = load_sessions({"paths": [str(data)]})
    assert name == session.name and sorted(tiers) == ["final_test", "test"]
    assert tiers["test"].shape == (len(session.tier_indices("test")), session.n_neurons)


def test_promote_refuses_unknown_search_and_reserved_alias(promoted):
    rc, _, err = run_cli("promote", "nope", "--storage", str(promoted["storage"]))
    assert rc == 2 and "search 'nope'" in err and "searches there: tiny" in err
    rc, _, err = run_cli("promote", "tiny", "--alias", "v1", "--storage", str(promoted["storage"]))
    assert rc == 2 and "reserves" in err


def test_each_member_asks_for_the_gpus_of_its_own_configuration():
    from search.resources import Resources
    from search.promote import Candidate, member_options

    resources = Resources(cpus=2, gpus=0.25, gpus_when=[{"key": "model.hidden_channels", "at_least": 64, "gpus": 1}])
    narrow, wide = (Candidate(t, 0.3, RunConfig.from_blocks({"data": {"paths": ["x"]}, "model": {"hidden_channels": c, "layers": 2}}))
                    for t, c in (("a", 16), ("b", [32, 64])))
    assert member_options(resources, narrow) == {"num_cpus": 2, "num_gpus": 0.25}
    assert member_options(resources, wide) == {"num_cpus": 2, "num_gpus": 1}
