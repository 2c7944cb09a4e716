"""The Python API as a notebook uses it: a search and a promotion driven through ``search.api``, with typed
results instead of exit codes, messages logged instead of printed, and the CLI's UserErrors. Real Ray
(in-process), Optuna and MLflow."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from search import api
from sensorium_models.compose import RunConfig
from sensorium_models.data import load_sessions
from sensorium_models.errors import UserError
from sensorium_models.submission import validate_submission

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def quiet(monkeypatch):
    """The ``search`` logger as a fresh process has it (no terminal handler the CLI tests installed)."""
    logger = logging.getLogger("search")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", True)
    monkeypatch.setattr(logger, "level", logging.NOTSET)


def readme_snippet() -> str:
    """The README's notebook example: the python block of its "From Python" section."""
    text = (ROOT / "README.md").read_text().split("## From Python", 1)[1]
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_notebook_snippet_runs_as_written(tmp_path, monkeypatch, ray_local, quiet, caplog, capsys):
    """It launches, inspects and promotes a search; results are typed, messages logged and not printed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SENSORIUM_RUNS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "configs").symlink_to(ROOT / "configs")  # the tiny config's data path is relative to the cwd
    names: dict = {}
    with caplog.at_level(logging.INFO, logger="search"):
        exec(compile(readme_snippet(), "README.md", "exec"), names)  # noqa: S102 - our own README
    result, best, promoted = names["result"], names["best"], names["promoted"]
    assert result.finished and len(result.trials) == 4 and not result.all_failed
    assert any(r.message.startswith("search notebook: 4 trials") for r in caplog.records)  # logged ...
    printed = capsys.readouterr().out
    assert "search notebook: 4 trials" not in printed and printed.count("\n") == 3        # ... not printed

    assert best.trial.trial_id == result.best.trial_id and best.trial.best == result.best.best
    assert isinstance(best.run, RunConfig) and best.run.trainer.max_epochs == 6  # ready for compose.fit
    status = api.status("notebook")
    assert [row.trial_id for row in status.trials] == [row.trial_id for row in result.trials]

    assert promoted.model_uri == "models:/notebook-ensemble@champion" and promoted.version == "1"
    assert promoted.best.trial_id == result.best.trial_id and promoted.members_reused == 0
    assert len(promoted.best.members) == 2
    sessions = load_sessions({"paths": [str(tmp_path / "runs" / "synthetic" / "static-tiny")]})
    assert promoted.files and all(validate_submission(path, sessions) == [] for path in promoted.files)


@pytest.mark.parametrize("call, message", [
    (lambda runs: api.status("absent", runs_dir=runs), "search 'absent': no record at"),
    (lambda runs: api.promote("absent", top_k=0, runs_dir=runs), "--top-k and --seeds must be at least 1"),
    (lambda runs: api.promote("absent", alias="latest", runs_dir=runs), "MLflow reserves 'latest'"),
    (lambda runs: api.launch({"data": {}}, runs_dir=runs), "needs a name"),
])
def test_mistakes_raise_the_user_errors_the_cli_prints(tmp_path, call, message):
    with pytest.raises(UserError, match=message):
        call(tmp_path / "runs")
