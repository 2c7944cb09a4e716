"""One search across model families: ``model: {one_of: {name: model block, ...}}``.

Each alternative is a whole model block (its own ``family`` or ``preset``, fixed keys and distributions). The
searcher first draws the alternative, then only that alternative's searched keys: a conditional space, run by
Optuna's define-by-run API (:func:`suggest`), so TPE models each family's keys on that family's trials only.
Keys are named per alternative (``model/<name>/<key>``), since one key may mean different ranges, or
different things, in two families. Tune's own domains cannot express this, so such a search has no Tune
``param_space`` and refuses BOHB and ``start_with``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from search.presets import expand_preset
from search.space import Distribution, get_path, split_block, substitute
from sensorium_models.errors import UserError
from sensorium_models.models.families import DEFAULT_FAMILY, FAMILY_KEY
from sensorium_models.errors import shorten

ONE_OF = "one_of"
CHOSEN = ("model", ONE_OF)   # the searched path (and trial config path) of the drawn alternative's name
CHOSEN_KEY = "model.one_of"  # its name among a trial's searched values


@dataclass(frozen=True)
class Alternative:
    """One model block of a cross-family search: distributions in place, and its searched paths."""

    node: dict
    searched: dict[tuple, Distribution]

    @property
    def family(self) -> str:
        return self.node.get(FAMILY_KEY, DEFAULT_FAMILY)


def is_cross_family(model: dict) -> bool:
    return ONE_OF in model


def expand_alternatives(model: dict, where: str = "") -> dict:
    """``model`` with each alternative's preset expanded; UserError for a malformed ``one_of``."""
    if not is_cross_family(model):
        return expand_preset(model, where)
    extra = sorted(str(key) for key in model if key != ONE_OF)
    if extra:
        raise UserError(f"{where}model.{extra[0]}: beside model.one_of, every model key belongs inside each "
                        f"alternative")
    options = model[ONE_OF]
    if not (isinstance(options, dict) and len(options) >= 2):
        raise UserError(f"{where}model.one_of: expected a mapping of two or more named model blocks, found "
                        f"{shorten(options)}")
    expanded = {}
    for name, block in options.items():
        if not (isinstance(name, str) and name.isidentifier()):
            raise UserError(f"{where}model.one_of: alternative name {shorten(name)!r} must be an identifier")
        if not isinstance(block, dict):
            raise UserError(f"{where}model.one_of.{name}: expected a model block (a mapping), found {shorten(block)}")
        expanded[name] = expand_preset(block, f"{where}model.one_of.{name}: ")
    return {ONE_OF: expanded}


def split_alternatives(model: dict) -> tuple[dict, dict[str, Alternative]]:
    """The model block with distributions in place, and each alternative (UserError for a bad distribution)."""
    alternatives = {}
    for name, block in model[ONE_OF].items():
        node, searched = split_block(block, f"model.one_of.{name}")
        alternatives[name] = Alternative(node, searched)
    return {ONE_OF: {name: a.node for name, a in alternatives.items()}}, alternatives


def choice_of(alternatives: dict[str, Alternative]) -> Distribution:
    return Distribution("choice", tuple(alternatives))


def suggest(trial, searched: dict[tuple, Distribution], alternatives: dict[str, Alternative]) -> None:
    """Optuna's define-by-run space: every data/trainer key and the alternative, then that alternative's keys."""
    for path, dist in searched.items():
        value = _suggest(trial, "/".join(map(str, path)), dist)
        if path == CHOSEN:
            chosen = value
    for path, dist in alternatives[chosen].searched.items():
        _suggest(trial, "/".join(map(str, ("model", chosen, *path))), dist)


def _suggest(trial, name: str, dist: Distribution) -> Any:
    if dist.kind == "choice":
        return trial.suggest_categorical(name, [dist.searcher_value(c) for c in dist.args])
    lo, hi = dist.args
    if dist.kind == "int":
        return trial.suggest_int(name, lo, hi)
    return trial.suggest_float(name, lo, hi, log=dist.kind == "loguniform")


def _values(node: dict, config: dict) -> dict:
    """``node`` with each distribution replaced by the trial's value at its path (JSON choices decoded)."""
    def value(path: tuple, dist: Distribution) -> Any:
        sampled = get_path(config, path)
        return json.loads(sampled) if dist.encoded else sampled

    return substitute(node, value)


def decode(blocks: dict[str, dict], alternatives: dict[str, Alternative], config: dict) -> dict[str, dict]:
    """A trial config → plain blocks: the drawn alternative's model block, naming its family."""
    chosen = get_path(config, CHOSEN)
    alternative = alternatives[chosen]
    decoded = {b: _values(node, config.get(b, {})) for b, node in blocks.items() if b != "model"}
    decoded["model"] = {**_values(alternative.node, config["model"].get(chosen, {})), FAMILY_KEY: alternative.family}
    return decoded


def searched_values(alternatives: dict[str, Alternative], config: dict, common: dict[str, Any]) -> dict[str, Any]:
    """``common`` (the data/trainer keys and ``model.one_of``) and the drawn alternative's keys as ``model.<key>``."""
    chosen = get_path(config, CHOSEN)
    values = _values(alternatives[chosen].node, config["model"].get(chosen, {}))
    return {**common, **{".".join(map(str, ("model", *p))): get_path(values, p) for p in alternatives[chosen].searched}}


def searched_names(searched: dict[tuple, Distribution], alternatives: dict[str, Alternative]) -> list[str]:
    """Every column a trial table may fill: the common searched keys, then each alternative's (once each)."""
    names = [".".join(map(str, p)) for p in searched]
    for alternative in alternatives.values():
        names += [n for n in (".".join(map(str, ("model", *p))) for p in alternative.searched) if n not in names]
    return names
