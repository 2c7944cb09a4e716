"""Benchmark: evidence that the models learn what the synthetic generator put into the data.

On the ``demo`` static preset (2 sessions x 1200 trials x ~150 neurons, whose responses depend on the
stimulus, behaviour, a slow gain drift and each neuron's own response history with tau = 8 trials):

  control   the baseline trained and validated on responses shuffled across trials (stimulus-response
            pairing destroyed; the labelled test tier is left intact): the floor any real model must clear;
  baseline  stacked 2-D core + Gaussian readout with the cortex grid predictor, stimulus only;
  history   the same baseline plus the response-history modulator (Model 4's history filter bank).

Same core, trainer, seed and sessions for all three; each is scored on the labelled ``test`` tier and the
single-trial correlation is set against the generator's oracle correlation (of responses with the true
noise-free rates, history and behaviour included). Goals: baseline clearly above control (difference
>= 0.1, control within 0.05 of 0), history / baseline > 1.

    PYTHONPATH=. python bench/model_evidence.py        # synthesises bench/data/model_evidence/ once
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import command_line, cpu_model, parse_args, write_result  # noqa: E402

DATA = ROOT / "bench" / "data" / "model_evidence"
# depth_separable is off: on CPU the depthwise convolution's backward pass makes a step ~4x slower
BASELINE = {"hidden_channels": 16, "layers": 3, "input_kern": 9, "hidden_kern": 5, "depth_separable": False,
            "gamma_input": 1.0, "readout_bias_from_mean": True}
VARIANTS = {"control": BASELINE, "baseline": BASELINE, "history": {**BASELINE, "history": True}}


def shuffled(session, seed: int):
    """The session with responses permuted across trials within the train and within the validation role."""
    rng = np.random.default_rng(seed)
    responses = np.array(session.responses)
    for role in ("train", "validation"):
        trials = session.indices(role)
        responses[trials] = responses[rng.permutation(trials)]
    return replace(session, responses=responses)


def run_variant(name: str, sessions, trainer: dict, seed: int) -> dict:
    from sensorium_models.data.ground_truth import load_ground_truth
    from sensorium_models.models import build_model
    from sensorium_models.prediction import predict
    from sensorium_models.scoring import score_predictions
    from sensorium_models.training import train

    trained_on = [shuffled(s, seed) for s in sessions] if name == "control" else sessions
    model = build_model(trained_on, VARIANTS[name], seed)
    started = time.perf_counter()
    result = train(model, trained_on, trainer, seed)
    seconds = time.perf_counter() - started
    rows = []
    for session in sessions:                     # the intact sessions: the test tier is never shuffled
        test = session.tier_indices("test")
        scores = score_predictions(session, test, predict(model, session, test))
        oracle = float(np.mean(load_ground_truth(session.path)["oracle_correlation"]))
        rows.append({**scores, "oracle": oracle, "of_oracle": scores["single_trial_corr"] / oracle})
    mean = {key: float(np.mean([row.get(key, np.nan) for row in rows])) for key in rows[0]}
    print(f"{name:>8}: val {result.best_val_corr:.4f}, test {mean['single_trial_corr']:.4f} "
          f"({mean['of_oracle']:.1%} of oracle {mean['oracle']:.4f}), {result.epochs} epochs, {seconds:.0f} s",
          flush=True)
    return {"name": name, "val": result.best_val_corr, "epochs": result.epochs, "seconds": seconds, **mean}


def machine(sessions, trainer: dict, load_before: tuple[float, ...]) -> str:
    import torch

    cpu = cpu_model()
    sizes = ", ".join(f"{s.key}: {s.n_trials} trials ({len(s.indices('train'))} train, "
                      f"{len(s.indices('validation'))} validation, {len(s.tier_indices('test'))} test), "
                      f"{s.n_neurons} neurons" for s in sessions)
    return (f"Machine: {cpu}, {os.cpu_count()} CPUs shared with other jobs (load average before the run "
            f"{' '.join(f'{x:.1f}' for x in load_before)}), {platform.platform()}, Python "
            f"{platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"numpy {np.__version__}. Sessions ({sessions[0].stimuli.shape[2]}x{sessions[0].stimuli.shape[3]} "
            f"images): {sizes}. Trainer: {trainer}. Model: {BASELINE}; history adds `history: true` "
            f"(default taus 1, 2, 5, 10, 30 trials).")


def table(results: list[dict]) -> str:
    lines = ["| variant | best val corr | epochs | train s | test single-trial corr | test corr to average "
             "| test FEVE | oracle corr | fraction of oracle |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['name']} | {r['val']:.4f} | {r['epochs']} | {r['seconds']:.0f} | "
                     f"{r['single_trial_corr']:.4f} | {r['corr_to_average']:.4f} | {r.get('feve', np.nan):.4f} | "
                     f"{r['oracle']:.4f} | {r['of_oracle']:.1%} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=12, help="max epochs per variant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="demo", help="the synthetic static preset (default demo)")
    args = parse_args(parser, None, {"epochs": 1, "preset": "tiny"})
    sys.path.insert(0, str(ROOT))
    import torch

    from sensorium_models.data import load_sessions
    from sensorium_models.data.synthetic import synthesize

    load_before = os.getloadavg()
    folder = DATA / f"static_{args.preset}"
    if not folder.is_dir():
        synthesize(folder, kind="static", preset=args.preset, seed=0)
    sessions = load_sessions({"paths": [str(folder)], "cache_dir": str(DATA / "cache")}, args.seed)
    trainer = {"batch_size": 64, "lr_init": 0.009, "max_epochs": args.epochs, "patience": 3, "lr_decay_steps": 2,
               "device": "cpu"}
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    results = {name: run_variant(name, sessions, trainer, args.seed) for name in VARIANTS}
    total = time.perf_counter() - started
    base, control, history = results["baseline"], results["control"], results["history"]
    gap = base["single_trial_corr"] - control["single_trial_corr"]
    ratio = history["single_trial_corr"] / base["single_trial_corr"]
    summary = [
        f"- (a) baseline - control test correlation: {gap:+.4f} (control {control['single_trial_corr']:+.4f}; "
        f"goal: difference >= 0.1, control within 0.05 of 0): {'met' if gap >= 0.1 and abs(control['single_trial_corr']) <= 0.05 else 'NOT met'}.",
        f"- (b) history / baseline test correlation: {ratio:.3f}x ({history['single_trial_corr']:.4f} vs "
        f"{base['single_trial_corr']:.4f}; goal > 1): {'met' if ratio > 1 else 'NOT met'}.",
        f"- (c) fraction of the oracle correlation on the test tier: baseline {base['of_oracle']:.1%}, "
        f"history {history['of_oracle']:.1%}, control {control['of_oracle']:.1%}.",
        f"- Total wall time {total:.0f} s for the three trainings.",
    ]
    text = "\n".join([
        f"# Model evidence on synthetic data ({args.preset} static preset)", "", f"`{command_line()}`", "",
        table(list(results.values())), "", machine(sessions, trainer, load_before), "",
        "Scores are means over neurons, then over the two sessions; the oracle correlation is the "
        "generator's (responses vs true rates on the same test trials).", "", *summary, ""])
    print("\n".join(summary))
    print(f"wrote {write_result('model_evidence', text, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
