"""How long the search's searcher (TPE, and GP) takes to suggest one trial, by how many trials its study holds.

The searcher is the one ``search launch`` builds (``search.searcher.build_searcher`` on the settings of
``configs/search/tiny.yaml``: PruningAwareOptunaSearch, seeded; TPE one key at a time and multivariate +
grouped; GP, the default below ``LARGE_SEARCH`` trials), set up as Tune sets it up. A TPE study is filled with
``n`` trials as ASHA leaves them (reduction 3, rungs at epochs 1, 3 and 9 of 10: two thirds PRUNED after epoch 1,
two ninths after epoch 3, the rest COMPLETE), a GP study with ``n`` COMPLETE ones (its trials run to max_t),
with parameters drawn at random over the same space, and then ``--calls`` suggestions are timed. This reaches
5 000 trials in minutes, where running them through Tune takes hours here.

    PYTHONPATH=. python bench/tpe_scale.py [--sizes 100,1000,5000] [--gp-sizes 100,500,1000,2000] [--calls 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import command_line, header, parse_args, table, write_result  # noqa: E402
from search import environment  # noqa: E402

CONFIG = ROOT / "configs" / "search" / "tiny.yaml"


def history(distributions: dict, n: int, seed: int, stopped: bool = True) -> list:
    """``n`` finished Optuna trials over ``distributions``, ended as ASHA (reduction 3) ends them, or all
    run to epoch 10 when not ``stopped``."""
    import numpy as np
    import optuna
    from optuna.trial import TrialState

    rng = np.random.default_rng(seed)
    sampler = optuna.samplers.RandomSampler(seed=seed)
    draw = optuna.create_study(sampler=sampler)
    trials = []
    for i in range(n):
        params = draw.ask(distributions).params
        ceiling = float(rng.uniform(0.1, 0.4))
        epochs = 10 if not stopped else 1 if i % 9 < 6 else 3 if i % 9 < 8 else 10
        values = {e: ceiling * (1 - np.exp(-e / 2)) for e in range(1, epochs + 1)}
        state = TrialState.COMPLETE if epochs == 10 else TrialState.PRUNED
        trials.append(optuna.trial.create_trial(params=params, distributions=distributions, state=state,
                                                intermediate_values=values,
                                                value=values[epochs] if state == TrialState.COMPLETE else None))
    return trials


# label -> changes to tiny.yaml's search settings (model_copy: a GP beside TPE's keys, which it ignores)
SEARCHERS = {"TPE, one key at a time": {"tpe": {"multivariate": False}},
             "TPE, multivariate + group": {"tpe": {"multivariate": True}}, "GP": {"algorithm": "gp"}}


def suggest_times(spec, n: int, calls: int, label: str) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds per ``suggest`` of the project's searcher once its study holds ``n`` finished
    trials (CPU time too: on a shared machine the wall time also counts the other jobs' turns)."""
    from search.objective import OBJECTIVE
    from search.searcher import build_searcher

    changes = SEARCHERS[label]
    settings = spec.settings.model_copy(update={**changes, "tpe": spec.settings.tpe.model_copy(
        update=changes.get("tpe", {}))})
    searcher = build_searcher(settings, [], spec.name)
    searcher.set_search_properties(OBJECTIVE, spec.settings.mode, spec.param_space())
    searcher.suggest("probe")  # the study learns the space's distributions from its first ask
    distributions = searcher._ot_trials["probe"].distributions
    stopped = settings.algorithm == "tpe"
    searcher._ot_study.add_trials(history(distributions, n, spec.settings.seed, stopped))
    wall, cpu = [], []
    for i in range(calls):
        began, began_cpu = time.perf_counter(), time.process_time()
        searcher.suggest(f"timed{i}")
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="study sizes for TPE")
    parser.add_argument("--gp-sizes", default="100,500,1000,2000", help="study sizes for GP (cubic in the size)")
    parser.add_argument("--calls", type=int, default=5)
    args = parse_args(parser, None, quick={"sizes": "100,200", "gp_sizes": "100", "calls": 2})
    environment.apply(None)
    import optuna

    from search.config import load_spec
    from search.run import schemas

    spec = load_spec(CONFIG, schemas(), "tpe-scale", check_paths=False)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # as build_tuner sets it
    rows = []
    sizes = {label: args.gp_sizes if label == "GP" else args.sizes for label in SEARCHERS}
    for label, given in sizes.items():
        for n in map(int, given.split(",")):
            wall, cpu = suggest_times(spec, n, args.calls, label)
            rows.append([n, label, 1000 * statistics.median(cpu), 1000 * max(cpu), 1000 * statistics.median(wall),
                         "yes" if max(cpu) < 0.5 else "no"])
            print(rows[-1], flush=True)
    text = "\n".join([header("Searcher suggest time by study size (the search's own searcher)"),
                      f"`{command_line()}`", "",
                      table(["trials in the study", "searcher", "suggest CPU ms (median)", "CPU ms (max)",
                             "wall ms (median)", "CPU < 0.5 s"], rows), "",
                      f"{args.calls} suggestions timed per size; {len(spec.searched)} searched keys "
                      "(configs/search/tiny.yaml), n_startup_trials 10, Optuna's in-memory storage. "
                      "TPE's study as ASHA leaves it (7 of 9 trials PRUNED), GP's all COMPLETE."])
    print(write_result("tpe_scale", text + "\n", args.out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
