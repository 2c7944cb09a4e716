"""A trial's system metrics: what its own process used since the last sample, logged as its run's metrics."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from search.system_metrics import sample
from search.trial_runs import result_metrics

pytestmark = pytest.mark.timeout(120)


def test_cpu_and_host_memory_are_this_process_since_the_last_sample():
    sample()
    start = time.process_time()
    while time.process_time() - start < 0.3:  # 0.3 s of this process's CPU, however loaded the machine is
        pass
    busy = sample()
    assert busy["system/cpu_utilization_percentage"] > 0
    assert 0 < busy["system/host_memory_percentage"] <= 100
    block = np.ones(300 * 2**20 // 8)  # 300 MB, every page touched
    grown = sample()
    assert grown["system/process_memory_megabytes"] - busy["system/process_memory_megabytes"] > 250
    del block


def test_the_samples_become_metrics_of_the_trial_run_at_their_epoch(tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("t", (tmp_path / "a").as_uri())).info.run_id
    for epoch in (1, 2):
        result = {"val_corr": 0.1 * epoch, **sample(), "training_iteration": epoch, "timestamp": time.time()}
        client.log_batch(run_id, metrics=result_metrics(result))
    logged = client.get_run(run_id).data.metrics
    assert {"system/cpu_utilization_percentage", "system/process_memory_megabytes"} <= set(logged)
    history = client.get_metric_history(run_id, "system/process_memory_megabytes")
    assert [m.step for m in history] == [1, 2] and all(m.value > 10 for m in history)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_memory_is_the_peak_since_the_last_sample():
    sample()
    block = torch.ones(256 * 2**20 // 4, device="cuda")  # 256 MB
    del block
    peak = sample()["system/gpu_memory_peak_megabytes"]
    assert 250 < peak < 400
    assert sample()["system/gpu_memory_peak_megabytes"] < 100  # the peak was reset by the sample before
