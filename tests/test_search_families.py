"""One search across model families (``model.one_of``) end to end on the tiny synthetic video release: TPE
draws the family, then only its keys (Optuna's define-by-run); MLflow records each trial's family; the status
table groups by it; a promotion whose top-k spans the families writes validated submission files.

Real Ray (in-process), Optuna (sqlite) and MLflow; nothing mocked.
"""
from __future__ import annotations

import pytest
import yaml

from search_builders import mlflow_runs, run_cli, write_space
from sensorium_models.data import load_sessions
from sensorium_models.data.synthetic import synthesize
from sensorium_models.errors import UserError
from sensorium_models.submission import VIDEO_FILES, validate_submission

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def cross_family_space(data, cache, optuna_url: str) -> dict:
    """A factorised 3-D core and a 2-D core + GRU, each with its own searched keys, and a shared learning rate."""
    return {
        "data": {"paths": [str(data)], "cache_dir": str(cache), "max_frames": 60},
        "model": {"one_of": {
            "factorised": {"hidden_channels": [4, 4], "layers": 2, "input_kern": 7, "hidden_kern": 3,
                           "temporal_kern": 3, "hidden_temporal_kern": 3, "pad_hidden": True,
                           "gamma_input": {"loguniform": [0.1, 10.0]}, "readout_bias_from_mean": True},
            "gru": {"preset": "video_gru", "hidden_channels": 4, "layers": 2, "input_kern": 7, "hidden_kern": 3,
                    "gru_channels": {"choice": [4, 6]}, "gru_input_kern": 3, "gru_rec_kern": 3,
                    "gamma_input": 1.0, "gamma_hidden": 0.01},
        }},
        "trainer": {"batch_size": 8, "clip_frames": 30, "lr_init": {"loguniform": [3e-3, 3e-2]}, "max_epochs": 2,
                    "device": "cpu"},
        "search": {"metric": "val_corr", "num_samples": 4, "max_concurrent": 2, "seed": 0,
                   "tpe": {"n_startup_trials": 2}, "optuna_storage": optuna_url,
                   "asha": {"grace_period": 1, "max_t": 2, "reduction_factor": 2}},
    }


@pytest.fixture(scope="module")
def searched(tmp_path_factory, ray_local):
    root = tmp_path_factory.mktemp("families")
    synthesize(root / "data", "video", "tiny")
    optuna_url = f"sqlite:///{root / 'optuna.db'}"
    config = write_space(root / "families.yaml", cross_family_space(root / "data", root / "cache", optuna_url))
    rc, out, err = run_cli("search", "launch", str(config), "--name", "families", "--runs-dir", str(root / "runs"))
    assert rc == 0, err
    return {"root": root, "runs": root / "runs", "optuna_url": optuna_url, "out": out}


def test_trials_of_both_families_ran_and_mlflow_names_each_ones_family(searched):
    children = mlflow_runs(searched["runs"], "trial")
    families = {r.data.params["model.family"] for r in children}
    assert len(children) == 4 and families == {"core_readout", "conv_gru"}
    for run in children:
        gru = run.data.params["model.family"] == "conv_gru"
        assert ("model.gru_channels" in run.data.params) == gru and ("model.temporal_kern" in run.data.params) != gru


def test_the_tpe_study_holds_the_family_and_only_that_familys_keys(searched):
    import optuna

    study = optuna.load_study(study_name="families", storage=searched["optuna_url"])
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 4 and {t.params["model/one_of"] for t in trials} == {"factorised", "gru"}
    for trial in trials:
        chosen = trial.params["model/one_of"]
        own = {"factorised": {"model/factorised/gamma_input"}, "gru": {"model/gru/gru_channels"}}[chosen]
        assert set(trial.params) == {"model/one_of", "trainer/lr_init", *own}


def test_status_groups_the_trials_by_family(searched):
    rc, out, err = run_cli("search", "status", "families", "--runs-dir", str(searched["runs"]))
    assert rc == 0, err
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("trial "))
    header, body = lines[start].split(), [line.split() for line in lines[start + 1:start + 5]]
    assert header[5:] == ["model.one_of", "trainer.lr_init", "model.gamma_input", "model.gru_channels"]
    order = [row[4] for row in body]   # after trial, state, epochs and the best value
    assert sorted(set(order)) == ["factorised", "gru"] and order == sorted(order, key=order.index)
    for row in body:   # each row fills its own family's column, a dash in the other's
        assert (row[7] == "-") == (row[4] == "factorised") and (row[6] == "-") == (row[4] == "gru")


def test_a_promotion_across_families_averages_them_and_writes_validated_files(searched):
    runs, root = searched["runs"], searched["root"]
    rc, out, err = run_cli("promote", "families", "--top-k", "4", "--seeds", "1", "--ensemble", "top-k",
                           "--runs-dir", str(runs), "--out", str(root / "promotion"))
    assert rc == 0, err
    ensemble = yaml.safe_load((root / "promotion" / "ensemble" / "ensemble.yaml").read_text())
    assert len(ensemble["members"]) == 4
    assert {m["config"]["model"]["family"] for m in ensemble["members"]} == {"core_readout", "conv_gru"}
    sessions = load_sessions({"paths": [str(root / "data")], "cache_dir": str(root / "cache")})
    files = [root / "promotion" / "submission" / name for name in VIDEO_FILES.values()]
    assert any(path.exists() for path in files) and str(files[0]) in out
    assert all(validate_submission(path, sessions) == [] for path in files if path.exists())
    assert "| top-4 | **ensemble of all 4** |" in out


@pytest.mark.parametrize("change, message", [
    (lambda s: s["model"].update(layers=2), "model.layers: beside model.one_of, every model key belongs inside"),
    (lambda s: s["model"]["one_of"].pop("gru"), "model.one_of: expected a mapping of two or more named model"),
    (lambda s: s["model"]["one_of"]["gru"].update(gru_channels={"choice": [4, 0]}),
     r"model.one_of.gru.gru_channels: Input should be greater than 0 .*searched range"),
    (lambda s: s["model"]["one_of"]["gru"].update(temporal_kern=3), "model.one_of.gru: .*temporal_kern: a conv_gru"),
    (lambda s: s["search"].update(algorithm="bohb", tpe={}), "search.algorithm: bohb cannot search model.one_of"),
    (lambda s: s["search"].update(algorithm="gp", tpe={}), "search.algorithm: gp cannot search model.one_of"),
])
def test_each_family_is_validated_before_ray_starts(tmp_path, change, message):
    from search.config import load_spec
    from sensorium_models.compose import schemas

    space = cross_family_space(tmp_path, tmp_path / "cache", "sqlite:///x.db")
    del space["search"]["optuna_storage"]
    change(space)
    with pytest.raises(UserError, match=message):
        load_spec(write_space(tmp_path / "bad.yaml", space), schemas(), check_paths=False)


def test_a_cross_family_search_defaults_to_tpe(tmp_path):
    """GP, the default elsewhere, cannot model a conditional space: an unset algorithm is TPE there."""
    from search.config import load_spec
    from sensorium_models.compose import schemas

    space = cross_family_space(tmp_path, tmp_path / "cache", "sqlite:///x.db")
    space["search"].pop("algorithm", None)
    spec = load_spec(write_space(tmp_path / "space.yaml", space), schemas(), check_paths=False)
    assert spec.settings.algorithm == "tpe"


@pytest.mark.parametrize("config, families", [
    ("video2023_families", {"factorised": "core_readout", "full3d": "core_readout", "gru": "conv_gru",
                            "equivariant": "conv_gru", "dwise": "dwiseneuro"}),
    ("static2022_families", {"sota": "core_readout", "model4": "core_readout", "samples": "core_readout"}),
])
def test_the_shipped_cross_family_searches_validate_each_alternative(config, families):
    from search.config import load_spec
    from sensorium_models.compose import schemas

    spec = load_spec(f"configs/search/{config}.yaml", schemas(), check_paths=False)
    assert {name: a.family for name, a in spec.alternatives.items()} == families
    assert all(a.searched for a in spec.alternatives.values())
