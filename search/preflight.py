"""What a search needs that its YAML alone cannot show, checked on the driver before Ray starts.

Without this, a session that exists but is malformed passed ``launch`` and every trial died in Ray with a
traceback. Here each distinct data block the search can sample is loaded (which builds, or validates, the
cache entries the trials then memory-map), the model is built once for those sessions, keys meant for
the other family (static/video) are refused, and an Optuna storage must open, so every such mistake is
one line and exit status 2; a cross-family search does this for each of its model alternatives. (That a
new search's study is not in it yet is ``launch``'s check.)
"""
from __future__ import annotations

import copy

from search.config import SearchSpec, check_family
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


def preflight(spec: SearchSpec, schemas: dict) -> None:
    """UserError, naming the search YAML, for anything a trial would fail on before its first epoch."""
    from sensorium_models.data import load_sessions
    from sensorium_models.models import build_model

    where = f"{spec.source}: " if spec.source else ""
    check_installed(spec.settings, where)
    models = {name: a.node for name, a in spec.alternatives.items()} or {"": spec.blocks["model"]}
    for data in data_variants(spec):
        try:
            sessions = load_sessions(data, spec.settings.seed)
        except UserError as err:
            raise UserError(f"{where}{err}") from None
        for name, node in models.items():
            model = substitute(node, lambda _, d: d.representatives()[0])
            named = f"{where}model.one_of.{name}: " if name else where
            check_family({**spec.blocks, "model": node}, sessions[0].kind, schemas, named)
            try:
                build_model(sessions, model, spec.settings.seed)
            except UserError as err:
                raise UserError(f"{named}{err}") from None
    if spec.settings.optuna_storage is not None:
        try:
            optuna_storage(spec.settings.optuna_storage)
        except UserError as err:
            raise UserError(f"{where}{err}") from None
