"""Predictions of a trained model over whole trials (scored in :mod:`.scoring`).

Static predictions are (trials, neurons); video predictions are one (length_i, neurons) array per trial,
time first like ``Session.responses[i, :lengths[i]]``, so they feed ``metrics`` and the submission writers.

A video model sees whole trials at once unless it says otherwise: a model with a ``predict_window``
(frames) and/or a ``frame_step`` > 1 (DwiseNeuro: 16 frames, every 2nd) is run on sliding windows of the
trial, ``predict_stride`` apart, and each frame's prediction is the mean over the windows that hold it.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from .data.batches import BatchIndex, SessionTensors, sequential_batches
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
        if tensors.kind == "video" and _windowed(model):
            outputs = _window_means(model, tensors, np.unique(trials), batch_size, amp)
        else:
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


def _windowed(model: nn.Module) -> bool:
    return getattr(model, "predict_window", None) is not None or getattr(model, "frame_step", 1) > 1


def windows(length: int, window: int | None, step: int = 1, stride: int = 1) -> list[tuple[int, int]]:
    """(first frame, frames) of the windows covering a trial of ``length`` frames. Each phase r < step (the
    frames r, r + step, …) is cut into windows of ``window`` frames, ``stride`` apart, the last one ending
    on the phase's last frame; a phase of at most ``window`` frames (or any, if ``window`` is None) is one."""
    out = []
    for phase in range(min(step, length)):
        frames = -(-(length - phase) // step)
        if window is None or frames <= window:
            out.append((phase, frames))
            continue
        offsets = list(range(0, frames - window + 1, stride))
        if offsets[-1] != frames - window:
            offsets.append(frames - window)
        out += [(phase + offset * step, window) for offset in offsets]
    return out


def _window_means(model: nn.Module, tensors: SessionTensors, trials: np.ndarray, batch_size: int,
                  amp: bool) -> dict[int, np.ndarray]:
    """Each trial's (length, N) mean over the model's windows; a batch holds windows of one length, about as
    many frames as ``batch_size`` whole trials would."""
    step, window = getattr(model, "frame_step", 1), getattr(model, "predict_window", None)
    lengths = tensors.lengths
    cut = {t: windows(int(lengths[t]), window, step, getattr(model, "predict_stride", 1)) for t in trials.tolist()}
    n_neurons = tensors.responses.shape[-1]
    sums = {t: np.zeros((int(lengths[t]), n_neurons)) for t in cut}
    counts = {t: np.zeros(int(lengths[t])) for t in cut}
    per_batch = max(int(lengths[trials].max()) * batch_size, 1) if len(trials) else 1
    indices = []
    for frames in sorted({n for items in cut.values() for _, n in items}):
        rows = [(t, start) for t, items in cut.items() for start, n in items if n == frames]
        size = max(per_batch // frames, 1)
        for i in range(0, len(rows), size):
            chunk = torch.as_tensor(rows[i:i + size], dtype=torch.long)
            indices.append(BatchIndex(chunk[:, 0], chunk[:, 1], frames, step))
    for batch in prefetched(tensors.batch, indices, tensors.prefetch):
        with autocast(tensors.device, amp):
            out = model(batch).float().cpu().numpy()
        for t, start, values in zip(batch.trials.tolist(), batch.frames.tolist(), out):
            frames = start + step * np.arange(len(values))
            sums[t][frames] += values
            counts[t][frames] += 1
    return {t: (sums[t] / counts[t][:, None]).astype(np.float32) for t in cut}


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
