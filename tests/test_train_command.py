"""``sensorium-search train``: the config file it accepts and the mistakes it names."""
import pytest

from search.commands.train import read_train_config
from sensorium_models.errors import UserError


def _write(tmp_path, text):
    path = tmp_path / "train.yaml"
    path.write_text(text)
    return path


def test_reads_the_three_blocks_with_defaults_for_missing_ones(tmp_path):
    blocks = read_train_config(_write(tmp_path, "data:\n  paths: [x]\ntrainer:\n  max_epochs: 3\n"))
    assert blocks == {"data": {"paths": ["x"]}, "model": {}, "trainer": {"max_epochs": 3}}


@pytest.mark.parametrize("text, message", [
    ("data: {paths: [x]}\nmodels: {}\n", r"unknown top-level key\(s\) \['models'\]"),
    ("model: {}\n", "expected a 'data:' block"),
    ("- data\n", "expected a mapping"),
    ("data: [x]\n", "'data:' must be a mapping"),
    ("data: {paths: [x]\n", "not valid YAML"),
])
def test_config_mistakes_are_user_errors_naming_the_problem(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        read_train_config(_write(tmp_path, text))


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="expected a YAML config file"):
        read_train_config(tmp_path / "absent.yaml")
