"""A trainable that does no training, for measuring what the search itself costs (``bench/driver_scale.py``).

Each epoch it sleeps ``epoch_s`` and reports what ``search.trainable`` reports (the trainer's metric keys,
``epoch`` and the running-best ``objective``), on a learning curve fixed by the trial's config, with a
checkpoint every ``search.checkpoint_every`` epochs holding ``running_best.json`` and ``checkpoint_bytes`` of
stand-in weights. A trial restored from a checkpoint goes on from the epoch after it, as a real one does.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import tempfile
import time
from pathlib import Path

from ray import tune

from search.config import SearchSpec
from search.objective import OBJECTIVE
from search.trainable import RUNNING_BEST_FILE, tune_resources

EPOCH_FILE = "epoch.json"
WEIGHTS_FILE = "weights.bin"


def curve(config: dict, epoch: int) -> float:
    """The validation score of ``config`` at ``epoch``: a saturating curve whose ceiling (0.1-0.4) and speed
    depend on the config, plus a little noise, all deterministic."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).digest()
    ceiling, speed, noise = 0.1 + 0.3 * digest[0] / 255, 1 + 3 * digest[1] / 255, (digest[2 + epoch % 28] - 128) / 1e4
    return ceiling * (1 - math.exp(-epoch / speed)) + noise


def idle_trial(config: dict, spec: SearchSpec, epoch_s: float, checkpoint_bytes: int) -> None:
    settings = spec.settings
    max_epochs = int(spec.decode(config)["trainer"].get("max_epochs", settings.asha.max_t))
    start, best = 0, None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            start = json.loads((Path(folder) / EPOCH_FILE).read_text())
            best = json.loads((Path(folder) / RUNNING_BEST_FILE).read_text())
    for epoch in range(start + 1, max_epochs + 1):
        began = time.perf_counter()
        time.sleep(epoch_s)
        score = curve(config, epoch)
        best = settings.objective.running_best(best, score)
        metrics = {"epoch": epoch, "val_corr": score, "best_val_corr": best, "loss": 1 - score, "lr": 0.01,
                   "epoch_seconds": time.perf_counter() - began, OBJECTIVE: best}
        if epoch % settings.checkpoint_every:
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / RUNNING_BEST_FILE).write_text(json.dumps(best))
            (Path(folder) / EPOCH_FILE).write_text(json.dumps(epoch))
            (Path(folder) / WEIGHTS_FILE).write_bytes(bytes(checkpoint_bytes))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def idle_trainable(spec: SearchSpec, epoch_s: float, checkpoint_bytes: int):
    """What ``search.trainable.trainable`` makes, with ``idle_trial`` in place of training."""
    return tune.with_resources(tune.with_parameters(idle_trial, spec=spec, epoch_s=epoch_s,
                                                    checkpoint_bytes=checkpoint_bytes), tune_resources(spec))


def maker(epoch_s: float, checkpoint_bytes: int):
    """The ``make_trainable`` for ``search.run.launch`` and ``resume``."""
    return functools.partial(idle_trainable, epoch_s=epoch_s, checkpoint_bytes=checkpoint_bytes)
