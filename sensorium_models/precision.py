"""Whether training runs under bf16 autocast: ``trainer.amp`` true, false, or ``auto``.

``auto`` uses bf16 only where it was measured to be fast: CUDA GPUs that support bf16, and CPUs with AMX
(Intel's matrix unit, which has bf16 tiles). On a CPU without AMX, bf16 is emulated: on an AMD EPYC it made
the SOTA model's epochs 3.0x slower than fp32 (19.1 s vs 6.3 s, ``bench/train_speed.py --trials 240
--neurons 1000``), while on a Xeon with AMX it made them 1.3x faster.
"""
from __future__ import annotations

from pathlib import Path

import torch

CPUINFO = Path("/proc/cpuinfo")


def cpu_has_amx() -> bool:
    """Linux lists AMX's bf16 unit as the ``amx_bf16`` CPU flag; without /proc/cpuinfo, assume no AMX."""
    try:
        lines = CPUINFO.read_text().splitlines()
    except OSError:
        return False
    return any(line.startswith("flags") and "amx_bf16" in line.split() for line in lines)


def gpu_has_bf16() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def choose_amp(setting: bool | str, device: torch.device) -> tuple[bool, str]:
    """(bf16 autocast on or off, the reason in words) for ``trainer.amp`` on ``device``."""
    if setting != "auto":
        return bool(setting), f"trainer.amp: {str(bool(setting)).lower()}"
    if device.type == "cuda":
        fast = gpu_has_bf16()
        return fast, f"CUDA GPU {'with' if fast else 'without'} bf16 support"
    if device.type == "cpu":
        fast = cpu_has_amx()
        return fast, f"CPU {'with' if fast else 'without'} AMX"
    return False, f"{device.type} device: bf16 speed unknown"


def describe(amp: bool, reason: str) -> str:
    """The line the trainer prints for ``amp: auto``."""
    return f"trainer.amp auto: {'bf16 autocast' if amp else 'fp32'} ({reason})"
