"""Benchmark: does the replay (bench/search_replay.py) predict a real, Ray-driven search on today's landscape?

Per searcher seed, the shipped search (what ``search launch`` builds from the grid's ``search:`` block: GP, no
early stopping) runs twice on the grid landscape (``bench.landscapes.grid``): replayed on the table's curves,
and through Ray Tune with real training (``bench.tune_runs.run_search``: the search stack's own trainable, one
trial at a time). They agree when Ray's search proposes the same configurations in the same order and each
trains to the table's curve (bench/landscape_grid.py trained them with the same seed, data and thread count).

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
    """One table row: the replayed and the Ray-driven search of ``seed``, compared trial by trial."""
    from bench.search_replay import replay
    from bench.tune_runs import run_search
    from search.objective import OBJECTIVE
    from search.searcher import build_scheduler, build_searcher

    spec = landscape.spec
    settings = spec.settings.model_copy(update={"seed": seed})
    replayed = replay(build_searcher(settings, []), build_scheduler(settings), landscape.param_space,
                      landscape.curve, metric=settings.metric, mode=settings.mode, objective=OBJECTIVE,
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
    gaps = [abs(x - y) for t, c, ok in zip(replayed.trials, real.curves, same) if ok
            for x, y in zip(t["values"], c.val_corr)]
    lengths = sum(len(t["values"]) == len(c.val_corr) for t, c, ok in zip(replayed.trials, real.curves, same) if ok)
    return [seed, len(trained), f"{sum(same)} of {len(same)}", first, f"{lengths} of {sum(same)}",
            f"{max(gaps, default=0.0):.2e}", f"{replayed.best:.4f}", f"{real.best:.4f}", f"{wall:.0f}"]


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
        f"{args.samples} trials one at a time, each searcher seed run twice: replayed on the table, and through "
        "Ray Tune with real training.", "",
        table(["seed", "trials", "same configuration, same place", "first difference (trial)",
               "same epochs trained", "largest |val_corr difference|", "replay best", "Ray best", "Ray wall s"], rows),
        "", "- Same epochs trained and val_corr difference: over the trials both proposed alike.", ""])
    print(write_result("replay_agreement", text, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
