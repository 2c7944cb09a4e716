"""Benchmark: on sessions with a known history time constant, the search finds it, and models approach the oracle.

1. The generator's ``demo`` preset: every neuron's rate depends on its own recent responses with one true tau
   (``ground_truth/<session>/params.json``). A real search (``search.run.launch``: Ray Tune, Optuna TPE +
   ASHA, MLflow) over single-tau ``history_taus``, every candidate tried first as a start point; the rest
   of the model is fixed. Goal: the best trial's tau within a factor 1.5 of the true one.
2. The best configuration and the same model without history, retrained with the search's seed (training
   is deterministic, so the first is the search's best trial), scored on the labelled ``test`` tier: mean
   single-trial correlation next to the mean oracle correlation (responses vs the noise-free rates).
3. With ``--promote`` and ``sensorium-search promote`` on this branch: the best configuration retrained
   with 5 seeds and ensembled; the ensemble's test correlation against its best member's.

    PYTHONPATH=. python bench/ground_truth.py [--epochs 8] [--trials 1200] [--promote]
"""
from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import command_line, header, table, write_result  # noqa: E402

DATA = ROOT / "bench" / "data" / "ground_truth"
TAUS = [1.5, 3.0, 6.0, 12.0, 24.0, 48.0]  # doubling steps; the true tau (8) is not on the grid
FACTOR = 1.5
NAME = "ground_truth_tau"


def fixed_model() -> dict:
    """A small SENSORIUM+-shaped model (CPU-sized) with the history modulator and nothing else of Model 4."""
    return {"hidden_channels": 8, "layers": 2, "input_kern": 9, "hidden_kern": 5, "depth_separable": False,
            "shifter": True, "behavior_channels": True, "history": True}


def search_config(sessions: Path, epochs: int, grace: int) -> dict:
    return {
        "data": {"paths": [str(sessions)], "scale": 0.125, "cache_dir": str(DATA / "cache")},
        "model": {**fixed_model(), "history_taus": {"choice": [[tau] for tau in TAUS]}},
        "trainer": {"max_epochs": epochs, "batch_size": 64, "lr_init": 0.009, "device": "cpu"},
        "search": {"metric": "val_corr", "mode": "max", "num_samples": len(TAUS), "max_concurrent": 2, "seed": 0,
                   "max_failures": 0, "asha": {"grace_period": grace, "max_t": epochs, "reduction_factor": 2},
                   "resources": {"cpus": 1},  # one torch thread per trial, two trials at a time
                   "start_with": [{"model": {"history_taus": [tau]}} for tau in TAUS]},
    }


def ensure_sessions(trials: int | None) -> Path:
    from sensorium_models.data.synthetic import synthesize

    out = DATA / f"static-demo-{trials or 'preset'}"
    if not any(out.glob("static*")):
        synthesize(out, kind="static", preset="demo", trials=trials, seed=0)
    return out


def true_tau(sessions: list) -> float:
    from sensorium_models.data.ground_truth import load_ground_truth

    taus = {load_ground_truth(s.path)["params"]["history"]["tau_trials"] for s in sessions}
    if len(taus) != 1:
        raise SystemExit(f"expected one true tau across sessions, found {sorted(taus)}")
    return taus.pop()


def run_search(spec, runs: Path) -> list:
    """Launch the search with the stack's own entry point; its trials, as ``search status`` reads them."""
    from search.results import trial_rows
    from search.run import SearchRecord, launch, load_trials

    shutil.rmtree(runs, ignore_errors=True)
    status = launch(spec, runs, None, None, None)
    if status != 0:
        raise SystemExit(f"search ended with status {status}")
    return trial_rows(load_trials(SearchRecord.read(runs, spec.name)), spec)


def tier_scores(blocks: dict, seed: int, sessions: list) -> dict[str, float]:
    """Retrain ``blocks`` with ``seed``; mean single-trial correlation on each session's ``test`` tier."""
    from sensorium_models.models import build_model
    from sensorium_models.prediction import predict
    from sensorium_models.scoring import score_predictions
    from sensorium_models.training import train

    model = build_model(sessions, blocks["model"], seed)
    train(model, sessions, blocks["trainer"], seed)
    return {s.key: score_predictions(s, s.tier_indices("test"), predict(model, s, s.tier_indices("test")))
            ["single_trial_corr"] for s in sessions}


def oracle_scores(sessions: list) -> dict[str, float]:
    from sensorium_models.data.ground_truth import load_ground_truth

    return {s.key: float(np.mean(load_ground_truth(s.path)["oracle_correlation"])) for s in sessions}


def promotion_gain(spec, runs: Path) -> list[list]:
    """Promote the best trial with 5 seeds; rows of test correlation for each member and the ensemble."""
    from mlflow import MlflowClient

    from search.promote import promote
    from search.run import SearchRecord

    if promote(spec.name, runs, top_k=1, seeds=5, alias="champion", out=runs / "promotion") != 0:
        raise SystemExit("promotion failed")
    record = SearchRecord.read(runs, spec.name)
    client = MlflowClient(record.tracking_uri)
    promoted = client.search_runs([record.experiment_id], "tags.role = 'promotion'")[0]
    members = client.search_runs([record.experiment_id], "tags.role = 'promotion-member'")
    test_keys = [k for k in promoted.data.metrics if k.endswith(".test.single_trial_corr")]
    rows = []
    for key in sorted(test_keys):
        best_member = max(m.data.metrics[key] for m in members)
        ensemble = promoted.data.metrics[key]
        rows.append([key.split(".")[0], len(members), best_member, ensemble, ensemble - best_member])
    return rows


def render(args, truth: float, rows: list, best, scores: dict, gain_rows: list | None) -> str:
    best_tau = best.params["model.history_taus"][0]
    ratio = max(best_tau / truth, truth / best_tau)
    history, baseline, oracle = scores["history"], scores["baseline"], scores["oracle"]
    score_rows = [[key, oracle[key], baseline[key], history[key], baseline[key] / oracle[key],
                   history[key] / oracle[key]] for key in oracle]
    mean = {name: float(np.mean(list(values.values()))) for name, values in scores.items()}
    score_rows.append(["mean", mean["oracle"], mean["baseline"], mean["history"], mean["baseline"] / mean["oracle"],
                       mean["history"] / mean["oracle"]])
    search_rows = [[r.params["model.history_taus"][0], r.state, r.epochs, r.best if r.best is not None else "-"]
                   for r in sorted(rows, key=lambda r: r.params["model.history_taus"][0])]
    lines = [
        header("Ground truth: the search finds the history time constant; test correlation vs the oracle"),
        f"Sessions: synthetic `demo` preset, seed 0, {args.sessions_line}; images scaled by 0.125. Model: "
        f"{fixed_model()}; trainer: batch 64, lr 0.009, at most {args.epochs} epochs; seed 0; two trials at a "
        "time, 1 CPU (1 torch thread) each.",
        "",
        f"## 1. Search over history_taus (TPE + ASHA grace {args.grace}, every tau a start point)",
        "",
        table(["tau (trials)", "state", "epochs", "best val corr"], search_rows),
        f"- True tau: {truth:g} trials. **Best tau: {best_tau:g}** (factor {ratio:.2f}; goal <= {FACTOR}: "
        f"{'met' if ratio <= FACTOR else 'not met'}).",
        "",
        "## 2. Test tier (labelled `test`): mean single-trial correlation",
        "",
        table(["session", "oracle", "baseline (no history)", f"history tau {best_tau:g}", "baseline / oracle",
               "history / oracle"], score_rows),
        "",
        "## 3. Promoted 5-seed ensemble (test single-trial correlation)",
        "",
    ]
    if gain_rows is None:
        lines.append("Not run (pass --promote; it retrains the best configuration 5 times).")
    else:
        lines.append(table(["session", "members", "best member", "ensemble", "ensemble - best member"], gain_rows))
    lines += ["", f"- Reproduce: `{command_line()}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8, help="max epochs per trial")
    parser.add_argument("--grace", type=int, default=4, help="ASHA grace period (epochs)")
    parser.add_argument("--trials", type=int, default=None, help="trials per session (demo preset: 1200)")
    parser.add_argument("--promote", action="store_true", help="also promote the best trial with 5 seeds")
    args = parser.parse_args(argv)

    from search.config import parse_spec
    from search.run import schemas
    from sensorium_models.data import load_sessions

    folder = ensure_sessions(args.trials)
    spec = parse_spec(search_config(folder, args.epochs, args.grace), schemas(), NAME, "bench/ground_truth.py")
    sessions = load_sessions(spec.blocks["data"], spec.settings.seed)
    args.sessions_line = ", ".join(f"{s.key}: {s.n_trials} trials, {s.n_neurons} neurons" for s in sessions)
    truth = true_tau(sessions)
    runs = DATA / "runs"
    rows = run_search(spec, runs)
    best = max((r for r in rows if r.best is not None and math.isfinite(r.best)), key=lambda r: r.best)
    blocks = spec.decode(best.config)
    baseline = {**blocks, "model": {**blocks["model"], "history": False}}
    import torch

    torch.set_num_threads(int(spec.settings.resources.cpus))  # as the trial ran, so the retrain repeats it
    scores = {"oracle": oracle_scores(sessions), "baseline": tier_scores(baseline, spec.settings.seed, sessions),
              "history": tier_scores(blocks, spec.settings.seed, sessions)}
    gain_rows = promotion_gain(spec, runs) if args.promote else None
    print(write_result("ground_truth", render(args, truth, rows, best, scores, gain_rows)).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
