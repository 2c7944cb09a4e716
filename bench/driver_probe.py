"""What ``bench/driver_scale.py`` measures inside one search driver, written to a JSON file every few seconds.

The driver is ``search.run.launch`` or ``resume`` unchanged; the probe only times methods of the classes
they use (TPE's suggest, each MLflow write, each callback hook of ours, Tune's experiment snapshot) and
counts the bytes and files the driver writes to storage (every storage write of a local folder goes through
``search.atomic_fs``). It is written every few seconds and as each trial ends, so a driver killed by SIGKILL
leaves its figures up to the last snapshot.
"""
from __future__ import annotations

import functools
import json
import os
import resource
import threading
import time
from collections import defaultdict
from pathlib import Path

from ray import tune

from sensorium_models.atomic import atomic_path

STARTED = time.perf_counter()
_lock = threading.Lock()
times: dict[str, list[float]] = defaultdict(list)   # what → the duration of each call, in call order
marks: dict[str, float] = {}                          # event → seconds since the process started
counts: dict[str, int] = defaultdict(int)
peaks: dict[str, float] = defaultdict(float)


def mark(event: str) -> None:
    marks.setdefault(event, time.perf_counter() - STARTED)


def _timed(owner, name: str, label: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            with _lock:
                times[label].append(time.perf_counter() - began)

    setattr(owner, name, wrapper)


def _count_storage_writes() -> None:
    """Bytes and files the driver writes to storage, split into Tune's experiment state and trial files."""
    from search.atomic_fs import _RenamedOnClose

    original = _RenamedOnClose.close

    def close(self):
        size = 0 if self.closed else self.tell()
        original(self)
        name = os.path.basename(self.target)
        kind = "state" if name.startswith(("experiment_state", "searcher-state", "callback-states",
                                           "tuner.pkl", "trainable.pkl", "basic-variant-state")) else "trial"
        with _lock:
            counts[f"storage_{kind}_files"] += 1
            counts[f"storage_{kind}_bytes"] += size

    _RenamedOnClose.close = close


def install() -> None:
    """Time and count what the driver does; call before ``launch``/``resume``."""
    from ray.tune.execution.tune_controller import TuneController

    from search import mlflow_writer
    from search.checkpoints import CheckpointPruner
    from search.progress import EarlyStopMarker, ProgressPrinter
    from search.searcher import PruningAwareOptunaSearch
    from search.tracking import MlflowTracker

    _timed(PruningAwareOptunaSearch, "suggest", "tpe_suggest")
    _timed(mlflow_writer.Writer, "_attempt", "mlflow_write")
    from mlflow import MlflowClient

    for call in ("search_runs", "create_run", "log_batch", "set_terminated", "update_run"):
        _timed(MlflowClient, call, f"mlflow {call}")
    _timed(TuneController, "save_to_dir", "tune_snapshot")
    for cls in (EarlyStopMarker, MlflowTracker, ProgressPrinter, CheckpointPruner):
        for hook in ("on_trial_start", "on_trial_result", "on_trial_complete", "on_step_end", "on_experiment_end"):
            if hook in cls.__dict__:
                _timed(cls, hook, f"callback {cls.__name__}.{hook}")
    _count_storage_writes()
    _timed(tune.Tuner, "fit", "tuner_fit")
    _timed(tune.Tuner, "restore", "tuner_restore")
    original_fit = tune.Tuner.fit

    def fit(self, *args, **kwargs):
        mark("fit_start")
        return original_fit(self, *args, **kwargs)

    tune.Tuner.fit = fit


class ResultCounter(tune.Callback):
    """Counts the results and checkpoints the driver handles, with the time of each result; writes the
    snapshot to ``path`` as each trial ends, so a parent that kills the driver on an ended trial loses nothing."""

    def __init__(self, path: Path):
        self.path = path

    def on_trial_result(self, iteration, trials, trial, result, **info):
        now = time.perf_counter() - STARTED
        mark("first_result")
        with _lock:
            counts["results"] += 1
            counts["checkpoints"] += bool(result.get("checkpoint_dir_name"))
            marks["last_result"] = now

    def on_trial_complete(self, iteration, trials, trial, **info):
        with _lock:
            counts["trials_ended"] += 1
        write(self.path)

    def on_step_end(self, iteration, trials, **info):
        from search.mlflow_writer import _writers

        pending = sum(w.pending for w in list(_writers.values()))
        with _lock:
            peaks["mlflow_pending"] = max(peaks["mlflow_pending"], pending)


def _ray_workers() -> list:
    import psutil

    return [p for p in psutil.Process().children(recursive=True) if p.name().startswith("ray::")]


def snapshot() -> dict:
    import psutil

    usage = resource.getrusage(resource.RUSAGE_SELF)
    with _lock:
        return {"cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
                "rss_mb": psutil.Process().memory_info().rss / 2**20, "elapsed_s": time.perf_counter() - STARTED,
                "times": {k: list(v) for k, v in times.items()}, "marks": dict(marks), "counts": dict(counts),
                "peaks": dict(peaks)}


def sample_workers() -> None:
    """The Ray worker processes' memory: their count and summed unique (USS) and resident (RSS) memory."""
    import psutil

    workers, uss, rss = 0, 0.0, 0.0
    for process in _ray_workers():
        try:
            info = process.memory_full_info()
        except psutil.Error:
            continue
        workers, uss, rss = workers + 1, uss + info.uss / 2**20, rss + info.rss / 2**20
    with _lock:
        if uss > peaks["workers_uss_mb"]:
            peaks.update(workers=workers, workers_uss_mb=uss, workers_rss_mb=rss)


def write_every(path: Path, every_s: float = 2.0, workers_every_s: float = 10.0) -> threading.Thread:
    """Start a daemon thread writing ``snapshot()`` to ``path`` every ``every_s`` (workers sampled less often)."""
    def loop():
        last_workers = 0.0
        while True:
            if time.monotonic() - last_workers >= workers_every_s:
                sample_workers()
                last_workers = time.monotonic()
            write(path)
            time.sleep(every_s)

    thread = threading.Thread(target=loop, name="driver-probe", daemon=True)
    thread.start()
    return thread


def write(path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(snapshot()))
