"""The environment Ray, Tune and MLflow read: set here and nowhere else, before the first ``import ray``.

Ray reads some of these when it is imported and Tune others when a run starts, so the entry point
(``search.cli.main``), the test session (``tests/conftest.py``) and the benchmarks call ``apply`` first thing.
"""
from __future__ import annotations

import os
from typing import MutableMapping

# Forced: the standards allow traffic to loopback only, so no usage report is ever sent.
FORCED = {"RAY_USAGE_STATS_ENABLED": "0"}

# Defaults a user's own export overrides.
DEFAULTS = {
    # Tune's new console output prints a "Configuration for experiment" box and a TensorBoard hint at every
    # start, whatever the verbosity; the legacy reporter at verbose=0 prints nothing. ProgressPrinter reports.
    "RAY_AIR_NEW_OUTPUT": "0",
    # A progress bar per artifact upload or download floods logs (dozens per promotion).
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # With a tracking server, MLflow prints "View run ... at: URL" on stdout for every run it ends: one line
    # per trial, written by the tracker's thread between the progress lines.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    # MLflow's INFO lines ("Creating initial MLflow database tables...", "Validating input example...") on
    # every command that opens a store; its warnings still show.
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    # One MLflow request gives up after ~3 s of retries (MLflow's own default: 7 retries, minutes) and 20 s of
    # silence: the tracker's writer (search/mlflow_writer.py) retries a failed write itself, for as long as the
    # search runs, and a command whose server is away says so soon. Only the driver talks to MLflow.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}

# Read by the trials' worker processes: the driver's environment reaches an in-process Ray's workers, and
# ``worker_env`` goes into a cluster job's runtime_env.
WORKER_DEFAULTS = {
    # Under actor reuse Tune waits this long for the last trial's thread to end (its teardown frees the model
    # and the GPU cache) before giving the worker the next trial. Past Tune's 2 s default, on a loaded node,
    # the next trial failed with "Trainable runner reuse requires reset_config()" and the search then
    # waited forever for it (ray#29268; seen on a 2-core machine at load 19, bench/search_efficiency.py).
    "TUNE_FUNCTION_THREAD_TIMEOUT_S": "120",
    # How long a storage call waits for an object store that went away before it fails (search/patient_fs.py).
    "SENSORIUM_STORAGE_PATIENCE_S": "1800",
}


def worker_env(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """The worker settings as this driver has them (a user's export wins over the defaults)."""
    return {name: environ.get(name, value) for name, value in WORKER_DEFAULTS.items()}


def apply(address: str | None, environ: MutableMapping[str, str] = os.environ) -> None:
    """Set the environment for Ray in this process (``address`` None) or for joining the cluster at ``address``.

    In effect for Ray only if nothing imported ray yet. ``environ`` is for tests: the process's own
    environment cannot be set and restored around Ray without Ray noticing.
    """
    environ.update(FORCED)
    for name, value in {**DEFAULTS, **WORKER_DEFAULTS}.items():
        environ.setdefault(name, value)
    if address is None:
        # The in-process node then lives on 127.0.0.1 and listens there only (Ray otherwise swaps 127.0.0.1
        # for the machine's network address and listens on every interface).
        environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        # Ray's default for a new local node (a token, made once in ~/.ray/auth_token), said explicitly: left
        # unset, Ray picks it anyway and prints "Token authentication is enabled..." at every start.
        environ.setdefault("RAY_AUTH_MODE", "token")
    elif address != "auto":
        # A token-authenticated cluster rejects an explicit HOST:PORT unless the client says it uses tokens.
        environ.setdefault("RAY_AUTH_MODE", "token")
