"""Launch, resume and inspect a search: Ray (in-process on loopback, or a cluster), the Tuner, the record.

A search is known by its name. Its record (where its Tune experiment and MLflow runs live) and its
validated YAML are written beside the Tune experiment, on the search's storage (a folder or ``s3://…``),
so a fresh machine resumes, inspects or promotes it given ``--storage``; ``<runs>/searches/<name>/``
keeps a copy of the record, so on the machine that launched it the name alone is enough.
Ray is imported at the top: callers apply ``search.environment`` before they import this module.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import optuna
import ray
from ray import tune

from search import environment
from search import storage as store
from search.checkpoints import CheckpointPruner
from search.cluster_growth import cluster_growth
from search.config import SearchSpec, check_name, parse_spec
from search.mlflow_sync import backfill
from search.mlflow_writer import finish, wait_s, writer_for
from search.preflight import preflight
from search.progress import EarlyStopMarker, ProgressPrinter
from search.resources import check_resources, wait_or_refuse
from search.objective import OBJECTIVE
from search.results import (FAILED, TrialRow, best_row, nothing_to_resume, search_finished, summary_line,
                            trial_rows)
from search.searcher import build_scheduler, build_searcher, build_stop, check_new_study
from search.tracking import (MlflowTracker, check_store, default_tracking_uri, end_run, open_experiment,
                             start_search_run, tag_ray_address)
from search.trainable import trainable, trial_dirname
from search.trial_runs import TrialRuns
from search.tune_state import saved_trials
from sensorium_models.compose import schemas
from sensorium_models.errors import UserError

RECORD_DIR = "sensorium-search"  # in the Tune experiment folder: the record, the YAML, the promotion
log = logging.getLogger(__name__)


def absolute_storage(location: str) -> str:
    return location if store.is_uri(location) else str(Path(location).absolute())


@dataclass
class SearchRecord:
    """Where a search's pieces live; written once at launch, beside the Tune experiment."""

    name: str
    experiment_path: str   # Tune's experiment folder (storage_path/name), local or a URI
    tracking_uri: str
    experiment_id: str | None = None   # None until the launch reached MLflow (written before it)
    parent_run_id: str | None = None

    @staticmethod
    def folder(runs: Path, name: str) -> Path:
        """The launching machine's copy of the record."""
        return runs / "searches" / check_name(name)

    @property
    def storage_folder(self) -> str:
        """The search's own folder on its storage, inside the Tune experiment folder."""
        return store.join(self.experiment_path, RECORD_DIR)

    def write(self, runs: Path, spec: SearchSpec) -> None:
        text = json.dumps(asdict(self), indent=2)
        store.write_text(store.join(self.storage_folder, "search.yaml"), spec.text)
        store.write_text(store.join(self.storage_folder, "record.json"), text)
        store.write_text(str(self.folder(runs, self.name) / "record.json"), text)

    def tracked(self, runs: Path, spec: SearchSpec) -> "SearchRecord":
        """This record with its MLflow experiment and parent run (found by name, else made, and RUNNING),
        written back when they were not in it yet."""
        experiment_id = self.experiment_id or open_experiment(self.tracking_uri, runs)
        record = replace(self, experiment_id=experiment_id,
                         parent_run_id=start_search_run(self.tracking_uri, experiment_id, spec))
        if self.parent_run_id is None:
            record.write(runs, spec)
        return record

    def remove(self, runs: Path) -> None:
        """Delete what ``write`` wrote, with the folders it made, for a launch that never began: the
        experiment folder (checked new by launch), the record's copy, and the runs folders left empty."""
        store.remove_folder(self.experiment_path)
        store.remove_folder(str(self.folder(runs, self.name)))
        for folder in (runs / "searches", runs / "ray_results", runs):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: anything else there is not this launch's

    @classmethod
    def read(cls, runs: Path, name: str, storage: str | None = None, tracking_uri: str | None = None) -> "SearchRecord":
        """From ``storage`` (the folder or URI given to launch) when given, else from the runs folder's copy.
        ``tracking_uri`` replaces the recorded MLflow address (a server reached another way)."""
        if storage is not None:
            store.check(absolute_storage(storage))
            experiment_path = store.join(absolute_storage(storage), check_name(name))
            text = store.read_text(store.join(experiment_path, RECORD_DIR, "record.json"))
            if text is None:
                known = [n for n in store.list_folders(absolute_storage(storage))
                         if store.exists(store.join(absolute_storage(storage), n, RECORD_DIR, "record.json"))]
                raise UserError(f"search {name!r}: no record under --storage {storage} "
                                f"(searches there: {', '.join(known) or 'none'})")
            where = store.join(experiment_path, RECORD_DIR, "record.json")
            record = replace(cls.parse(text, where), experiment_path=experiment_path)  # where it is now
        else:
            path = cls.folder(runs, name) / "record.json"
            if not path.exists():
                known = sorted(p.name for p in (runs / "searches").glob("*/") if (p / "record.json").exists())
                raise UserError(f"search {name!r}: no record at {path} (searches under {runs}: "
                                f"{', '.join(known) or 'none'}; on another machine, pass --storage)")
            record = cls.parse(store.read_text(str(path)), str(path))
        return replace(record, tracking_uri=tracking_uri) if tracking_uri else record

    @classmethod
    def parse(cls, text: str, where: str) -> "SearchRecord":
        """The record ``write`` wrote; anything else in its place is one line naming the file."""
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError) as err:
            raise UserError(f"{where}: expected the search's record (JSON with name, experiment_path, "
                            f"tracking_uri), found something else ({err})") from None

    def spec(self, check_paths: bool = True) -> SearchSpec:
        from sensorium_models.yaml_file import parse_yaml

        where = store.join(self.storage_folder, "search.yaml")
        text = store.read_text(where)
        if text is None:
            raise UserError(f"search {self.name!r}: no search.yaml at {where}")
        return parse_spec(parse_yaml(text, where), schemas(), self.name, where, check_paths=check_paths)


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
    """Ship this checkout's two packages and the worker settings to the cluster's workers, which need not
    have either."""
    import search
    import sensorium_models

    packages = [str(Path(p.__file__).parent) for p in (search, sensorium_models)]
    return {"py_modules": packages, "excludes": ["__pycache__", "*.pyc"], "env_vars": environment.worker_env()}


def local_nodes(gpus_needed: float) -> list[dict[str, float]]:
    """What an in-process Ray will offer, known before starting it (torch is imported only to count GPUs)."""
    gpus = 0
    if gpus_needed:
        import torch

        gpus = torch.cuda.device_count()
    return [{"CPU": float(len(os.sched_getaffinity(0))), "GPU": float(gpus)}]


def cluster_nodes() -> list[dict[str, float]]:
    return [node["Resources"] for node in ray.nodes() if node["Alive"]]


@dataclass
class SearchResult:
    """What a launch or resume left: the search's record, its trials, and whether it ran to its end."""

    record: SearchRecord
    spec: SearchSpec = field(repr=False)
    trials: list[TrialRow]
    finished: bool  # every trial ran; False when interrupted (``resume`` continues it)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def best(self) -> TrialRow | None:
        return best_row(self.trials, self.spec.settings.objective)

    @property
    def all_failed(self) -> bool:
        return bool(self.trials) and all(row.state == FAILED for row in self.trials)

    def summary(self) -> str:
        return summary_line(self.trials, self.spec)


def launch(spec: SearchSpec, runs: Path, storage: str | None, tracking_uri: str | None,
           address: str | None, make_trainable=trainable) -> SearchResult:
    """A new search. Its record and YAML are written first, before the slow checks, Ray and MLflow, so a kill
    at any moment leaves a search that ``resume`` continues, or starts if no trial had; a check that refuses
    the search (the data, the model, the cluster's resources) removes them again. ``make_trainable`` (the
    spec → Tune trainable; ``search.trainable``'s by default) exists for the driver-scale benchmark."""
    if SearchRecord.folder(runs, spec.name).exists():
        raise UserError(f"search {spec.name!r} exists under {runs}; `search resume {spec.name}`, or pick another --name")
    storage = absolute_storage(storage or str(runs / "ray_results"))
    store.check(storage)
    experiment_path = store.join(storage, spec.name)
    if store.exists(experiment_path):
        raise UserError(f"--storage: {experiment_path} exists already; pick another --name or --storage")
    tracking_uri = tracking_uri or default_tracking_uri(runs)
    check_store(tracking_uri)  # like the storage: refused before Ray starts and before the record is written
    if address is None:
        check_resources(spec.settings.resources, local_nodes(spec.settings.resources.gpus))
    record = SearchRecord(spec.name, experiment_path, tracking_uri)
    record.write(runs, spec)
    try:
        preflight(spec, schemas())
        if spec.settings.optuna_storage is not None:
            check_new_study(spec.settings.optuna_storage, spec.name, f"{spec.source}: " if spec.source else "")
        ray_address = connect_ray(address)
        if address is not None:
            resources = spec.settings.resources
            waits = wait_or_refuse(resources, cluster_nodes(), cluster_growth(resources.autoscaling))
            if waits:
                log.warning(waits)
    except UserError:  # the search never was: the same name can be launched again
        record.remove(runs)
        raise
    record = record.tracked(runs, spec)
    try:  # interrupted before the fit: the parent run ends KILLED and `resume` starts the Tuner afresh
        tag_ray_address(record.tracking_uri, record.parent_run_id, ray_address)
        log.info(f"search {spec.name}: {spec.settings.num_samples} trials, {spec.settings.max_concurrent} at a "
                 f"time, {len(spec.searched_names())} searched keys; Ray {ray_address}")
        log.info(f"  Tune experiment {experiment_path}\n  MLflow {record.tracking_uri} (parent run "
                 f"{record.parent_run_id})")
        tuner = build_tuner(spec, record, storage, make_trainable=make_trainable)
    except BaseException:
        end_run(record.tracking_uri, record.parent_run_id, "KILLED")
        raise
    return _fit(tuner, spec, record)


def resume(name: str, runs: Path, address: str | None, storage: str | None = None,
           tracking_uri: str | None = None, make_trainable=trainable) -> SearchResult:
    record = SearchRecord.read(runs, name, storage, tracking_uri)
    spec = record.spec()
    preflight(spec, schemas())
    trials = load_trials(record, required=False)  # a cut-short state stops here, before Ray: Tune would start anew
    record = record.tracked(runs, spec)  # the parent run, RUNNING again (or made: launch was killed before it)
    if trials:  # what the tracker could not write last time (its server away), so the resumed runs are whole
        log.info(sync(record, spec, trials).line(name))
    if trials and nothing_to_resume(trials, spec.settings.num_samples):
        end_run(record.tracking_uri, record.parent_run_id, "FINISHED")  # nothing left to run: no Ray to start
        return SearchResult(record, spec, trial_rows(trials, spec), True)
    ray_address = connect_ray(address)
    tag_ray_address(record.tracking_uri, record.parent_run_id, ray_address)
    path, filesystem = store.tune_storage(record.experiment_path)
    if tune.Tuner.can_restore(path, storage_filesystem=filesystem):
        log.info(f"search {name}: resuming from {record.experiment_path}; Ray {ray_address}")
        tuner = tune.Tuner.restore(path, trainable=make_trainable(spec), resume_errored=True,
                                   storage_filesystem=filesystem)
        _track_into(tuner, record.tracking_uri)
    else:  # launch was interrupted before Tune saved its first state (the record is written before it)
        log.info(f"search {name}: launch was interrupted before any trial; starting it now; Ray {ray_address}")
        tuner = build_tuner(spec, record, record.experiment_path.rsplit("/", 1)[0], make_trainable=make_trainable)
    return _fit(tuner, spec, record)


def _track_into(tuner, tracking_uri: str) -> None:
    """Point the restored Tuner's MLflow tracker (pickled at launch) at the store this resume was given."""
    if getattr(tuner, "_local_tuner", None) is None:  # Ray Client: the Tuner lives on the cluster, as launched
        return
    for callback in tuner._local_tuner.get_run_config().callbacks or []:
        if isinstance(callback, MlflowTracker):
            callback.tracking_uri = tracking_uri


def build_tuner(spec: SearchSpec, record: SearchRecord, storage: str, reuse_actors: bool = True, callbacks=(),
                make_trainable=trainable):
    """The Tuner of a new search: ``search.algorithm``'s searcher and scheduler, checkpoint, MLflow, progress.

    Both compare trials by ``OBJECTIVE``, the running best of the search metric. ``reuse_actors=False`` and
    extra ``callbacks`` exist for the benchmarks, and ``make_trainable`` for one whose trials do not train.
    """
    settings = spec.settings
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tune_config = tune.TuneConfig(
        metric=OBJECTIVE, mode=settings.mode,
        search_alg=build_searcher(settings, spec.points, spec.name, spec.define_by_run()),
        scheduler=build_scheduler(settings),
        num_samples=settings.num_samples, max_concurrent_trials=settings.max_concurrent, reuse_actors=reuse_actors,
        trial_dirname_creator=trial_dirname,
    )
    storage_path, filesystem = store.tune_storage(storage)
    run_config = tune.RunConfig(
        name=spec.name, storage_path=storage_path, storage_filesystem=filesystem, verbose=0,
        stop=build_stop(settings),
        callbacks=[EarlyStopMarker(settings.asha.max_t),  # first: the others read what it marks
                   MlflowTracker(record.tracking_uri, record.experiment_id, record.parent_run_id, spec),
                   ProgressPrinter(spec), CheckpointPruner(), *callbacks],
        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        # No rotation: a saved snapshot may name any checkpoint of a running trial (search/checkpoints.py).
        checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
    )
    return tune.Tuner(make_trainable(spec), param_space=spec.param_space(), tune_config=tune_config,
                      run_config=run_config)


def _fit(tuner, spec: SearchSpec, record: SearchRecord) -> SearchResult:
    """Run to the end; the parent run ends FINISHED, or KILLED when Tune was interrupted with trials left."""
    status = "KILLED"
    try:
        tuner.fit()
        trials = load_trials(record)  # Trial objects: Tune's Results lack the early-stopped/finished state
        unfinished = not search_finished(trials, spec.settings.num_samples)
        status = "KILLED" if unfinished else "FINISHED"
    finally:
        writer_for(record.tracking_uri).put(f"the search's end ({status})",
                                            lambda: end_run(record.tracking_uri, record.parent_run_id, status))
        _wait_for_mlflow(record)
    return SearchResult(record, spec, trial_rows(trials, spec), not unfinished)


def _wait_for_mlflow(record: SearchRecord) -> None:
    """Give the tracker's pending writes a bounded time; if the server is still away, say so in one line."""
    left = finish(record.tracking_uri)
    if left:
        storage = record.experiment_path.rsplit("/", 1)[0]
        log.info(f"search {record.name}: MLflow is behind: {left} write(s) pending for {record.tracking_uri}, "
                 f"still unreachable after {wait_s():.0f} s; once it is back: sensorium-search search sync "
                 f"{record.name} --storage {storage}")


def sync(record: SearchRecord, spec: SearchSpec, trials: list):
    """Fill the search's MLflow runs from Tune's saved ``trials`` and their results on storage."""
    from mlflow import MlflowClient

    client = MlflowClient(record.tracking_uri)
    return backfill(client, TrialRuns(client, record.experiment_id, record.parent_run_id, spec), spec, trials)


def load_trials(record: SearchRecord, required: bool = True) -> list | None:
    """The trials of a search as Tune saved them (works while it runs, after it ended, or was killed);
    before Tune saved any, an error if ``required``, else None."""
    trials = saved_trials(*store.tune_storage(record.experiment_path))
    if trials is None and required:  # Tune writes its first snapshot when the first trial starts
        raise UserError(f"search {record.name!r}: no Tune experiment state at {record.experiment_path} yet")
    return trials
