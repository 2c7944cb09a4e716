"""The SENSORIUM 2022 realistic preset (7 mice x 6000 trials x 8000 neurons) searched with two concurrent
trials on this node, ``data.placement: host``: what each trial holds in memory, and that nothing swapped.

The search is the product's own (``sensorium-search search launch``: Ray Tune, Optuna, MLflow), two
samples run at once, each for ``--epochs`` epochs over all training trials of the seven sessions (the
trainer has no step limit; an epoch is the smallest unit). Every second this reads /proc for the Ray
workers running a trial (descendants of the launch process titled ``ray::…train…``): peak RSS (VmHWM),
and, while both trials run, the largest PSS and USS (``smaps_rollup``) and the cache mappings' private
pages (a trial left alone holds the mapped data as private pages), plus the node's lowest
MemAvailable and the swap-out counter. The reference is the data's float32 size, read in the same run.

    PYTHONPATH=. python bench/scale_2022.py --work /tmp/scale2022 --epochs 1
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import QUICK, command_line, header, parse_args, table, write_result  # noqa: E402
from bench.trial_memory import mapped_memory, peak_rss, process_memory  # noqa: E402

MB = 1e6


def release(work: Path, preset: str) -> Path:
    """The synthetic 2022 release of ``preset`` (realistic: 7 x 6000 x 8000), unless a finished one is there."""
    from sensorium_models.data.synthetic import synthesize

    folder, done = work / f"release-2022-{preset}", work / f"release-2022-{preset}.complete"
    if not done.exists():
        synthesize(folder, kind="static", preset=preset)
        done.write_text("")
    return folder


def spec(folder: Path, cache: Path, epochs: int, batch_size: int) -> dict:
    """Two searched samples of a small Model-4-like core, each trial one CPU thread, host placement."""
    return {
        "data": {"paths": [str(folder)], "cache_dir": str(cache), "placement": "host"},
        "model": {"hidden_channels": {"choice": [8, 16]}, "layers": 2, "input_kern": 9, "hidden_kern": 5,
                  "depth_separable": False, "readout_bias_from_mean": True, "gamma_input": 1.0},
        "trainer": {"batch_size": batch_size, "lr_init": {"loguniform": [0.003, 0.03]}, "max_epochs": epochs,
                    "patience": 1, "lr_decay_steps": 1, "device": "cpu"},
        "search": {"metric": "val_corr", "mode": "max", "num_samples": 2, "max_concurrent": 2, "seed": 0,
                   "asha": {"max_t": epochs},  # the default, GP: no early stopping
                   "resources": {"cpus": 1, "gpus": 0}},
    }


def children(pid: int) -> set[int]:
    """Every process below ``pid``."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def title(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()


def meminfo(field: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"/proc/meminfo: no {field}")


def swapped_out() -> int:
    for line in Path("/proc/vmstat").read_text().splitlines():
        if line.startswith("pswpout "):
            return int(line.split()[1])
    return 0


def watch(launch: subprocess.Popen, cache: Path) -> tuple[dict[int, dict], int]:
    """Per trial worker its largest memory figures while the search runs; the lowest MemAvailable."""
    trials: dict[int, dict] = {}
    lowest = meminfo("MemAvailable")
    while launch.poll() is None:
        samples = {}
        for pid in children(launch.pid):
            try:
                name = title(pid)
                if name.startswith("ray::") and "train" in name:
                    samples[pid] = (name, process_memory(pid), mapped_memory(pid, cache), peak_rss(pid))
            except (OSError, ValueError):
                continue   # the process ended between listing and reading
        for pid, (name, memory, mapped, peak) in samples.items():
            seen = trials.setdefault(pid, {"title": name, "rss": 0, "pss": 0, "uss": 0, "private_mapped": 0,
                                           "peak_rss": 0})
            seen["peak_rss"] = max(seen["peak_rss"], peak)
            # Only while both trials run: a trial left alone holds the mapped data as its own (private) pages.
            if len(samples) >= 2:
                for key in ("rss", "pss", "uss"):
                    seen[key] = max(seen[key], memory[key])
                seen["private_mapped"] = max(seen["private_mapped"], mapped["private"])
        lowest = min(lowest, meminfo("MemAvailable"))
        time.sleep(1.0)
    return trials, lowest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "data" / "scale2022")
    parser.add_argument("--preset", default="realistic", help="realistic (7 x 6000 x 8000); tiny to try it out")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--name", default="scale_2022")
    args = parse_args(parser, None, {"preset": "tiny", "work": QUICK / "scale2022", "batch_size": 32})
    from bench.scale import data_bytes

    args.work.mkdir(parents=True, exist_ok=True)
    folder, cache = release(args.work, args.preset), args.work / "cache"
    size = data_bytes(folder, cache)
    config = args.work / "scale2022.yaml"
    config.write_text(yaml.safe_dump(spec(folder, cache, args.epochs, args.batch_size), sort_keys=False))
    text_header = header(f"Scale: the 2022 {args.preset} preset searched with two concurrent trials")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "RAY_USAGE_STATS_ENABLED": "0", "SENSORIUM_RUNS_DIR": str(args.work / "runs")}
    name = f"scale2022-{int(time.time())}"
    swap_before, started = swapped_out(), time.perf_counter()
    log = args.work / f"{name}.log"
    with open(log, "w") as sink:
        launch = subprocess.Popen([sys.executable, "-m", "search.cli", "search", "launch", str(config), "--name",
                                   name], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        trials, lowest = watch(launch, cache)
    wall, swapped = time.perf_counter() - started, swapped_out() - swap_before
    if launch.returncode != 0:
        print(f"search failed (exit {launch.returncode}); its output is in {log}", file=sys.stderr)
        return 1
    swap_total = meminfo("SwapTotal")
    rows = [[i + 1, t["title"][:40], f"{t['peak_rss'] / MB:.0f}", f"{t['pss'] / MB:.0f}", f"{t['uss'] / MB:.0f}",
             f"{t['private_mapped'] / MB:.1f}", f"{100 * t['uss'] / size:.1f} %"]
            for i, t in enumerate(sorted(trials.values(), key=lambda t: -t["peak_rss"]))]
    columns = ["trial worker", "process", "peak RSS MB", "max PSS MB, both running",
               "max USS MB, both running", "data mapped private MB, both running", "USS / data"]
    worst = max((t["uss"] for t in trials.values()), default=0)
    text = "\n".join([
        text_header,
        f"- Data: the 2022 `{args.preset}` preset (realistic: 7 synthetic mice x 6000 trials x 8000 neurons), images 36x64 after "
        f"`scale: 0.25`: {size / MB:.0f} MB in float32, memory-mapped from the cache (`data.placement: host`)",
        f"- Search: 2 samples, 2 at once, 1 CPU each, {args.epochs} epoch(s) over all train trials, batch "
        f"{args.batch_size}; spec `{json.dumps(spec(Path('DATA'), Path('CACHE'), args.epochs, args.batch_size))}`",
        f"- Wall time of the search: {wall:.0f} s. Reproduce: `{command_line()}`",
        "",
        table(columns, rows),
        f"- Largest USS of a trial worker (what it holds alone: Python, torch, Ray, model, optimiser, batches) "
        f"**{worst / MB:.0f} MB = {100 * worst / size:.1f} % of the data** (goal for an extra packed trial "
        f"<= 10 %); its private pages of the data's mapping are in the column beside.",
        f"- Node: lowest MemAvailable during the search {lowest / MB:.0f} MB of {meminfo('MemTotal') / MB:.0f} MB; "
        f"pages swapped out during it: {swapped} (swap configured: {swap_total / MB:.0f} MB).",
        "",
    ])
    print(text)
    print(f"wrote {write_result(args.name, text, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
