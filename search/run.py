"""Launch, resume and inspect a search: Ray (in-process on loopback, or a cluster), the Tuner, the record.

A search is known by its name. Launch writes ``<runs>/searches/<name>/`` (the validated YAML and where
its Tune experiment and MLflow runs live), so resume, status and best need nothing but the name.
Ray is imported at the top: callers apply ``search.environment`` before they import this module.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import optuna
import ray
from ray import tune
from ray.tune import ExperimentAnalysis
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from search.config import SearchSpec, check_name, check_resources, load_spec
from search.preflight import preflight
from search.progress import EarlyStopMarker, ProgressPrinter
from search.results import summary_line, trial_rows
from search.tracking import MlflowTracker, default_tracking_uri, end_search_run, open_experiment, start_search_run
from search.trainable import trainable, trial_dirname
from sensorium_models.atomic import atomic_path
from sensorium_models.errors import UserError

def schemas() -> dict:
    """The pydantic schemas of the three config blocks, as the contracts define them."""
    from sensorium_models.data import DataConfig
    from sensorium_models.models import ModelConfig
    from sensorium_models.training import TrainerConfig

    return {"data": DataConfig, "model": ModelConfig, "trainer": TrainerConfig}


@dataclass
class SearchRecord:
    """Where a search's pieces live; written once at launch."""

    name: str
    experiment_path: str   # Tune's experiment folder (storage_path/name), local or a URI
    tracking_uri: str
    experiment_id: str
    parent_run_id: str

    @staticmethod
    def folder(runs: Path, name: str) -> Path:
        return runs / "searches" / check_name(name)

    def write(self, runs: Path, spec: SearchSpec) -> None:
        with atomic_path(self.folder(runs, self.name)) as tmp:
            tmp.mkdir()
            (tmp / "search.yaml").write_text(spec.text)
            (tmp / "record.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def read(cls, runs: Path, name: str) -> "SearchRecord":
        path = cls.folder(runs, name) / "record.json"
        if not path.exists():
            known = sorted(p.name for p in (runs / "searches").glob("*/") if (p / "record.json").exists())
            raise UserError(f"search {name!r}: no record at {path} (searches under {runs}: {', '.join(known) or 'none'})")
        return cls(**json.loads(path.read_text()))

    def spec(self, runs: Path, check_paths: bool = True) -> SearchSpec:
        return load_spec(self.folder(runs, self.name) / "search.yaml", schemas(), self.name, check_paths=check_paths)


def connect_ray(address: str | None) -> str:
    """Start Ray in-process on loopback (no address) or join a cluster; returns the address for the record.

    An already initialised Ray (a test's, a notebook's) is used as it is.
    """
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False if address is None else None,
                 runtime_env=None if address is None else _project_runtime_env(),
                 log_to_driver=False, logging_level="WARNING")
    if address and address.startswith("ray://"):
        return address  # a Ray Client connection has no GCS address of its own
    return ray.get_runtime_context().gcs_address


def _project_runtime_env() -> dict:
    """Ship this checkout's two packages to the cluster's workers, which need not have them installed."""
    import search
    import sensorium_models

    packages = [str(Path(p.__file__).parent) for p in (search, sensorium_models)]
    return {"py_modules": packages, "excludes": ["__pycache__", "*.pyc"]}


def local_nodes(gpus_needed: float) -> list[dict[str, float]]:
    """What an in-process Ray will offer, known before starting it (torch is imported only to count GPUs)."""
    gpus = 0
    if gpus_needed:
        import torch

        gpus = torch.cuda.device_count()
    return [{"CPU": float(len(os.sched_getaffinity(0))), "GPU": float(gpus)}]


def cluster_nodes() -> list[dict[str, float]]:
    return [node["Resources"] for node in ray.nodes() if node["Alive"]]


def launch(spec: SearchSpec, runs: Path, storage: str | None, tracking_uri: str | None, address: str | None) -> int:
    if SearchRecord.folder(runs, spec.name).exists():
        raise UserError(f"search {spec.name!r} exists under {runs}; `search resume {spec.name}`, or pick another --name")
    storage = storage or str(runs / "ray_results")
    storage = storage if "://" in storage else str(Path(storage).absolute())
    experiment_path = f"{storage.rstrip('/')}/{spec.name}"
    if "://" not in storage and Path(experiment_path).exists():
        raise UserError(f"--storage: {experiment_path} exists already; pick another --name or --storage")
    if address is None:
        check_resources(spec.settings.resources, local_nodes(spec.settings.resources.gpus))
    preflight(spec, schemas())
    tracking_uri = tracking_uri or default_tracking_uri(runs)
    experiment_id = open_experiment(tracking_uri, runs)
    ray_address = connect_ray(address)
    if address is not None:
        check_resources(spec.settings.resources, cluster_nodes())
    parent = start_search_run(tracking_uri, experiment_id, spec, ray_address)
    try:  # interrupted before the fit: the parent run ends KILLED and `resume` starts the Tuner afresh
        record = SearchRecord(spec.name, experiment_path, tracking_uri, experiment_id, parent)
        record.write(runs, spec)
        print(f"search {spec.name}: {spec.settings.num_samples} trials, {spec.settings.max_concurrent} at a "
              f"time, {len(spec.searched)} searched keys; Ray {ray_address}", flush=True)
        print(f"  Tune experiment {experiment_path}\n  MLflow {tracking_uri} (parent run {parent})", flush=True)
        tuner = build_tuner(spec, record, storage)
    except BaseException:
        end_search_run(tracking_uri, parent, "KILLED")
        raise
    return _fit(tuner, spec, record)


def resume(name: str, runs: Path, address: str | None) -> int:
    record = SearchRecord.read(runs, name)
    spec = record.spec(runs)
    preflight(spec, schemas())
    path = record.experiment_path
    restorable = tune.Tuner.can_restore(path)
    never_started = "://" not in path and not Path(path).exists()  # launch interrupted before Tune wrote
    if not (restorable or never_started):
        raise UserError(f"search {name!r}: no Tune experiment state at {path} (interrupted before Tune saved "
                        f"any?); move that folder aside and resume again to start the search afresh")
    ray_address = connect_ray(address)
    start_search_run(record.tracking_uri, record.experiment_id, spec, ray_address)
    if restorable:
        print(f"search {name}: resuming from {path}; Ray {ray_address}", flush=True)
        tuner = tune.Tuner.restore(path, trainable=trainable(spec), resume_errored=True)
    else:
        print(f"search {name}: launch was interrupted before any trial; starting it now; Ray {ray_address}",
              flush=True)
        tuner = build_tuner(spec, record, str(Path(path).parent))
    return _fit(tuner, spec, record)


def build_tuner(spec: SearchSpec, record: SearchRecord, storage: str, reuse_actors: bool = True, callbacks=()):
    """The Tuner of a new search: OptunaSearch (TPE, seeded) + ASHA, MLflow and progress callbacks.

    ``reuse_actors=False`` and extra ``callbacks`` exist for the overhead benchmark.
    """
    settings = spec.settings
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tune_config = tune.TuneConfig(
        metric=settings.metric, mode=settings.mode,
        search_alg=OptunaSearch(points_to_evaluate=spec.points or None, seed=settings.seed),
        scheduler=ASHAScheduler(time_attr="training_iteration", max_t=settings.asha.max_t,
                                grace_period=settings.asha.grace_period,
                                reduction_factor=settings.asha.reduction_factor),
        num_samples=settings.num_samples, max_concurrent_trials=settings.max_concurrent, reuse_actors=reuse_actors,
        trial_dirname_creator=trial_dirname,
    )
    run_config = tune.RunConfig(
        name=spec.name, storage_path=storage, verbose=0,
        callbacks=[EarlyStopMarker(settings.asha.max_t),  # first: the others read what it marks
                   MlflowTracker(record.tracking_uri, record.experiment_id, record.parent_run_id, spec),
                   ProgressPrinter(spec), *callbacks],
        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        # The two most recent checkpoints, to resume from (promotion retrains from configs and needs none).
        # Not one: a driver killed between a trial's new checkpoint and Tune's next snapshot would leave the
        # snapshot naming a checkpoint already deleted, and that trial could not be restored. Tune forces a
        # snapshot every num_to_keep checkpoints, so a small number keeps the saved state fresh.
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
    )
    return tune.Tuner(trainable(spec), param_space=spec.param_space(), tune_config=tune_config, run_config=run_config)


def _fit(tuner, spec: SearchSpec, record: SearchRecord) -> int:
    """Run to the end; the parent run ends FINISHED, or KILLED when Tune was interrupted with trials left."""
    status = "KILLED"
    try:
        tuner.fit()
        trials = load_trials(record)  # Trial objects: Tune's Results lack the early-stopped/finished state
        unfinished = [t for t in trials if t.status not in ("TERMINATED", "ERROR")]
        status = "KILLED" if unfinished else "FINISHED"
    finally:
        end_search_run(record.tracking_uri, record.parent_run_id, status)
    print(f"search {spec.name} {'interrupted' if unfinished else 'done'}: {summary_line(trial_rows(trials, spec), spec)}")
    if unfinished:
        print(f"  continue with: sensorium-search search resume {spec.name}")
        return 130
    if trials and all(t.status == "ERROR" for t in trials):
        print(f"  every trial failed; the first one's error: {trials[0].error_file}", file=sys.stderr)
        return 1
    print(f"  best configuration: sensorium-search search best {spec.name}")
    return 0


def load_trials(record: SearchRecord) -> list:
    """The trials of a search as Tune saved them (works while it runs, after it ended, or was killed)."""
    # It warns for every trial that has not reported yet; the table shows those as pending.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    try:
        return ExperimentAnalysis(record.experiment_path).trials
    except ValueError:  # Tune writes its first snapshot when the first trial starts
        raise UserError(f"search {record.name!r}: no Tune experiment state at {record.experiment_path} yet") from None
