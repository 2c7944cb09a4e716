"""Model families: one registry of name → (config schema, builder), for the built-in models and a team's own.

A model block names its family with ``family:`` (default ``core_readout``, the SENSORIUM baselines). The
name is looked up among the built-in families, then among the ``sensorium_search.families`` entry points
of the installed packages; ``package.module:attribute`` names a family directly. Every family, built-in
or not, is a :class:`Family` reached by importing ``module:attribute``, validated against its own schema
(unknown keys are errors) and built under the same seed discipline, so a search, its trials, promotion
and the registry treat a team's architecture exactly like a shipped one.
"""
from __future__ import annotations

import functools
import importlib
import importlib.metadata
from dataclasses import dataclass
from typing import Any, Callable, Literal

from pydantic import BaseModel, create_model

from ..errors import UserError, did_you_mean, validated
from ..errors import shorten

FAMILY_KEY = "family"
DEFAULT_FAMILY = "core_readout"
ENTRY_POINT_GROUP = "sensorium_search.families"
BUILT_IN = {
    "core_readout": "sensorium_models.models.build:FAMILY",
    "conv_gru": "sensorium_models.models.gru:FAMILY",
    "dwiseneuro": "sensorium_models.models.dwise:FAMILY",
}


@dataclass(frozen=True)
class Family:
    """What a family gives: the pydantic schema of its model block (without ``family``), and
    ``build(sessions, cfg, seed)`` → an ``nn.Module`` with ``forward(batch)`` and ``regularizer(key)``
    (``per_frame``/``burn_in`` for video, and optionally ``frame_step``/``predict_window``/``predict_stride``
    for stepped clips and sliding-window prediction), as :class:`sensorium_models.models.encoder.Encoder` has."""

    schema: type[BaseModel]
    build: Callable[[list, BaseModel, int], Any]
    kinds: tuple[str, ...] = ("static", "video")
    description: str = ""


def family_refs() -> dict[str, str]:
    """Every family name known without a dotted path → its ``module:attribute``."""
    refs = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return {**refs, **BUILT_IN}


@functools.cache
def load_family(name: str) -> Family:
    """The :class:`Family` a name (or ``module:attribute``) stands for; UserError naming ``model.family``."""
    refs = family_refs()
    ref = refs.get(name, name)
    if ":" not in ref:
        raise UserError(f"model.family: unknown family {shorten(name)!r}{did_you_mean(name, refs)}; expected one "
                        f"of {', '.join(sorted(refs))}, an entry point of group {ENTRY_POINT_GROUP!r}, or "
                        f"'package.module:attribute'")
    module_name, _, attribute = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UserError(f"model.family: {name!r} → cannot import {module_name!r} ({err}); is its package "
                        f"installed or on PYTHONPATH?") from None
    family = getattr(module, attribute, None)
    if not isinstance(family, Family):
        raise UserError(f"model.family: {ref} is {type(family).__name__ if family is not None else 'missing'}, "
                        f"expected a sensorium_models.models.families.Family")
    return family


def family_name(block: dict) -> str:
    name = block.get(FAMILY_KEY, DEFAULT_FAMILY)
    if not isinstance(name, str):
        raise UserError(f"model.family: expected one family name (a search explores one family; launch one "
                        f"search per family), found {shorten(name)}")
    return name


@functools.cache
def _block_schema(name: str) -> type[BaseModel]:
    schema = load_family(name).schema
    return create_model(schema.__name__, __base__=schema, family=(Literal[name], name))


def model_schema(block: dict) -> type[BaseModel]:
    """The schema of this model block: its family's, plus the ``family`` key itself."""
    return _block_schema(family_name(block))


def parse_model(block: dict | BaseModel) -> tuple[Family, BaseModel]:
    """The family of a model block and the block validated against its schema (UserError naming the key)."""
    if isinstance(block, BaseModel):
        block = block.model_dump(exclude_unset=True)  # the keys given: validators may ask which were
    name = family_name(block)
    return load_family(name), validated(_block_schema(name), block, "model")
