"""The trainer's learning-rate schedules: neuralpredictors' decay at each plateau of the validation score
(the default), or DwiseNeuro's linear warm-up then cosine decay to ``min_lr``, set per optimiser step."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

Scheduler = torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau


@dataclass
class WarmupCosine:
    """LR factor of optimiser step ``step``: rising linearly to 1 over ``warmup_steps``, then half a cosine
    down to ``floor`` at ``total_steps``. A plain object, so ``LambdaLR.state_dict`` keeps its fields."""

    warmup_steps: int
    total_steps: int
    floor: float

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = min((step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 1.0)
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, cfg, steps_per_epoch: int) -> Scheduler:
    """The schedule ``cfg.lr_schedule`` names (``cfg``: a ``TrainerConfig``). The plateau one's patience is
    one less than the stopper's: torch decays after ``patience + 1`` bad epochs, so both act on the same
    epoch and the restored best weights continue at the lower rate."""
    if cfg.lr_schedule == "warmup_cosine":
        shape = WarmupCosine(cfg.warmup_epochs * steps_per_epoch, cfg.max_epochs * steps_per_epoch,
                             cfg.min_lr / cfg.lr_init)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, shape)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=cfg.lr_decay_factor, patience=cfg.patience - 1,
        threshold=cfg.tolerance, threshold_mode="abs", min_lr=cfg.min_lr)


def per_step(scheduler: Scheduler) -> bool:
    """Whether the schedule moves after every optimiser step (else after every epoch, on the score)."""
    return not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
