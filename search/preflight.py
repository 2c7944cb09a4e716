"""What a search needs that its YAML alone cannot show, checked on the driver before Ray starts.

Without this, a session that exists but is malformed passed ``launch`` and every trial died in Ray with a
traceback. Here each distinct data block the search can sample is loaded (which builds, or validates, the
cache entries the trials then memory-map), the model is built once for those sessions, keys meant for
the other family (static/video) are refused, an Optuna storage must open, and a trial that asks for CUDA
must be given a GPU, so every such mistake is one line and exit status 2; a cross-family search does this
for each of its model alternatives. (That a new search's study is not in it yet is ``launch``'s check.)
"""
from __future__ import annotations

from search.config import SearchSpec, check_family
from search.resources import most_gpus
from search.searcher import check_installed, optuna_storage
from sensorium_models.compose import RunConfig, assemble
from sensorium_models.errors import UserError


def check_devices(spec: SearchSpec, runs: list[RunConfig], where: str) -> None:
    """A trial whose ``trainer.device`` is ``cuda`` sees a GPU only if Ray gives it one (it hides the rest)."""
    searched = spec.searched.get(("trainer", "device"))
    devices = searched.representatives() if searched else [run.trainer.device for run in runs]
    if "cuda" in devices and not most_gpus(spec.settings.resources):
        raise UserError(f"{where}trainer.device: 'cuda' asked for, but search.resources gives a trial no GPU "
                        "(set search.resources.gpus, or trainer.device: auto)")


def preflight(spec: SearchSpec, schemas: dict) -> None:
    """UserError, naming the search YAML, for anything a trial would fail on before its first epoch."""
    where = f"{spec.source}: " if spec.source else ""
    check_installed(spec.settings, where)
    runs = spec.representative_runs()
    check_devices(spec, [run for _, run in runs], where)
    for named, run in runs:
        try:
            assembled = assemble(run, spec.settings.seed)
        except UserError as err:
            raise UserError(f"{named}{err}") from None
        check_family(run.blocks(), assembled.sessions[0].kind, schemas, named)
    if spec.settings.optuna_storage is not None:
        try:
            optuna_storage(spec.settings.optuna_storage)
        except UserError as err:
            raise UserError(f"{where}{err}") from None
