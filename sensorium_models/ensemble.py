"""An ensemble predicts the mean of its members' predictions on the standardised response scale."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .data.session import Session
from .prediction import predict


def mean_predictions(members: list[np.ndarray] | list[list[np.ndarray]]) -> np.ndarray | list[np.ndarray]:
    """Mean over members: static members are (trials, N) arrays; video members are lists of (T_i, N)."""
    if isinstance(members[0], np.ndarray):
        return np.mean(np.stack(members), axis=0, dtype=np.float64).astype(np.float32)
    return [np.mean(np.stack(trial), axis=0, dtype=np.float64).astype(np.float32) for trial in zip(*members)]


class Ensemble:
    """Trained member models that answer ``predict`` like one model."""

    def __init__(self, members: list[nn.Module]):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = members

    def predict(self, session: Session, trials: np.ndarray,
                device: str | torch.device | None = None) -> np.ndarray | list[np.ndarray]:
        return mean_predictions([predict(member, session, trials, device) for member in self.members])
