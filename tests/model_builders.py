"""Tiny in-memory sessions and batches for the model tests (no files, no loader)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sensorium_models.data.batches import Batch
from sensorium_models.data.session import Session
from session_builders import make_session

# A small config: the real architecture, narrow enough for a fast CPU test.
SMALL = {"hidden_channels": 4, "layers": 2, "input_kern": 5, "hidden_kern": 3}
SMALL_VIDEO = {**SMALL, "depth_separable": False, "temporal_kern": 3, "hidden_temporal_kern": 2}


def fake_session(key: str, kind: str = "static", n_trials: int = 20, n_neurons: int = 7, frames: int = 20,
                 seed: int = 0, with_order: bool = True) -> Session:
    """Random but valid session: 36×64 stimuli, tiers train/validation/test, a shuffled presentation order."""
    rng = np.random.default_rng(seed)
    if kind == "static":
        stimuli = rng.standard_normal((n_trials, 1, 36, 64))
        responses = rng.gamma(2.0, 0.5, (n_trials, n_neurons))
        behavior, pupil = rng.standard_normal((n_trials, 3)), rng.standard_normal((n_trials, 2))
        std, lengths = np.ones(n_neurons), None
    else:
        stimuli = rng.standard_normal((n_trials, frames, 36, 64))
        responses = rng.gamma(2.0, 0.5, (n_trials, frames, n_neurons))
        behavior, pupil = rng.standard_normal((n_trials, frames, 2)), rng.standard_normal((n_trials, frames, 2))
        std, lengths = np.ones((frames, n_neurons)), np.full(n_trials, frames)
    tiers = np.array(["train"] * n_trials, dtype=object)
    tiers[n_trials // 2::5], tiers[n_trials // 2 + 1::5] = "validation", "test"
    coords = rng.uniform(-300, 300, (n_neurons, 3)).astype(np.float32)
    return make_session(kind, key, stimuli, responses, tiers, name=f"fake-{key}", path=Path("/nonexistent") / key,
                        behavior=behavior.astype(np.float32), pupil_center=pupil.astype(np.float32), coords=coords,
                        response_std=std, image_ids=np.arange(n_trials) if kind == "static" else None,
                        order=rng.permutation(n_trials) if with_order else None, lengths=lengths)


def fake_sessions(kind: str = "static", **kwargs) -> list[Session]:
    return [fake_session("s-a", kind, seed=1, **kwargs), fake_session("s-b", kind, seed=2, **kwargs)]


def batch_of(session: Session, trials=None) -> Batch:
    """All (or the given) trials of a session as one batch."""
    trials = torch.arange(session.n_trials) if trials is None else torch.as_tensor(trials)
    pick = trials.numpy()

    def tensor(array):
        return torch.as_tensor(np.ascontiguousarray(array[pick]), dtype=torch.float32)

    frames = torch.zeros(len(pick), dtype=torch.long) if session.kind == "video" else None
    return Batch(key=session.key, trials=trials, stimuli=tensor(session.stimuli), behavior=tensor(session.behavior),
                 pupil_center=tensor(session.pupil_center), responses=tensor(session.responses), frames=frames)


def one_adamw_step(model: torch.nn.Module, batch: Batch, **adamw) -> tuple[set[str], torch.Tensor]:
    """One AdamW step on the Poisson loss + the model's penalty: the state keys whose values moved, and the loss."""
    optimizer = torch.optim.AdamW(model.parameters(), **{"lr": 0.005, **adamw})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    output = model(batch)
    loss = (output - batch.responses * torch.log(output)).sum() + model.regularizer(batch.key)
    loss.backward()
    optimizer.step()
    return {k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(before[k], v)}, loss
