"""Every YAML the tool takes goes through one bounded, strict reader, and model blocks may name a preset:
the cases each give one line naming the file (and line) and exit status 2. The alias bomb is rejected from
its node graph before anything expands it (it took 40 s and 2.6 GB before)."""
from __future__ import annotations

import pytest

from search_builders import run_cli

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, n in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("text, message", [
    (ALIAS_BOMB, "at most 100,000 values once its aliases are expanded"),
    ("data: {paths: [x]}\nmodel: {layers: 2}\nmodel: {layers: 3}\n", r"train.yaml:3: key 'model' appears twice \(first on line 2\)"),
    ("data: {paths: [x]}\nmodel:\n  layers: 2\n  layers: 3\n", "train.yaml:4: key 'layers' appears twice"),
    ("data: {paths: [x]}\nmodel:\n  layers: 2\n bad: 1\n", r"train.yaml:4:2: not valid YAML: expected <block end>, but found"),
    ("data: {paths: [x]}\nmodel: {layres: 2}\n", "model.layres: unknown key; did you mean 'layers'"),
    ("data: {paths: [x]}\nmodel: {gamma_input: '" + "z" * 900_000 + "'}\n", r"found 'zzz.*\.\.\. \(900,002 characters\)"),
    ("data: {paths: [x]}\nmodel: {gamma_input: '" + "z" * 2_000_000 + "'}\n", "at most 1024 KB, found 2,000,044 bytes"),
    ("data: {paths: [x]}\nmodel: {preset: modle4}\n", "model.preset: unknown preset 'modle4'; did you mean 'model4'"),
    ("data: {paths: [x]}\nmodel: {preset: sota2022, stack: 9}\n", "model: stack must index one of the 4 layers"),
])
def test_a_bad_config_is_one_line_and_status_2(tmp_path, text, message):
    import re

    path = tmp_path / "train.yaml"
    path.write_text(text)
    rc, _, err = run_cli("train", str(path), "--out", str(tmp_path / "out"))
    assert rc == 2 and re.search(message, err), err[:300]
    assert len(err.strip().splitlines()) == 1 and len(err) < 400 and "Traceback" not in err


def test_a_preset_is_expanded_and_its_own_keys_win(tmp_path):
    from search.config import read_blocks
    from search.presets import read_preset

    path = tmp_path / "train.yaml"
    path.write_text("data: {paths: [x]}\nmodel: {preset: model4, gamma_input: 12.5}\n")
    model = read_blocks(path)["model"]
    assert model == {**read_preset("model4"), "gamma_input": 12.5} and model["history"] is True


def test_shipped_configs_name_presets_and_mean_what_they_did():
    """sota2022 spelled out ModelConfig's defaults; the search YAMLs keep their preset's fixed keys."""
    from search.config import load_spec, read_blocks
    from search.presets import read_preset
    from sensorium_models.compose import schemas
    from sensorium_models.models import ModelConfig
    from sensorium_models.models import parse_model

    _, cfg = parse_model(read_blocks("configs/train/sota2022.yaml")["model"])
    assert cfg.model_dump(exclude={"family"}) == ModelConfig().model_dump()
    # the fixed keys each search YAML spelled out before it named its preset
    removed = {
        "static2022": {"depth_separable": True, "stack": -1, "gauss_type": "full", "init_mu_range": 0.8,
                       "grid_predictor": True, "grid_predictor_nonlinearity": "relu", "shifter": True,
                       "behavior_channels": True, "history": True, "state": True, "gain": True},
        "video2023": {"layers": 3, "pad_input": False, "pad_hidden": False, "momentum": 0.7, "gauss_type": "full",
                      "init_mu_range": 0.2, "readout_bias_from_mean": True, "grid_predictor": True,
                      "shifter": True, "behavior_channels": True},
    }
    for config, preset in (("static2022", "model4"), ("video2023", "video_factorised3d")):
        spec = load_spec(f"configs/search/{config}.yaml", schemas(), check_paths=False)
        searched = {path[1] for path in spec.searched if path[0] == "model"}
        fixed = {k: v for k, v in spec.blocks["model"].items() if k not in searched}
        assert removed[config].items() <= fixed.items()
        assert {k: v for k, v in read_preset(preset).items() if k not in searched}.items() <= fixed.items()


@pytest.mark.parametrize("port", ["99999", "-1", "x"])
def test_ui_port_out_of_range_is_a_usage_error(port, capsys):
    from search.cli import main

    with pytest.raises(SystemExit) as exit:
        main(["ui", "--port", port])
    assert exit.value.code == 2 and "argument --port: invalid port_number value" in capsys.readouterr().err


def test_ui_names_the_flag_it_used(tmp_path):
    rc, _, err = run_cli("ui", "--runs-dir", str(tmp_path / "nowhere"))
    assert rc == 2 and err.startswith("sensorium-search: error: --runs-dir: no store at")
