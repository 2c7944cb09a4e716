"""``train(model, sessions, trainer_cfg, seed, report=None, checkpoint=None)``: the sensorium trainer.

As the reference ``standard_trainer``: Poisson loss summed over the batch, scaled by
sqrt(n_trials / batch_size), plus ``model.regularizer(key)``; sessions cycled LongCycler-style with one
optimiser step per cycle (gradients accumulated over sessions); validation correlation every epoch driving
ReduceLROnPlateau and an early stopper that restores the best weights at each plateau and ends after
``lr_decay_steps`` plateaus or ``max_epochs``. Video: random clips for training (every ``frame_step``-th
frame when the model has one), the first ``burn_in`` frames left out of the loss; the validation score is
the 2023 competition's (frames 51..min(T, 300)-1 of whole validation trials, mean over neurons, then over
mice).

DwiseNeuro's recipe, each off by default: ``lr_schedule: warmup_cosine`` (linear warm-up over
``warmup_epochs``, then cosine to ``min_lr`` at ``max_epochs``, per optimiser step; no plateaus then: the
best epoch's weights are kept), and ``ema_decay`` (an exponential moving average of the weights and
buffers after every step, which is what is validated, kept as the best weights and checkpointed).
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Callable, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .data.batches import SessionTensors, clip_span, cycle_sessions, epoch_generator, shuffled_batches
from .data.placement import Placement, choose_placement, device_budget, place_sessions, prefetched
from .data.placement import describe as describe_placement
from .data.session import Session
from .errors import expect, validated
from .kinds import VIDEO_ONLY
from .metrics import SCORED_FROM
from .precision import choose_amp, describe
from .prediction import autocast, predict, predict_tensors, resolve_device
from .schedules import make_scheduler, per_step
from .scoring import neuron_correlations, search_score
from .train_state import EarlyStopping, load_checkpoint, save_checkpoint

__all__ = ["NonFiniteLoss", "TrainResult", "TrainerConfig", "burn_in", "eval_skip", "predict", "train", "trainer_config"]

Report = Callable[[int, dict, Path], None]


class TrainerConfig(BaseModel):
    """Every knob of the trainer (defaults: the reference notebooks); unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    # What ``train`` reports after every epoch (besides "epoch"): the metrics a search may rank by.
    reported_metrics: ClassVar[tuple[str, ...]] = ("val_corr", "best_val_corr", "loss", "lr", "epoch_seconds")

    batch_size: int = Field(128, gt=0)
    eval_batch_size: int | None = Field(None, gt=0, description="None: 256 static, 8 video trials")
    lr_init: float = Field(0.009, gt=0)
    optimizer: Literal["adam", "adamw"] = "adam"
    weight_decay: float = Field(0.0, ge=0)
    max_epochs: int = Field(200, gt=0)
    patience: int = Field(5, gt=0, description="epochs without a `tolerance` gain that end a plateau")
    lr_decay_steps: int = Field(4, gt=0, description="plateaus (LR decays) before stopping")
    lr_decay_factor: float = Field(0.3, gt=0, lt=1)
    min_lr: float = Field(1e-4, ge=0, description="floor of the plateau decays; end of the cosine")
    lr_schedule: Literal["plateau", "warmup_cosine"] = Field("plateau", description="plateau: decay by "
        "lr_decay_factor at each plateau; warmup_cosine: DwiseNeuro's, per step, over max_epochs")
    warmup_epochs: int = Field(0, ge=0, description="warmup_cosine only: epochs of linear warm-up")
    ema_decay: float | None = Field(None, gt=0, lt=1, description="validate and keep an exponential moving "
                                    "average of the weights (DwiseNeuro: 0.999 per step); None: the weights")
    tolerance: float = Field(1e-6, ge=0)
    scale_loss: bool = True
    clip_frames: Annotated[int, VIDEO_ONLY] = Field(
        80, gt=0, description="training clip length (capped at the shortest trial)")
    clips_per_trial: Annotated[int, VIDEO_ONLY] = Field(
        1, gt=0, description="clips drawn from each train trial per epoch (DwiseNeuro's epoch of 72,000 clips is "
                             "about 15)")
    burn_in: int | None = Field(None, ge=0, description="video frames left out of the loss; None: model.burn_in")
    eval_skip: Annotated[int | None, VIDEO_ONLY] = Field(
        None, ge=0, description="frames each trial's validation score skips; None: the 2023 competition's 51 (set "
                                "it lower only for trials under 52 frames)")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool | Literal["auto"] = Field(False, description="bf16 autocast; auto: on CUDA GPUs with bf16 and CPUs "
                                                         "with AMX, fp32 elsewhere (printed)")

    @model_validator(mode="after")
    def _check(self) -> "TrainerConfig":
        if self.warmup_epochs and self.lr_schedule != "warmup_cosine":
            raise ValueError("warmup_epochs needs lr_schedule: warmup_cosine")
        if self.warmup_epochs >= self.max_epochs:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be fewer than max_epochs ({self.max_epochs})")
        if self.lr_schedule == "warmup_cosine" and self.min_lr > self.lr_init:
            raise ValueError(f"min_lr ({self.min_lr}), where the cosine ends, is above lr_init ({self.lr_init})")
        return self


def trainer_config(cfg: TrainerConfig | dict) -> TrainerConfig:
    """Validate a plain dict; a bad key or value becomes a UserError naming it."""
    return validated(TrainerConfig, cfg, "trainer")


def burn_in(model: nn.Module, cfg: TrainerConfig) -> int:
    """Video frames left out of the loss: the config's, else the model's own ``burn_in``."""
    return cfg.burn_in if cfg.burn_in is not None else int(getattr(model, "burn_in", 0))


def eval_skip(cfg: TrainerConfig) -> int:
    """Frames per trial the video validation score leaves out: ``eval_skip``, else the competition's 51
    (the score then is the competition's, whatever the model's burn-in)."""
    return cfg.eval_skip if cfg.eval_skip is not None else SCORED_FROM


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite: the configuration diverges (a search reports the trial failed)."""

    def __init__(self, epoch: int, session: str, value: float):
        super().__init__(f"loss is {value} in epoch {epoch} on session {session}")
        self.epoch, self.session, self.value = epoch, session, value

    def __reduce__(self):
        # Ray carries a trial's exception to the driver by pickling: rebuild it from its fields
        return type(self), (self.epoch, self.session, self.value)


@dataclass
class TrainResult:
    best_val_corr: float
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class _Setup:
    """What the epochs share: the config resolved against the model and sessions."""

    cfg: TrainerConfig
    seed: int
    device: torch.device
    amp: bool                      # bf16 autocast, trainer.amp resolved for the device
    sessions: list[Session]
    tensors: dict[str, SessionTensors]
    burn_in: int
    eval_skip: int
    clips: dict[str, int]          # video training clip length per session
    frame_step: int                # video clips take every frame_step-th frame (the model's)
    steps_per_epoch: int           # optimiser steps (LongCycler cycles) per epoch


def _setup(model: nn.Module, sessions: list[Session], cfg: TrainerConfig, seed: int, placement: Placement,
           device_share: float) -> _Setup:
    expect(len(sessions) > 0, "train: no sessions to train on")
    expect(any(len(s.indices("validation")) for s in sessions),
           "train: no session has validation trials (role 'validation'); early stopping needs some")
    expect(cfg.device != "cuda" or torch.cuda.is_available(), "trainer.device: 'cuda' asked for, none found")
    device = resolve_device(cfg.device)
    amp, reason = choose_amp(cfg.amp, device)
    if cfg.amp == "auto":
        print(describe(amp, reason), flush=True)
    frames_out = burn_in(model, cfg)
    step = int(getattr(model, "frame_step", 1))
    clips = {}
    for s in sessions:
        if s.kind == "video" and len(s.indices("train")):
            shortest = int(np.min(s.whole_trials().lengths[s.indices("train")]))  # frames uncut at a NaN
            clips[s.key] = min(cfg.clip_frames, (shortest - 1) // step + 1)
            expect(clips[s.key] > frames_out, f"trainer.clip_frames: clips of {clips[s.key]} frames in session "
                   f"{s.key} leave nothing after a burn-in of {frames_out} frames")
        if s.kind == "video" and len(s.indices("validation")):
            longest = int(np.max(s.whole_trials().lengths[s.indices("validation")]))
            expect(longest > eval_skip(cfg), f"trainer.eval_skip: the validation trials of session {s.key} have "
                   f"at most {longest} frames, none left after skipping {eval_skip(cfg)} (the competition skips "
                   f"51); set trainer.eval_skip below {longest}")
    where, why = choose_placement(placement, sessions, device_budget(device, device_share))
    if placement == "auto":
        print(describe_placement(where, why), flush=True)
    tensors = place_sessions([s.whole_trials() for s in sessions], where, device)  # lengths: for eval
    clips_drawn = [len(_clip_trials(s, clips.get(s.key), step)) * _repeats(s, cfg) for s in sessions]
    steps = max(-(-n // cfg.batch_size) for n in clips_drawn)  # LongCycler cycles per epoch
    return _Setup(cfg, seed, device, amp, sessions, tensors, frames_out, eval_skip(cfg), clips, step, max(steps, 1))


def _repeats(session: Session, cfg: TrainerConfig) -> int:
    return cfg.clips_per_trial if session.kind == "video" else 1


def _clip_trials(session: Session, clip: int | None, step: int = 1) -> np.ndarray:
    """Train trials to draw clips from: a video trial cut (at a dropout) shorter than the clip is left out,
    instead of shortening every clip of the session to it."""
    trials = session.indices("train")
    return trials if clip is None else trials[session.lengths[trials] >= clip_span(clip, step)]


def _batch_loss(model: nn.Module, setup: _Setup, key: str, batch) -> torch.Tensor:
    with autocast(setup.device, setup.amp):
        output = model(batch)
    output, target = output.float(), batch.responses
    if output.shape != target.shape:
        raise ValueError(f"model output {tuple(output.shape)} != responses {tuple(target.shape)} ({key})")
    if batch.frames is not None:
        output, target = output[:, setup.burn_in:], target[:, setup.burn_in:]
    poisson = (output - target * torch.log(output + 1e-12)).sum()
    scale = math.sqrt(setup.tensors[key].n_trials / len(batch.trials)) if setup.cfg.scale_loss else 1.0
    return scale * poisson + model.regularizer(key)


def _train_epoch(model: nn.Module, setup: _Setup, optimizer: torch.optim.Optimizer, epoch: int,
                 step_done: Callable[[], None]) -> float:
    """One pass of LongCycler cycles, one optimiser step each (then ``step_done()``); returns the mean batch loss."""
    batches = {}
    for number, session in enumerate(setup.sessions):
        generator = epoch_generator(setup.seed, epoch, number)
        clip = setup.clips.get(session.key)
        batches[session.key] = shuffled_batches(
            _clip_trials(session, clip, setup.frame_step), setup.cfg.batch_size, generator,
            session.lengths if session.kind == "video" else None, clip, setup.frame_step, _repeats(session, setup.cfg))
    model.train()
    total, count = 0.0, 0
    cycles = list(cycle_sessions(batches))
    loaded = prefetched(lambda item: setup.tensors[item[0]].batch(item[1]),
                        [item for cycle in cycles for item in cycle], _prefetch(setup))
    for cycle in cycles:
        optimizer.zero_grad(set_to_none=True)
        losses = []
        for key, _ in cycle:
            loss = _batch_loss(model, setup, key, next(loaded))
            loss.backward()
            losses.append(loss.detach())
        values = torch.stack(losses).cpu()
        finite = torch.isfinite(values)
        if not finite.all():
            bad = int(torch.nonzero(~finite)[0])
            raise NonFiniteLoss(epoch, cycle[bad][0], float(values[bad]))
        optimizer.step()
        step_done()
        total, count = total + float(values.sum()), count + len(values)
    return total / max(count, 1)


def _prefetch(setup: _Setup) -> bool:
    return any(t.prefetch for t in setup.tensors.values())


def _validation_score(model: nn.Module, setup: _Setup) -> float:
    """The competition's score on the validation trials (``scoring.search_score``)."""
    scored, per_neuron = [], []
    for session in setup.sessions:
        trials = session.indices("validation")
        if len(trials):
            predictions = predict_tensors(model, setup.tensors[session.key], trials,
                                          setup.cfg.eval_batch_size, setup.amp)
            scored.append(session)
            per_neuron.append(neuron_correlations(session.whole_trials(), trials, predictions, setup.eval_skip))
    return search_score(scored, per_neuron)


def _optimizer(model: nn.Module, cfg: TrainerConfig) -> torch.optim.Optimizer:
    kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return kind(model.parameters(), lr=cfg.lr_init, weight_decay=cfg.weight_decay)


def train(model: nn.Module, sessions: list[Session], trainer_cfg: TrainerConfig | dict, seed: int,
          report: Report | None = None, checkpoint: str | Path | None = None, placement: Placement = "auto",
          device_share: float = 1.0) -> TrainResult:
    """Train ``model`` in place on the sessions' train trials; it ends holding the best weights.

    ``report(epoch, metrics, checkpoint_dir)`` is called after every epoch with a freshly written
    checkpoint folder (deleted when ``report`` returns: copy what you keep). ``checkpoint`` resumes from
    such a folder and continues exactly as the uninterrupted run would have. ``placement`` is the data
    config's (see ``data.placement``); ``device_share`` the fraction of the GPU this trial may fill.
    """
    cfg = trainer_config(trainer_cfg)
    setup = _setup(model, sessions, cfg, seed, placement, device_share)
    torch.manual_seed(seed)
    model.to(setup.device)
    optimizer = _optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg, setup.steps_per_epoch)
    ema = None if cfg.ema_decay is None else AveragedModel(
        model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
    evaluated = model if ema is None else ema.module  # what is validated and kept as the best weights

    def step_done() -> None:
        if ema is not None:
            ema.update_parameters(model)
        if per_step(scheduler):
            scheduler.step()

    if checkpoint is not None:
        stopper = load_checkpoint(Path(checkpoint), model, optimizer, scheduler, seed, setup.device, ema)
    else:
        stopper = EarlyStopping(best_score=_validation_score(evaluated, setup), best_state=evaluated.state_dict())
    plateaus = not per_step(scheduler)  # a fixed schedule runs to max_epochs, keeping the best epoch
    while not stopper.finished(cfg.max_epochs, cfg.lr_decay_steps):
        started = time.perf_counter()
        epoch = stopper.epoch + 1
        loss = _train_epoch(model, setup, optimizer, epoch, step_done)
        score = _validation_score(evaluated, setup)
        if plateaus:
            scheduler.step(score)
        restored = stopper.update(epoch, score, evaluated, cfg.patience if plateaus else None, cfg.tolerance)
        if restored and ema is not None:
            model.load_state_dict(stopper.best_state)  # the trained weights restart from the best average too
        metrics = {"epoch": epoch, "val_corr": score, "best_val_corr": stopper.best_score, "loss": loss,
                   "lr": optimizer.param_groups[0]["lr"], "epoch_seconds": time.perf_counter() - started}
        stopper.history.append(metrics)
        if report is not None:
            with tempfile.TemporaryDirectory(prefix="sensorium-ckpt-") as folder:
                save_checkpoint(Path(folder), model, optimizer, scheduler, stopper, seed, ema)
                report(epoch, dict(metrics), Path(folder))
    model.load_state_dict(stopper.best_state)
    return TrainResult(stopper.best_score, stopper.epoch, list(stopper.history),
                       {k: v.detach().cpu().clone() for k, v in stopper.best_state.items()})
