"""Everything a search needs is checked before Ray, MLflow or the record: one line, exit status 2, and
nothing written under the runs folder (the class behind a malformed session, a misspelled metric, a name
that is a path, a key for the other model family, and a bad flag all passing launch)."""
from __future__ import annotations

import pytest

from search_builders import run_cli, tiny_session, tiny_space, write_space


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return tiny_session(tmp_path_factory.mktemp("data") / "data")


def _corrupt_copy(session, tmp_path):
    import shutil

    copy = tmp_path / "bad" / session.name
    shutil.copytree(session, copy)
    responses = copy / "data" / "responses" / "0.npy"
    responses.write_bytes(responses.read_bytes()[:70])  # header intact, data cut short
    return copy


CASES = {
    "malformed session": (lambda s, t: {"data": {"paths": [str(_corrupt_copy(s, t))]}}, [],
                          r"responses/0\.npy: expected a complete \.npy file"),
    "misspelled metric": (lambda s, t: {"search": {"metric": "val_cor"}}, [],
                          "search.metric: 'val_cor' is not reported by the trainer; did you mean 'val_corr'"),
    "name is a path": (lambda s, t: {}, ["--name", "../escape"], "search name '../escape': expected letters"),
    "video key on a static model": (lambda s, t: {"model": {"temporal_kern": {"choice": [3, 5]}}}, [],
                                    "model.temporal_kern: applies to video models only, and the sessions are static"),
    "video-only family on static sessions": (lambda s, t: {"model": {"family": "conv_gru"}}, [],
                                             "model.family: 'conv_gru' models video sessions, and these are static"),
    "message that says found": (lambda s, t: {"search": {"resources": {"cpus": 1, "gpus": 1.5}}}, [],
                                "search.resources.gpus: more than one GPU must be a whole number, found 1.5$"),
    "bad flag": (lambda s, t: {}, ["--num-samples", "0"], "^sensorium-search: error: --num-samples: Input should be"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_search_that_cannot_run_is_refused_before_anything_starts(session, tmp_path, case):
    import re

    edit, flags, message = CASES[case]
    space = tiny_space(session.parent, tmp_path / "cache")
    for block, values in edit(session, tmp_path).items():
        space[block].update(values)
    config = write_space(tmp_path / "tiny.yaml", space)
    rc, out, err = run_cli("search", "launch", str(config), "--runs-dir", str(tmp_path / "runs"), *flags)
    assert rc == 2, err
    assert re.search(message, err, re.M), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "escape").exists()


def test_the_good_search_passes_preflight_and_a_name_for_status_is_checked_too(session, tmp_path):
    from search.config import load_spec
    from search.preflight import preflight
    from sensorium_models.compose import schemas

    config = write_space(tmp_path / "tiny.yaml", tiny_space(session.parent, tmp_path / "cache"))
    preflight(load_spec(config, schemas()), schemas())
    assert any((tmp_path / "cache").iterdir())  # the cache the trials will map is built
    rc, _, err = run_cli("search", "status", "/etc", "--runs-dir", str(tmp_path / "runs"))
    assert rc == 2 and "search name '/etc'" in err


@pytest.mark.parametrize("other, message", [
    ({"family": "conv_gru"}, "model.one_of.other: model.family: 'conv_gru' models video sessions, and these are"),
    ({"temporal_kern": {"choice": [3, 5]}}, "model.one_of.other: model.temporal_kern: applies to video models only"),
])
def test_each_alternative_of_a_cross_family_search_is_checked_on_the_sessions(session, tmp_path, other, message):
    space = tiny_space(session.parent, tmp_path / "cache")
    space["model"] = {"one_of": {"small": dict(space["model"]), "other": other}}
    config = write_space(tmp_path / "tiny.yaml", space)
    rc, out, err = run_cli("search", "launch", str(config), "--runs-dir", str(tmp_path / "runs"))
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()
