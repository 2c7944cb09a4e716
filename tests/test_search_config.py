"""Search-space YAML validation and conversion, against small stand-in pydantic schemas."""
from __future__ import annotations

import copy

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from search.config import load_spec, parse_spec
from search.resources import Resources, check_resources
from sensorium_models.errors import UserError


class Data(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paths: list[str]
    scale: float = 0.25


class Core(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: int = Field(8, ge=1)
    kernel: int = 5


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    core: Core = Core()
    layers: int = Field(2, ge=1)
    history_taus: list[float] = []


class Trainer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lr: float = Field(1e-3, gt=0)
    batch_size: int = 16


SCHEMAS = {"data": Data, "model": Model, "trainer": Trainer}


@pytest.fixture
def raw(tmp_path):
    (tmp_path / "session").mkdir()
    return {
        "data": {"paths": [str(tmp_path / "session")]},
        "model": {
            "core": {"channels": {"int": [4, 16]}, "kernel": {"choice": [3, 5, 7]}},
            "layers": 2,
            "history_taus": {"choice": [[], [2.0, 8.0]]},
        },
        "trainer": {"lr": {"loguniform": [1e-4, 1e-1]}, "batch_size": 32},
        "search": {"metric": "val_corr", "num_samples": 6, "asha": {"max_t": 4}},
    }


def error_of(raw, **kw) -> str:
    with pytest.raises(UserError) as info:
        parse_spec(raw, SCHEMAS, "demo", "demo.yaml", **kw)
    return str(info.value)


def test_valid_spec_lists_searched_keys_and_builds_tune_space(raw):
    from ray import tune

    spec = parse_spec(raw, SCHEMAS, "demo", "demo.yaml", overrides={"num_samples": 9})
    assert spec.settings.num_samples == 9
    assert sorted(".".join(p) for p in spec.searched) == [
        "model.core.channels", "model.core.kernel", "model.history_taus", "trainer.lr"]
    space = spec.param_space()
    assert isinstance(space["trainer"]["lr"], tune.search.sample.Float)
    assert space["model"]["core"]["channels"].upper == 17  # inclusive int range → Tune's exclusive bound
    assert space["model"]["history_taus"].categories == ["[]", "[2.0, 8.0]"]
    assert space["trainer"]["batch_size"] == 32


def test_decode_turns_encoded_choices_back_into_lists(raw):
    spec = parse_spec(raw, SCHEMAS, "demo", "")
    sampled = copy.deepcopy(spec.param_space())
    sampled["model"]["core"] = {"channels": 5, "kernel": 3}
    sampled["model"]["history_taus"] = "[2.0, 8.0]"
    sampled["trainer"]["lr"] = 0.01
    blocks = spec.decode(sampled)
    assert blocks["model"]["history_taus"] == [2.0, 8.0]
    assert spec.searched_values(sampled)["model.history_taus"] == [2.0, 8.0]
    Model.model_validate(blocks["model"])


def test_spec_hash_is_stable_and_canonical_yaml_reloads(raw, tmp_path):
    first = parse_spec(raw, SCHEMAS, "demo", "")
    (tmp_path / "again.yaml").write_text(first.text)
    again = load_spec(tmp_path / "again.yaml", SCHEMAS)
    assert again.config_hash == first.config_hash
    assert again.name == "again"


@pytest.mark.parametrize("edit, expected", [
    (lambda r: r["model"].update(depth=3), "model.depth: unknown key"),
    (lambda r: r["model"]["core"].update(stride={"int": [1, 2]}), "model.core.stride: unknown key"),
    (lambda r: r.update(optimiser={}), "optimiser: unknown block"),
    (lambda r: r["trainer"].update(lr={"loguniform": [0.1, 1e-3]}), "trainer.lr: loguniform range [0.1, 0.001] is inverted"),
    (lambda r: r["trainer"].update(lr={"uniform": [0.1, 0.1]}), "trainer.lr: uniform range [0.1, 0.1] is empty"),
    (lambda r: r["trainer"].update(lr={"loguniform": [0, 0.1]}), "trainer.lr: loguniform range [0, 0.1] must be above 0"),
    (lambda r: r["trainer"].update(lr={"choice": []}), "trainer.lr: choice needs a non-empty list"),
    (lambda r: r["trainer"].update(lr={"logunifrom": [1e-4, 1e-2]}), "did you mean 'loguniform'"),
    (lambda r: r["trainer"].update(batch_size={"int": [8.5, 64]}), "trainer.batch_size: int needs two integers"),
    (lambda r: r["trainer"].update(batch_size={"uniform": [8, 64]}), "trainer.batch_size: Input should be a valid integer"),
    (lambda r: r["model"]["core"].update(channels={"choice": [0, 8]}), "model.core.channels: Input should be greater than or equal to 1"),
    (lambda r: r["data"].update(paths=["/nonexistent/session"]), "data.paths[0]: /nonexistent/session does not exist"),
    (lambda r: r["data"].update(paths={"choice": [["/nope/a"]]}), "data.paths[0]: /nope/a does not exist"),
    (lambda r: r["search"].update(algorithm="tpe", asha={"grace_period": 9, "max_t": 4}), "grace_period 9 exceeds max_t 4"),
    (lambda r: r["search"].update(resources={"gpus": 1.5}), "search.resources.gpus: more than one GPU"),
    (lambda r: r["search"].update(mode="maximise"), "search.mode: Input should be 'max' or 'min'"),
    (lambda r: r["search"].update(algorithm="bohb", optuna_storage="sqlite:///o.db"),
     "optuna_storage applies to algorithm tpe or gp, not bohb"),
    (lambda r: r["search"]["asha"].update(grace_period=2), "asha.grace_period applies to algorithm tpe, not gp"),
    (lambda r: r["search"]["asha"].update(brackets=2), "asha.brackets applies to algorithm tpe, not gp"),
    (lambda r: r["search"]["asha"].update(reduction_factor=3), "asha.reduction_factor applies to algorithm tpe or bohb, not gp"),
    (lambda r: r["search"].update(tpe={"n_startup_trials": 5}), "tpe applies to algorithm tpe, not gp"),
    (lambda r: r["search"].update(algorithm="tpe", gp={"n_startup_trials": 5}), "gp applies to algorithm gp, not tpe"),
    (lambda r: r["search"].update(gp={"n_startup_trials": 0}), "search.gp.n_startup_trials: Input should be greater"),
    (lambda r: r["search"].update(algorithm="bohb", asha={"max_t": 4, "full_start": 2}),
     "asha.full_start applies to algorithm tpe, not bohb"),
    (lambda r: r["search"].update(algorithm="hyperopt"), "search.algorithm: Input should be 'gp', 'tpe' or 'bohb'"),
    (lambda r: r["search"].pop("metric"), "search.metric: Field required"),
    (lambda r: r.pop("data"), "data: missing block"),
])
def test_each_mistake_is_one_error_naming_the_key(raw, edit, expected):
    edit(raw)
    message = error_of(raw)
    assert expected in message
    assert message.startswith("demo.yaml: ")
    assert "\n" not in message


def test_relative_data_paths_become_absolute(raw, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw["data"]["paths"] = {"choice": [["session"], ["./session"]]}
    spec = parse_spec(raw, SCHEMAS, "demo", "")
    assert spec.searched[("data", "paths")].args == ([str(tmp_path / "session")],) * 2


def test_start_with_points_are_flat_encoded_and_complete(raw):
    point = {"model": {"core": {"channels": 4, "kernel": 7}, "history_taus": [2.0, 8.0]}, "trainer": {"lr": 0.05}}
    raw["search"]["start_with"] = [point]
    spec = parse_spec(raw, SCHEMAS, "demo", "")
    assert spec.points == [{"model/core/channels": 4, "model/core/kernel": 7,
                            "model/history_taus": "[2.0, 8.0]", "trainer/lr": 0.05}]
    del point["trainer"]
    assert "search.start_with[0]: trainer.lr is missing" in error_of(raw)
    point["trainer"] = {"lr": 5.0}
    assert "trainer.lr=5.0 is outside its distribution" in error_of(raw)
    point["trainer"] = {"lr": 0.05, "batch_size": 8}
    assert "search.start_with[0]: trainer.batch_size is not a searched key" in error_of(raw)


def test_resources_must_fit_some_node():
    nodes = [{"CPU": 2.0}, {"CPU": 8.0, "GPU": 1.0}]
    check_resources(Resources(cpus=4, gpus=0.5), nodes)
    with pytest.raises(UserError, match=r"search.resources.gpus: a trial asks for 2 but no node offers more than 1"):
        check_resources(Resources(cpus=1, gpus=2), nodes)
    with pytest.raises(UserError, match=r"search.resources.cpus: a trial asks for 16 .* more than 8"):
        check_resources(Resources(cpus=16), nodes)


def test_load_spec_reports_bad_yaml_and_missing_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("data: [unclosed\n")
    with pytest.raises(UserError, match=r"bad.yaml:2:1: not valid YAML: expected ',' or '\]'"):
        load_spec(tmp_path / "bad.yaml", SCHEMAS)
    with pytest.raises(UserError, match="missing.yaml: expected a YAML search config file, found nothing there"):
        load_spec(tmp_path / "missing.yaml", SCHEMAS)
    (tmp_path / "list.yaml").write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(UserError, match="expected a mapping"):
        load_spec(tmp_path / "list.yaml", SCHEMAS)


@pytest.mark.parametrize("edit, expected", [
    (lambda r: r["model"].update(depth=3), "model.depth: unknown key"),
    (lambda r: r["data"].update(paths=["/nonexistent/sessions"]), "data.paths[0]: /nonexistent/sessions does not exist"),
    (lambda r: r["search"].update(resources={"cpus": 4096}), "search.resources.cpus: a trial asks for 4096"),
    (lambda r: r["model"].update(stack={"choice": [-1, 5]}), "model: stack must index one of the"),
])
def test_cli_launch_rejects_a_bad_search_with_exit_2_before_starting(raw, tmp_path, edit, expected):
    from search_builders import run_cli

    raw["model"] = {"layers": 2, "hidden_channels": {"choice": [4, 8]}}
    raw["trainer"] = {"lr_init": {"loguniform": [1e-4, 1e-1]}}
    edit(raw)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    rc, out, err = run_cli("search", "launch", str(tmp_path / "bad.yaml"), "--runs-dir", str(tmp_path / "runs"))
    assert rc == 2 and out == ""
    assert err.startswith("sensorium-search: error: ") and expected in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()  # nothing was started or written


@pytest.mark.parametrize("name", ["tiny", "static2022", "video2023", "video2023_gru"])
def test_shipped_search_configs_validate_against_the_real_schemas(name):
    from search.config import load_spec
    from sensorium_models.compose import schemas

    spec = load_spec(f"configs/search/{name}.yaml", schemas(), check_paths=False)
    assert spec.settings.metric == "val_corr" and len(spec.searched) >= 6
    assert spec.param_space()["model"]["gamma_input"].lower > 0


@pytest.mark.parametrize("name", ["demo_static", "demo_video"])
def test_demo_search_configs_validate_and_search_something(name):
    from search.config import load_spec
    from sensorium_models.compose import schemas

    spec = load_spec(f"configs/search/{name}.yaml", schemas(), check_paths=False)
    assert spec.searched and spec.settings.resources.gpus == 0 and spec.blocks["trainer"]["device"] == "cpu"


def test_an_optuna_storage_must_open_and_be_new_for_the_search(tmp_path):
    import optuna

    from search.searcher import check_new_study

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    check_new_study(url, "s22")  # a new file: fine
    optuna.create_study(study_name="s22", storage=url)
    with pytest.raises(UserError, match=r"already holds a study named 's22'.*optuna delete-study"):
        check_new_study(url, "s22")
    check_new_study(url, "s23")
    with pytest.raises(UserError, match=r"search.optuna_storage: cannot open 'nosuchdb://x'"):
        check_new_study("nosuchdb://x", "s22")


def test_the_algorithm_picks_searcher_and_scheduler_and_the_gp_and_tpe_options_reach_optuna(raw):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandForBOHB
    from ray.tune.search.bohb import TuneBOHB

    from search.searcher import PruningAwareOptunaSearch, build_scheduler, build_searcher
    from search.unseen import UnseenGPSampler

    settings = parse_spec(raw, SCHEMAS, "demo", "").settings  # the default: GP, trials run to max_t
    searcher = build_searcher(settings, [])
    assert settings.algorithm == "gp" and isinstance(searcher._sampler, UnseenGPSampler)
    assert type(build_scheduler(settings)) is FIFOScheduler
    assert searcher._sampler._gp._n_startup_trials == 10  # Optuna's default
    raw["search"]["gp"] = {"n_startup_trials": 5}
    assert build_searcher(parse_spec(raw, SCHEMAS, "demo", "").settings, [])._sampler._gp._n_startup_trials == 5
    del raw["search"]["gp"]
    raw["search"].update(algorithm="tpe", tpe={"n_startup_trials": 4, "multivariate": True})
    settings = parse_spec(raw, SCHEMAS, "demo", "").settings
    searcher = build_searcher(settings, [])
    assert isinstance(searcher, PruningAwareOptunaSearch) and isinstance(build_scheduler(settings), ASHAScheduler)
    sampler = searcher._sampler
    assert (sampler._n_startup_trials, sampler._multivariate, sampler._group) == (4, True, True)
    del raw["search"]["tpe"]  # TPE's keys are refused with bohb
    for samples, given, joint in [(999, None, False), (1000, None, True), (5000, False, False), (10, True, True)]:
        raw["search"].update(num_samples=samples, tpe={} if given is None else {"multivariate": given})
        sampler = build_searcher(parse_spec(raw, SCHEMAS, "demo", "").settings, [])._sampler
        assert (sampler._multivariate, sampler._group) == (joint, joint), (samples, given)
    del raw["search"]["tpe"]
    raw["search"]["algorithm"] = "bohb"
    settings = parse_spec(raw, SCHEMAS, "demo", "").settings
    assert isinstance(build_searcher(settings, []), TuneBOHB)
    assert isinstance(build_scheduler(settings), HyperBandForBOHB)
    spec = parse_spec(raw, SCHEMAS, "demo", "")
    again = parse_spec(yaml.safe_load(spec.text), SCHEMAS, "demo", "")  # what resume reloads: every key written
    assert again.settings == spec.settings and again.settings.algorithm == "bohb"


@pytest.mark.parametrize("samples, algorithm", [(999, "gp"), (1000, "tpe")])
def test_the_default_algorithm_is_gp_below_a_large_search_and_tpe_from_it(raw, samples, algorithm):
    """GP's suggestion grows with the cube of the trials seen (bench/results/tpe_scale.md); the choice is written
    into the canonical YAML, so resume keeps it."""
    raw["search"]["num_samples"] = samples
    spec = parse_spec(raw, SCHEMAS, "demo", "")
    assert spec.settings.algorithm == algorithm
    assert yaml.safe_load(spec.text)["search"]["algorithm"] == algorithm


def test_bohb_without_its_packages_is_one_line_saying_what_to_install(raw, monkeypatch):
    import importlib.util

    from search.searcher import check_installed

    raw["search"]["algorithm"] = "bohb"
    settings = parse_spec(raw, SCHEMAS, "demo", "").settings
    check_installed(settings)  # installed here (make install)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "hpbandster" else real(name, *a))
    with pytest.raises(UserError, match=r"demo.yaml: search.algorithm: bohb needs hpbandster, not installed here; "
                                        r"install them with `pip install -r requirements-bohb.txt`"):
        check_installed(settings, "demo.yaml: ")
