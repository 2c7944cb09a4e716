"""MLflow, written only from the driver (every write of the project's runs is here and in ``trial_runs``): one
parent run per search, one child run per Tune trial; one run per promotion, one child run per member.

Trials on other nodes never touch the store. The tracker's writes go through a background writer
(``mlflow_writer``), so a slow or absent tracking server never holds up Tune. A child run carries the Tune
trial id as a tag, and the tracker finds runs by that tag before creating one, so a resumed search reuses its runs instead of
duplicating them (Ray's MLflowLoggerCallback opens a new run for every resumed trial).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from ray import tune

from search.config import SearchSpec
from search.mlflow_writer import writer_for
from search.results import FAILED, completed_state, error_reason, trial_rows
from search.space import flatten
from search.trial_runs import PARENT_TAG, TrialRuns, as_metrics, as_params, end_tags, result_metrics

EXPERIMENT = "sensorium-search"
SQLITE_HEADER = b"SQLite format 3\x00"


def default_tracking_uri(runs_dir: Path) -> str:
    return f"sqlite:///{runs_dir.absolute() / 'mlflow.db'}"


def check_store(tracking_uri: str) -> None:
    """A ``sqlite:///`` store that exists must be an SQLite file (MLflow would fail deep in SQLAlchemy)."""
    from sensorium_models.errors import UserError

    path = Path(tracking_uri.removeprefix("sqlite:///")) if tracking_uri.startswith("sqlite:///") else None
    if path is not None and path.is_file():
        with open(path, "rb") as handle:
            if handle.read(len(SQLITE_HEADER)) not in (SQLITE_HEADER, b""):
                raise UserError(f"{path}: expected an MLflow store (an SQLite database), found another kind of file")


def open_experiment(tracking_uri: str, runs_dir: Path, name: str = EXPERIMENT) -> str:
    """The experiment's id, creating the store and the experiment now, before any trial could race for them.

    Without a tracking server, artifacts go under ``<runs>/mlartifacts`` (MLflow's default is relative to the cwd).
    """
    from mlflow import MlflowClient

    check_store(tracking_uri)
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
        "role": "search", "search_name": spec.name, "config_hash": spec.config_hash, "git_commit": git_commit(),
    })
    client.log_text(run.info.run_id, spec.text, "search.yaml")
    settings = flatten(spec.settings.model_dump(exclude={"start_with"}))
    client.log_batch(run.info.run_id, params=as_params(settings))
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
    client.log_batch(run_id, metrics=as_metrics(metrics, 0), params=[] if found and found[0].data.params else as_params(params))
    client.set_terminated(run_id, "FINISHED")


def log_promotion(tracking_uri: str, run_id: str, table: str, best_blocks: dict, best_scores: dict[str, float],
                  reused: int) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    client.log_text(run_id, table, "scores.md")
    client.log_dict(run_id, best_blocks, "best_config.yaml")
    client.log_batch(run_id, metrics=as_metrics({**{k.replace("/", "."): v for k, v in best_scores.items()},
                                               "members_reused": reused}, 0))


def git_commit() -> str:
    """The commit of the code that runs (not of the folder the user runs it from), "-dirty" if edited."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=here)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, cwd=here).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"


class MlflowTracker(tune.Callback):
    """Mirror every trial into MLflow: params at start, metrics per epoch, state and reason at the end.

    Each callback only queues its writes (``search.mlflow_writer``) and returns: Tune's event loop never
    waits for the tracking server, nor stops when it is away. What a write needs from the trial is read
    here, now; the queued function only talks to MLflow.
    """

    def __init__(self, tracking_uri: str, experiment_id: str, parent_run_id: str, spec: SearchSpec):
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.spec = spec
        self._runs: TrialRuns | None = None  # used by the writer's thread only
        self._nodes: dict[str, list[str]] = {}  # trial id → the nodes it reported from, in order
        self._proposed: list[dict] = []  # each trial's searched values, in the order proposed
        self._concentration: str | None = None  # the line the parent run was last tagged with

    def __getstate__(self) -> dict:
        # Tune pickles its callbacks with the experiment; the client and what it found are rebuilt on resume.
        return {**self.__dict__, "_runs": None, "_nodes": {}, "_proposed": [], "_concentration": None}

    @property
    def runs(self) -> TrialRuns:
        if self._runs is None:
            from mlflow import MlflowClient

            self._runs = TrialRuns(MlflowClient(self.tracking_uri), self.experiment_id, self.parent_run_id, self.spec)
        return self._runs

    def _put(self, what: str, write) -> None:
        writer_for(self.tracking_uri).put(what, write)

    def _set_state(self, trial, state: str, status: str | None = None, **tags: str) -> None:
        trial_id, config = trial.trial_id, trial.config
        self._put(f"trial {trial_id} state {state}",
                  lambda: self.runs.set_state(trial_id, config, state, status, **tags))

    def on_trial_start(self, iteration, trials, trial, **info):
        self._set_state(trial, "RUNNING", "RUNNING")
        self._note_concentration(trials)

    def _note_concentration(self, trials) -> None:
        """Chart on the parent run how concentrated the proposals have become (``concentration``: the share of
        the last 10 holding one value of a key), and tag it with ``search status``'s line when that changes."""
        from search.concentration import RECENT, concentration

        new = trials[len(self._proposed):]  # Tune appends trials as it creates them; after a resume, all of them
        if not new:  # trials starting together share a point
            return
        self._proposed += [self.spec.searched_values(other.config) for other in new]
        found = concentration(self._proposed[-RECENT:], self.spec.searched)
        if found is None:
            return
        run_id, share, step = self.parent_run_id, found.share, len(self._proposed)
        self._put("the search's concentration", lambda: self.runs.client.log_metric(run_id, "concentration", share,
                                                                                     step=step))
        if found.line != self._concentration:
            line = self._concentration = found.line
            self._put("the search's concentration line",
                      lambda: self.runs.client.set_tag(run_id, "concentration", line))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        tags = {}
        node, seen = result.get("node_ip"), self._nodes.setdefault(trial.trial_id, [])
        if node and seen[-1:] != [node]:  # where the trial runs; a retry on another node adds that node
            seen.append(node)
            tags = {"node_ip": node, "nodes": ",".join(seen)}
        trial_id, config, points = trial.trial_id, trial.config, result_metrics(result)
        self._put(f"trial {trial_id} epoch {result.get('training_iteration', 0)}",
                  lambda: self.runs.log(trial_id, config, points, tags))

    def on_trial_complete(self, iteration, trials, trial, **info):
        state = completed_state(trial)  # Tune has not marked it TERMINATED yet
        self._set_state(trial, state, "FINISHED", **end_tags(trial, state))

    def on_trial_error(self, iteration, trials, trial, **info):
        self._set_state(trial, FAILED, "FAILED", **end_tags(trial, FAILED))

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._set_state(trial, "RETRYING", last_error=error_reason(trial)[:5000])

    def on_experiment_end(self, trials, **info):
        """Drop runs of trials Tune never saved (a killed driver), then summarise the search on the parent."""
        rows, last = trial_rows(trials, self.spec), {t.trial_id: dict(t.last_result) for t in trials}
        self._put("deleting runs of trials Tune never saved", lambda: self.runs.drop_unknown(set(last)))
        self._put("the search's summary", lambda: self.runs.summarise(rows, last))
