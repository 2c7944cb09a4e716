"""Minibatches cut from a session's tensors, and the cycling of several sessions in one epoch."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterator, TypeVar

import numpy as np
import torch

from .session import Session

T = TypeVar("T")


@dataclass
class Batch:
    """A minibatch of one session, as tensors on the training device.

    ``trials`` indexes the session's arrays, so modulators (history, state, gain) can look up what they
    need per trial. Video tensors are clips: ``frames`` holds each clip's first frame within its trial.
    """

    key: str
    trials: torch.Tensor          # (B,) long
    stimuli: torch.Tensor         # static (B, 1, h, w); video (B, T, h, w)
    behavior: torch.Tensor        # static (B, 3); video (B, T, 2)
    pupil_center: torch.Tensor    # static (B, 2); video (B, T, 2)
    responses: torch.Tensor       # static (B, N); video (B, T, N)
    frames: torch.Tensor | None = None  # video: (B,) long


@dataclass(frozen=True)
class BatchIndex:
    """Which rows (and, for video, which frames) one batch takes: cheap to build, cycle and store.

    ``frames`` holds each clip's first frame, ``n_frames`` the clip length and ``step`` the frame step
    (a clip of frames start, start + step, …); frames and n_frames are None for static batches.
    Whole-trial video batches start at frame 0 and group trials of equal length.
    """

    trials: torch.Tensor                  # (B,) long, CPU
    frames: torch.Tensor | None = None    # (B,) long, CPU
    n_frames: int | None = None
    step: int = 1


def _as_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """One float32 tensor on ``device``; on CPU it shares memory with a float32 array (even an np.memmap)."""
    array = np.asarray(array, dtype=np.float32)
    with warnings.catch_warnings():
        # a read-only memmap is fine: these tensors are only ever read
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array).to(device)


@dataclass
class SessionTensors:
    """A session's arrays moved once to the training device; batches are cut from them by index."""

    key: str
    kind: str
    n_trials: int
    stimuli: torch.Tensor
    behavior: torch.Tensor
    pupil_center: torch.Tensor
    responses: torch.Tensor
    lengths: np.ndarray | None          # (n,) valid frames per trial (video)
    prefetch = False                    # whether batches are worth preparing ahead (see placement)

    @classmethod
    def from_session(cls, session: Session, device: str | torch.device = "cpu") -> "SessionTensors":
        device = torch.device(device)
        return cls(
            key=session.key, kind=session.kind, n_trials=session.n_trials,
            stimuli=_as_tensor(session.stimuli, device),
            behavior=_as_tensor(session.behavior, device),
            pupil_center=_as_tensor(session.pupil_center, device),
            responses=_as_tensor(session.responses, device),
            lengths=None if session.lengths is None else np.asarray(session.lengths, dtype=np.int64),
        )

    @property
    def device(self) -> torch.device:
        """Where batches end up: here, where the tensors are."""
        return self.responses.device

    def batch(self, index: BatchIndex) -> Batch:
        """Gather one batch where the tensors are: rows for static sessions, (trial, frame) windows for video."""
        where = self.responses.device
        trials = index.trials.to(where)
        if index.n_frames is None:
            return Batch(self.key, trials, self.stimuli[trials], self.behavior[trials],
                         self.pupil_center[trials], self.responses[trials])
        starts = index.frames.to(where)
        rows = trials[:, None]
        frames = starts[:, None] + index.step * torch.arange(index.n_frames, device=where)[None, :]
        return Batch(self.key, trials, self.stimuli[rows, frames], self.behavior[rows, frames],
                     self.pupil_center[rows, frames], self.responses[rows, frames], frames=starts)


def epoch_generator(seed: int, epoch: int, session: int = 0) -> torch.Generator:
    """A CPU generator for one (seed, epoch, session): an epoch's batches never depend on earlier epochs,
    so a resumed run draws exactly what an uninterrupted one would."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch, session]).generate_state(1)[0]))


def _split(trials: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Nearly equal chunks of at most ``batch_size``: no trailing batch of one to upset batch norm."""
    return list(torch.tensor_split(trials, -(-len(trials) // batch_size))) if len(trials) else []


def clip_span(clip_frames: int, step: int = 1) -> int:
    """Frames of a trial that a clip of ``clip_frames`` frames taken every ``step``-th frame spans."""
    return (clip_frames - 1) * step + 1


def shuffled_batches(trials: np.ndarray, batch_size: int, generator: torch.Generator,
                     lengths: np.ndarray | None = None, clip_frames: int | None = None,
                     step: int = 1, repeats: int = 1) -> list[BatchIndex]:
    """Training batches over ``trials`` (each ``repeats`` times) in a random order; video batches take a
    random clip of ``clip_frames`` frames, every ``step``-th frame, from each, wholly inside its valid length."""
    trials = torch.as_tensor(np.tile(np.asarray(trials, dtype=np.int64), repeats))
    order = trials[torch.randperm(len(trials), generator=generator)]
    if lengths is None:
        return [BatchIndex(chunk) for chunk in _split(order, batch_size)]
    if clip_frames is None:
        raise ValueError("video batches need clip_frames")
    valid = torch.as_tensor(np.asarray(lengths, dtype=np.int64))[order]
    span = clip_span(clip_frames, step)
    if len(order) and int(valid.min()) < span:
        raise ValueError(f"clip of {clip_frames} frames (step {step}) is longer than a trial of "
                         f"{int(valid.min())} frames")
    starts = (torch.rand(len(order), generator=generator, dtype=torch.float64)
              * (valid - span + 1)).long()
    return [BatchIndex(t, f, clip_frames, step)
            for t, f in zip(_split(order, batch_size), _split(starts, batch_size))]


def sequential_batches(trials: np.ndarray, batch_size: int, lengths: np.ndarray | None = None) -> list[BatchIndex]:
    """Evaluation batches in the given order; video batches hold whole trials of one valid length each."""
    trials = np.asarray(trials, dtype=np.int64)
    if lengths is None:
        return [BatchIndex(chunk) for chunk in _split(torch.as_tensor(trials), batch_size)]
    lengths = np.asarray(lengths, dtype=np.int64)
    batches = []
    for length in np.unique(lengths[trials]):
        group = torch.as_tensor(trials[lengths[trials] == length])
        batches += [BatchIndex(chunk, torch.zeros_like(chunk), int(length)) for chunk in _split(group, batch_size)]
    return batches


def cycle_sessions(batches: dict[str, list[T]]) -> Iterator[list[tuple[str, T]]]:
    """neuralpredictors' LongCycler, one cycle at a time: each cycle holds one batch of every session
    (that has any), until the session with the most batches is exhausted; shorter ones start over."""
    batches = {key: items for key, items in batches.items() if items}
    longest = max((len(items) for items in batches.values()), default=0)
    for step in range(longest):
        yield [(key, items[step % len(items)]) for key, items in batches.items()]
