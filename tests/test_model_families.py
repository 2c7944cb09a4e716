"""A team's own model family: named by a dotted path or an entry point, validated like the built-in ones,
searched and promoted with the same Tune, MLflow and promotion machinery (tests/team_family/team_models.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from search_builders import tiny_session, tiny_space, write_space
from sensorium_models.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
TEAM = Path(__file__).parent / "team_family" / "team_models.py"
REF = "team_models:FAMILY"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return tiny_session(tmp_path_factory.mktemp("data") / "data")


@pytest.fixture
def team_path(tmp_path, monkeypatch):
    """The team's module in a folder of its own, importable here (as PYTHONPATH would make it)."""
    folder = tmp_path / "team"
    folder.mkdir()
    shutil.copy(TEAM, folder / TEAM.name)
    monkeypatch.syspath_prepend(str(folder))
    return folder


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_a_family_named_by_dotted_path_builds_and_predicts_with_seeded_weights(session, team_path):
    from sensorium_models.data import load_sessions
    from sensorium_models.models import build_model
    from sensorium_models.prediction import predict

    sessions = load_sessions({"paths": [str(session)]})
    model = build_model(sessions, {"family": REF, "channels": 2}, seed=3)
    assert type(model).__module__ == "team_models"
    assert torch.equal(_weights(model), _weights(build_model(sessions, {"family": REF, "channels": 2}, seed=3)))
    assert not torch.equal(_weights(model), _weights(build_model(sessions, {"family": REF, "channels": 2}, seed=4)))
    out = predict(model, sessions[0], sessions[0].tier_indices("validation")[:5])
    assert out.shape == (5, sessions[0].n_neurons) and (out > 0).all()


def test_an_entry_point_of_an_installed_distribution_names_a_family(team_path):
    from sensorium_models.models.families import ENTRY_POINT_GROUP, family_refs, load_family

    info = team_path / "team_models-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: team-models\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\npooled_ln = {REF}\n")
    assert family_refs()["pooled_ln"] == REF
    assert load_family("pooled_ln") is load_family(REF)


@pytest.mark.parametrize("block, message", [
    ({"family": REF, "chanels": 2}, "model.chanels: unknown key; did you mean 'channels'?"),
    ({"family": REF, "layers": 2}, "model.layers: unknown key"),
    ({"family": "pooled_nl"}, "model.family: unknown family 'pooled_nl'; expected one of"),
    ({"family": "team_models:MISSING"}, "model.family: team_models:MISSING is missing, expected a"),
    ({"family": "no_such_team:FAMILY"}, "model.family: 'no_such_team:FAMILY' → cannot import 'no_such_team'"),
])
def test_a_bad_family_or_key_is_one_line_naming_it(team_path, block, message):
    from sensorium_models.models import parse_model

    with pytest.raises(UserError) as raised:
        parse_model(block)
    assert str(raised.value).startswith(message), raised.value


def test_a_search_yaml_is_validated_against_the_family_it_names(session, team_path, tmp_path):
    from search.config import load_spec
    from sensorium_models.compose import schemas

    space = tiny_space(session.parent, tmp_path / "cache")
    space["model"] = {"family": REF, "channels": {"choice": [2, 4]}, "l1": {"loguniform": [1e-4, 1e-2]}}
    spec = load_spec(write_space(tmp_path / "team.yaml", space), schemas())
    assert spec.blocks["model"]["family"] == REF and ("model", "channels") in spec.searched
    space["model"]["channels"] = {"choice": [2, 0]}
    with pytest.raises(UserError, match=r"team\.yaml: model\.channels: .*greater than or equal to 1.*searched range"):
        load_spec(write_space(tmp_path / "team.yaml", space), schemas())
    space["model"] = {"family": {"choice": [REF, "core_readout"]}}
    with pytest.raises(UserError, match=r"team\.yaml: model\.family: expected one family name"):
        load_spec(write_space(tmp_path / "team.yaml", space), schemas())


SCRIPT = """import json, sys
from search.cli import main
for argv in json.loads(sys.argv[1]):
    if main(argv) != 0:
        sys.exit(f"failed: {argv}")
"""


def _cli_process(commands: list[list[str]], pythonpath: Path, cwd: Path) -> subprocess.CompletedProcess:
    """CLI commands in one process of their own, so its in-process Ray (started once, by the first) has the
    team's folder on PYTHONPATH, as a user's shell would give it."""
    import json

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pythonpath), str(ROOT)]),
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(commands)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=840)


@pytest.mark.slow
@pytest.mark.timeout(900)  # a Ray of its own starts in the subprocess: ~2 min at load 2, more under heavy load
def test_a_family_outside_the_package_is_searched_and_promoted(session, tmp_path):
    import yaml

    team = tmp_path / "team"
    team.mkdir()
    shutil.copy(TEAM, team / TEAM.name)
    space = tiny_space(session.parent, tmp_path / "cache", num_samples=2)
    space["model"] = {"family": REF, "channels": {"choice": [2, 4]}, "pool": 3}
    space["trainer"]["max_epochs"] = 2
    space["search"]["asha"] = {"grace_period": 1, "max_t": 2, "reduction_factor": 2}
    config, runs = write_space(tmp_path / "team.yaml", space), tmp_path / "runs"
    done = _cli_process([["search", "launch", str(config), "--name", "team", "--runs-dir", str(runs)],
                         ["promote", "team", "--top-k", "1", "--seeds", "2", "--runs-dir", str(runs)]],
                        pythonpath=team, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    promotion = runs / "ray_results" / "team" / "sensorium-search" / "promotion"
    members = yaml.safe_load((promotion / "ensemble" / "ensemble.yaml").read_text())["members"]
    assert len(members) == 2 and all(m["config"]["model"]["family"] == REF for m in members)
    assert sorted((promotion / "submission").rglob("*.csv"))
    assert list((runs / "mlartifacts" / "models").rglob("ensemble/ensemble.yaml"))  # and registered
