"""Trials per hour per GPU when 1, 2 or 4 search trials share one GPU (`search.resources.gpus` 1, 0.5, 0.25).

Each trial trains the SENSORIUM 2022 baseline (configs/model/sota2022.yaml) for ``--epochs`` epochs on one
synthetic static session of a real session's size (6000 trials: 4500 train, 500 validation, 1000 test; 8000
neurons; 36x64 images, a 2022 session after the 0.25 down-scale). Trials are Ray tasks holding 1/k of one GPU and
1/k of the CPUs, the same placement Ray Tune gives trials with fractional `gpus`; the session travels through
Ray's object store once, as a search's cached sessions would. The reference is one trial per GPU, measured in the
same run; the ratio is trials/hour/GPU at k per GPU over that. Needs CUDA: without it, it says so and exits 0
writing nothing, except with ``--quick``, which runs the same path on the CPU (Ray told of one GPU, the trials
training on the CPU): it proves the bench runs and measures nothing.

    python bench/gpu_packing.py [--epochs 3] [--trials 4] [--neurons 8000] [--amp]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import command_line, gpu_name, parse_args, write_result  # noqa: E402
from search import environment  # noqa: E402

PACKINGS = (1, 2, 4)


def synthetic_session(n_neurons: int, n_trials: int = 6000, seed: int = 0):
    """A static session of a real 2022 session's size (6000 trials); responses from a random
    linear-nonlinear-Poisson model."""
    from sensorium_models.data.session import Session

    rng = np.random.default_rng(seed)
    n_train, n_val, shape = n_trials * 3 // 4, n_trials // 12, (36, 64)
    n_test = n_trials - n_train - n_val
    n = n_train + n_val + n_test
    image_ids = np.concatenate([np.arange(n_train + n_val), n_train + n_val + np.arange(n_test) % 100])
    images = rng.normal(size=(image_ids.max() + 1, 1, *shape)).astype(np.float32)[image_ids]
    weights = (rng.normal(size=(shape[0] * shape[1], n_neurons)) / shape[0]).astype(np.float32)
    rates = np.log1p(np.exp(images.reshape(n, -1) @ weights))
    return Session(
        key="22846-10-16", name="static22846-10-16-synthetic", kind="static", path=Path("synthetic"),
        stimuli=images, responses=rng.poisson(rates).astype(np.float32),
        behavior=rng.normal(size=(n, 3)).astype(np.float32), pupil_center=rng.normal(size=(n, 2)).astype(np.float32),
        tiers=np.array(["train"] * n_train + ["validation"] * n_val + ["test"] * n_test), trial_ids=np.arange(n),
        unit_ids=np.arange(n_neurons) + 1, coords=rng.uniform(-400, 400, (n_neurons, 3)).astype(np.float32),
        response_std=np.ones(n_neurons, np.float32), image_ids=image_ids, order=rng.permutation(n))


def one_trial(sessions: list, model_cfg: dict, trainer_cfg: dict, seed: int, threads: int) -> None:
    """Build and train one model on the GPU share Ray gave this task (Ray hands over the stored sessions)."""
    import torch

    from sensorium_models.models import build_model
    from sensorium_models.training import train

    torch.set_num_threads(threads)
    train(build_model(sessions, model_cfg, seed), sessions, trainer_cfg, seed)


def warm_up(device: str) -> None:
    """Pay the worker's one-off costs (imports, CUDA context) before any level is timed."""
    import torch

    import sensorium_models.training  # noqa: F401

    torch.zeros(1, device=device)


def measure(sessions_ref, per_gpu: int, trials: int, cpus: int, model_cfg: dict, trainer_cfg: dict) -> float:
    """Wall seconds for ``trials`` trials, ``per_gpu`` at a time on the one GPU."""
    import ray

    threads = max(1, cpus // per_gpu)
    task = ray.remote(one_trial).options(num_gpus=1 / per_gpu, num_cpus=threads)
    started = time.perf_counter()
    ray.get([task.remote(sessions_ref, model_cfg, trainer_cfg, seed, threads) for seed in range(trials)])
    return time.perf_counter() - started


def table(rows: list[dict], header: str) -> str:
    lines = [header, "", "| trials per GPU | `gpus` per trial | CPUs per trial | trials | wall s | trials/hour/GPU |"
             " ratio vs 1 per GPU |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['k']} | {1 / r['k']:g} | {r['threads']} | {r['trials']} | {r['wall']:.1f} | "
                     f"{r['rate']:.1f} | {r['ratio']:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial (default 3)")
    parser.add_argument("--trials", type=int, default=4, help="trials per packing level, a multiple of 4")
    parser.add_argument("--neurons", type=int, default=8000)
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (trainer.amp)")
    parser.add_argument("--session-trials", type=int, default=6000, help="trials of the session (default 6000)")
    args = parse_args(parser, argv, {"epochs": 1, "neurons": 10, "session_trials": 24})
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.quick:
        print("gpu_packing: needs a CUDA GPU (torch.cuda.is_available() is False here); nothing measured, "
              f"{args.out / 'gpu_packing.md'} not written", file=sys.stderr)
        return 0
    if args.trials % max(PACKINGS):
        parser.error(f"--trials must be a multiple of {max(PACKINGS)}, found {args.trials}")
    environment.apply(None)
    import ray
    import yaml

    model_cfg = yaml.safe_load((ROOT / "configs" / "model" / "sota2022.yaml").read_text())
    trainer_cfg = {"max_epochs": args.epochs, "patience": args.epochs, "device": device, "amp": args.amp}
    cpus = len(os.sched_getaffinity(0))
    ray.init(num_cpus=cpus, num_gpus=1, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})  # the tasks import sensorium_models
    try:
        sessions_ref = ray.put([synthetic_session(args.neurons, args.session_trials)])
        k = max(PACKINGS)  # as many warm workers as the most packed level uses
        warm = ray.remote(warm_up).options(num_gpus=1 / k, num_cpus=max(1, cpus // k))
        ray.get([warm.remote(device) for _ in range(k)])
        rows = []
        for k in PACKINGS:
            wall = measure(sessions_ref, k, args.trials, cpus, model_cfg, trainer_cfg)
            rows.append({"k": k, "threads": max(1, cpus // k), "trials": args.trials, "wall": wall,
                         "rate": args.trials / (wall / 3600)})
            rows[-1]["ratio"] = rows[-1]["rate"] / rows[0]["rate"]
            print(f"{k} per GPU: {args.trials} trials in {wall:.1f}s -> {rows[-1]['rate']:.1f} trials/hour/GPU, "
                  f"{rows[-1]['ratio']:.2f}x the 1-per-GPU reference", flush=True)
    finally:
        ray.shutdown()
    header = (f"# GPU packing: SENSORIUM 2022 baseline, {args.epochs} epochs per trial\n\n"
              f"{gpu_name()}, {cpus} CPUs, torch {torch.__version__}, amp={args.amp}; one synthetic "
              f"session of {args.session_trials} trials x {args.neurons} neurons, 36x64 images. `{command_line()}`")
    print(f"wrote {write_result('gpu_packing', table(rows, header), args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
