"""Today's landscape as a table: the real trainer's validation curves on a grid over bench/search_efficiency.py's
space, so a search over it is replayed in seconds instead of trained for minutes.

The grid keeps three of that space's categorical keys (hidden channels, layers, batch size) whole and five
learning rates around the known ridge (0.006-0.012); the kernels and the two regularisers are
fixed at the SOTA 2022 values the bench's start point uses. Each configuration is trained once (training seed 0,
1 torch thread, the session and image scale of search_efficiency_options.md) to ``--epochs``; a shorter
``max_t`` reads the curve's prefix (the plateau schedule does not depend on ``max_epochs``). Written to
bench/tables/grid-<epochs>.json (committed: training it took 18 minutes on 2 shared cores); an interrupted run
continues where it stopped.

    PYTHONPATH=. python bench/landscape_grid.py --epochs 20
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import header, parse_args, write_result  # noqa: E402
from bench.common import table as markdown_table  # noqa: E402
from bench.search_efficiency import DATA, ensure_session, space  # noqa: E402
from sensorium_models.atomic import atomic_path  # noqa: E402

GRID = {"model.hidden_channels": [4, 8, 16], "model.layers": [1, 2, 3], "trainer.batch_size": [32, 64, 128],
        "trainer.lr_init": [0.0015, 0.003, 0.006, 0.012, 0.024]}
FIXED = {"model.input_kern": 9, "model.hidden_kern": 5, "model.gamma_input": 6.3831, "model.gamma_readout": 0.0076}
TABLES = ROOT / "bench" / "tables"  # committed: the landscape the results were measured on


def table_path(epochs: int) -> Path:
    return TABLES / f"grid-{epochs}.json"


def grid_points() -> list[dict]:
    keys = list(GRID)
    return [dict(zip(keys, values)) for values in itertools.product(*GRID.values())]


def blocks_for(point: dict, epochs: int) -> dict:
    """The bench space's blocks with every searched key set from ``point`` and ``FIXED``."""
    blocks = space(ensure_session(400, 150), DATA / "cache", 1, epochs)
    for dotted, value in {**FIXED, **point}.items():
        block, key = dotted.split(".")
        blocks[block][key] = value
    return blocks


def curve(point: dict, epochs: int) -> list[float]:
    """val_corr per epoch of one configuration, trained as a search trial would be."""
    import torch

    from sensorium_models.compose import RunConfig, fit

    torch.set_num_threads(1)
    values: list[float] = []
    fit(RunConfig.from_blocks(blocks_for(point, epochs)), 0,
        report=lambda epoch, metrics, _: values.append(metrics["val_corr"]))
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--points", type=int, default=None, help="train only the grid's first N points (default all)")
    args = parse_args(parser, argv, quick={"epochs": 2, "points": 2})
    path = None if args.quick else table_path(args.epochs)  # a quick run keeps its curves in memory only
    table = json.loads(path.read_text()) if path and path.exists() else {"fixed": FIXED, "rows": []}
    done = {json.dumps(r["point"], sort_keys=True) for r in table["rows"]}
    for point in grid_points()[:args.points]:
        if json.dumps(point, sort_keys=True) in done:
            continue
        started = time.perf_counter()
        table["rows"].append({"point": point, "val_corr": curve(point, args.epochs),
                              "seconds": time.perf_counter() - started})
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps(table))
        row = table["rows"][-1]
        print(f"{len(table['rows'])}/{len(grid_points())} {point}: best {max(row['val_corr']):.4f} "
              f"({len(row['val_corr'])} epochs, {row['seconds']:.0f} s)", flush=True)
    rows = [[json.dumps(r["point"]), f"{max(r['val_corr']):.4f}", str(len(r["val_corr"])), f"{r['seconds']:.0f}"]
            for r in table["rows"]]
    print(write_result(f"landscape_grid-{args.epochs}", "\n".join([
        header(f"The real trainer's curves on the search_efficiency grid ({path.name if path else 'quick, not saved'})",
               ("torch",)),
        markdown_table(["point", "best val_corr", "epochs", "seconds"], rows),
        f"Reproduce: `PYTHONPATH=. python bench/landscape_grid.py --epochs {args.epochs}`", ""]), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
