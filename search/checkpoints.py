"""Trial checkpoints without Tune's rotation, so a killed driver never leaves a snapshot naming a deleted one.

Tune's ``num_to_keep`` deletes a trial's older checkpoint as soon as a newer one is registered, while the
experiment snapshot naming the newer one is written later: a driver killed in between leaves a snapshot
that names a deleted checkpoint, and that trial cannot be restored (ray#30073). So Tune keeps every
checkpoint (``num_to_keep=None``, which also ends its forced snapshot syncs), and this driver callback
deletes a trial's checkpoints, all but the one the snapshot names, only once the newest snapshot *on
storage* records the trial ended: from then on no resume restores that trial from a checkpoint. It also
drops the deleted ones from the trial's record in the driver: without rotation Tune keeps every checkpoint's
result (its metrics and the config) in the trial's state, and rewrites every trial's state into each
experiment snapshot, so the snapshot would grow with every epoch of every trial ever run.
"""
from __future__ import annotations

import logging
import time
from pathlib import PurePosixPath

from ray import tune

from search.results import has_ended
from search.tune_state import saved_trials

log = logging.getLogger(__name__)


class CheckpointPruner(tune.Callback):
    """Every ``every_s`` seconds, and when the experiment ends, prune the trials that ended since."""

    def __init__(self, every_s: float = 30.0):
        self.every_s = every_s
        self._pruned: set[str] = set()
        self._last = 0.0

    def on_step_end(self, iteration, trials, **info):
        if time.monotonic() - self._last >= self.every_s:
            self.prune(trials)

    def on_experiment_end(self, trials, **info):
        self.prune(trials)  # Tune has written its final snapshot by now

    def prune(self, trials) -> list[str]:
        """Delete what the saved state lets go; returns the deleted checkpoint paths."""
        self._last = time.monotonic()
        ended = {t.trial_id for t in trials if has_ended(t)} - self._pruned
        if not ended:
            return []
        storage = trials[0].storage  # where the experiment is now (a resumed one may have moved)
        live = {t.trial_id: t for t in trials}
        deleted = []
        for trial in saved_trials(storage.experiment_fs_path, storage.storage_filesystem, only=ended) or []:
            if trial.trial_id in ended and has_ended(trial):
                deleted += _delete_all_but_named(trial)
                _forget_all_but_latest(live[trial.trial_id])
                self._pruned.add(trial.trial_id)
        return deleted


def _forget_all_but_latest(trial) -> None:
    """Keep only the trial's latest checkpoint in its state (Tune's private checkpoint manager, pinned 2.60)."""
    manager = trial.run_metadata.checkpoint_manager
    if manager is None:
        return
    latest = manager.latest_checkpoint_result
    manager._checkpoint_results = [latest] if latest is not None else []
    trial.run_metadata.invalidate_cache()  # its JSON, cached for the snapshots, is made again


def _delete_all_but_named(trial) -> list[str]:
    import pyarrow.fs

    fs, folder = trial.storage.storage_filesystem, trial.storage.trial_fs_path
    keep = PurePosixPath(trial.checkpoint.path).name if trial.checkpoint is not None else None
    found = fs.get_file_info(pyarrow.fs.FileSelector(folder, allow_not_found=True))
    deleted = []
    for info in found:
        if info.type == pyarrow.fs.FileType.Directory and info.base_name.startswith("checkpoint_") \
                and info.base_name != keep:
            try:
                fs.delete_dir(info.path)
                deleted.append(info.path)
            except OSError as err:  # storage hiccup: the folder stays, the search goes on
                log.warning("could not delete %s: %s", info.path, err)
    return deleted
