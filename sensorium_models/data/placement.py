"""Where a trial's session arrays live while it trains: ``data.placement`` device, host or auto.

``device`` copies every session to the training device once (on a CPU the tensors share the cache's
memory map). ``host`` leaves them in host memory, memory-mapped from the cache, so every trial on a node
reads one copy through the page cache; each batch is gathered on the host (into pinned memory when the
device is a GPU) and copied to the device without blocking, while a background thread prepares the next.
The SENSORIUM 2023 release is about 70 GB in float32: more than a GPU holds beside a model.

``auto`` picks ``device`` when the sessions take at most ``DATA_SHARE`` of the trial's share of device
memory (the rest is for the model, optimiser state and activations), else ``host``; on a CPU, where the
device copy already is the memory map, always ``device``.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Callable, Iterable, Iterator, Literal, TypeVar

import torch

from .batches import Batch, BatchIndex, SessionTensors
from .session import Session

Placement = Literal["device", "host", "auto"]
DATA_SHARE = 0.5
ARRAYS = ("stimuli", "responses", "behavior", "pupil_center")
GB = 1e9

T = TypeVar("T")
U = TypeVar("U")


def session_bytes(sessions: list[Session]) -> int:
    """Bytes the sessions' arrays take on a device, in float32."""
    return sum(4 * getattr(s, name).size for s in sessions for name in ARRAYS)


def device_budget(device: torch.device, share: float = 1.0) -> int | None:
    """Bytes of device memory this trial may use: ``share`` of the GPU (a fractional Ray GPU, or the
    per-trial cap) and no more than is free now; None on a CPU."""
    if device.type != "cuda":
        return None
    free, total = torch.cuda.mem_get_info(device)
    return int(min(free, share * total))


def choose_placement(placement: Placement, sessions: list[Session], budget: int | None) -> tuple[str, str]:
    """(``device`` or ``host``, the reason in words) for ``data.placement`` given the device ``budget``
    in bytes (None: no limit, as on a CPU)."""
    if placement != "auto":
        return placement, f"data.placement: {placement}"
    need = session_bytes(sessions)
    if budget is None:
        return "device", f"{need / GB:.2f} GB of sessions; on the CPU the device copy is the memory map"
    fits = need <= DATA_SHARE * budget
    return ("device" if fits else "host"), (
        f"{need / GB:.2f} GB of sessions {'fit' if fits else 'exceed'} {DATA_SHARE:.0%} of the trial's "
        f"{budget / GB:.2f} GB of device memory")


def describe(placement: str, reason: str) -> str:
    """The line the trainer prints for ``placement: auto``."""
    return f"data.placement auto: {placement} ({reason})"


def to_device(batch: Batch, device: torch.device) -> Batch:
    """The batch's tensors on ``device``, copied from pinned memory without blocking; on the CPU the host
    tensors as they are. The copy goes on the device's default stream, as the training kernels do, so
    it is ordered before them from whichever thread it is issued."""
    if device.type != "cuda":
        return batch
    moved = {item.name: getattr(batch, item.name) for item in fields(batch)}
    for name, value in moved.items():
        if isinstance(value, torch.Tensor):
            moved[name] = value.pin_memory().to(device, non_blocking=True)
    return Batch(**moved)


@dataclass
class HostTensors(SessionTensors):
    """A session kept in host memory (the cache's memory map): batches are gathered there and moved to
    ``target``; ``device`` is where batches end up, as for ``SessionTensors``."""

    target: torch.device = torch.device("cpu")
    prefetch = True

    @property
    def device(self) -> torch.device:
        return self.target

    def batch(self, index: BatchIndex) -> Batch:
        return to_device(SessionTensors.batch(self, index), self.target)


def place_sessions(sessions: list[Session], placement: str, device: torch.device) -> dict[str, SessionTensors]:
    """Each session's tensors for ``placement`` (``device`` or ``host``), keyed by session key."""
    if placement == "device":
        return {s.key: SessionTensors.from_session(s, device) for s in sessions}
    if placement != "host":
        raise ValueError(f"placement must be device or host, found {placement!r}")
    out = {}
    for s in sessions:
        host = SessionTensors.from_session(s, "cpu")
        out[s.key] = HostTensors(**{f.name: getattr(host, f.name) for f in fields(SessionTensors)}, target=device)
    return out


def prefetched(load: Callable[[T], U], items: Iterable[T], ahead: bool) -> Iterator[U]:
    """``load(item)`` for each item in order; with ``ahead``, the next item loads in a background thread
    while the caller works on the current one."""
    if not ahead:
        yield from map(load, items)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sensorium-prefetch") as pool:
        pending = None
        for item in items:
            future = pool.submit(load, item)
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()
