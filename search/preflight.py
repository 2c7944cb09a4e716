"""What a search needs that its YAML alone cannot show, checked on the driver before Ray starts.

Without this, a session that exists but is malformed passed ``launch`` and every trial died in Ray with a
traceback. Here each distinct data block the search can sample is loaded (which builds, or validates, the
cache entries the trials then memory-map), the model is built once for those sessions, keys meant for
the other family (static/video) are refused, an Optuna storage must open, and a trial that asks for CUDA
must be given a GPU, so every such mistake is one line and exit status 2. (That a new search's study is not in it yet is ``launch``'s check.)
"""
from __future__ import annotations

import copy

from search.config import SearchSpec, check_family
from search.resources import most_gpus
from search.searcher import check_installed, optuna_storage
from search.space import set_path, substitute
from sensorium_models.errors import UserError


def data_variants(spec: SearchSpec) -> list[dict]:
    """The data block at each value of each searched data key (the others at their first value)."""
    base = substitute(spec.blocks["data"], lambda _, d: d.representatives()[0])
    variants = [base]
    for (block, *path), dist in spec.searched.items():
        if block == "data":
            for value in dist.representatives()[1:]:
                variant = copy.deepcopy(base)
                set_path(variant, tuple(path), value)
                variants.append(variant)
    return variants


def check_devices(spec: SearchSpec, where: str) -> None:
    """A trial whose ``trainer.device`` is ``cuda`` sees a GPU only if Ray gives it one (it hides the rest)."""
    searched = spec.searched.get(("trainer", "device"))
    devices = searched.representatives() if searched else [spec.blocks["trainer"].get("device", "auto")]
    if "cuda" in devices and not most_gpus(spec.settings.resources):
        raise UserError(f"{where}trainer.device: 'cuda' asked for, but search.resources gives a trial no GPU "
                        "(set search.resources.gpus, or trainer.device: auto)")


def preflight(spec: SearchSpec, schemas: dict) -> None:
    """UserError, naming the search YAML, for anything a trial would fail on before its first epoch."""
    from sensorium_models.data import load_sessions
    from sensorium_models.models import build_model

    where = f"{spec.source}: " if spec.source else ""
    check_installed(spec.settings, where)
    check_devices(spec, where)
    model = substitute(spec.blocks["model"], lambda _, d: d.representatives()[0])
    for data in data_variants(spec):
        try:
            sessions = load_sessions(data, spec.settings.seed)
        except UserError as err:
            raise UserError(f"{where}{err}") from None
        check_family(spec.blocks, sessions[0].kind, schemas, where)
        try:
            build_model(sessions, model, spec.settings.seed)
        except UserError as err:
            raise UserError(f"{where}{err}") from None
    if spec.settings.optuna_storage is not None:
        try:
            optuna_storage(spec.settings.optuna_storage)
        except UserError as err:
            raise UserError(f"{where}{err}") from None
