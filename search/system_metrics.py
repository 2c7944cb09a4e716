"""What a trial's process used since its last report: CPU and GPU utilisation, host and device memory.

Sampled by the trial itself (only its process knows its own use) once per epoch and reported to Tune with
its scores; the driver's tracker logs every numeric result key, so these land in the trial's MLflow run as
``system/...`` metrics, one point per epoch. Whether packing more trials per GPU would pay is in them: a GPU
a trial leaves idle, and the device memory it peaks at.
"""
from __future__ import annotations

import ray  # noqa: F401  (puts Ray's bundled psutil on sys.path, as on every Ray worker)
import psutil
import torch

_process = psutil.Process()
_process.cpu_percent(None)  # starts the window the first sample reads


def sample() -> dict[str, float]:
    """``system/...`` metrics since the previous call (the first: since this module was imported).

    CPU utilisation is this process's, in percent of one core (200 = two cores busy); host memory its
    resident set. On CUDA: the device's utilisation as the driver last saw it (where pynvml is installed),
    and the peak memory this process allocated on it since the previous sample.
    """
    metrics = {
        "system/cpu_utilization_percentage": _process.cpu_percent(None),
        "system/process_memory_megabytes": _process.memory_info().rss / 2**20,
        "system/host_memory_percentage": psutil.virtual_memory().percent,
    }
    if torch.cuda.is_available():
        device = torch.cuda.current_device()
        metrics["system/gpu_memory_peak_megabytes"] = torch.cuda.max_memory_allocated(device) / 2**20
        metrics["system/gpu_memory_reserved_megabytes"] = torch.cuda.memory_reserved(device) / 2**20
        torch.cuda.reset_peak_memory_stats(device)
        try:
            metrics["system/gpu_utilization_percentage"] = float(torch.cuda.utilization(device))
        except (ImportError, RuntimeError):  # no pynvml, or no NVML on this machine
            pass
    return metrics
