"""Benchmark: training epochs of the field's reference pipeline vs the project's, on one synthetic session.

reference  bench/reference: neuralpredictors 0.3.0 FileTreeDataset + starter-kit transforms (per trial, per
           epoch), its Stacked2dCore/FullGaussian2d/MLPShifter SOTA model and the standard trainer's loop;
ours       ``load_sessions`` (cached contiguous arrays, images scaled once) + ``build_model`` with
           configs/model/sota2022.yaml plus behaviour channels and the shifter (the same architecture) +
           ``train``.
Both train the same session for the same epochs with batch 128, Adam lr 0.009, validation after each epoch.
Epoch wall time = training pass + that epoch's validation (median over the epochs); set-up (opening the
data, building the model) is timed apart. Goal: ours >= 3x faster on CPU (>= 10x on a GPU) with a
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

from bench.common import command_line, header, load_average, table, write_result  # noqa: E402

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


def run_ours(path: Path, epochs: int, seed: int, device: str, cache_dir: Path) -> dict:
    from sensorium_models.data import load_sessions
    from sensorium_models.models import build_model
    from sensorium_models.training import train

    model_cfg = yaml.safe_load((ROOT / "configs" / "model" / "sota2022.yaml").read_text())
    model_cfg.update(behavior_channels=True, shifter=True, shifter_hidden_channels=5, shifter_layers=3)
    trainer_cfg = {"batch_size": BATCH_SIZE, "lr_init": LR, "max_epochs": epochs, "device": device}
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


def render(args, path: Path, ref: dict, ours: dict, loads: dict[str, str]) -> str:
    rows = []
    for name, r in (("reference (neuralpredictors 0.3.0)", ref), ("ours", ours)):
        rows.append([name, r["setup_s"], " / ".join(f"{s:.1f}" for s in r["epoch_s"]),
                     statistics.median(r["epoch_s"]), r["val_corr"][-1], r["best_val_corr"], loads[name]])
    ratio = statistics.median(ref["epoch_s"]) / statistics.median(ours["epoch_s"])
    device = "GPU" if args.device == "cuda" else "CPU"
    goal = 10 if args.device == "cuda" else 3
    corr_gap = ours["val_corr"][-1] - ref["val_corr"][-1]
    lines = [
        header("Training speed: the reference pipeline vs ours", ("torch", "numpy", "neuralpredictors",
                                                                  "scikit-image")),
        f"Session: synthetic `realistic` preset, 1 session, {session_sizes(path)}; seed {args.seed}; "
        f"{args.epochs} epochs each, batch {BATCH_SIZE}, Adam lr {LR}, device {args.device}.",
        "",
        table(["pipeline", "set-up s", "epoch s (1 / 2 / ...)", "median epoch s", "val corr after last epoch",
               "best val corr", "load avg before"], rows),
        f"- **Epoch-time ratio (reference / ours, medians): {ratio:.2f}x** on {device} "
        f"(goal >= {goal}x: {'met' if ratio >= goal else 'not met'}).",
        f"- Validation correlation after {args.epochs} epochs, ours - reference: {corr_gap:+.4f} "
        f"(goal >= 0: {'met' if corr_gap >= 0 else 'not met'}; one seed each, the two inits differ).",
        "- Epoch = training pass + the validation after it. The reference's first epoch also reads every "
        "trial's files (FileTreeDataset caches them in RAM afterwards); ours reads them once during set-up "
        "(first open, empty cache).",
        f"- Reproduce: `{command_line()}`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=400, help="trials of the session (realistic: 6000)")
    parser.add_argument("--neurons", type=int, default=1000, help="neurons of the session (realistic: 8000)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--name", default="train_speed", help="bench/results/<name>.md")
    args = parser.parse_args(argv)

    path = ensure_session(args.trials, args.neurons, args.seed)
    loads = {"reference (neuralpredictors 0.3.0)": load_average()}
    print(f"reference on {path.name} ...", flush=True)
    ref = run_reference(path, args.epochs, args.seed, args.device)
    print(f"reference: {ref}", flush=True)
    loads["ours"] = load_average()
    cache = path.parent / "cache"
    shutil.rmtree(cache, ignore_errors=True)  # set-up then includes the first open, as the reference's does
    ours = run_ours(path, args.epochs, args.seed, args.device, cache)
    print(f"ours: {ours}", flush=True)
    target = write_result(args.name, render(args, path, ref, ours, loads))
    print(target.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
