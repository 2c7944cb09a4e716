"""A search's runs in MLflow, written through one client: the trial runs under the parent, and the summary.

The live tracker (through its background writer) and ``search sync`` (from Tune's results on storage) both
write this way. Every write here may be tried again after a failure that left it half done, so each one is
safe to repeat: a run is looked up by its ``trial_id`` tag before one is created (a resumed search, or a
creation the server did while the answer was lost, finds it), and metric points carry the time of Tune's
result, so a point logged twice is the same point (MLflow keeps one). The lookup lists the search's runs
once, then searches only for a trial whose creation was tried and failed (its run may exist), rather than
one search per new trial, each a query over the experiment's runs on the tracking server.
"""
from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

from search.config import SearchSpec
from search.results import EARLY_STOPPED, FAILED, FINISHED, TrialRow, best_row, error_reason
from search.space import flatten

PARENT_TAG = "mlflow.parentRunId"
# Result keys Tune adds itself; everything else numeric that a trial reports is a metric.
TUNE_KEYS = {"training_iteration", "timestamp", "time_this_iter_s", "time_since_restore", "pid", "done",
             "iterations_since_restore", "timesteps_since_restore", "timesteps_total", "episodes_total"}


def reported_metrics(result: dict) -> dict[str, float]:
    """The numbers a trial reported, without the bookkeeping Tune adds to every result."""
    return {k: float(v) for k, v in result.items()
            if k not in TUNE_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)}


def as_params(values: dict) -> list:
    from mlflow.entities import Param

    return [Param(k, str(v)[:6000]) for k, v in values.items()]


def as_metrics(values: dict[str, float], step: int, stamp_ms: int | None = None) -> list:
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000) if stamp_ms is None else stamp_ms
    return [Metric(k, float(v), stamp, step) for k, v in values.items()]


def result_metrics(result: dict) -> list:
    """One Tune result as metric points: at its epoch, stamped with the result's own time."""
    step = int(result.get("training_iteration", 0))
    return as_metrics(reported_metrics(result), step, int(result.get("timestamp", time.time()) * 1000))


def as_tags(values: dict[str, str]) -> list:
    from mlflow.entities import RunTag

    return [RunTag(k, str(v)[:5000]) for k, v in values.items()]


def end_tags(trial, state: str) -> dict[str, str]:
    """The tags a trial's run gets when it ends in ``state``: its epochs, and its error or its checkpoint."""
    epochs = str(trial.last_result.get("training_iteration", 0))
    if state == FAILED:
        return {"error": error_reason(trial)[:5000], "epochs": epochs}
    checkpoint = trial.checkpoint.path if trial.checkpoint is not None else ""
    return {"checkpoint": checkpoint, "trial_dir": trial.path or "", "epochs": epochs}


class TrialRuns:
    """The trial runs of one search, by Tune trial id."""

    def __init__(self, client, experiment_id: str, parent_run_id: str, spec: SearchSpec):
        self.client = client
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.spec = spec
        self._ids: dict[str, str] = {}  # trial id → run id, as found or created
        self._listed: dict[str, object] | None = None  # trial id → its run as MLflow held it at first use
        self._tried: set[str] = set()  # trial ids whose run this object tried to create

    def children(self) -> list:
        """Every trial run of this search (all pages)."""
        runs, token = [], None
        while True:
            page = self.client.search_runs([self.experiment_id], f"tags.`{PARENT_TAG}` = '{self.parent_run_id}'",
                                           max_results=1000, page_token=token)
            runs += list(page)
            token = page.token
            if not token:
                return runs

    def run_id(self, trial_id: str, config: dict) -> str:
        """The trial's run: found by its tag, else created with its ``config`` (as Tune holds it) as params,
        decoded only then (not for each of the trial's results)."""
        if trial_id not in self._ids:
            found = self._find(trial_id)
            if found:
                run_id, logged = found.info.run_id, bool(found.data.params)
            else:
                self._tried.add(trial_id)
                run_id, logged = self.client.create_run(
                    self.experiment_id, run_name=f"{self.spec.name}-{trial_id}", tags={
                        PARENT_TAG: self.parent_run_id, "role": "trial", "trial_id": trial_id,
                        "search_name": self.spec.name, "config_hash": self.spec.config_hash, "state": "PENDING",
                    }).info.run_id, False
            if not logged:  # also a run whose creation landed and whose params did not
                self.client.log_batch(run_id, params=as_params(flatten(self.spec.decode(config))))
            self._ids[trial_id] = run_id
        return self._ids[trial_id]

    def _find(self, trial_id: str):
        """The trial's run in MLflow, or None."""
        listed = self.listed(trial_id)
        if listed is not None or trial_id not in self._tried:
            return listed
        found = self.client.search_runs([self.experiment_id], f"tags.`{PARENT_TAG}` = '{self.parent_run_id}' "
                                        f"and tags.trial_id = '{trial_id}'", max_results=1)
        return found[0] if found else None

    def listed(self, trial_id: str):
        """The trial's run as MLflow held it when this object first looked (one listing of them all), or None."""
        if self._listed is None:
            self._listed = {r.data.tags.get("trial_id"): r for r in self.children()}
        return self._listed.get(trial_id)

    def recorded_end(self, trial_id: str) -> str | None:
        """The state a trial's run was ended with when listed (its ``state`` tag, the run closed), else None."""
        run = self.listed(trial_id)
        return run.data.tags.get("state") if run is not None and run.info.status in ("FINISHED", "FAILED") else None

    def set_state(self, trial_id: str, config: dict, state: str, status: str | None = None, **more: str) -> None:
        """The ``state`` tag (and ``more`` tags); ``status`` RUNNING reopens the run, another one ends it."""
        run_id = self.run_id(trial_id, config)
        self.client.log_batch(run_id, tags=as_tags({"state": state, **more}))
        if status == "RUNNING":
            self.client.update_run(run_id, status="RUNNING")
        elif status is not None:
            self.client.set_terminated(run_id, status)

    def log(self, trial_id: str, config: dict, points: list, more_tags: dict[str, str] | None = None) -> None:
        self.client.log_batch(self.run_id(trial_id, config), metrics=points, tags=as_tags(more_tags or {}))

    def drop_unknown(self, known: set[str]) -> None:
        """Delete the runs of trials Tune never saved (a killed driver had started them)."""
        for run in self.children():
            if run.data.tags.get("trial_id") not in known:
                self.client.delete_run(run.info.run_id)

    def summarise(self, rows: list[TrialRow], last_results: dict[str, dict]) -> None:
        """Counts, the best trial (its id, run, params, last metrics) and Optuna's plots, on the parent run;
        ``last_results`` holds each trial's last result, by trial id. The points are stamped with the newest
        result's time: summarising the same trials again (a sync after the search) adds no point."""
        stamp_ms = int(max((r.get("timestamp", 0) for r in last_results.values()), default=0) * 1000)
        values = {f"trials_{s.lower()}": sum(r.state == s for r in rows) for s in (FINISHED, EARLY_STOPPED, FAILED)}
        labels = {}
        best = best_row(rows, self.spec.settings.objective)
        if best is not None:
            values[f"best_{self.spec.settings.metric}"] = best.best
            best_last = reported_metrics(last_results[best.trial_id])
            values |= {f"best_trial.{k}": v for k, v in best_last.items() if math.isfinite(v)}
            labels = {"best_trial_id": best.trial_id, "best_run_id": self.run_id(best.trial_id, best.config),
                      **{f"best.{k}": v for k, v in best.params.items()}}
        self.client.log_batch(self.parent_run_id, metrics=as_metrics(values, 0, stamp_ms), tags=as_tags(labels))
        self.plots(rows)

    def plots(self, rows: list[TrialRow]) -> None:
        from search.plots import write_plots

        with tempfile.TemporaryDirectory() as folder:
            plots = write_plots(rows, self.spec, Path(folder))
            for path in plots["written"].values():
                self.client.log_artifact(self.parent_run_id, path, "plots")
        if plots["skipped"]:
            self.client.log_batch(self.parent_run_id,
                                  tags=as_tags({f"plot_skipped.{k}": v for k, v in plots["skipped"].items()}))
