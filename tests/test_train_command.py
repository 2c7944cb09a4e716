"""``sensorium-search train``: the config file it accepts and the mistakes it names."""
import pytest

from search.commands.train import read_train_config
from sensorium_models.errors import UserError


def _write(tmp_path, text):
    path = tmp_path / "train.yaml"
    path.write_text(text)
    return path


def test_reads_the_three_blocks_with_defaults_for_missing_ones(tmp_path):
    run = read_train_config(_write(tmp_path, "data:\n  paths: [x]\ntrainer:\n  max_epochs: 3\n"))
    assert run.blocks() == {"data": {"paths": ["x"]}, "model": {}, "trainer": {"max_epochs": 3}}


@pytest.mark.parametrize("text, message", [
    ("data: {paths: [x]}\nmodels: {}\n", "models: unknown block; expected data, model, trainer; did you mean 'model'"),
    ("model: {}\n", "data: missing block"),
    ("- data\n", "expected a mapping"),
    ("data: [x]\n", "data: expected a mapping, found list"),
    ("data: {paths: [x]\n", r"train.yaml:2:1: not valid YAML: expected ',' or '}'"),
])
def test_config_mistakes_are_user_errors_naming_the_problem(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        read_train_config(_write(tmp_path, text))


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="expected a YAML config file"):
        read_train_config(tmp_path / "absent.yaml")


MODELS = {
    "static": {"hidden_channels": 4, "layers": 2, "input_kern": 5, "hidden_kern": 3, "depth_separable": False,
               "readout_bias_from_mean": True},
    "video": {"hidden_channels": [4, 4], "layers": 2, "input_kern": 5, "hidden_kern": 3, "temporal_kern": 3,
              "hidden_temporal_kern": 3, "pad_hidden": True, "readout_bias_from_mean": True},
}
# FEVE is there only when some neuron's FEV passes the threshold, so it is not required
SCORES = {"static": {"single_trial_corr", "corr_to_average"}, "video": {"challenge_corr"}}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["static", "video"])
def test_train_command_end_to_end_on_synthetic_sessions(tmp_path, kind, capsys):
    import json

    import torch
    import yaml

    from search.cli import main
    from sensorium_models.data.ground_truth import load_ground_truth
    from sensorium_models.data.synthetic import synthesize

    folders = synthesize(tmp_path / "data", kind=kind, preset="tiny", neurons=8)
    config = {"data": {"paths": [str(tmp_path / "data")], "cache_dir": str(tmp_path / "cache")},
              "model": MODELS[kind],
              "trainer": {"batch_size": 32, "max_epochs": 2, "device": "cpu"} if kind == "static" else
              {"batch_size": 8, "clip_frames": 30, "max_epochs": 2, "device": "cpu"}}  # clip_frames: video only
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    assert main(["train", str(path), "--seed", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "best validation correlation" in printed and f"saved {out}" in printed
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "model.pt", "scores.json"]
    assert yaml.safe_load((out / "config.yaml").read_text()) == config
    summary = json.loads((out / "scores.json").read_text())
    assert summary["seed"] == 1 and summary["epochs"] == len(summary["history"]) <= 2
    tiers = {row["tier"] for row in summary["scores"]}
    assert {"validation", "oracle"} & tiers and {"test", "live_test_main"} & tiers
    hidden = {}  # tiers whose responses the release hides (zeros) cannot be scored; labelled ones are
    for folder in folders:
        params = load_ground_truth(folder)["params"]
        hidden[folder.name if kind == "video" else params["key"]] = set(params["hidden_tiers"])
    assert all(row["tier"] not in hidden[row["session"]] for row in summary["scores"])
    assert kind == "static" or "final_test_main" in tiers       # an old mouse's final test is labelled
    test_row = next(row for row in summary["scores"] if row["tier"] in ("test", "live_test_main"))
    assert SCORES[kind] <= set(test_row)
    assert torch.load(out / "model.pt", weights_only=True).keys()


def test_a_bad_trainer_key_fails_before_any_data_is_read(tmp_path, capsys):
    from search.cli import main

    path = _write(tmp_path, "data: {paths: [absent]}\ntrainer: {lr: 0.1}\n")
    assert main(["train", str(path)]) == 2
    assert "trainer.lr" in capsys.readouterr().err


@pytest.mark.timeout(300)
def test_train_runs_without_ray_optuna_or_mlflow(tmp_path):
    """``sensorium-search train`` is documented as running without Ray: it must not even import it."""
    import subprocess
    import sys

    from sensorium_models.data.synthetic import synthesize

    synthesize(tmp_path / "data", "static", "tiny")
    config = _write(tmp_path, f"data:\n  paths: [{tmp_path / 'data'}]\n  cache_dir: {tmp_path / 'cache'}\n"
                              "model: {hidden_channels: 4, layers: 1}\ntrainer: {max_epochs: 1, device: cpu}\n")
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "search.cli", "train", str(config),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "torch" in imported and (tmp_path / "out" / "model.pt").exists()
    assert not {name for name in imported if name.split(".")[0] in ("ray", "optuna", "mlflow")}
