"""What a search costs per trial beyond training: Tune with actor reuse (the project's setting) vs without.

The same tiny search (configs/search/tiny.yaml on the tiny synthetic preset: OptunaSearch seeded, ASHA,
the MLflow tracker writing to sqlite, two trials at a time) runs twice in one Ray session, once with
``reuse_actors=True`` and once, as the reference, with new actors per trial. Per trial, the overhead is the
driver's wall time from trial start to trial end minus the trainer's own epoch time (``epoch_seconds``):
actor start, imports, session load (cached per worker with reuse), model build, the first validation
pass, checkpoints and result handling. Time to first trial is from ``Tuner.fit()`` to the first trial
start and to its first reported epoch.

    PYTHONPATH=. python bench/search_overhead.py [--trials 8]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cpu_model, parse_args, write_result  # noqa: E402
from search import environment  # noqa: E402
SCRATCH = Path(__file__).parent / "data" / "search_overhead"
CONFIG = Path(__file__).parents[1] / "configs" / "search" / "tiny.yaml"


def timing_callback():
    from ray import tune

    class TrialTimings(tune.Callback):
        """Driver-clock timestamps of each trial's start, first result and end, and its epochs' own time."""

        def __init__(self):
            self.started, self.first_result, self.ended, self.epoch_seconds = {}, {}, {}, {}

        def on_trial_start(self, iteration, trials, trial, **info):
            self.started.setdefault(trial.trial_id, time.perf_counter())

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.first_result.setdefault(trial.trial_id, time.perf_counter())
            self.epoch_seconds[trial.trial_id] = self.epoch_seconds.get(trial.trial_id, 0.0) + result["epoch_seconds"]

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.ended[trial.trial_id] = time.perf_counter()

        on_trial_error = on_trial_complete

    return TrialTimings()


def run_variant(reuse: bool, trials: int, data: Path) -> dict:
    """One search into its own run folder; returns the timings of its trials."""
    import contextlib
    import io

    from search.config import load_spec
    from search.mlflow_writer import finish
    from search.run import SearchRecord, build_tuner
    from sensorium_models.compose import schemas
    from search.tracking import default_tracking_uri, open_experiment, start_search_run

    import yaml

    runs = SCRATCH / f"runs-reuse-{reuse}"
    space = yaml.safe_load(CONFIG.read_text())
    space["data"].update(paths=[str(data)], cache_dir=str(SCRATCH / "cache"))
    (SCRATCH / "tiny.yaml").write_text(yaml.safe_dump(space))
    spec = load_spec(SCRATCH / "tiny.yaml", schemas(), f"overhead-reuse-{reuse}", {"num_samples": trials})
    uri = default_tracking_uri(runs)
    experiment = open_experiment(uri, runs)
    parent = start_search_run(uri, experiment, spec)
    record = SearchRecord(spec.name, str(runs / "ray_results" / spec.name), uri, experiment, parent)
    timings = timing_callback()
    tuner = build_tuner(spec, record, str(runs / "ray_results"), reuse_actors=reuse, callbacks=[timings])
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        tuner.fit()
    wall = time.perf_counter() - start
    finish(uri)  # as `search launch` does: the summary and plots land before the next search (or the exit)
    ids = sorted(timings.ended)
    overheads = [timings.ended[i] - timings.started[i] - timings.epoch_seconds.get(i, 0.0) for i in ids]
    return {
        "reuse": reuse, "trials": len(ids), "wall": wall,
        "epochs_s": sum(timings.epoch_seconds.values()),
        "median_overhead": statistics.median(overheads), "max_overhead": max(overheads),
        "first_start": min(timings.started.values()) - start,
        "first_result": min(timings.first_result.values()) - start,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    args = parse_args(parser, None, {"trials": 2})
    shutil.rmtree(SCRATCH, ignore_errors=True)
    environment.apply(None)
    from search.run import connect_ray
    from sensorium_models.data.synthetic import synthesize

    (session,) = synthesize(SCRATCH / "data", "static", "tiny")
    load = os.getloadavg()
    started = time.perf_counter()
    connect_ray(None)
    ray_init = time.perf_counter() - started
    # The reference first: the project's variant then runs on a Ray whose workers are as warm as they can be
    # without reuse, so the gap measured is reuse itself, not a cold first start.
    rows = [run_variant(False, args.trials, session.parent), run_variant(True, args.trials, session.parent)]
    print(write_table(rows, ray_init, load, args.trials, args.out).read_text())
    return 0


def write_table(rows: list[dict], ray_init: float, load: tuple, trials: int, out: Path) -> Path:
    import mlflow
    import optuna
    import ray
    import torch

    no_reuse, reuse = rows
    lines = [
        "# Search overhead per trial: Tune actor reuse vs a new actor per trial", "",
        "`PYTHONPATH=. python bench/search_overhead.py" + (f" --trials {trials}`" if trials != 8 else "`"), "",
        "| reuse_actors | trials | fit wall s | trainer epochs s (sum) | median overhead per trial s "
        "| worst overhead s | fit → first trial start s | fit → first epoch reported s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['reuse']} | {row['trials']} | {row['wall']:.1f} | {row['epochs_s']:.1f} | "
                     f"{row['median_overhead']:.2f} | {row['max_overhead']:.2f} | {row['first_start']:.2f} | "
                     f"{row['first_result']:.2f} |")
    lines += [
        "",
        f"Machine: {cpu_model()}, {platform.platform()}, Python {platform.python_version()}, "
        f"ray {ray.__version__}, optuna {optuna.__version__}, mlflow {mlflow.__version__}, "
        f"torch {torch.__version__}; {os.cpu_count()} CPUs shared with other jobs (load average before the run "
        f"{' '.join(f'{x:.1f}' for x in load)}). In-process Ray on 127.0.0.1 (`ray.init` {ray_init:.1f} s, not in "
        "the figures). configs/search/tiny.yaml: 1 session of 240 trials, 40 neurons; up to 6 epochs per trial, "
        "two trials at a time, 1 CPU each; MLflow sqlite under bench/data/.",
        "",
        f"- Median overhead per trial: {reuse['median_overhead']:.2f} s with reuse vs "
        f"{no_reuse['median_overhead']:.2f} s without: {no_reuse['median_overhead'] / reuse['median_overhead']:.1f}x "
        f"less (goal <= 1 s with reuse: {'met' if reuse['median_overhead'] <= 1 else 'not met'}).",
        f"- Whole search: {reuse['wall']:.1f} s vs {no_reuse['wall']:.1f} s "
        f"({no_reuse['wall'] / reuse['wall']:.2f}x).",
        "- Overhead = driver wall time from trial start to trial end minus the trainer's own epoch time: actor "
        "start, imports, session load, model build, the first validation pass, checkpoints, MLflow and result "
        "handling. Trials ASHA stops early train fewer epochs; their overhead counts the same way. With reuse the "
        "worst case is the first trial on each of the two actors, which pays the actor start, `import torch` and "
        "the session load once for all the trials after it.",
    ]
    return write_result("search_overhead", "\n".join(lines) + "\n", out)


if __name__ == "__main__":
    sys.exit(main())
