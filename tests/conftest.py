"""Shared fixtures. Ray reads its environment when imported, so it is set first, before anything imports ray."""
from __future__ import annotations

from search import environment

environment.apply(None)  # in-process Ray on 127.0.0.1 only, as the CLI runs it

import pytest  # noqa: E402  (after the environment, on purpose)
import ray  # noqa: E402


@pytest.fixture(scope="session")
def ray_local():
    """One in-process Ray for the whole session (~5 s to start); the search code reuses it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    ray.shutdown()
