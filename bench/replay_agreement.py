"""Benchmark: does the replay (bench/search_replay.py) predict a real, Ray-driven search on today's landscape?

Per searcher seed, the shipped search (what ``search launch`` builds from the grid's ``search:`` block: GP, no
early stopping) runs twice on the grid landscape (``bench.landscapes.grid``): replayed on its configurations' curves,
and through Ray Tune with real training (``bench.tune_runs.run_search``: the search stack's own trainable, one
trial at a time). The replay's curves are trained here, in this process, by bench/landscape_grid.py's trainer
(same seed, data and thread count as a trial): float32 training's last bits depend on the CPU's instruction set
(oneDNN's and MKL's code paths) and grow over the epochs, so the committed table, trained on another machine, is
not what this machine trains. They agree when Ray's search proposes the same configurations in the same order
and trains each to the same curve; the table's distance from this machine's curves is reported beside.

    PYTHONPATH=. python bench/replay_agreement.py --seeds 0 3      # 32 trials x 10 epochs per seed: minutes
    PYTHONPATH=. python bench/replay_agreement.py --quick          # 3 trials x 2 epochs
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import command_line, header, parse_args, table, write_result  # noqa: E402
from search import environment  # noqa: E402


def agreement(landscape, seed: int) -> list:
    """One table row: the search of ``seed`` replayed on curves trained here and run through Ray, compared trial
    by trial; and how far the committed table is from this machine's curves for the trials both proposed alike."""
    from bench.search_replay import replay
    from bench.tune_runs import run_search
    from search.objective import OBJECTIVE
    from search.searcher import build_scheduler, build_searcher

    spec = landscape.spec
    settings = spec.settings.model_copy(update={"seed": seed})
    replayed = replay(build_searcher(settings, []), build_scheduler(settings), landscape.param_space,
                      curves_here(landscape), metric=settings.metric, mode=settings.mode, objective=OBJECTIVE,
                      num_samples=settings.num_samples, max_concurrent=1, max_t=landscape.max_t)
    # Tune's storage, deleted after: two runs never share it
    with tempfile.TemporaryDirectory(prefix="replay-agreement-") as storage:
        began = time.perf_counter()
        real = run_search(spec, "shipped", seed, Path(storage), f"agreement-{seed}")
        wall = time.perf_counter() - began
    proposed = [spec.searched_values(t["config"]) for t in replayed.trials]
    trained = [c.values for c in real.curves]
    same = [a == b for a, b in zip(proposed, trained)] + [False] * abs(len(proposed) - len(trained))
    first = same.index(False) + 1 if False in same else "-"
    alike = [(t, c.val_corr) for t, c, ok in zip(replayed.trials, real.curves, same) if ok]
    lengths = sum(len(t["values"]) == len(ray) for t, ray in alike)
    return [seed, len(trained), f"{sum(same)} of {len(same)}", first, f"{lengths} of {sum(same)}",
            f"{largest_gap([t['values'] for t, _ in alike], [ray for _, ray in alike]):.2e}",
            f"{largest_gap([landscape.curve(t['config']) for t, _ in alike], [ray for _, ray in alike]):.2e}",
            f"{replayed.best:.4f}", f"{real.best:.4f}", f"{wall:.0f}"]


def curves_here(landscape):
    """``landscape.curve``'s counterpart trained on this machine by bench/landscape_grid.py's trainer, each
    configuration once, to ``max_t`` epochs as Ray trains it."""
    from functools import cache

    from bench.landscape_grid import GRID, curve

    @cache
    def trained(point: tuple) -> list[float]:
        return curve(dict(point), landscape.max_t)

    def curve_here(config: dict) -> list[float]:
        values = landscape.spec.searched_values(config)
        return trained(tuple(sorted((k, values[k]) for k in GRID)))

    return curve_here


def vector_extensions() -> str:
    """The CPU's AVX extensions, as Linux lists them (what decides oneDNN's and MKL's code paths here)."""
    flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("flags")), [])
    found = sorted(f for f in set(flags) if f.startswith("avx"))
    return ", ".join(found) + ("" if "avx512f" in found else " (no AVX-512)") if found else "no AVX"


def largest_gap(curves: list[list[float]], others: list[list[float]]) -> float:
    """The largest |difference| between matching epochs of two lists of curves."""
    return max((abs(x - y) for a, b in zip(curves, others) for x, y in zip(a, b)), default=0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 3])
    parser.add_argument("--samples", type=int, default=32, help="trials per search")
    parser.add_argument("--max-t", type=int, default=10, help="epochs per trial (the grid table holds 20)")
    args = parse_args(parser, argv, quick={"seeds": [0], "samples": 3, "max_t": 2})
    environment.apply(None)
    import optuna

    from bench.landscapes import grid

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    landscape = grid(20, args.max_t, args.samples)
    rows = []
    for seed in args.seeds:
        rows.append(agreement(landscape, seed))
        print(rows[-1], flush=True)
    text = "\n".join([
        header("Replay against a real Ray-driven search on today's landscape"), f"`{command_line()}`", "",
        f"The shipped search ({landscape.spec.settings.algorithm}) on {landscape.name} ({landscape.note}), "
        f"{args.samples} trials one at a time, each searcher seed run twice: replayed on curves trained here, and "
        "through Ray Tune with real training.", "",
        table(["seed", "trials", "same configuration, same place", "first difference (trial)",
               "same epochs trained", "largest |val_corr difference|", "committed table vs Ray",
               "replay best", "Ray best", "Ray wall s"], rows),
        "", "- Same epochs trained and both val_corr differences: over the trials both proposed alike.",
        "- The replay's curves are trained in this process on this machine (bench/landscape_grid.py's trainer). "
        "The committed table (bench/tables/grid-20.json) was trained on another machine: float32 training's last "
        "bits depend on the CPU's instruction set (oneDNN's and MKL's code paths) and grow over the epochs. "
        f"This machine's: {vector_extensions()}.", ""])
    print(write_result("replay_agreement", text, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
