"""The function Ray Tune runs for one trial: the three contracts, reporting every epoch (a checkpoint every
``search.checkpoint_every`` epochs) with the running best of the search metric, which ASHA and TPE compare.

The run is composed where every run is (``sensorium_models.compose``), which keeps a worker's sessions
for the next trial that asks for the same data config (Tune runs many trials in one worker with
``reuse_actors``), so a trial costs a model build, not a data load. A trial whose loss turns non-finite fails with the trainer's reason and is not retrained:
the reason is left in the trial's folder on the experiment's storage, and the retry Tune makes for
``max_failures`` finds it there and fails at once: NaN from a given configuration and seed is deterministic,
whereas what retries are for (a lost node, a killed worker) is not.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

from ray import tune

from search.config import SearchSpec
from search.objective import OBJECTIVE
from search.resources import cap_gpu_memory, device_share, free_gpu_cache, trial_gpus

NONFINITE_MARKER = "nonfinite_loss.txt"
RUNNING_BEST_FILE = "running_best.json"  # in each checkpoint: the objective so far, for a resumed trial


class TrialDiverged(RuntimeError):
    """The trainer's ``NonFiniteLoss``, re-raised with only a message: Tune copies a trial's exception
    and its ``__cause__`` (``copy.copy`` rebuilds it from its message), and ``NonFiniteLoss(epoch, session,
    value)`` cannot be rebuilt that way, so the trial would fail with a ``TypeError`` instead of the reason."""


def run_trial(config: dict, spec: SearchSpec) -> None:
    """One trial: the run its config decodes to, fitted (sessions reused), resuming from Tune's checkpoint."""
    import torch

    from sensorium_models.compose import fit
    from sensorium_models.training import NonFiniteLoss

    earlier = _read_marker()
    if earlier is not None:  # a retry of a trial that diverged: fail the same way without training again
        raise TrialDiverged(f"{earlier} (in an earlier attempt; not retrained)")
    settings = spec.settings
    torch.set_num_threads(max(1, int(settings.resources.cpus)))
    cap_gpu_memory(settings.resources)
    run = spec.run_config(config)
    checkpoint = tune.get_checkpoint()
    with checkpoint.as_directory() if checkpoint else contextlib.nullcontext() as resume_from:
        best = _read_running_best(resume_from)

        def report(epoch: int, metrics: dict, checkpoint_dir: Path) -> None:
            nonlocal best
            best = settings.objective.running_best(best, metrics.get(settings.metric))
            saved = None
            if epoch % settings.checkpoint_every == 0:
                (Path(checkpoint_dir) / RUNNING_BEST_FILE).write_text(json.dumps(best))
                saved = tune.Checkpoint.from_directory(checkpoint_dir)
            tune.report({**metrics, "epoch": epoch, OBJECTIVE: best}, checkpoint=saved)

        try:
            fit(run, settings.seed, report, resume_from, device_share(settings.resources, run.blocks()))
        except NonFiniteLoss as err:
            reason = f"NonFiniteLoss: {err}"
            _write_marker(reason)
            raise TrialDiverged(reason) from None  # no __cause__ for Tune to copy
        finally:
            free_gpu_cache()  # under actor reuse, the next trial in this worker starts with the GPU empty


def _read_running_best(folder) -> float | None:
    path = Path(folder) / RUNNING_BEST_FILE if folder else None
    return json.loads(path.read_text()) if path is not None and path.exists() else None


def _marker():
    """The marker's filesystem and path: the trial's folder in storage, which outlives the attempt."""
    storage = tune.get_context().get_storage()
    return storage.storage_filesystem, f"{storage.trial_fs_path}/{NONFINITE_MARKER}"


def _read_marker() -> str | None:
    import pyarrow.fs

    fs, path = _marker()
    if fs.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
        return None
    with fs.open_input_stream(path) as f:
        return f.read().decode()


def _write_marker(reason: str) -> None:
    fs, path = _marker()
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(reason.encode())


def trial_dirname(trial) -> str:
    """Tune names trial folders after every parameter value; the id is enough (MLflow has the values)."""
    return f"trial_{trial.trial_id}"


def tune_resources(spec: SearchSpec):
    """Tune's per-trial resources: a fixed request, or a function of the trial's config when rules exist."""
    from ray.tune import PlacementGroupFactory

    resources = spec.settings.resources
    if not resources.gpus_when:
        return {"cpu": resources.cpus, "gpu": resources.gpus}
    return lambda config: PlacementGroupFactory(
        [{"CPU": resources.cpus, "GPU": trial_gpus(resources, spec.decode(config))}])


def trainable(spec: SearchSpec):
    """``run_trial`` with the spec bound and the trial's resources attached, as the Tuner wants it."""
    return tune.with_resources(tune.with_parameters(run_trial, spec=spec), tune_resources(spec))
