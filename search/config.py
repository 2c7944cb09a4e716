"""A search YAML → a validated :class:`SearchSpec`, before anything starts.

The file has ``data``, ``model`` and ``trainer`` blocks (fixed values or distributions, see
``search.space``) and a ``search`` block (:class:`SearchSettings`). Every block is checked against its
pydantic schema at the ends and middle of every range and at every choice, so unknown keys and values the
trainer would reject fail here, with the key named, rather than inside a trial an hour later.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import re

import yaml
from pydantic import BaseModel, ValidationError

from search import alternatives as alt
from search.resources import check_gpu_rules
from search.settings import SearchSettings
from search.space import Distribution, flatten, get_path, set_path, split_block, substitute
from sensorium_models.errors import UserError, did_you_mean, shorten, validation_message
from sensorium_models.kinds import only_for
from sensorium_models.models.families import FAMILY_KEY
from sensorium_models.yaml_file import read_yaml

BLOCKS = ("data", "model", "trainer")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass
class SearchSpec:
    """A validated search: blocks with distributions in place, the settings, and the canonical YAML."""

    name: str
    settings: SearchSettings
    blocks: dict[str, dict]
    searched: dict[tuple, Distribution]   # (block, *path) → distribution
    text: str                             # canonical YAML: what resume reloads and MLflow stores
    source: str = ""
    points: list[dict] = field(default_factory=list)
    # a cross-family search (model.one_of): name → alternative; ``searched`` then holds model.one_of itself
    alternatives: dict[str, alt.Alternative] = field(default_factory=dict)

    @property
    def config_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]

    def tune_space(self) -> dict:
        """Tune domains where the YAML has distributions (every alternative's keys, as ``model/<name>/<key>``)."""
        domains = lambda node: substitute(node, lambda _, d: d.to_tune())  # noqa: E731
        space = {b: domains(self.blocks[b]) for b in BLOCKS}
        if self.alternatives:
            space.update(model={alt.ONE_OF: alt.choice_of(self.alternatives).to_tune(),
                                **{name: domains(a.node) for name, a in self.alternatives.items()}})
        return space

    def param_space(self) -> dict:
        """The Tuner's ``param_space``: the Tune space, or nothing where the searcher defines a conditional one."""
        return {} if self.alternatives else self.tune_space()

    def define_by_run(self):
        """Optuna's define-by-run space of a cross-family search (None otherwise)."""
        if not self.alternatives:
            return None
        return functools.partial(alt.suggest, searched=self.searched, alternatives=self.alternatives)

    def decode(self, config: dict) -> dict[str, dict]:
        """A sampled trial config → plain ``data``/``model``/``trainer`` blocks."""
        if self.alternatives:
            return alt.decode(self.blocks, self.alternatives, config)
        blocks = {b: copy.deepcopy(config[b]) for b in BLOCKS}
        for path, dist in self.searched.items():
            if dist.encoded:
                set_path(blocks, path, json.loads(get_path(blocks, path)))
        return blocks

    def run_config(self, config: dict):
        """A sampled trial config → its validated :class:`~sensorium_models.compose.RunConfig`."""
        from sensorium_models.compose import RunConfig

        return RunConfig.from_blocks(self.decode(config))

    def representative_runs(self) -> list[tuple[str, Any]]:
        """(where, run) for each value of each searched data key and each model alternative, every other
        key at its first value: the runs whose data and model a preflight loads and builds. ``where`` names
        the file, and the alternative of a cross-family search."""
        from sensorium_models.compose import RunConfig

        first = lambda node: substitute(node, lambda _, d: d.representatives()[0])  # noqa: E731
        base = {b: first(node) for b, node in self.blocks.items()}
        model = base.pop("model")
        variants = [base]
        for (block, *path), dist in self.searched.items():
            if block == "data":
                for value in dist.representatives()[1:]:
                    variant = copy.deepcopy(base)
                    set_path(variant, (block, *path), value)
                    variants.append(variant)
        source = f"{self.source}: " if self.source else ""
        models = {f"{source}model.one_of.{name}: ": {**first(a.node), FAMILY_KEY: a.family}
                  for name, a in self.alternatives.items()} or {source: model}
        return [(where, RunConfig.from_blocks({**variant, "model": model}, where))
                for variant in variants for where, model in models.items()]

    def searched_names(self) -> list[str]:
        """The searched keys' names, as :meth:`searched_values` keys them (every alternative's)."""
        return alt.searched_names(self.searched, self.alternatives)

    def searched_values(self, config: dict) -> dict[str, Any]:
        """``{"model.layers": 3, ...}``: the searched keys of a trial config, decoded (a cross-family trial's:
        ``model.one_of`` and its alternative's keys)."""
        if self.alternatives:
            common = {".".join(map(str, p)): get_path(config, p) for p in self.searched}
            return alt.searched_values(self.alternatives, config, common)
        blocks = self.decode(config)
        return {".".join(map(str, p)): get_path(blocks, p) for p in self.searched}


def load_spec(
    path: str | os.PathLike,
    schemas: dict[str, type[BaseModel]],
    name: str | None = None,
    overrides: dict[str, Any] | None = None,
    check_paths: bool = True,
) -> SearchSpec:
    """Read and validate a search YAML; ``overrides`` (command-line flags) replace keys of its ``search`` block.

    ``check_paths=False`` skips the existence of data paths, to inspect a search whose data moved.
    """
    path = Path(path)
    raw = read_yaml(path, "YAML search config")
    return parse_spec(raw, schemas, name or path.stem, str(path), overrides, check_paths)


def read_blocks(path: str | os.PathLike, allowed: tuple[str, ...] = BLOCKS) -> dict[str, dict]:
    """The blocks of a train (or search) YAML, checked as :func:`check_blocks` does."""
    return check_blocks(read_yaml(path, "YAML config"), str(path), allowed)


def check_blocks(raw: Any, source: str, allowed: tuple[str, ...]) -> dict[str, dict]:
    """The top-level checks every config shares: a mapping of known blocks, ``data`` present, each block a
    mapping (a missing or empty one means its defaults), and a model ``preset`` expanded."""
    where = f"{source}: " if source else ""
    if not isinstance(raw, dict):
        raise UserError(f"{where}expected a mapping with {', '.join(allowed)} blocks, found {type(raw).__name__}")
    for key in raw:
        if key not in allowed:
            raise UserError(f"{where}{shorten(key)}: unknown block; expected {', '.join(allowed)}"
                            f"{did_you_mean(str(key), allowed)}")
    required = [b for b in ("data", "search") if b in allowed]
    blocks = {}
    for block in allowed:
        node = raw.get(block)
        if node is None and block in required:
            raise UserError(f"{where}{block}: missing block (a mapping is required)")
        if not isinstance(node, (dict, type(None))):
            raise UserError(f"{where}{block}: expected a mapping, found {type(node).__name__} {shorten(node)}")
        node = copy.deepcopy(node or {})
        blocks[block] = alt.expand_alternatives(node, where) if block == "model" else node
    return blocks


def check_name(name: str) -> str:
    """A search name is a folder name under the runs folder: a plain identifier, never a path."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UserError(f"search name {shorten(name)!r}: expected letters, digits, '_', '-' or '.' (not first), "
                        f"at most 100 characters; a name is not a path")
    return name


def _settings(raw: dict, overrides: dict[str, Any], where: str, conditional: bool) -> SearchSettings:
    """The search block with the command-line overrides; a bad override is blamed on its flag, not the file.
    ``conditional``: the space has ``model.one_of``, which decides the default algorithm."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return SearchSettings.model_validate({**raw, **given}, context={"conditional": conditional})
    except ValidationError as err:
        message = validation_message(err, "search", SearchSettings)
        key = message.split(":", 1)[0].removeprefix("search.")
        if key in given:
            raise UserError(f"--{key.replace('_', '-')}{message[len('search.' + key):]}") from None
        raise UserError(where + message) from None


def parse_spec(raw: Any, schemas: dict[str, type[BaseModel]], name: str, source: str,
               overrides: dict[str, Any] | None = None, check_paths: bool = True) -> SearchSpec:
    """Validate a search mapping (see :func:`load_spec`); every problem is a UserError naming the key."""
    where = f"{source}: " if source else ""
    check_name(name)
    raw = check_blocks(raw, source, (*BLOCKS, "search"))
    settings = _settings(raw["search"], overrides or {}, where, conditional=alt.is_cross_family(raw["model"]))
    _check_metric(settings.metric, schemas["trainer"], where)
    blocks, searched, alternatives = {}, {}, {}
    for block in BLOCKS:
        try:
            if block == "model" and alt.is_cross_family(raw[block]):
                blocks[block], alternatives = alt.split_alternatives(raw[block])
                searched[alt.CHOSEN] = alt.choice_of(alternatives)
                continue
            blocks[block], dists = split_block(raw[block], block)
        except UserError as err:
            raise UserError(f"{where}{err}") from None
        searched.update({(block, *p): d for p, d in dists.items()})
        if block == "data":
            _absolutise_data_paths(blocks[block], searched, where, check_paths)
    checked = {b: (blocks[b], searched) for b in BLOCKS if not (b == "model" and alternatives)}
    for label, option in alternatives.items():   # each alternative against its own family's schema
        block = f"model.one_of.{label}"
        checked[block] = (option.node, {(block, *p): d for p, d in option.searched.items()})
    for block, (node, paths) in checked.items():
        _check_against_schema(block, node, paths, block_schema(schemas, block.split(".")[0], node, where), where)
    spec = SearchSpec(name, settings, blocks, searched, _canonical_yaml(blocks, settings), source,
                      alternatives=alternatives)
    _check_conditional(spec, where)
    check_gpu_rules(settings.resources, blocks, where)
    spec.points = [_start_point(spec, point, i, where) for i, point in enumerate(settings.start_with)]
    return spec


def block_schema(schemas: dict, block: str, node: dict, where: str = "") -> type[BaseModel]:
    """A block's schema: a pydantic model, or a function of the block (the model's: its family's schema)."""
    schema = schemas[block]
    if isinstance(schema, type):
        return schema
    try:
        return schema(node)
    except UserError as err:
        raise UserError(f"{where}{err}") from None


def _check_conditional(spec: SearchSpec, where: str) -> None:
    """A cross-family space is Optuna's define-by-run: BOHB's ConfigSpace and Tune's start points cannot hold it."""
    if spec.alternatives and spec.settings.algorithm != "tpe":
        raise UserError(f"{where}search.algorithm: {spec.settings.algorithm} cannot search model.one_of "
                        f"(a conditional space); use tpe")
    if spec.alternatives and spec.settings.start_with:
        raise UserError(f"{where}search.start_with: not supported with model.one_of; remove it")


def _check_metric(metric: str, trainer_schema: type[BaseModel], where: str) -> None:
    """``search.metric`` must be one the trainer reports each epoch (else every trial dies in Tune)."""
    reported = getattr(trainer_schema, "reported_metrics", None)
    if reported is not None and metric not in reported:
        raise UserError(f"{where}search.metric: {shorten(metric)!r} is not reported by the trainer"
                        f"{did_you_mean(str(metric), reported)}; expected one of {', '.join(reported)}")


def _validated(schema: type[BaseModel], value: dict, prefix: str, where: str) -> BaseModel:
    try:
        return schema.model_validate(value)
    except ValidationError as err:
        raise UserError(where + validation_message(err, prefix, schema)) from None


def _check_against_schema(block: str, node: dict, searched: dict, schema: type[BaseModel], where: str) -> None:
    """Validate the block at the first value of every distribution, then each value of each in turn."""
    base = substitute(node, lambda _, d: d.representatives()[0])
    _validated(schema, base, block, where)
    for (b, *path), dist in searched.items():
        if b != block:
            continue
        for value in dist.representatives()[1:]:
            trial = copy.deepcopy(base)
            set_path(trial, tuple(path), value)
            try:
                schema.model_validate(trial)
            except ValidationError as err:
                raise UserError(f"{where}{validation_message(err, block, schema)}, a value of the searched range") from None


def _absolutise_data_paths(data: dict, searched: dict, where: str, check_paths: bool) -> None:
    """Make ``data.paths`` (and ``cache_dir``) absolute, since trials run elsewhere; paths must exist."""

    def resolve(value: Any, key: str, must_exist: bool) -> Any:
        if isinstance(value, list):
            return [resolve(v, f"{key}[{i}]", must_exist) for i, v in enumerate(value)]
        if not isinstance(value, str) or "://" in value:
            return value
        path = Path(os.path.expandvars(os.path.expanduser(value))).absolute()
        if must_exist and not path.exists():
            raise UserError(f"{where}{key}: {path} does not exist")
        return str(path)

    for name, must_exist in (("paths", check_paths), ("cache_dir", False)):
        value = data.get(name)
        if isinstance(value, Distribution):
            options = tuple(resolve(o, f"data.{name}", must_exist) for o in value.args)
            data[name] = searched[("data", name)] = Distribution(value.kind, options)
        elif value is not None:
            data[name] = resolve(value, f"data.{name}", must_exist)


def _canonical_yaml(blocks: dict, settings: SearchSettings) -> str:
    """The spec as YAML, distributions written back in the DSL, data paths absolute."""
    plain = {b: substitute(blocks[b], lambda _, d: {d.kind: list(d.args)}) for b in BLOCKS}
    plain["search"] = settings.model_dump()
    return yaml.safe_dump(plain, sort_keys=False)


def _start_point(spec: SearchSpec, point: Any, index: int, where: str) -> dict:
    """A ``start_with`` entry → the searcher's flat ``{"block/key": value}`` point."""
    key = f"search.start_with[{index}]"
    if not isinstance(point, dict):
        raise UserError(f"{where}{key}: expected a mapping of searched keys, found {point!r}")
    out = {}
    for path, dist in spec.searched.items():
        dotted = ".".join(map(str, path))
        try:
            value = get_path(point, path)
        except (KeyError, TypeError):
            raise UserError(f"{where}{key}: {dotted} is missing (every searched key needs a value)") from None
        if not dist.contains(value):
            raise UserError(f"{where}{key}: {dotted}={value!r} is outside its distribution {dist.kind} {list(dist.args)}")
        out["/".join(map(str, path))] = dist.searcher_value(value)
    extra = sorted(set(flatten(point)) - {".".join(map(str, p)) for p in spec.searched})
    if extra:
        raise UserError(f"{where}{key}: {extra[0]} is not a searched key")
    return out


def check_family(blocks: dict[str, dict], kind: str, schemas: dict[str, type[BaseModel]], where: str = "") -> None:
    """UserError for a key set for the other kind of session: e.g. ``model.temporal_kern`` on static sessions
    does nothing, so searching it would waste trials. A field carries the kind it is for as a typed marker
    (``sensorium_models.kinds``)."""
    other = "video" if kind == "static" else "static"
    for block in schemas:
        schema = block_schema(schemas, block, blocks.get(block, {}), where)
        for key in blocks.get(block, {}):
            info = schema.model_fields.get(key)
            if info is not None and only_for(info) == other:
                raise UserError(f"{where}{block}.{key}: applies to {other} models only, and the sessions are "
                                f"{kind}; remove it")
