"""What one trial reserves and may use on a GPU: ``search.resources`` applied.

A trial's GPUs may depend on its configuration: ``gpus_when`` rules ask for more GPU for large models
(``{key: model.hidden_channels, at_least: 64, gpus: 1}``: a trial whose widest layer has 64 channels or
more takes a whole GPU, the others ``gpus``); Tune reserves each trial's resources from its config.

Whether some node can run a trial is checked before the search starts (``check_resources``); on a
cluster that adds nodes, what no live node offers is waited for instead (``wait_or_refuse``).

Ray's fractional GPUs are logical: nothing stops a trial filling the whole GPU. ``gpu_memory_fraction``
caps PyTorch's caching allocator per trial process (``torch.cuda.set_per_process_memory_fraction``): a
soft cap that CUDA's own context and other libraries' memory are not counted against. Under actor reuse
a finished trial empties PyTorch's GPU cache before the next starts, so one trial's cached blocks never
squeeze the next.
"""
from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from search.space import Distribution, get_path
from sensorium_models.errors import UserError

if TYPE_CHECKING:
    from search.cluster_growth import Growth


def _whole_above_one(gpus: float) -> float:
    if gpus > 1 and gpus != int(gpus):
        raise ValueError(f"more than one GPU must be a whole number, found {gpus}")
    return gpus


class GpuRule(BaseModel):
    """Trials whose ``key`` (a number, or a list's largest) is at least ``at_least`` ask for ``gpus``."""

    model_config = ConfigDict(extra="forbid")

    key: str
    at_least: float
    gpus: float = Field(ge=0)

    _whole = field_validator("gpus")(_whole_above_one)


class Resources(BaseModel):
    """What one trial reserves (the ``search.resources`` block); GPUs may be a fraction (several trials share
    one GPU)."""

    model_config = ConfigDict(extra="forbid")

    cpus: float = Field(1.0, gt=0)
    gpus: float = Field(0.0, ge=0)
    gpus_when: list[GpuRule] = []
    gpu_memory_fraction: float | None = Field(None, gt=0, le=1)
    # Whether the cluster adds nodes for waiting trials (Ray's autoscaler): then resources no live node offers
    # are waited for, not refused. auto: ask the cluster (search.cluster_growth); in-process Ray never grows.
    autoscaling: bool | Literal["auto"] = "auto"

    _whole = field_validator("gpus")(_whole_above_one)


def size_of(value: Any) -> float | None:
    """A number as it is; a list of numbers (per-layer channels) by its largest; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list) and value and all(size_of(v) is not None and not isinstance(v, list) for v in value):
        return max(float(v) for v in value)
    return None


def check_gpu_rules(resources: Resources, blocks: dict[str, dict], where: str = "") -> None:
    """UserError for a ``gpus_when`` rule whose key is not in the search's blocks, or takes a value with no
    size."""
    for i, rule in enumerate(resources.gpus_when):
        name = f"{where}search.resources.gpus_when[{i}].key"
        path = tuple(rule.key.split("."))
        try:
            node = get_path(blocks, path)
        except (KeyError, TypeError):
            raise UserError(f"{name}: {rule.key} is not set in the config "
                            f"(expected e.g. model.hidden_channels)") from None
        values = node.representatives() if isinstance(node, Distribution) else [node]
        for value in values:
            if size_of(value) is None:
                raise UserError(f"{name}: {rule.key} takes {value!r}; expected a number or a list of numbers")


def trial_gpus(resources: Resources, blocks: dict[str, dict]) -> float:
    """The GPUs a trial with these blocks (a run's, or a sampled config decoded) asks for: the most any matching
    rule says (a rule's key is one the search sets: ``check_gpu_rules``)."""
    matching = [rule.gpus for rule in resources.gpus_when
                if size_of(get_path(blocks, tuple(rule.key.split(".")))) >= rule.at_least]
    return max([resources.gpus, *matching])


def most_gpus(resources: Resources) -> float:
    """The largest GPU request any trial can make (what some node must offer)."""
    return max([resources.gpus, *(rule.gpus for rule in resources.gpus_when)])


def check_resources(resources: Resources, nodes: list[dict[str, float]], where: str = "", hint: str = "") -> None:
    """UserError unless at least one node offers a trial's CPUs and GPUs (the most any trial asks for)."""
    need = _largest_ask(resources)
    if not _fits_one(need, nodes):
        raise UserError(f"{where}{_shortage(need, nodes, 'node', f'{len(nodes)} node(s)')}{hint}")


def wait_or_refuse(resources: Resources, nodes: list[dict[str, float]], growth: Growth | None,
                   where: str = "") -> str | None:
    """On a cluster: None when a live node offers a trial's resources. Else, where the cluster adds nodes,
    the line to print while the search waits for one (Tune waits too), unless none of the node types it may
    add (where known) offers them; UserError then, and where it does not grow, as ``check_resources``."""
    need = _largest_ask(resources)
    if _fits_one(need, nodes):
        return None
    if growth is None:
        hint = "; if the cluster adds nodes for waiting work, set search.resources.autoscaling: true"
        check_resources(resources, nodes, where, hint if resources.autoscaling == "auto" else "")  # raises
    types = growth.node_types
    if types and not _fits_one(need, list(types.values())):
        named = f"node types {', '.join(sorted(types))}"
        raise UserError(f"{where}{_shortage(need, list(types.values()), 'node type of the cluster', named)}")
    asks = ", ".join(f"{v:g} {k}" for k, v in need.items() if v)
    return f"search waits for the cluster to add a node with {asks} per trial (no live node offers that; {growth.why})"


def _largest_ask(resources: Resources) -> dict[str, float]:
    return {"CPU": resources.cpus, "GPU": most_gpus(resources)}


def _fits_one(need: dict[str, float], offers: list[dict[str, float]]) -> bool:
    return any(all(offer.get(k, 0.0) >= v for k, v in need.items() if v) for offer in offers)


def _shortage(need: dict[str, float], offers: list[dict[str, float]], what: str, which: str) -> str:
    """``search.resources.gpus: a trial asks for 2 but no node offers more than 1 (3 node(s))``."""
    best = {k: max((o.get(k, 0.0) for o in offers), default=0.0) for k in need}
    short = "CPU" if best["CPU"] < need["CPU"] else "GPU"
    return (f"search.resources.{short.lower()}s: a trial asks for {need[short]:g} but no {what} offers more than "
            f"{best[short]:g} ({which})")


def device_share(resources: Resources, blocks: dict[str, dict]) -> float:
    """The fraction of one GPU a trial may fill: its fractional GPU, and no more than its memory cap."""
    gpus = trial_gpus(resources, blocks)
    share = min(gpus, 1.0) if gpus > 0 else 1.0
    return min(share, resources.gpu_memory_fraction or 1.0)


def cap_gpu_memory(resources: Resources) -> None:
    """Apply ``gpu_memory_fraction`` to this process's PyTorch allocator (soft: see the module docstring)."""
    import torch

    if resources.gpu_memory_fraction is not None and torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(resources.gpu_memory_fraction)


def free_gpu_cache() -> None:
    """Give the GPU memory PyTorch keeps cached back to the device, for the next trial in this worker."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
