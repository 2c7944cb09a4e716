"""``make bench``: every benchmark script in bench/ at a CPU-friendly size, one after another.

A benchmark script is a ``bench/*.py`` with a ``__main__`` guard (this file aside). Those listed in ``SIZES``
get their CPU-friendly arguments; any other runs with its own defaults. Each writes its table to
bench/results/; a full run also writes bench/results/run_all.md: per script, the command, exit status, wall time.
With ``--quick`` every script runs at its smallest size instead (its own ``--quick``), writing its table and
run_all.md to ``--out`` (default bench/data/quick/), never to bench/results/: it proves the benches still run.

    PYTHONPATH=. python bench/run_all.py [--only train_speed search_efficiency] [--timeout 900] [--quick]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import QUICK, RESULTS, header, table, write_result  # noqa: E402

BENCH = ROOT / "bench"
# CPU-friendly sizes; the scripts' own defaults are the full sizes where those differ.
SIZES = {
    "load_sessions": ["--trials", "1500", "--neurons", "2000"],
    "submission_write": ["--trials", "60", "--fraction-trials", "10", "--neurons", "2000"],
    "train_speed": ["--trials", "240", "--neurons", "1000", "--epochs", "3", "--rounds", "2", "--threads", "1"],
    # The 8-seed table of every option (search_efficiency_options.md) takes hours here: its reproduce line.
    "search_efficiency": ["--trials", "400", "--samples", "16", "--epochs", "8", "--grace", "2", "--seeds", "0", "1",
                          "2", "--strategies", "random, no early stopping", "shipped",
                          "TPE + ASHA, Tune's OptunaSearch (before)", "--name", "search_efficiency_small"],
    "ground_truth": ["--seeds", "0", "1", "2", "--epochs", "100", "--promote"],  # ~25 min on 2 cores
    "model_zoo": [],
    "model_evidence": ["--epochs", "4"],
    "search_overhead": [],
    "driver_scale": ["--cells", "100x10"],  # ~5 min; 1000x10 and up: see bench/results/driver_scale.md
    "tpe_scale": [],
    "gpu_packing": [],  # needs CUDA; without it, says so and writes nothing
    "scale": ["--mice", "1", "--trials", "40", "--neurons", "1000", "--steps", "3", "--repeats", "1",
              "--name", "scale_small"],
    "scale_2022": ["--preset", "tiny", "--work", "bench/data/scale2022-tiny", "--name", "scale_2022_tiny"],
}
ORDER = list(SIZES)  # the listed ones first, in this order; then any other script, by name


def benchmark_scripts() -> list[Path]:
    """``bench/*.py`` files meant to be run (they have a ``__main__`` guard), except this one."""
    found = [p for p in sorted(BENCH.glob("*.py"))
             if p.name != Path(__file__).name and 'if __name__ == "__main__"' in p.read_text()]
    return sorted(found, key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem))


def arguments(script: Path, out: Path | None) -> list[str]:
    """The script's CPU-friendly size, or its smallest writing to ``out`` when that is given (``--quick``)."""
    return ["--quick", "--out", str(out)] if out else SIZES.get(script.stem, [])


def run(script: Path, timeout: float, out: Path | None = None) -> dict:
    """Run one script from the repository root; its output streams through."""
    argv = [sys.executable, str(script.relative_to(ROOT)), *arguments(script, out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    try:
        status = subprocess.run(argv, cwd=ROOT, env=env, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        status = f"timed out after {timeout:.0f} s"
    command = "PYTHONPATH=. python " + " ".join(argv[1:])
    return {"script": script.stem, "command": f"`{command}`", "status": status,
            "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", help="script names (without .py) to run")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per script")
    parser.add_argument("--quick", action="store_true", help="every script at its smallest size (proves they run)")
    parser.add_argument("--out", type=Path, help=f"with --quick: folder for the tables (default {QUICK})")
    args = parser.parse_args(argv)
    out = (args.out or QUICK).absolute() if args.quick else None
    scripts = [s for s in benchmark_scripts() if not args.only or s.stem in args.only]
    unknown = sorted(set(args.only or []) - {s.stem for s in scripts})
    if unknown:
        print(f"--only: no benchmark script named {', '.join(unknown)} in {BENCH}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    results = []
    for script in scripts:
        print(f"== {script.name} {' '.join(arguments(script, out))}", flush=True)
        results.append(run(script, args.timeout, out))
        print(f"== {script.name}: status {results[-1]['status']}, {results[-1]['seconds']:.0f} s", flush=True)
    total = time.perf_counter() - started
    rows = [[r["script"], r["command"], r["status"], r["seconds"]] for r in results]
    text = "\n".join([
        header(f"make bench: every benchmark at {'its smallest' if out else 'a CPU-friendly'} size"),
        table(["benchmark", "command (from the repository root)", "exit status", "wall s"], rows),
        f"Total: {total:.0f} s. Each benchmark's table: bench/results/<benchmark>.md.",
        "",
    ])
    partial = args.only and not out  # a partial run keeps the last full table
    print(text if partial else write_result("run_all", text, out or RESULTS).read_text())
    return 0 if all(r["status"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
