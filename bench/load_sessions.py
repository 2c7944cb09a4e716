"""Benchmark: a realistic static session read per file each epoch (the reference loader) vs the project's cache.

Variants, each in its own process so its peak RSS is its own:
  per-file     one epoch the way neuralpredictors' FileTreeDataset serves it: np.load of every trial's four
               files, NeuroNormalizer and the 0.25 rescale per sample, batches collated with np.stack;
  first-open   ``load_sessions`` on an empty cache: reads every file once, writes the consolidated arrays;
  second-open  ``load_sessions`` on the built cache (memory-mapped) + one epoch of batch cutting.
Goals: per-file / second-open >= 10x; peak RSS <= 1.5x the session's arrays.

    PYTHONPATH=. python bench/load_sessions.py            # synthesises the session into bench/data/ once
    PYTHONPATH=. python bench/load_sessions.py --session /path/to/static...-GrayImageNet-...
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import QUICK, command_line, header, parse_args, write_result  # noqa: E402

BATCH_SIZE = 64
VARIANTS = ("per-file", "first-open", "second-open")


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def batches(n: int, seed: int = 0):
    order = np.random.default_rng(seed).permutation(n)
    return [order[start:start + BATCH_SIZE] for start in range(0, n, BATCH_SIZE)]


def per_file_epoch(folder: Path) -> int:
    """One epoch as the reference serves it: four np.load and a normalise + rescale per sample."""
    from sensorium_models.data.normalize import Rescale

    def stat(modality: str, name: str) -> np.ndarray:
        return np.load(folder / "meta" / "statistics" / modality / "all" / f"{name}.npy")

    image_mean, image_std = stat("images", "mean"), stat("images", "std")
    std = stat("responses", "std")
    threshold = 0.01 * np.nanmean(std)
    precision = np.where(std > threshold, 1 / np.maximum(std, threshold), 1 / threshold)
    behavior_precision = 1 / stat("behavior", "std")
    eye_mean, eye_std = stat("pupil_center", "mean"), stat("pupil_center", "std")
    n = len(np.load(folder / "meta" / "trials" / "tiers.npy"))
    rescale = Rescale(*np.load(folder / "data" / "images" / "0.npy").shape[1:], 0.25)
    for batch in batches(n):
        samples = []
        for i in batch:
            load = lambda modality: np.load(folder / "data" / modality / f"{i}.npy")
            samples.append((
                rescale((load("images") - image_mean) / image_std),
                load("responses") * precision,
                load("behavior") * behavior_precision,
                (load("pupil_center") - eye_mean) / eye_std,
            ))
        [np.stack(field).astype(np.float32) for field in zip(*samples)]
    return n


def open_cached(session_path: Path, cache: Path):
    from sensorium_models.data import load_sessions

    (session,) = load_sessions({"paths": [str(session_path)], "cache_dir": str(cache)})
    return session


def cut_epoch(session) -> None:
    """One epoch of minibatches cut from the memory-mapped arrays."""
    arrays = (session.stimuli, session.responses, session.behavior, session.pupil_center)
    for batch in batches(session.n_trials):
        index = np.sort(batch)
        [np.ascontiguousarray(array[index]) for array in arrays]


def child(variant: str, session_path: Path, cache: Path) -> dict:
    import sensorium_models.data  # noqa: F401  (imports count towards the baseline, not the variant)

    baseline = peak_rss()
    start = time.perf_counter()
    if variant == "per-file":
        per_file_epoch(session_path)
    else:
        session = open_cached(session_path, cache)
        if variant == "second-open":
            cut_epoch(session)
    seconds = time.perf_counter() - start
    return {"variant": variant, "seconds": seconds, "peak_rss": peak_rss(), "baseline_rss": baseline}


def run_variant(variant: str, session_path: Path, cache: Path) -> dict:
    command = [sys.executable, __file__, "--variant", variant, "--session", str(session_path), "--cache", str(cache)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])


def find_session(data: Path) -> Path | None:
    return next(iter(sorted(p for p in data.glob("static*") if p.is_dir())), None)


def ensure_session(data: Path, trials: int, neurons: int) -> Path:
    """The synthetic session under ``data``, written once by a child process: the kernel carries a process's
    peak RSS across fork + exec into ``ru_maxrss``, so this process must stay small for the variants'."""
    if find_session(data) is None:
        code = ("import sys; from sensorium_models.data.synthetic import synthesize; "
                "synthesize(sys.argv[1], kind='static', preset='realistic', sessions=1, trials=int(sys.argv[2]), "
                "neurons=int(sys.argv[3]), seed=0)")
        subprocess.run([sys.executable, "-c", code, str(data), str(trials), str(neurons)], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    return find_session(data)


def warm_page_cache(folder: Path) -> None:
    """Read every file once, so no variant pays for the disk and the order of variants does not matter."""
    for file in folder.rglob("*.npy"):
        file.read_bytes()


def report(session_path: Path, results: dict[str, dict], command: str) -> str:
    session = open_cached(session_path, Path(results["second-open"]["cache"]))
    arrays = sum(a.nbytes for a in (session.stimuli, session.responses, session.behavior, session.pupil_center))
    on_disk = sum(f.stat().st_size for f in session_path.rglob("*") if f.is_file())
    mib = 2**20
    reference = results["per-file"]["seconds"]
    lines = [
        header("load_sessions: per-file reading vs the consolidated cache", ("numpy",)).rstrip("\n"),
        f"- session: `{session_path.name}`, {session.n_trials} trials, {session.n_neurons} neurons, "
        f"images {tuple(np.load(session_path / 'data/images/0.npy').shape)} -> {session.stimuli.shape[1:]}; "
        f"{on_disk / mib:.0f} MiB on disk ({4 * session.n_trials} trial files)",
        f"- arrays after load (stimuli + responses + behavior + pupil_center, float32): {arrays / mib:.0f} MiB",
        "- per-file = one epoch the way FileTreeDataset serves it (4 np.load + NeuroNormalizer + rescale per "
        "sample, np.stack per batch of 64; the rescale is the project's bilinear, since scikit-image, which the "
        "reference uses, is not installed here); files warm in the OS page cache for every variant; the machine "
        f"is shared (load average {os.getloadavg()[0]:.1f} at the end of the run)",
        f"- seconds: the fastest of {len(results['per-file']['all_seconds'])} runs per variant (all runs in the "
        "last column), each in a fresh process; peak RSS: the highest, by resource.getrusage in that process",
        "",
        "| variant | seconds | speed-up vs per-file | peak RSS (MiB) | peak RSS / arrays | RSS above imports / arrays "
        "| all runs (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant in VARIANTS:
        r = results[variant]
        lines.append(f"| {variant} | {r['seconds']:.2f} | {reference / r['seconds']:.1f}x | {r['peak_rss'] / mib:.0f} "
                     f"| {r['peak_rss'] / arrays:.2f}x | {(r['peak_rss'] - r['baseline_rss']) / arrays:.2f}x "
                     f"| {', '.join(f'{s:.2f}' for s in r['all_seconds'])} |")
    lines += ["", f"Reproduce: `{command}`", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--session", type=Path, help="an existing static session folder (default: synthesise one)")
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data" / "load_sessions")
    parser.add_argument("--trials", type=int, default=6000)
    parser.add_argument("--neurons", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant; the fastest counts")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parse_args(parser, None, {"data": QUICK / "load_sessions", "trials": 40, "neurons": 30, "repeats": 1})
    if args.variant:
        print(json.dumps(child(args.variant, args.session, args.cache)))
        return 0

    session_path = (args.session or ensure_session(args.data, args.trials, args.neurons)).absolute()
    cache = args.data / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    warm_page_cache(session_path)
    results = {}
    for variant in VARIANTS:
        runs = []
        for _ in range(args.repeats):
            if variant == "first-open":
                shutil.rmtree(cache, ignore_errors=True)
            runs.append(run_variant(variant, session_path, cache))
        # the fastest run (the least disturbed by other load), the highest peak RSS
        results[variant] = {**min(runs, key=lambda r: r["seconds"]), "peak_rss": max(r["peak_rss"] for r in runs),
                            "all_seconds": [r["seconds"] for r in runs], "cache": str(cache)}
        print(f"{variant}: {results[variant]['all_seconds']} s, peak RSS {results[variant]['peak_rss'] / 2**20:.0f} MiB",
              flush=True)
    table = report(session_path, results, command_line())
    write_result("load_sessions", table, args.out)
    print(table)
    print(f"per-file / second-open: {results['per-file']['seconds'] / results['second-open']['seconds']:.1f}x "
          f"(goal >= 10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
