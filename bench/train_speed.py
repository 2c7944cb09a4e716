"""Benchmark: training epochs of the field's reference pipeline vs the project's, on one synthetic session.

reference  bench/reference: neuralpredictors 0.3.0 FileTreeDataset + starter-kit transforms (per trial, per
           epoch), its Stacked2dCore/FullGaussian2d/MLPShifter SOTA model and the standard trainer's loop;
ours       ``load_sessions`` (cached contiguous arrays, images scaled once) + ``build_model`` with
           configs/model/sota2022.yaml plus behaviour channels and the shifter (the same architecture) +
           ``train``; once in fp32 as the reference, once with the trainer's ``amp: true`` (bf16 autocast).
Both train the same session for the same epochs with batch 128, Adam lr 0.009, validation after each epoch.
Epoch wall time = training pass + that epoch's validation, median over the epochs of ``--rounds`` runs per
pipeline whose order alternates (the machine is shared); set-up (opening the data, building the model) is
timed apart. Goal: ours >= 3x faster on CPU (>= 10x on a GPU) with a
validation correlation >= the reference's after the same epochs.

    PYTHONPATH=. python bench/train_speed.py                       # CPU-friendly size (see --trials)
    PYTHONPATH=. python bench/train_speed.py --trials 6000 --neurons 8000   # the realistic preset's size
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import command_line, header, load_average, parse_args, table, write_result  # noqa: E402

DATA = ROOT / "bench" / "data" / "train_speed"
BATCH_SIZE = 128
LR = 0.009


def ensure_session(trials: int, neurons: int, seed: int) -> Path:
    """One static session of the realistic preset (test tiers scaled with ``trials``), written once."""
    from sensorium_models.data.synthetic import synthesize

    out = DATA / f"static-{trials}x{neurons}-seed{seed}"
    existing = sorted(p for p in out.glob("static*") if p.is_dir()) if out.is_dir() else []
    if existing:
        return existing[0]
    return synthesize(out, kind="static", preset="realistic", sessions=1, trials=trials, neurons=neurons,
                      seed=seed)[0]


def run_reference(path: Path, epochs: int, seed: int, device: str) -> dict:
    from bench.reference.loader import static_loaders
    from bench.reference.model import sota_model
    from bench.reference.trainer import standard_trainer

    started = time.perf_counter()
    loaders = static_loaders([str(path)], batch_size=BATCH_SIZE, seed=seed, cuda=device == "cuda")
    model = sota_model(loaders, seed=seed, shifter=True)
    setup = time.perf_counter() - started
    result = standard_trainer(model, loaders, seed=seed, device=device, max_iter=epochs, lr_init=LR)
    return {"setup_s": setup, "epoch_s": result.epoch_seconds(), "val_corr": result.epoch_correlations(),
            "best_val_corr": result.score}


def run_ours(path: Path, epochs: int, seed: int, device: str, cache_dir: Path, amp: bool = False) -> dict:
    from sensorium_models.data import load_sessions
    from sensorium_models.models import build_model
    from sensorium_models.training import train

    model_cfg = yaml.safe_load((ROOT / "configs" / "model" / "sota2022.yaml").read_text())
    model_cfg.update(behavior_channels=True, shifter=True, shifter_hidden_channels=5, shifter_layers=3)
    trainer_cfg = {"batch_size": BATCH_SIZE, "lr_init": LR, "max_epochs": epochs, "device": device, "amp": amp}
    started = time.perf_counter()
    sessions = load_sessions({"paths": [str(path)], "cache_dir": str(cache_dir)}, seed=seed)
    model = build_model(sessions, model_cfg, seed=seed)
    setup = time.perf_counter() - started
    result = train(model, sessions, trainer_cfg, seed=seed)
    return {"setup_s": setup, "epoch_s": [h["epoch_seconds"] for h in result.history],
            "val_corr": [h["val_corr"] for h in result.history], "best_val_corr": result.best_val_corr}


def session_sizes(path: Path) -> str:
    tiers = np.load(path / "meta" / "trials" / "tiers.npy")
    neurons = len(np.load(path / "meta" / "neurons" / "unit_ids.npy"))
    order = ("train", "validation", "test", "final_test")
    counts = ", ".join(f"{t} {int((tiers == t).sum())}" for t in sorted(set(tiers.tolist()), key=order.index))
    return f"{len(tiers)} trials ({counts}), {neurons} neurons, images 1x144x256 -> 36x64"


PIPELINES = {"reference (neuralpredictors 0.3.0)": "reference", "ours": "ours",
             "ours, bf16 autocast (amp: true)": "amp"}


def run_rounds(args, path: Path) -> dict[str, list[dict]]:
    """``--rounds`` runs of each pipeline, alternating which goes first (ref, ours, ours, ref, ...), so a
    shared machine's changing load falls on both alike; round r trains with seed ``--seed`` + r, so the
    correlations compare the pipelines over seeds rather than one draw of initial weights. Ours starts from
    an empty cache in its first run."""
    cache = path.parent / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    runs: dict[str, list[dict]] = {name: [] for name in PIPELINES}
    for round_ in range(args.rounds):
        names = list(PIPELINES) if round_ % 2 == 0 else list(PIPELINES)[::-1]
        seed = args.seed + round_
        for name in names:
            load = load_average()
            if PIPELINES[name] == "reference":
                result = run_reference(path, args.epochs, seed, args.device)
            else:
                result = run_ours(path, args.epochs, seed, args.device, cache, PIPELINES[name] == "amp")
            runs[name].append({**result, "load": load})
            print(f"round {round_ + 1} {name}: epochs {[round(x, 1) for x in result['epoch_s']]} s, "
                  f"val corr {[round(x, 4) for x in result['val_corr']]}", flush=True)
    return runs


def render(args, path: Path, runs: dict[str, list[dict]]) -> str:
    rows, medians, final = [], {}, {}
    for name, results in runs.items():
        epochs = [s for r in results for s in r["epoch_s"]]
        medians[name] = statistics.median(epochs)
        finals = [r["val_corr"][-1] for r in results]
        final[name] = statistics.mean(finals)
        rows.append([name, results[0]["setup_s"], "; ".join(" / ".join(f"{s:.1f}" for s in r["epoch_s"])
                                                           for r in results),
                     medians[name], " / ".join(f"{v:.4f}" for v in finals), final[name],
                     "; ".join(r["load"].split()[0] for r in results)])
    ref_name, *ours_names = list(PIPELINES)
    device = "GPU" if args.device == "cuda" else "CPU"
    goal = 10 if args.device == "cuda" else 3
    verdicts = []
    for name in ours_names:
        ratio, corr_gap = medians[ref_name] / medians[name], final[name] - final[ref_name]
        verdicts.append(
            f"- **{name}: epoch-time ratio (reference / it, medians over all runs) {ratio:.2f}x** on {device} "
            f"(goal >= {goal}x: {'met' if ratio >= goal else 'not met'}); mean validation correlation after "
            f"{args.epochs} epochs minus the reference's: {corr_gap:+.4f} (goal >= 0: "
            f"{'met' if corr_gap >= 0 else 'not met'}).")
    lines = [
        header("Training speed: the reference pipeline vs ours", ("torch", "numpy", "neuralpredictors",
                                                                  "scikit-image")),
        f"Session: synthetic `realistic` preset, 1 session, {session_sizes(path)}; "
        f"{args.epochs} epochs per run, {args.rounds} runs per pipeline (alternating which goes first), "
        f"batch {BATCH_SIZE}, Adam lr {LR}, device {args.device}.",
        "",
        table(["pipeline", "set-up s (first run)", "epoch s per run (1 / 2 / ...)", "median epoch s",
               f"val corr after epoch {args.epochs} per run", "mean", "1-min load before each run"], rows),
        *verdicts,
        f"- Run r trains with seed {args.seed} + r in every pipeline; the pipelines draw initial weights, batches "
        "and readout jitter from their own generators, so one seed is not the same draw across pipelines.",
        "- Epoch = training pass + the validation after it. The reference's first epoch of each run also reads "
        "every trial's files (FileTreeDataset caches them in RAM afterwards); ours reads them during set-up "
        "(its first run from an empty cache, later runs from the cache).",
        f"- Reproduce: `{command_line()}`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=400, help="trials of the session (realistic: 6000)")
    parser.add_argument("--neurons", type=int, default=1000, help="neurons of the session (realistic: 8000)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="runs per pipeline, alternating the order")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="torch threads for both (default: torch's, one per core); "
                        "on a shared machine 1 avoids OpenMP stalls when other jobs hold the cores")
    parser.add_argument("--name", default="train_speed", help="bench/results/<name>.md")
    args = parse_args(parser, argv, {"trials": 60, "neurons": 30, "epochs": 1, "rounds": 1, "threads": 1})
    if args.threads:
        torch.set_num_threads(args.threads)

    path = ensure_session(args.trials, args.neurons, args.seed)
    runs = run_rounds(args, path)
    print(write_result(args.name, render(args, path, runs), args.out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
