"""Writing a 2023 main-track-size submission: the project's streamed Arrow writer vs the starter kit's pandas way.

The starter kit turns every trial's (neurons, frames) predictions into nested Python lists (``.tolist()``),
builds a DataFrame and calls ``to_parquet(compression="brotli")``. The project wraps one float32 copy per
trial in Arrow list arrays and streams row groups (``write_video_submission``). Each variant runs in its own
subprocess, starting from the same deterministic (trials, 300, neurons) float32 prediction array, so its
peak RSS (``ru_maxrss``) is its own. The pandas way needs ~40 bytes per value (≈38 GB at full size), so it
runs on a measured fraction of the trials; the ratio is taken at that same size, never extrapolated.

    PYTHONPATH=. python bench/submission_write.py [--trials 600] [--fraction-trials 30] [--neurons 8000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cpu_model, parse_args, write_result  # noqa: E402

FRAMES = 300
MICE = ["dynamic29515-10-12", "dynamic29623-4-9", "dynamic29647-19-8", "dynamic29712-5-9", "dynamic29755-2-8"]
SCRATCH = Path(__file__).parent / "data" / "submission_write"


def bench_sessions(n_trials: int, n_neurons: int) -> list:
    """Five mice sharing ``n_trials`` live-main trials of 300 frames; arrays the writer never reads are views."""
    from sensorium_models.data.session import Session

    sessions, per_mouse = [], np.array_split(np.arange(n_trials), len(MICE))
    for number, (mouse, trials) in enumerate(zip(MICE, per_mouse)):
        n = len(trials)
        zeros = lambda *shape: np.broadcast_to(np.float32(0), shape)  # noqa: E731
        sessions.append(Session(
            key=mouse, name=f"{mouse}-Video-9b4f6a1a067fe51e15306b9628efea20", kind="video", path=Path(mouse),
            stimuli=zeros(n, FRAMES, 36, 64), responses=zeros(n, FRAMES, n_neurons),
            behavior=zeros(n, FRAMES, 2), pupil_center=zeros(n, FRAMES, 2),
            tiers=np.array(["live_test_main"] * n), trial_ids=np.arange(n),
            unit_ids=np.arange(n_neurons) + 10_000 * number, coords=zeros(n_neurons, 3),
            response_std=zeros(FRAMES, n_neurons), lengths=np.full(n, FRAMES),
        ))
    return sessions


def prediction_array(n_trials: int, n_neurons: int) -> np.ndarray:
    """(trials, 300, neurons) positive float32 rates (exponential), generated trial by trial from fixed seeds."""
    predictions = np.empty((n_trials, FRAMES, n_neurons), np.float32)
    for trial in range(n_trials):
        rng = np.random.default_rng(trial)
        rng.standard_exponential((FRAMES, n_neurons), dtype=np.float32, out=predictions[trial])
    return predictions


def write_project(sessions, predictions, folder: Path, level: int) -> Path:
    from sensorium_models.submission import write_video_submission

    first = np.cumsum([0] + [s.n_trials for s in sessions])
    index = {s.name: start for s, start in zip(sessions, first)}
    return write_video_submission(
        sessions, "live_test_main", lambda s, t: predictions[index[s.name] + t], folder, compression_level=level
    )


def write_pandas(sessions, predictions, folder: Path, level: int) -> Path:
    """The starter kit's way: nested lists per trial, one DataFrame, ``to_parquet(compression='brotli')``."""
    import pandas as pd

    rows, trial = {"mouse": [], "trial_indices": [], "prediction": [], "neuron_ids": []}, 0
    for session in sessions:
        for index in range(session.n_trials):
            rows["mouse"].append(session.name)
            rows["trial_indices"].append(index)
            rows["prediction"].append(predictions[trial, 51:FRAMES].T.tolist())
            rows["neuron_ids"].append(session.unit_ids.tolist())
            trial += 1
    path = folder / "predictions_live_main.parquet.brotli"
    pd.DataFrame(rows).to_parquet(path, compression="brotli", compression_level=level, index=False)
    return path


def run_variant(variant: str, n_trials: int, n_neurons: int, level: int) -> dict:
    """One measurement, in this (child) process: build the array, time the write, report peak RSS."""
    import pandas  # noqa: F401  (imported before measuring, so RSS before writing includes the libraries)

    import sensorium_models.submission  # noqa: F401

    sessions = bench_sessions(n_trials, n_neurons)
    predictions = prediction_array(n_trials, n_neurons)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    folder = SCRATCH / f"{variant}-{n_trials}-{level}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    start = time.perf_counter()
    path = (write_project if variant == "project" else write_pandas)(sessions, predictions, folder, level)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {"variant": variant, "trials": n_trials, "neurons": n_neurons, "level": level, "seconds": seconds,
              "scored_bytes": n_trials * n_neurons * (FRAMES - 51) * 4, "array_bytes": predictions.nbytes,
              "rss_before": rss_before, "peak_rss": peak, "file_bytes": path.stat().st_size}
    if variant == "project":
        from sensorium_models.submission import validate_submission

        start = time.perf_counter()
        result["problems"] = validate_submission(path, sessions)
        result["validate_seconds"] = time.perf_counter() - start
    shutil.rmtree(folder)
    return result


def measure(variant: str, n_trials: int, n_neurons: int, level: int) -> dict:
    command = [sys.executable, __file__, "--child", variant, "--trials", str(n_trials), "--neurons", str(n_neurons),
               "--level", str(level)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result


def table(results: list[dict], args: argparse.Namespace) -> str:
    import pandas
    import pyarrow

    gb = lambda b: f"{b / 1e9:.2f}"  # noqa: E731
    lines = [
        "| variant | trials | brotli level | write s | scored predictions GB | array GB | RSS before GB "
        "| peak RSS GB | peak / array | writer's own GB (peak - before) | file GB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['variant']} | {r['trials']} | {r['level']} | {r['seconds']:.1f} | {gb(r['scored_bytes'])} "
                     f"| {gb(r['array_bytes'])} | {gb(r['rss_before'])} | {gb(r['peak_rss'])} "
                     f"| {r['peak_rss'] / r['array_bytes']:.2f} | {gb(r['peak_rss'] - r['rss_before'])} "
                     f"| {gb(r['file_bytes'])} |")
    return "\n".join(lines) + (
        f"\n\nMachine: {cpu_model()}, {platform.platform()}, "
        f"Python {platform.python_version()}, pyarrow {pyarrow.__version__}, pandas {pandas.__version__}, "
        f"numpy {np.__version__}; {os.cpu_count()} CPUs shared with other jobs (load average before the run "
        f"{args.load}); {args.neurons} neurons, {FRAMES} frames per trial of which {FRAMES - 51} "
        f"are written. Predictions: i.i.d. standard-exponential float32 seeded per trial (random mantissas "
        f"compress as poorly as a model's). RSS is the whole process: Python, numpy, pyarrow and pandas "
        f"imported before the array is built; \"before\" is after building it.\n"
    )


def summarise(results: list[dict], args: argparse.Namespace, default: int, level: int) -> str:
    """Ratios, brotli levels and the full-size run in words; results as ``main`` orders them."""
    pandas_way, same_level, project, full = results
    small, extra = pandas_way["trials"], pandas_way["peak_rss"] - pandas_way["rss_before"]
    return (
        f"- Ratio at {small} trials ({small / args.trials:.0%} of the full size), both at pyarrow's default "
        f"brotli level {default}: {pandas_way['seconds'] / same_level['seconds']:.1f}x; project at its level "
        f"{level} vs pandas at {default}: {pandas_way['seconds'] / project['seconds']:.1f}x (goal >= 10x).\n"
        f"- Brotli level {level} vs {default} (project way, {small} trials): "
        f"{same_level['seconds'] / project['seconds']:.1f}x faster, file "
        f"{project['file_bytes'] / same_level['file_bytes'] - 1:+.2%} in size. The pandas file is larger "
        f"because it stores float64.\n"
        f"- Full size ({args.trials} trials) project way: {full['seconds']:.1f} s, peak/array "
        f"{full['peak_rss'] / full['array_bytes']:.2f} (goal <= 2); validator on that file: "
        f"{full['validate_seconds']:.1f} s, problems {full['problems']}.\n"
        f"- The pandas way was not run at {args.trials} trials: at {small} trials it held "
        f"{extra / (pandas_way['scored_bytes'] / 4):.0f} bytes per written value beyond the prediction array "
        f"(≈{extra / small * args.trials / 1e9:.0f} GB at {args.trials} trials: an estimate, not a measurement). "
        f"All its figures above are measured at {small} trials.\n"
    )


def write_results(results: list[dict], args: argparse.Namespace, default: int, level: int) -> None:
    summary = summarise(results, args, default, level)
    print(summary)
    command = "PYTHONPATH=. python bench/submission_write.py " + " ".join(args.argv)
    write_result("submission_write", f"# Writing a 2023 main-track submission file\n\n`{command.strip()}`\n\n"
                                     f"{table(results, args)}\n{summary}", args.out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=600, help="trials of the full-size file (project way)")
    parser.add_argument("--fraction-trials", type=int, default=30, help="trials both ways are timed on")
    parser.add_argument("--neurons", type=int, default=8000)
    parser.add_argument("--level", type=int, default=None, help="brotli level (child only)")
    parser.add_argument("--child", choices=["project", "pandas"], help=argparse.SUPPRESS)
    args = parse_args(parser, None, {"trials": 6, "fraction_trials": 3, "neurons": 50})
    args.argv = sys.argv[1:]
    if args.child:
        print(json.dumps(run_variant(args.child, args.trials, args.neurons, args.level)))
        return
    from sensorium_models.submission.write_video import BROTLI_LEVEL
    import pyarrow as pa

    default = pa.Codec.default_compression_level("brotli")
    args.load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    small = args.fraction_trials
    results = [
        measure("pandas", small, args.neurons, default),
        measure("project", small, args.neurons, default),
        measure("project", small, args.neurons, BROTLI_LEVEL),
        measure("project", args.trials, args.neurons, BROTLI_LEVEL),
    ]
    write_results(results, args, default, BROTLI_LEVEL)

if __name__ == "__main__":
    main()
