"""bench/search_replay.py against a real Tune run: the same searcher and scheduler settings, the same learning
curves (the analytic ``trap`` landscape, trained by nothing), must give the same trials, in the same order, with
the same stop decisions and the same Optuna study."""
import pytest
from ray import cloudpickle, tune

from bench import landscapes
from bench.landscapes import TPE_ASHA, trap, trap_curve
from bench.search_efficiency import merged
from bench.search_replay import replay
from search.progress import EarlyStopMarker
from search.objective import OBJECTIVE
from search.results import STOPPED_EARLY
from search.searcher import build_scheduler, build_searcher, build_stop

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


class Record(tune.Callback):
    """Every result (trial number, epoch) in the order the driver saw them, and how each trial ended."""

    def __init__(self):
        self.events, self.ended = [], {}

    @staticmethod
    def number(trial) -> int:
        return int(trial.experiment_tag.split("_", 1)[0]) - 1

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.events.append((self.number(trial), result["training_iteration"]))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.ended[self.number(trial)] = (trial.config, trial.last_result["training_iteration"],
                                          bool(trial.last_result.get(STOPPED_EARLY)))


def study_rows(searcher):
    return [(t.state.name, t.value, t.params, dict(t.intermediate_values)) for t in searcher._ot_study.trials]


# TPE with ASHA, short start-up so that TPE proposes within 14 trials; and the default, GP, as `search launch`
# builds it.
ALGORITHMS = {"tpe": merged(TPE_ASHA, {"tpe": {"n_startup_trials": 5}}), "gp": {}}


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
@pytest.mark.parametrize("seed", [0, 3])
def test_replay_proposes_and_stops_exactly_as_tune(ray_local, tmp_path, seed, algorithm):
    landscape = trap(max_t=9, num_samples=14)
    settings = type(landscape.settings).model_validate(
        merged(landscape.settings.model_dump(), {**ALGORITHMS[algorithm], "seed": seed}))
    assert settings.algorithm == algorithm
    searcher, record = build_searcher(settings, []), Record()

    # Ray ships both by value: its workers import installed packages only, and bench/ and tests/ are not.
    cloudpickle.register_pickle_by_value(landscapes)

    def report_curve(config):
        best = None
        for value in trap_curve(config):
            best = value if best is None else max(best, value)
            tune.report({"val_corr": value, OBJECTIVE: best})

    tuner = tune.Tuner(
        report_curve, param_space=landscape.param_space,
        tune_config=tune.TuneConfig(metric=OBJECTIVE, mode="max", search_alg=searcher,
                                    scheduler=build_scheduler(settings), num_samples=settings.num_samples,
                                    max_concurrent_trials=1, reuse_actors=True),
        run_config=tune.RunConfig(name="real", storage_path=str(tmp_path), verbose=0,
                                  stop=build_stop(settings),  # as search.run.build_tuner
                                  callbacks=[EarlyStopMarker(settings.asha.max_t), record]))
    tuner.fit()

    replayed_searcher = build_searcher(settings, [])
    replayed = replay(replayed_searcher, build_scheduler(settings), landscape.param_space, landscape.curve,
                      metric="val_corr", mode="max", objective=OBJECTIVE, num_samples=settings.num_samples,
                      max_concurrent=1, max_t=settings.asha.max_t)

    real_trials = [record.ended[i] for i in range(settings.num_samples)]
    assert [(t["config"], t["epochs"], t["stopped_early"]) for t in replayed.trials] == real_trials
    assert [(i, epoch) for i, epoch, decision in replayed.events if decision != "END"] == record.events
    assert study_rows(replayed_searcher) == study_rows(searcher)
    # The run exercised every ending: ASHA's early stop (TPE's only), max_t, and the trainer stopping by itself.
    endings = {(False, False), (True, False)} | ({(True, True)} if algorithm == "tpe" else set())
    assert {(epochs < 9, early) for _, epochs, early in real_trials} == endings


def test_a_real_ray_search_on_the_grid_trains_what_the_replay_predicts(tmp_path):
    """bench/replay_agreement.py at its quick size: the shipped search on today's grid landscape, replayed on the
    table's trainer run here and trained for real through Ray, proposes the same 3 configurations and trains each to
    the same curve, bit for bit. (The committed table was trained on another machine, and the CPU's instruction set
    changes float32 training's last bits: the bench reports how far it is, and this test does not assert it.)"""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "bench/replay_agreement.py", "--quick", "--out", str(tmp_path)], cwd=root,
                          capture_output=True, text=True, timeout=220)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    row = next(line for line in (tmp_path / "replay_agreement.md").read_text().splitlines() if line.startswith("| 0 |"))
    seed, trials, same, first, epochs, gap = [cell.strip() for cell in row.strip("|").split("|")][:6]
    assert (trials, same, first, epochs, float(gap)) == ("3", "3 of 3", "-", "3 of 3", 0.0), row
