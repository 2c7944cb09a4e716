"""Minibatches cut from a session's tensors, and the cycling of several sessions in one epoch."""
from __future__ import annotations

from dataclasses import dataclass

import torch


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
