"""Shared by every benchmark: the machine-and-versions header, markdown tables, and atomic result files."""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from importlib import metadata
from pathlib import Path

from sensorium_models.atomic import atomic_path

RESULTS = Path(__file__).resolve().parent / "results"
QUICK = Path(__file__).resolve().parent / "data" / "quick"  # a --quick run's tables: never bench/results/
DEFAULT_PACKAGES = ("torch", "numpy", "ray", "optuna", "mlflow")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name() -> str:
    """The CUDA device's name, or ``none``."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (x{torch.cuda.device_count()})"
    return "none"


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def header(title: str, packages: tuple[str, ...] = DEFAULT_PACKAGES) -> str:
    """A markdown title plus the machine (CPU model, cores usable by this process, GPU) and versions."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import torch

    versions = ", ".join(f"{name} {package_version(name)}" for name in packages)
    return "\n".join([
        f"# {title}",
        "",
        f"- Machine: {cpu_model()}, {usable} usable cores of {os.cpu_count()}, torch threads "
        f"{torch.get_num_threads()}, GPU: {gpu_name()}",
        f"- Python {platform.python_version()}; {versions}",
        f"- Load average at start (1/5/15 min): {load_average()} (the CPU is shared with other jobs)",
        "",
    ])


def load_average() -> str:
    """The 1/5/15-minute load averages, to show how busy a shared machine was."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def table(columns: list[str], rows: list[list]) -> str:
    """A markdown table; floats keep 4 significant digits."""
    def cell(value) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def command_line() -> str:
    """The command that reproduces this run, from the repository root."""
    script = os.path.relpath(sys.argv[0], Path(__file__).resolve().parent.parent)
    return "PYTHONPATH=. python " + " ".join(shlex.quote(a) for a in [script, *sys.argv[1:]])


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None, quick: dict) -> argparse.Namespace:
    """``parser.parse_args(argv)`` plus the two options every benchmark has: ``--quick``, its smallest size
    (``quick``'s values become the defaults: it proves the bench still runs, CI runs it, and it measures
    nothing), and ``--out``, the folder its table goes to (bench/results/; bench/data/quick/ with --quick)."""
    parser.add_argument("--quick", action="store_true",
                        help="smallest size: proves the bench runs, measures nothing; its table goes to --out")
    parser.add_argument("--out", type=Path, help=f"folder for the table (default {RESULTS.parent.name}/"
                        f"{RESULTS.name}/; with --quick {QUICK.relative_to(RESULTS.parent.parent)}/)")
    if parser.parse_known_args(argv)[0].quick:
        parser.set_defaults(**quick)
    args = parser.parse_args(argv)
    args.out = args.out or (QUICK if args.quick else RESULTS)
    return args


def write_result(name: str, text: str, folder: Path = RESULTS) -> Path:
    """Write ``<folder>/<name>.md`` atomically and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.md"
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return target
