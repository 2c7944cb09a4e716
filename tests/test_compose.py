"""The composition point: the run record's validation and variants, and the per-process session cache.
(The session-cache test moved here from tests/test_search_trainable.py when the cache moved to compose.)"""
from __future__ import annotations

import pickle

import pytest

from sensorium_models import compose
from sensorium_models.compose import RunConfig
from sensorium_models.data import as_data_config
from sensorium_models.data.synthetic import synthesize
from sensorium_models.errors import UserError

pytestmark = pytest.mark.timeout(120)


def test_sessions_are_loaded_once_per_data_config_and_replaced_by_the_next(tmp_path):
    (session,) = synthesize(tmp_path / "data", "static", "tiny")
    config = {"paths": [str(session)], "cache_dir": str(tmp_path / "cache")}
    first = compose.sessions_of(as_data_config(config), 0)
    assert compose.sessions_of(as_data_config(dict(config)), 0) is first  # an equal config is a cache hit
    other = compose.sessions_of(as_data_config({**config, "scale": 0.125}), 0)
    assert other is not first and other[0].stimuli.shape[-2:] == (18, 32)
    assert len(compose._loaded) == 1  # only the latest data stays in the worker's memory
    assert compose.sessions_of(as_data_config(config), 0) is not first  # reloaded after being replaced


def test_a_record_keeps_the_keys_its_config_set_and_its_variants_change_only_theirs():
    run = RunConfig.from_blocks({"data": {"paths": ["/d"], "max_frames": 120}, "model": {"layers": 3}})
    assert run.blocks() == {"data": {"paths": ["/d"], "max_frames": 120}, "model": {"layers": 3}, "trainer": {}}
    assert run.trainer.max_epochs == RunConfig.from_blocks({"data": {"paths": ["/d"]}}).trainer.max_epochs
    assert run.resplit().data.resplit and not run.data.resplit
    assert run.whole_trials().data.max_frames == 300 and run.resplit().whole_trials().data.resplit
    assert pickle.loads(pickle.dumps(run)) == run  # travels to Ray workers as its blocks


@pytest.mark.parametrize("blocks, message", [
    ({"data": {"paths": []}}, "where.yaml: data.paths"),
    ({"data": {"paths": ["/d"]}, "model": {"layer": 3}}, "where.yaml: model.layer"),
    ({"data": {"paths": ["/d"]}, "trainer": {"max_epochs": 0}}, "where.yaml: trainer.max_epochs"),
])
def test_a_bad_block_is_one_user_error_naming_the_file_and_key(blocks, message):
    with pytest.raises(UserError, match=message):
        RunConfig.from_blocks(blocks, "where.yaml: ")
