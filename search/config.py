"""A search YAML → a validated :class:`SearchSpec`, before anything starts.

The file has ``data``, ``model`` and ``trainer`` blocks (fixed values or distributions, see
``search.space``) and a ``search`` block (:class:`SearchSettings`). Every block is checked against its
pydantic schema at the ends and middle of every range and at every choice, so unknown keys and values the
trainer would reject fail here, with the key named, rather than inside a trial an hour later.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import re

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from search.presets import expand_preset
from search.resources import check_gpu_rules
from search.space import Distribution, flatten, get_path, set_path, split_block, substitute
from sensorium_models.errors import UserError, did_you_mean, validation_message
from sensorium_models.yaml_file import read_yaml, shorten

BLOCKS = ("data", "model", "trainer")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AshaSettings(_Strict):
    """ASHA on ``training_iteration`` (one iteration = one reported epoch)."""

    grace_period: int = Field(1, ge=1)
    max_t: int = Field(ge=1)
    reduction_factor: float = Field(2.0, gt=1)
    brackets: int = Field(1, ge=1)  # more than one hedges successive halving's bias to fast starters

    @model_validator(mode="after")
    def _grace_within_max(self) -> "AshaSettings":
        if self.grace_period > self.max_t:
            raise ValueError(f"grace_period {self.grace_period} exceeds max_t {self.max_t}")
        return self


MULTIVARIATE_FROM = 1000


class TpeSettings(_Strict):
    """Optuna's TPESampler: random suggestions until ``n_startup_trials`` have ended, then TPE."""

    n_startup_trials: int = Field(10, ge=1)
    # Model the searched keys jointly (Optuna's multivariate + group TPE). None: from MULTIVARIATE_FROM trials
    # (num_samples) on: one-key-at-a-time TPE costs 3x its CPU per suggestion there (bench/results/tpe_scale.md).
    multivariate: bool | None = None


def _whole_above_one(gpus: float) -> float:
    if gpus > 1 and gpus != int(gpus):
        raise ValueError(f"more than one GPU must be a whole number, found {gpus}")
    return gpus


class GpuRule(_Strict):
    """Trials whose ``key`` (a number, or a list's largest) is at least ``at_least`` ask for ``gpus``."""

    key: str
    at_least: float
    gpus: float = Field(ge=0)

    _whole = field_validator("gpus")(_whole_above_one)


class Resources(_Strict):
    """What one trial reserves; GPUs may be a fraction (several trials share one GPU). See search.resources."""

    cpus: float = Field(1.0, gt=0)
    gpus: float = Field(0.0, ge=0)
    gpus_when: list[GpuRule] = []
    gpu_memory_fraction: float | None = Field(None, gt=0, le=1)
    # Whether the cluster adds nodes for waiting trials (Ray's autoscaler): then resources no live node offers
    # are waited for, not refused. auto: ask the cluster (search.cluster_growth); in-process Ray never grows.
    autoscaling: bool | Literal["auto"] = "auto"

    _whole = field_validator("gpus")(_whole_above_one)


class SearchSettings(_Strict):
    metric: str
    mode: Literal["max", "min"] = "max"
    num_samples: int = Field(ge=1)
    max_concurrent: int = Field(2, ge=1)
    seed: int = 0                      # the searcher's and every trial's seed
    max_failures: int = Field(1, ge=0)  # retries of a failed trial from its last checkpoint
    checkpoint_every: int = Field(1, ge=1)  # epochs between checkpoints: more on object storage (each is an upload)
    # tpe: Optuna TPE told which trials ASHA pruned; bohb: TuneBOHB with HyperBand (asha's max_t and
    # reduction_factor; grace_period and brackets are ASHA's only), needs `pip install -r requirements-bohb.txt`.
    algorithm: Literal["tpe", "bohb"] = "tpe"
    tpe: TpeSettings = TpeSettings()
    # An Optuna RDB URL (sqlite:///optuna.db, postgresql://…) keeping the TPE study, named after the search,
    # where `optuna-dashboard <url>` shows it live. None: in memory, inside Tune's searcher state.
    optuna_storage: str | None = None
    asha: AshaSettings
    resources: Resources = Resources()
    # Complete configurations (every searched key) the searcher tries first, in order.
    start_with: list[dict] = []

    @model_validator(mode="after")
    def _tpe_keys_need_tpe(self) -> "SearchSettings":
        # Set to other than their defaults: the canonical YAML that resume reloads writes every key.
        given = ["tpe"] * (self.tpe != TpeSettings()) + ["optuna_storage"] * (self.optuna_storage is not None)
        if self.algorithm == "bohb" and given:
            raise ValueError(f"{given[0]} applies to algorithm tpe, not bohb")
        return self


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

    @property
    def config_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]

    def param_space(self) -> dict:
        """The Tune search space: Tune domains where the YAML has distributions."""
        return {b: substitute(self.blocks[b], lambda _, d: d.to_tune()) for b in BLOCKS}

    def decode(self, config: dict) -> dict[str, dict]:
        """A sampled trial config → plain ``data``/``model``/``trainer`` blocks."""
        blocks = {b: copy.deepcopy(config[b]) for b in BLOCKS}
        for path, dist in self.searched.items():
            if dist.encoded:
                set_path(blocks, path, json.loads(get_path(blocks, path)))
        return blocks

    def searched_values(self, config: dict) -> dict[str, Any]:
        """``{"model.layers": 3, ...}``: the searched keys of a trial config, decoded."""
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
        blocks[block] = copy.deepcopy(node or {})
    blocks["model"] = expand_preset(blocks["model"], where)
    return blocks


def check_name(name: str) -> str:
    """A search name is a folder name under the runs folder: a plain identifier, never a path."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UserError(f"search name {shorten(name)!r}: expected letters, digits, '_', '-' or '.' (not first), "
                        f"at most 100 characters; a name is not a path")
    return name


def _settings(raw: dict, overrides: dict[str, Any], where: str) -> SearchSettings:
    """The search block with the command-line overrides; a bad override is blamed on its flag, not the file."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return SearchSettings.model_validate({**raw, **given})
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
    settings = _settings(raw["search"], overrides or {}, where)
    _check_metric(settings.metric, schemas["trainer"], where)
    blocks, searched = {}, {}
    for block in BLOCKS:
        try:
            blocks[block], dists = split_block(raw[block], block)
        except UserError as err:
            raise UserError(f"{where}{err}") from None
        searched.update({(block, *p): d for p, d in dists.items()})
    _absolutise_data_paths(blocks["data"], searched, where, check_paths)
    for block in BLOCKS:
        _check_against_schema(block, blocks[block], searched, block_schema(schemas, block, blocks[block], where), where)
    spec = SearchSpec(name, settings, blocks, searched, _canonical_yaml(blocks, settings), source)
    check_gpu_rules(spec, where)
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
    """UserError for a key set for the other family: e.g. ``model.temporal_kern`` on static sessions does
    nothing, so searching it would waste trials. A field says which family it is for in its description
    ("video only: ...")."""
    other = "video" if kind == "static" else "static"
    for block in schemas:
        schema = block_schema(schemas, block, blocks.get(block, {}), where)
        for key in blocks.get(block, {}):
            info = schema.model_fields.get(key)
            if info is not None and (info.description or "").startswith(f"{other} only"):
                raise UserError(f"{where}{block}.{key}: applies to {other} models only, and the sessions are "
                                f"{kind}; remove it")
