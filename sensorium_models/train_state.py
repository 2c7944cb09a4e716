"""The trainer's resumable state: early stopping, and checkpoints holding everything a resume needs.

A checkpoint is one ``state.pt`` of tensors and primitives only, so it loads with
``torch.load(weights_only=True)``: model, optimiser and scheduler state, the weight average (EMA) if
there is one, the early stopper, the best weights, the per-epoch history and the RNG state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from .errors import UserError
from .schedules import Scheduler

CHECKPOINT_FILE = "state.pt"


def _copy_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in state.items()}


@dataclass
class EarlyStopping:
    """neuralpredictors' early stopping with LR decay: after ``patience`` epochs without a gain of more
    than ``tolerance`` a plateau ends (the scheduler decays the LR) and the best weights are restored;
    training finishes after ``lr_decay_steps`` plateaus or ``max_epochs`` epochs. Without a ``patience``
    (a fixed LR schedule) it only keeps the best weights."""

    best_score: float
    best_state: dict[str, torch.Tensor]
    epoch: int = 0
    bad_epochs: int = 0
    plateaus: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.best_state = _copy_state(self.best_state)

    def finished(self, max_epochs: int, lr_decay_steps: int) -> bool:
        return self.epoch >= max_epochs or self.plateaus >= lr_decay_steps

    def update(self, epoch: int, score: float, model: nn.Module, patience: int | None, tolerance: float) -> bool:
        """Record the epoch's score; True when it ended a plateau (the best weights are back in ``model``)."""
        self.epoch = epoch
        if score > self.best_score + tolerance:
            self.best_score, self.best_state, self.bad_epochs = score, _copy_state(model.state_dict()), 0
            return False
        self.bad_epochs += 1
        if patience is None or self.bad_epochs < patience:
            return False
        self.plateaus, self.bad_epochs = self.plateaus + 1, 0
        model.load_state_dict(self.best_state)
        return True

    def state_dict(self) -> dict:
        return {"best_score": self.best_score, "best_state": self.best_state, "epoch": self.epoch,
                "bad_epochs": self.bad_epochs, "plateaus": self.plateaus, "history": self.history}


def save_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Scheduler,
                    stopper: EarlyStopping, seed: int, ema: AveragedModel | None = None) -> Path:
    """Write ``folder/state.pt``: everything ``load_checkpoint`` needs to continue identically."""
    state = {
        "seed": seed,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "ema": None if ema is None else ema.state_dict(),
        "stopper": stopper.state_dict(),
        "cpu_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / CHECKPOINT_FILE)
    return folder / CHECKPOINT_FILE


def load_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Scheduler,
                    seed: int, device: torch.device, ema: AveragedModel | None = None) -> EarlyStopping:
    """Restore a ``save_checkpoint`` folder into the objects given; returns the early stopper."""
    path = Path(folder) / CHECKPOINT_FILE
    if not path.is_file():
        raise UserError(f"checkpoint {folder}: no {CHECKPOINT_FILE} in it")
    state = torch.load(path, map_location=device, weights_only=True)
    if state["seed"] != seed:
        raise UserError(f"checkpoint {folder}: written by a run with seed {state['seed']}, resumed with {seed}")
    averaged = state.get("ema")
    if (averaged is None) != (ema is None):
        raise UserError(f"checkpoint {folder}: written by a run {'with' if averaged is not None else 'without'} "
                        f"trainer.ema_decay, resumed {'with' if ema is not None else 'without'} it")
    model.load_state_dict(state["model"])
    if ema is not None:
        ema.load_state_dict(averaged)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["cpu_rng"].cpu())
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
    return EarlyStopping(**state["stopper"])
