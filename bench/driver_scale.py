"""What the search's own driver costs as trials and concurrency grow, with trials that do not train.

Per cell (trials × concurrent), the real ``search launch`` (``search.run.launch``: preflight, record, MLflow
parent run, PruningAwareOptunaSearch + ASHA, our four callbacks, Tune's experiment state on local storage)
runs against a real ``mlflow server`` on loopback, with ``bench/idle_trainable.py`` in place of training:
each epoch sleeps ``--epoch-s`` and reports a synthetic curve, checkpointing every epoch (the default
``checkpoint_every``). In-process Ray declares as many logical CPUs as trials run at once. The launch is
SIGKILLed once half the trials have ended, then ``search.run.resume`` runs it to the end; then
``search status`` (the CLI, a fresh process) and promote's top-k selection (``top_candidates``) are timed.
``bench/driver_probe.py`` records what the drivers did (CPU, peak RSS, TPE suggest times, MLflow write
times, callback hook times, storage writes).

    PYTHONPATH=. python bench/driver_scale.py --cells 100x10,1000x10,100x100
    PYTHONPATH=. python bench/driver_scale.py --quick          # CI size: minutes, not a measurement
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import command_line, header, parse_args, table, write_result  # noqa: E402
from search import environment  # noqa: E402

SCRATCH = Path(__file__).parent / "data" / "driver_scale"
CONFIG = ROOT / "configs" / "search" / "tiny.yaml"
ENDED = re.compile(r"\] trial \S+ (finished|early stopped|failed) after")


def search_yaml(data: Path, trials: int, concurrent: int, epochs: int) -> str:
    import yaml

    space = yaml.safe_load(CONFIG.read_text())
    space["data"]["paths"] = [str(data)]
    space["trainer"]["max_epochs"] = epochs
    space["search"].update(num_samples=trials, max_concurrent=concurrent,
                           asha={"grace_period": 1, "max_t": epochs, "reduction_factor": 3})
    return yaml.safe_dump(space)


def child(phase: str, cell: Path) -> int:
    """One driver (``launch`` or ``resume``) of the search in ``cell``, probed; run in its own process."""
    import functools

    environment.apply(None)
    import ray

    from bench import driver_probe
    from bench.idle_trainable import maker
    import search.run as run
    from search import terminal
    from search.config import load_spec
    from sensorium_models.compose import schemas

    settings = json.loads((cell / "cell.json").read_text())
    ray.init(num_cpus=settings["concurrent"], include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    driver_probe.install()
    counter = driver_probe.ResultCounter(cell / f"{phase}.json")
    run.build_tuner = functools.partial(run.build_tuner, callbacks=[counter])
    driver_probe.write_every(cell / f"{phase}.json")
    terminal.show()  # the progress lines on stdout, as the CLI shows them: the parent counts the ended trials
    make = maker(settings["epoch_s"], settings["checkpoint_bytes"])
    if phase == "launch":
        spec = load_spec(cell / "search.yaml", schemas(), "scale")
        result = run.launch(spec, cell / "runs", str(cell / "storage"), settings["mlflow"], None, make_trainable=make)
    else:
        result = run.resume("scale", cell / "runs", None, make_trainable=make)
    driver_probe.mark("end")
    driver_probe.write(cell / f"{phase}.json")
    return 0 if result.finished else 130


def _kill_tree(pid: int) -> None:
    """SIGKILL the driver we started, then what it started (its in-process Ray: GCS, raylet, workers)."""
    import psutil

    try:
        root = psutil.Process(pid)
        tree = root.children(recursive=True)
        root.kill()
    except psutil.NoSuchProcess:
        return
    for process in tree:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs([root, *tree], timeout=60)


def _wait_for_probe(path: Path, trials_ended: int, timeout_s: float = 60) -> None:
    """Block until the probe's file (written as each trial ends) holds the ``trials_ended`` the log showed, so
    the kill loses none of the figures measured up to it and comes before the remaining trials can end (a
    fixed sleep for the 2 s writer lost the figures, or let the whole search end first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if json.loads(path.read_text())["counts"].get("trials_ended", 0) >= trials_ended:
                return
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the probe's {path} did not show {trials_ended} ended trials within {timeout_s} s")


def run_driver(phase: str, cell: Path, kill_after: int | None = None, timeout_s: float = 7200) -> dict:
    """Run one driver to its end, or SIGKILL it once ``kill_after`` trials have ended; its probe's figures."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", phase, "--cell", str(cell)]
    began, ended = time.perf_counter(), 0
    with open(cell / f"{phase}.log", "w") as log:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT)
        for line in proc.stdout:
            log.write(line)
            ended += bool(ENDED.search(line))
            if kill_after is not None and ended >= kill_after:
                _wait_for_probe(cell / f"{phase}.json", kill_after)
                _kill_tree(proc.pid)
                break
            if time.perf_counter() - began > timeout_s:
                _kill_tree(proc.pid)
                raise RuntimeError(f"{phase} of {cell} ran over {timeout_s} s")
        proc.wait()
    if kill_after is None and proc.returncode != 0:
        raise RuntimeError(f"{phase} of {cell} exited {proc.returncode}; see {cell / f'{phase}.log'}")
    figures = json.loads((cell / f"{phase}.json").read_text())
    figures["wall_s"] = time.perf_counter() - began
    figures["trials_ended_seen"] = ended
    return figures


def timed_status(cell: Path) -> tuple[float, float, float]:
    """`search status` as a user runs it (a fresh process), and in this process the trial table and
    promote's top-k selection, in seconds."""
    from search.promote import top_candidates
    from search.results import trial_rows
    from search.run import SearchRecord, load_trials

    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "search.cli", "search", "status", "scale", "--runs-dir",
                    str(cell / "runs")], check=True, cwd=ROOT, capture_output=True)
    cli = time.perf_counter() - began
    record = SearchRecord.read(cell / "runs", "scale")
    spec = record.spec(check_paths=False)
    began = time.perf_counter()
    trial_rows(load_trials(record), spec)
    rows = time.perf_counter() - began
    began = time.perf_counter()
    top_candidates(record, spec, 5)
    return cli, rows, time.perf_counter() - began


def folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def run_cell(trials: int, concurrent: int, args, data: Path) -> dict:
    from tests.mlflow_server import MlflowServer

    cell = args.scratch / f"cell-{trials}x{concurrent}"
    shutil.rmtree(cell, ignore_errors=True)
    cell.mkdir(parents=True)
    (cell / "search.yaml").write_text(search_yaml(data, trials, concurrent, args.epochs))
    epoch_s = args.epoch_s if args.epoch_s is not None else max(0.05, concurrent / args.offered)
    with MlflowServer(cell / "mlflow") as server:
        (cell / "cell.json").write_text(json.dumps({
            "trials": trials, "concurrent": concurrent, "epoch_s": epoch_s,
            "checkpoint_bytes": args.checkpoint_bytes, "mlflow": server.uri}))
        launch = run_driver("launch", cell, kill_after=trials // 2)
        resume = run_driver("resume", cell)
        status_cli, status_rows, top_k = timed_status(cell)
    left_bytes, left_files = folder_size(cell / "storage")
    return {"trials": trials, "concurrent": concurrent, "epoch_s": epoch_s, "launch": launch, "resume": resume,
            "status_cli_s": status_cli, "status_rows_s": status_rows, "top_k_s": top_k,
            "left_bytes": left_bytes, "left_files": left_files}


def rate(phase: dict) -> float:
    marks = phase["marks"]
    results = phase["counts"].get("results", 0)
    span = marks.get("last_result", 0) - marks.get("first_result", 0)
    return (results - 1) / span if results > 1 and span > 0 else float("nan")


def tpe(times: list[float], first: bool, n: int = 10) -> float:
    """Mean suggest time (ms) over the first or last ``n`` calls after Optuna's 10 random start-up ones."""
    tpe_calls = times[10:]
    part = tpe_calls[:n] if first else tpe_calls[-n:]
    return 1000 * statistics.mean(part) if part else float("nan")


def summarise(row: dict) -> dict:
    """The table's figures for one cell, from both drivers' probes."""
    launch, resume, trials = row["launch"], row["resume"], row["trials"]
    both = (launch, resume)

    def total(key: str) -> float:
        return sum(p["counts"].get(key, 0) for p in both)

    def joined(key: str) -> list[float]:
        return [t for p in both for t in p["times"].get(key, [])]

    writes = sorted(joined("mlflow_write"))
    callbacks = {}
    for phase in both:
        for key, values in phase["times"].items():
            if key.startswith("callback "):
                callbacks[key[9:]] = callbacks.get(key[9:], 0.0) + sum(values)
    workers = max(both, key=lambda p: p["peaks"].get("workers_uss_mb", 0))["peaks"]
    return {
        "results_per_s_launch": rate(launch), "results_per_s_resume": rate(resume),
        "offered_per_s": row["concurrent"] / row["epoch_s"],
        "results": int(total("results")), "checkpoints": int(total("checkpoints")),
        "cpu_per_trial_s": (launch["cpu_s"] + resume["cpu_s"]) / trials,
        "results_per_cpu_s": total("results") / (launch["cpu_s"] + resume["cpu_s"]),
        "peak_rss_mb": max(p["peak_rss_mb"] for p in both),
        "tpe_first_ms": tpe(joined("tpe_suggest"), True), "tpe_last_ms": tpe(joined("tpe_suggest"), False),
        "tpe_max_ms": 1000 * max(joined("tpe_suggest"), default=float("nan")),
        "mlflow_median_ms": 1000 * statistics.median(writes) if writes else float("nan"),
        "mlflow_p95_ms": 1000 * writes[int(0.95 * (len(writes) - 1))] if writes else float("nan"),
        "mlflow_pending_peak": max(p["peaks"].get("mlflow_pending", 0) for p in both),
        "state_kb_per_trial": total("storage_state_bytes") / trials / 1024,
        "state_files_per_trial": total("storage_state_files") / trials,
        "trial_kb_per_trial": total("storage_trial_bytes") / trials / 1024,
        "trial_files_per_trial": total("storage_trial_files") / trials,
        "snapshots": len(joined("tune_snapshot")), "snapshot_s": sum(joined("tune_snapshot")),
        "left_kb_per_trial": row["left_bytes"] / trials / 1024, "left_files_per_trial": row["left_files"] / trials,
        "restore_s": sum(resume["times"].get("tuner_restore", [])),
        "resume_first_result_s": resume["marks"].get("first_result", float("nan")),
        "resume_wall_s": resume["wall_s"], "launch_wall_s": launch["wall_s"],
        "status_cli_s": row["status_cli_s"], "status_rows_s": row["status_rows_s"], "top_k_s": row["top_k_s"],
        "callbacks_ms_per_trial": {k: 1000 * v / trials for k, v in sorted(callbacks.items())},
        "mlflow_calls_ms": {k[7:]: 1000 * statistics.median(joined(k)) for k in sorted(
            {k for p in both for k in p["times"] if k.startswith("mlflow ")})},
        "workers": workers.get("workers", 0),
        "worker_uss_mb": workers.get("workers_uss_mb", 0) / max(1, workers.get("workers", 0)),
        "worker_rss_mb": workers.get("workers_rss_mb", 0) / max(1, workers.get("workers", 0)),
    }


COLUMNS = [
    ("trials", "trials"), ("concurrent", "concurrent"), ("epoch_s", "epoch s"), ("offered_per_s", "offered results/s"),
    ("results_per_s_launch", "handled results/s (launch)"), ("results_per_s_resume", "handled results/s (resume)"),
    ("cpu_per_trial_s", "driver CPU s/trial"), ("results_per_cpu_s", "results per driver CPU s"),
    ("peak_rss_mb", "driver peak RSS MB"),
    ("tpe_first_ms", "TPE suggest ms (first 10)"), ("tpe_last_ms", "TPE suggest ms (last 10)"),
    ("mlflow_median_ms", "MLflow write ms (median)"), ("mlflow_p95_ms", "MLflow write ms (p95)"),
    ("mlflow_pending_peak", "MLflow queue peak"),
    ("state_kb_per_trial", "exp. state KB written/trial"), ("trial_kb_per_trial", "trial files KB written/trial"),
    ("trial_files_per_trial", "trial files written/trial"), ("left_kb_per_trial", "KB left/trial"),
    ("restore_s", "resume: restore s"), ("resume_first_result_s", "resume: start → 1st result s"),
    ("status_cli_s", "status CLI s"), ("top_k_s", "promote top-k s"),
    ("worker_uss_mb", "Ray worker USS MB"),
]


def growth(rows: list[dict], key: str) -> str:
    """Per-trial figure at the most trials over that at the fewest, for each concurrency measured twice."""
    out = []
    for concurrent in sorted({r["concurrent"] for r in rows}):
        same = sorted((r for r in rows if r["concurrent"] == concurrent), key=lambda r: r["trials"])
        if len(same) >= 2 and same[0]["figures"][key]:
            small, big = same[0], same[-1]
            ratio = big["figures"][key] / small["figures"][key]
            kind = "flat per trial (linear total)" if ratio < 1.5 else "grows per trial (super-linear total)"
            out.append(f"{small['trials']}→{big['trials']} trials at {concurrent} concurrent: ×{ratio:.2f} "
                       f"per trial, {kind}")
    return "; ".join(out) or "one cell per concurrency: no growth measured"


def write_table(rows: list[dict], args, name: str) -> Path:
    lines = [header("Driver scale: the search's own cost by trials × concurrency (no training)"),
             f"`{command_line()}`", "",
             table([title for _, title in COLUMNS], [[r["figures"][k] if k in r["figures"] else r[k]
                                                      for k, _ in COLUMNS] for r in rows]), ""]
    lines += ["Callback hooks of ours, driver ms per trial (launch + resume):", ""]
    hooks = sorted({h for r in rows for h in r["figures"]["callbacks_ms_per_trial"]})
    lines.append(table(["trials × concurrent", *hooks], [[f"{r['trials']}×{r['concurrent']}",
                        *[r["figures"]["callbacks_ms_per_trial"].get(h, 0.0) for h in hooks]] for r in rows]))
    calls = sorted({c for r in rows for c in r["figures"]["mlflow_calls_ms"]})
    lines += ["", "MLflow client calls from the tracker's thread, median ms:", ""]
    lines.append(table(["trials × concurrent", *calls], [[f"{r['trials']}×{r['concurrent']}",
                        *[r["figures"]["mlflow_calls_ms"].get(c, 0.0) for c in calls]] for r in rows]))
    lines += ["", "Growth with trials (same concurrency):", ""]
    for key, what in [("cpu_per_trial_s", "driver CPU per trial"), ("state_kb_per_trial", "experiment state "
                      "written per trial"), ("trial_kb_per_trial", "trial files written per trial"),
                      ("tpe_last_ms", "TPE suggest at the last trials")]:
        lines.append(f"- {what}: {growth(rows, key)}")
    lines += ["", f"{args.epochs} epochs per trial; ASHA grace 1, reduction 3; checkpoint every epoch of "
              f"{args.checkpoint_bytes} B stand-in weights; launch SIGKILLed once half the trials ended, then "
              "resumed. Offered results/s = concurrent / epoch s (what trials could produce); handled = results "
              "the driver processed per second between its first and last result. Per trial = over both drivers "
              "÷ trials. Raw figures: bench/data/driver_scale/cell-*/{launch,resume}.json."]
    return write_result(name, "\n".join(lines) + "\n", args.out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="100x10", help="trials x concurrent, comma separated")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--offered", type=float, default=200.0, help="results/s the trials offer (sets epoch s)")
    parser.add_argument("--epoch-s", type=float, help="epoch time in seconds (instead of --offered)")
    parser.add_argument("--checkpoint-bytes", type=int, default=64 * 1024)
    parser.add_argument("--scratch", type=Path, default=SCRATCH, help="where the cells run (emptied first)")
    parser.add_argument("--child", choices=("launch", "resume"), help=argparse.SUPPRESS)
    parser.add_argument("--cell", type=Path, help=argparse.SUPPRESS)
    args = parse_args(parser, None, quick={"cells": "16x4", "epochs": 4})
    if args.child:
        return child(args.child, args.cell)
    environment.apply(None)
    from sensorium_models.data.synthetic import synthesize

    args.scratch = args.scratch.absolute()
    shutil.rmtree(args.scratch / "data", ignore_errors=True)
    (session,) = synthesize(args.scratch / "data", "static", "tiny")
    rows = []
    for cell in args.cells.split(","):
        trials, concurrent = map(int, cell.split("x"))
        row = run_cell(trials, concurrent, args, session.parent)
        row["figures"] = summarise(row)
        rows.append(row)
        (args.scratch / "rows.json").write_text(json.dumps(rows, default=str))
        print(f"{trials}x{concurrent}: {json.dumps(row['figures'])}", flush=True)
    print(write_table(rows, args, "driver_scale").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
