"""MLflow, written only from the driver (every write of the project's runs is here): one parent run per
search, one child run per Tune trial; one run per promotion, one child run per member.

Trials on other nodes never touch the store. A child run carries the Tune trial id as a tag, and the
tracker finds runs by that tag before creating one, so a resumed search reuses its runs instead of
duplicating them (Ray's MLflowLoggerCallback opens a new run for every resumed trial).
"""
from __future__ import annotations

import math
import subprocess
import tempfile
import time
from pathlib import Path

from ray import tune

from search.config import SearchSpec
from search.results import EARLY_STOPPED, FAILED, FINISHED, best_row, completed_state, error_reason, trial_rows
from search.space import flatten

EXPERIMENT = "sensorium-search"
PARENT_TAG = "mlflow.parentRunId"
# Result keys Tune adds itself; everything else numeric that a trial reports is a metric.
TUNE_KEYS = {"training_iteration", "timestamp", "time_this_iter_s", "time_since_restore", "pid", "done",
             "iterations_since_restore", "timesteps_since_restore", "timesteps_total", "episodes_total"}


def default_tracking_uri(runs_dir: Path) -> str:
    return f"sqlite:///{runs_dir.absolute() / 'mlflow.db'}"


def open_experiment(tracking_uri: str, runs_dir: Path, name: str = EXPERIMENT) -> str:
    """The experiment's id, creating the store and the experiment now, before any trial could race for them.

    Without a tracking server, artifacts go under ``<runs>/mlartifacts`` (MLflow's default is relative to the cwd).
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    remote = tracking_uri.startswith(("http://", "https://", "databricks"))
    location = None if remote else (runs_dir.absolute() / "mlartifacts").as_uri()
    return client.create_experiment(name, artifact_location=location)


def start_search_run(tracking_uri: str, experiment_id: str, spec: SearchSpec) -> str:
    """The search's parent run: found by its name tag when resuming, else created with the YAML attached."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.search_runs([experiment_id], f"tags.search_name = '{spec.name}' and tags.role = 'search'",
                               max_results=1)
    if found:
        run_id = found[0].info.run_id
        client.update_run(run_id, status="RUNNING")
        return run_id
    run = client.create_run(experiment_id, run_name=spec.name, tags={
        "role": "search", "search_name": spec.name, "config_hash": spec.config_hash, "git_commit": _git_commit(),
    })
    client.log_text(run.info.run_id, spec.text, "search.yaml")
    settings = flatten(spec.settings.model_dump(exclude={"start_with"}))
    client.log_batch(run.info.run_id, params=_params(settings))
    return run.info.run_id


def tag_ray_address(tracking_uri: str, run_id: str, ray_address: str) -> None:
    """Where the search's Ray runs, known only once it is connected (after the record is written)."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri).set_tag(run_id, "ray_address", ray_address)


def end_run(tracking_uri: str, run_id: str, status: str) -> None:
    from mlflow import MlflowClient

    MlflowClient(tracking_uri).set_terminated(run_id, status)


def promotion_run(tracking_uri: str, experiment_id: str, search_run_id: str, name: str, folder: str) -> str:
    """The promotion's run: the one an earlier run into ``folder`` left (it continues), else a new one."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.search_runs([experiment_id], f"tags.role = 'promotion' and tags.search_name = '{name}' "
                               f"and tags.promotion_folder = '{folder}'", order_by=["attributes.start_time DESC"],
                               max_results=1)
    if found:
        client.update_run(found[0].info.run_id, status="RUNNING")
        return found[0].info.run_id
    return client.create_run(experiment_id, run_name=f"{name}-promotion", tags={
        "role": "promotion", "search_name": name, PARENT_TAG: search_run_id, "promotion_folder": folder}).info.run_id


def log_member(tracking_uri: str, experiment_id: str, parent_id: str, blocks: dict, member,
               scores: dict[str, float]) -> None:
    """A finished member's child run, closed; nothing if an earlier run of the promotion logged it."""
    import json

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.search_runs([experiment_id], f"tags.`{PARENT_TAG}` = '{parent_id}' and tags.trial_id = "
                               f"'{member.trial_id}' and tags.seed = '{member.seed}'", max_results=1)
    if found and found[0].info.status == "FINISHED":
        return
    run_id = found[0].info.run_id if found else client.create_run(
        experiment_id, run_name=f"{member.trial_id}-seed{member.seed}", tags={
            "role": "promotion-member", PARENT_TAG: parent_id, "trial_id": member.trial_id,
            "seed": str(member.seed), "split": member.split, "folder": member.folder}).info.run_id
    params = {**{k: json.dumps(v) if isinstance(v, list) else v for k, v in flatten(blocks).items()},
              "seed": member.seed, "epochs": member.epochs}
    metrics = {"validation_corr_own_split": member.validation_corr,
               **{k.replace("/", "."): v for k, v in scores.items()}}
    client.log_batch(run_id, metrics=_metrics(metrics, 0), params=[] if found and found[0].data.params else _params(params))
    client.set_terminated(run_id, "FINISHED")


def log_promotion(tracking_uri: str, run_id: str, table: str, best_blocks: dict, best_scores: dict[str, float],
                  reused: int) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    client.log_text(run_id, table, "scores.md")
    client.log_dict(run_id, best_blocks, "best_config.yaml")
    client.log_batch(run_id, metrics=_metrics({**{k.replace("/", "."): v for k, v in best_scores.items()},
                                               "members_reused": reused}, 0))


def _git_commit() -> str:
    """The commit of the code that runs (not of the folder the user runs it from), "-dirty" if edited."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=here)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, cwd=here).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"


def reported_metrics(result: dict) -> dict[str, float]:
    """The numbers a trial reported, without the bookkeeping Tune adds to every result."""
    return {k: float(v) for k, v in result.items()
            if k not in TUNE_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _params(values: dict) -> list:
    from mlflow.entities import Param

    return [Param(k, str(v)[:6000]) for k, v in values.items()]


def _metrics(values: dict[str, float], step: int, stamp_ms: int | None = None) -> list:
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000) if stamp_ms is None else stamp_ms
    return [Metric(k, float(v), stamp, step) for k, v in values.items()]


class MlflowTracker(tune.Callback):
    """Mirror every trial into MLflow: params at start, metrics per epoch, state and reason at the end."""

    def __init__(self, tracking_uri: str, experiment_id: str, parent_run_id: str, spec: SearchSpec):
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.spec = spec
        self._client = None
        self._runs: dict[str, str] | None = None  # trial id → run id, loaded from MLflow on first use
        self._nodes: dict[str, list[str]] = {}  # trial id → the nodes it reported from, in order

    def __getstate__(self) -> dict:
        # Tune pickles its callbacks with the experiment; the client and the cache are rebuilt on resume.
        return {**self.__dict__, "_client": None, "_runs": None, "_nodes": {}}

    @property
    def client(self):
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(self.tracking_uri)
        return self._client

    def child_runs(self) -> list:
        """Every trial run of this search (all pages)."""
        runs, token = [], None
        while True:
            page = self.client.search_runs([self.experiment_id], f"tags.`{PARENT_TAG}` = '{self.parent_run_id}'",
                                           max_results=1000, page_token=token)
            runs += list(page)
            token = page.token
            if not token:
                return runs

    @property
    def runs_by_trial(self) -> dict[str, str]:
        """Trial id → run id of the runs this search already has (a resumed search has some)."""
        if self._runs is None:
            self._runs = {r.data.tags["trial_id"]: r.info.run_id for r in self.child_runs() if "trial_id" in r.data.tags}
        return self._runs

    def run_for(self, trial) -> str:
        if trial.trial_id not in self.runs_by_trial:
            run = self.client.create_run(self.experiment_id, run_name=f"{self.spec.name}-{trial.trial_id}", tags={
                PARENT_TAG: self.parent_run_id, "role": "trial", "trial_id": trial.trial_id,
                "search_name": self.spec.name, "config_hash": self.spec.config_hash, "state": "PENDING",
            })
            params = flatten(self.spec.decode(trial.config))
            self.client.log_batch(run.info.run_id, params=_params(params))
            self._runs[trial.trial_id] = run.info.run_id
        return self._runs[trial.trial_id]

    def _set_state(self, trial, state: str, status: str | None = None, **tags: str) -> None:
        run_id = self.run_for(trial)
        if status not in (None, "RUNNING"):
            self.flush()  # a run ends with all its epochs logged
        for key, value in {"state": state, **tags}.items():
            self.client.set_tag(run_id, key, value)
        if status == "RUNNING":
            self.client.update_run(run_id, status="RUNNING")
        elif status is not None:
            self.client.set_terminated(run_id, status)

    def on_trial_start(self, iteration, trials, trial, **info):
        self._set_state(trial, "RUNNING", "RUNNING")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        from mlflow.entities import RunTag

        step = int(result.get("training_iteration", 0))
        stamp = int(result.get("timestamp", time.time()) * 1000)
        tags = []
        node, seen = result.get("node_ip"), self._nodes.setdefault(trial.trial_id, [])
        if node and seen[-1:] != [node]:  # where the trial runs; a retry on another node adds that node
            seen.append(node)
            tags = [RunTag("node_ip", node), RunTag("nodes", ",".join(seen))]
        # Queued, not waited for: a slow tracking server must not stall Tune's event loop (flushed at each end).
        self.client.log_batch(self.run_for(trial), metrics=_metrics(reported_metrics(result), step, stamp),
                              tags=tags, synchronous=False)

    def flush(self) -> None:
        """Wait for the queued metrics (MLflow keeps one queue per store)."""
        self.client._tracking_client.store.flush_async_logging()

    def on_trial_complete(self, iteration, trials, trial, **info):
        state = completed_state(trial)  # Tune has not marked it TERMINATED yet
        checkpoint = trial.checkpoint.path if trial.checkpoint is not None else ""
        self._set_state(trial, state, "FINISHED", checkpoint=checkpoint, trial_dir=trial.path or "",
                        epochs=str(trial.last_result.get("training_iteration", 0)))

    def on_trial_error(self, iteration, trials, trial, **info):
        self._set_state(trial, FAILED, "FAILED", error=error_reason(trial)[:5000],
                        epochs=str(trial.last_result.get("training_iteration", 0)))

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._set_state(trial, "RETRYING", last_error=error_reason(trial)[:5000])

    def on_experiment_end(self, trials, **info):
        """Drop runs of trials Tune never saved (a killed driver), then summarise the search on the parent."""
        self.flush()
        known = {t.trial_id for t in trials}
        for run in self.child_runs():
            if run.data.tags.get("trial_id") not in known:
                self.client.delete_run(run.info.run_id)
        self.summarise(trials)

    def summarise(self, trials) -> None:
        from search.plots import write_plots

        rows = trial_rows(trials, self.spec)
        counts = {s: sum(r.state == s for r in rows) for s in (FINISHED, EARLY_STOPPED, FAILED)}
        for state, count in counts.items():
            self.client.log_metric(self.parent_run_id, f"trials_{state.lower()}", count)
        best = best_row(rows, self.spec.settings.mode)
        if best is not None:
            self.client.set_tag(self.parent_run_id, "best_trial_id", best.trial_id)
            self.client.set_tag(self.parent_run_id, "best_run_id", self.runs_by_trial.get(best.trial_id, ""))
            self.client.log_metric(self.parent_run_id, f"best_{self.spec.settings.metric}", best.best)
            for key, value in best.params.items():
                self.client.set_tag(self.parent_run_id, f"best.{key}", str(value)[:5000])
            best_trial = next(t for t in trials if t.trial_id == best.trial_id)
            for key, value in reported_metrics(best_trial.last_result).items():
                if math.isfinite(value):
                    self.client.log_metric(self.parent_run_id, f"best_trial.{key}", value)
        with tempfile.TemporaryDirectory() as folder:
            plots = write_plots(rows, self.spec, Path(folder))
            for path in plots["written"].values():
                self.client.log_artifact(self.parent_run_id, path, "plots")
        for name, why in plots["skipped"].items():
            self.client.set_tag(self.parent_run_id, f"plot_skipped.{name}", why[:5000])
