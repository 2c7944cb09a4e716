"""Landscapes a search is replayed on: a search space, the learning curve of every configuration in it, and the
best value known there (the target a search should come within 0.02 of).

- ``trap``: an analytic stand-in for today's landscape, written here to be cheap (the replay test runs it through
  real Tune): 1-layer cores rise fast and plateau at 0.17-0.19, stopping by themselves after 7 epochs; 2-3 layer
  cores rise slowly to a narrow ridge (0.42 at 16 channels, batch 32, lr 0.009).
- ``grid-<max_t>``: today's landscape as a table, the real trainer's curves on a grid over
  bench/search_efficiency.py's space (bench/landscape_grid.py builds it, and says what the grid keeps and fixes);
  its search space is that bench's YAML with the grid's keys as ``choice``, parsed by ``search.config``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Callable

from search.config import SearchSpec
from search.settings import SearchSettings


# The TPE wiring the landscapes were first measured with: ``search.algorithm: tpe`` with ASHA from epoch 2.
TPE_ASHA = {"algorithm": "tpe", "asha": {"grace_period": 2, "reduction_factor": 3}}


def tpe_asha(max_t: int) -> dict:
    """TPE_ASHA on a landscape of ``max_t`` epochs: its grace period at most ``max_t`` (the tables have one)."""
    return {**TPE_ASHA, "asha": {**TPE_ASHA["asha"], "grace_period": min(TPE_ASHA["asha"]["grace_period"], max_t)}}


@dataclass
class Landscape:
    name: str
    param_space: dict                          # Tune's search space, as the Tuner gets it
    curve: Callable[[dict], list[float]]       # a trial's config -> the metric per epoch (ends where training would)
    max_t: int                                 # ASHA's max_t: epochs a trial may run
    best_known: float                          # the best value any configuration reaches within max_t
    settings: SearchSettings                   # the shipped `search:` block for this landscape (the defaults)
    note: str = ""
    spec: SearchSpec | None = None             # the search a real Tune run trains (grid landscapes only)


def trap_curve(config: dict) -> list[float]:
    """The ``trap`` landscape's curve of one configuration (see the module docstring), 12 epochs at most."""
    layers, channels = config["model"]["layers"], config["model"]["hidden_channels"]
    lr, batch = config["trainer"]["lr_init"], config["trainer"]["batch_size"]
    if layers == 1:
        plateau = 0.17 + 0.02 * channels / 16 - 0.02 * abs(math.log10(lr / 0.003))
        return [round(plateau * (1 - math.exp(-t / 1.2)), 6) for t in range(1, 8)]
    ridge = math.exp(-((math.log10(lr / 0.009)) / 0.35) ** 2) * (channels / 16) ** 0.25 * (32 / batch) ** 0.15
    plateau = max(0.1, 0.42 * ridge * (1.0 if layers == 2 else 0.85))
    return [round(plateau * (1 - math.exp(-t / 4.0)), 6) for t in range(1, 13)]


def trap(max_t: int = 9, num_samples: int = 32) -> Landscape:
    from ray import tune

    space = {"model": {"layers": tune.randint(1, 4), "hidden_channels": tune.choice([4, 8, 16])},
             "trainer": {"lr_init": tune.loguniform(1e-4, 3e-2), "batch_size": tune.choice([32, 64, 128])}}
    best = trap_curve({"model": {"layers": 2, "hidden_channels": 16},
                       "trainer": {"lr_init": 0.009, "batch_size": 32}})[:max_t][-1]
    settings = SearchSettings(metric="val_corr", num_samples=num_samples, max_concurrent=1, asha={"max_t": max_t})
    return Landscape(f"trap-{max_t}", space, trap_curve, max_t, best, settings,
                     "analytic, written in bench/landscapes.py")


def grid(table_epochs: int = 20, max_t: int = 10, num_samples: int = 32) -> Landscape:
    """Today's landscape from bench/landscape_grid.py's table, cut at ``max_t`` epochs."""
    from bench.landscape_grid import FIXED, GRID, blocks_for, table_path
    from bench.search_efficiency import merged
    from search.config import parse_spec
    from search.run import schemas

    path = table_path(table_epochs)
    if not path.exists():
        raise FileNotFoundError(f"{path}: build it with `PYTHONPATH=. python bench/landscape_grid.py "
                                f"--epochs {table_epochs}`")
    rows = json.loads(path.read_text())["rows"]
    if len(rows) < math.prod(len(v) for v in GRID.values()):
        raise ValueError(f"{path}: {len(rows)} rows, the grid has more; finish bench/landscape_grid.py first")
    table = {json.dumps(r["point"], sort_keys=True): r["val_corr"][:max_t] for r in rows}
    raw = blocks_for({}, max_t)  # the search YAML's mapping
    for dotted, options in GRID.items():
        block, key = dotted.split(".")
        raw[block][key] = {"choice": options}
    raw["search"] = merged(raw["search"], {"num_samples": num_samples, "checkpoint_every": max_t})
    raw["search"]["asha"] = {"max_t": max_t}  # the defaults: TPE_ASHA is the wiring search_efficiency_options ran
    spec = parse_spec(raw, schemas(), f"grid-{max_t}", str(path))

    def curve(config: dict) -> list[float]:
        values = spec.searched_values(config)
        return table[json.dumps({k: values[k] for k in GRID}, sort_keys=True)]

    best = max(max(v) for v in table.values())
    return Landscape(f"grid-{max_t}", spec.param_space(), curve, max_t, best, spec.settings,
                     f"real trainer, {len(rows)}-point grid, {', '.join(f'{k}={v}' for k, v in FIXED.items())}",
                     spec)
