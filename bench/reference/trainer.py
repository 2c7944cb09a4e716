"""The starter kit's ``standard_trainer`` loop (notebook settings), on neuralpredictors 0.3.0.

Loss per batch: ``sqrt(n_trials_all_tiers / batch) * PoissonLoss(sum) + core.regularizer() +
readout.regularizer(key)``; Adam(lr 0.009); ReduceLROnPlateau(max, 0.3, patience 5, abs 1e-6, min 1e-4)
stepped by neuralpredictors' ``early_stopping`` on the mean per-neuron validation correlation (``corr``);
``LongCycler`` over sessions, one optimiser step per cycle. The only change: modern torch removed
ReduceLROnPlateau's ``verbose`` argument, so it is not passed. Each evaluation of the stopping objective is
timed, so per-epoch wall time (training pass + validation) and per-epoch correlation can be read back.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from . import compat  # noqa: F401  (must precede the neuralpredictors imports)
from neuralpredictors.measures import modules
from neuralpredictors.measures.np_functions import corr
from neuralpredictors.training import LongCycler, device_state, early_stopping, eval_state

from .loader import set_random_seed


@dataclass
class ReferenceResult:
    """What ``standard_trainer`` returns, plus the timed trace of its stopping objective."""

    score: float                       # mean validation correlation of the restored best state
    state_dict: dict
    # epoch -> (perf_counter, value) of the first objective evaluation after that epoch (0: before training);
    # early_stopping's later re-evaluations (lr decay, restore) are left out here but still cost wall time.
    trace: dict[int, tuple[float, float]] = field(default_factory=dict)

    def epoch_seconds(self) -> list[float]:
        """Wall time between the ends of consecutive epochs: training pass plus the validation after it."""
        times = [self.trace[epoch][0] for epoch in sorted(self.trace)]
        return list(np.diff(times))

    def epoch_correlations(self) -> list[float]:
        """Validation correlation after each epoch 1, 2, ..."""
        return [self.trace[epoch][1] for epoch in sorted(self.trace) if epoch > 0]


def model_predictions(model, loader, data_key: str, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Targets and predictions over one loader (sensorium.utility.scores.model_predictions)."""
    targets, outputs = [], []
    for batch in loader:
        with torch.no_grad(), device_state(model, device):
            outputs.append(model(batch[0].to(device), data_key=data_key, **batch._asdict()).detach().cpu())
        targets.append(batch[1].detach().cpu())
    return torch.cat(targets).numpy(), torch.cat(outputs).numpy()


def get_correlations(model, dataloaders: dict, device: str) -> float:
    """Mean over all sessions' neurons of the single-trial correlation, NaN -> 0 (``per_neuron=False``)."""
    per_session = []
    with eval_state(model):
        for key, loader in dataloaders.items():
            target, output = model_predictions(model, loader, key, device)
            correlations = corr(target, output, axis=0)
            if np.any(np.isnan(correlations)):
                warnings.warn(f"{np.isnan(correlations).mean() * 100}% NaNs , NaNs will be set to Zero.")
            correlations[np.isnan(correlations)] = 0
            per_session.append(correlations)
    return float(np.mean(np.hstack(per_session)))


def standard_trainer(model, dataloaders: dict, seed: int, device: str = "cpu", max_iter: int = 200,
                     lr_init: float = 0.009, lr_decay_steps: int = 4, patience: int = 5, tolerance: float = 1e-6,
                     lr_decay_factor: float = 0.3, min_lr: float = 1e-4, verbose: bool = False) -> ReferenceResult:
    """Train ``model`` as the starter kit does (``avg_loss=False, scale_loss=True, interval=1``)."""
    model.to(device)
    set_random_seed(seed)
    model.train()
    criterion = modules.PoissonLoss(avg=False)
    result = ReferenceResult(score=float("nan"), state_dict={})
    epoch = 0

    def stop_closure(model) -> float:
        value = get_correlations(model, dataloaders["validation"], device=device)
        result.trace.setdefault(epoch, (time.perf_counter(), value))
        return value

    def full_objective(data_key: str, *args, **batch_kwargs):
        loss_scale = np.sqrt(len(dataloaders["train"][data_key].dataset) / args[0].shape[0])
        regularizers = model.core.regularizer() + model.readout.regularizer(data_key)
        output = model(args[0].to(device), data_key=data_key, **batch_kwargs)
        return loss_scale * criterion(output, args[1].to(device)) + regularizers

    optimizer = torch.optim.Adam(model.parameters(), lr=lr_init)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=lr_decay_factor, patience=patience, threshold=tolerance,
        min_lr=min_lr, threshold_mode="abs",
    )
    optim_step_count = len(dataloaders["train"])
    for epoch, _value in early_stopping(
        model, stop_closure, interval=1, patience=patience, start=0, max_iter=max_iter, maximize=True,
        tolerance=tolerance, restore_best=True, scheduler=scheduler, lr_decay_steps=lr_decay_steps,
    ):
        optimizer.zero_grad()
        for batch_no, (data_key, data) in enumerate(LongCycler(dataloaders["train"])):
            loss = full_objective(data_key, *data, **data._asdict(), detach_core=False)
            loss.backward()
            if (batch_no + 1) % optim_step_count == 0:
                optimizer.step()
                optimizer.zero_grad()
        if verbose:
            print(f"reference epoch {epoch} trained", flush=True)
    model.eval()
    result.score = get_correlations(model, dataloaders["validation"], device=device)
    result.state_dict = model.state_dict()
    return result
