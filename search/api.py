"""The Python API of sensorium-search: what the CLI does, as functions that return typed results.

The CLI is a thin layer over these: it turns their results into lines and exit statuses. They raise the same
:class:`~sensorium_models.errors.UserError` for a user's mistake, and log (``search.terminal.show()`` puts
the log on the terminal) instead of printing. Every function takes the connection the CLI's flags give:
``runs_dir`` (default ``$SENSORIUM_RUNS_DIR``, else ``./runs``), ``storage`` (a folder or ``s3://…``),
``mlflow_uri`` and, where Ray runs, ``address``.

    from search import api, terminal

    terminal.show()                                   # progress lines, as the CLI prints them
    result = api.launch("configs/search/tiny.yaml", runs_dir="runs", num_samples=4)
    print(result.finished, result.best.trial_id, result.best.best)
    promoted = api.promote(result.name, runs_dir="runs", top_k=1, seeds=2)
    print(promoted.model_uri, promoted.files)
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search import environment
from sensorium_models.errors import UserError

if TYPE_CHECKING:
    from search.config import SearchSpec
    from search.promote import PromotionResult
    from search.results import TrialRow
    from search.run import SearchRecord, SearchResult
    from sensorium_models.compose import RunConfig

RUNS_ENV = "SENSORIUM_RUNS_DIR"
PathLike = str | os.PathLike


def runs_path(runs_dir: PathLike | None) -> Path:
    """``runs_dir``, else ``$SENSORIUM_RUNS_DIR``, else ``./runs``; always absolute (trials run elsewhere)."""
    return Path(runs_dir or os.environ.get(RUNS_ENV) or "runs").absolute()


def load(config: PathLike | dict, name: str | None = None, **overrides: Any) -> SearchSpec:
    """A search YAML (a path, or its mapping) validated; ``overrides`` replace keys of its ``search`` block."""
    from search.config import load_spec, parse_spec
    from sensorium_models.compose import schemas

    if isinstance(config, dict):
        if name is None:
            raise UserError("a search given as a mapping needs a name")
        return parse_spec(config, schemas(), name, "", overrides)
    return load_spec(config, schemas(), name, overrides)


def launch(config: PathLike | dict | SearchSpec, *, name: str | None = None, num_samples: int | None = None,
           max_concurrent: int | None = None, runs_dir: PathLike | None = None, storage: str | None = None,
           mlflow_uri: str | None = None, address: str | None = None) -> SearchResult:
    """Start a new search and run it to its end (or until interrupted: ``result.finished`` is then False)."""
    from search.config import SearchSpec

    spec = config if isinstance(config, SearchSpec) else load(
        config, name, num_samples=num_samples, max_concurrent=max_concurrent)
    environment.apply(address)  # before Ray is first imported
    from search.run import launch as launch_search

    return launch_search(spec, runs_path(runs_dir), storage, mlflow_uri, address)


def resume(name: str, *, runs_dir: PathLike | None = None, storage: str | None = None,
           mlflow_uri: str | None = None, address: str | None = None) -> SearchResult:
    """Continue a stopped or killed search: completed trials are kept, unfinished ones continue."""
    environment.apply(address)
    from search.run import resume as resume_search

    return resume_search(name, runs_path(runs_dir), address, storage, mlflow_uri)


def record(name: str, *, runs_dir: PathLike | None = None, storage: str | None = None,
           mlflow_uri: str | None = None) -> SearchRecord:
    """Where search ``name`` lives: its Tune experiment and its MLflow experiment and parent run."""
    environment.apply(None)
    from search.run import SearchRecord

    return SearchRecord.read(runs_path(runs_dir), name, storage, mlflow_uri)


@dataclass
class SearchStatus:
    record: SearchRecord
    spec: SearchSpec
    trials: list[TrialRow]

    def summary(self) -> str:
        from search.results import summary_line

        return summary_line(self.trials, self.spec)

    def table(self) -> str:
        from search.results import format_table

        return format_table(self.trials, self.spec)

    def concentration(self) -> str | None:
        """How concentrated the last proposals are (see search.concentration); None for a young search."""
        from search.concentration import concentration

        found = concentration([t.params for t in self.trials], self.spec.searched)
        return found.line if found else None


def status(name: str, *, runs_dir: PathLike | None = None, storage: str | None = None,
           mlflow_uri: str | None = None) -> SearchStatus:
    """Every trial of a search as Tune saved it (while it runs, after it ended, or after it was killed)."""
    from search.results import trial_rows
    from search.run import load_trials

    found = record(name, runs_dir=runs_dir, storage=storage, mlflow_uri=mlflow_uri)
    spec = found.spec(check_paths=False)
    return SearchStatus(found, spec, trial_rows(load_trials(found), spec))


@dataclass
class BestTrial:
    search: str
    metric: str
    trial: TrialRow
    run: RunConfig   # what ``sensorium-search train`` (or ``compose.fit``) retrains
    seed: int        # the seed the search trained with


def best(name: str, *, runs_dir: PathLike | None = None, storage: str | None = None,
         mlflow_uri: str | None = None) -> BestTrial:
    """The trial with the best search metric at any epoch, and its run."""
    from search.results import best_row

    found = status(name, runs_dir=runs_dir, storage=storage, mlflow_uri=mlflow_uri)
    row = best_row(found.trials, found.spec.settings.objective)
    if row is None:
        raise UserError(f"search {name!r}: no trial has reported {found.spec.settings.metric} yet")
    return BestTrial(name, found.spec.settings.metric, row, found.spec.run_config(row.config), found.spec.settings.seed)


def sync(name: str, *, runs_dir: PathLike | None = None, storage: str | None = None,
         mlflow_uri: str | None = None):
    """Fill the search's MLflow runs from Tune's saved results (after the tracking server was away)."""
    from search.run import load_trials, sync as sync_search

    found = record(name, runs_dir=runs_dir, storage=storage, mlflow_uri=mlflow_uri)
    return sync_search(found, found.spec(check_paths=False), load_trials(found))


def promote(name: str, *, top_k: int = 3, seeds: int = 5, alias: str = "champion", model_name: str | None = None,
            ensemble: str = "best", out: PathLike | None = None, runs_dir: PathLike | None = None,
            storage: str | None = None, mlflow_uri: str | None = None, address: str | None = None) -> PromotionResult:
    """Retrain the top-k trials with ``seeds`` seeds each, ensemble them, register the best ensemble (or, with
    ``ensemble="top-k"``, every member of the top-k trials) under ``alias`` and write validated submission
    files (members already on storage are reused)."""
    if top_k < 1 or seeds < 1:
        raise UserError(f"--top-k and --seeds must be at least 1 (found {top_k}, {seeds})")
    if re.fullmatch(r"[vV]\d+|latest", alias):
        raise UserError(f"--alias {alias!r}: MLflow reserves 'latest' and v<number> aliases; pick another name")
    environment.apply(address)
    from search.promote import promote as promote_search

    return promote_search(name, runs_path(runs_dir), top_k=top_k, seeds=seeds, alias=alias,
                          out=Path(out) if out is not None else None, address=address,
                          registered_name=model_name, storage=storage, tracking_uri=mlflow_uri, ensemble=ensemble)
