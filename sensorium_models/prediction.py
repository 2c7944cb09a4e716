"""Predictions of a trained model over whole trials (scored in :mod:`.scoring`).

Static predictions are (trials, neurons); video predictions are one (length_i, neurons) array per trial,
time first like ``Session.responses[i, :lengths[i]]``, so they feed ``metrics`` and the submission writers.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from .data.batches import SessionTensors, sequential_batches
from .data.placement import place_sessions, prefetched
from .data.session import Session

DEFAULT_BATCH_SIZE = {"static": 256, "video": 8}


def resolve_device(name: str | torch.device | None) -> torch.device:
    """``"auto"`` (or None) picks CUDA when present, else the CPU."""
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on the device when ``amp`` is set (a GPU, or a CPU with AMX/AVX512-BF16); else a no-op."""
    if amp:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def predict_tensors(model: nn.Module, tensors: SessionTensors, trials: np.ndarray,
                    batch_size: int | None = None, amp: bool = False) -> np.ndarray | list[np.ndarray]:
    """Predict ``trials`` of a session placed for training (see ``data.placement``), in eval mode (restored
    afterwards)."""
    trials = np.asarray(trials, dtype=np.int64)
    batch_size = batch_size or DEFAULT_BATCH_SIZE[tensors.kind]
    was_training = model.training
    model.eval()
    outputs: dict[int, np.ndarray] = {}
    try:
        indices = sequential_batches(np.unique(trials), batch_size, tensors.lengths)
        for batch in prefetched(tensors.batch, indices, tensors.prefetch):
            with autocast(tensors.device, amp):
                out = model(batch)
            outputs.update(zip(batch.trials.tolist(), out.float().cpu().numpy()))
    finally:
        model.train(was_training)
    if tensors.kind == "video":
        return [outputs[t] for t in trials.tolist()]
    n_neurons = tensors.responses.shape[-1]
    return np.stack([outputs[t] for t in trials.tolist()]) if len(trials) else np.zeros((0, n_neurons), np.float32)


def predict(model: nn.Module, session: Session, trials: np.ndarray, device: str | torch.device | None = None,
            batch_size: int | None = None, amp: bool = False) -> np.ndarray | list[np.ndarray]:
    """Predictions for ``trials`` of ``session`` (static: (len(trials), N); video: a list of (length_i, N)).

    ``device`` defaults to where the model's parameters are.
    """
    if device is None:
        device = next(model.parameters()).device
    device = resolve_device(device)
    # on a GPU only the predicted trials travel (a 2023 mouse is ~7 GB); on a CPU the tensors are the memory map
    tensors = place_sessions([session], "host" if device.type == "cuda" else "device", device)[session.key]
    return predict_tensors(model, tensors, trials, batch_size, amp)


def trial_responses(session: Session, trials: np.ndarray) -> np.ndarray | list[np.ndarray]:
    """The recorded responses of ``trials`` in the shape ``predict`` returns."""
    if session.kind == "video":
        return [np.asarray(session.responses[t, :session.lengths[t]]) for t in trials]
    return np.asarray(session.responses[np.asarray(trials)])
