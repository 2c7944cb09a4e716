"""What a search needs that its YAML alone cannot show, checked on the driver before Ray starts.

Without this, a session that exists but is malformed passed ``launch`` and every trial died in Ray with a
traceback. Here each distinct data block the search can sample is loaded (which builds, or validates, the
cache entries the trials then memory-map), the model is built once for those sessions, keys meant for
the other family (static/video) are refused, and an Optuna storage must open, so every such mistake is
one line and exit status 2. (That a new search's study is not in it yet is ``launch``'s check.)
"""
from __future__ import annotations

from search.config import SearchSpec, check_family
from search.searcher import check_installed, optuna_storage
from sensorium_models.compose import assemble
from sensorium_models.errors import UserError


def preflight(spec: SearchSpec, schemas: dict) -> None:
    """UserError, naming the search YAML, for anything a trial would fail on before its first epoch."""
    where = f"{spec.source}: " if spec.source else ""
    check_installed(spec.settings, where)
    for run in spec.representative_runs():
        try:
            assembled = assemble(run, spec.settings.seed)
        except UserError as err:
            raise UserError(f"{where}{err}") from None
        check_family(run.blocks(), assembled.sessions[0].kind, schemas, where)
    if spec.settings.optuna_storage is not None:
        try:
            optuna_storage(spec.settings.optuna_storage)
        except UserError as err:
            raise UserError(f"{where}{err}") from None
