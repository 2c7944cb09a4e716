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


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 endpoint (SeaweedFS) on loopback for the whole session, with a bucket ``tune``."""
    from s3_server import S3Server

    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        server.make_bucket("tune")
        yield server


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """This process's environment pointed at ``s3_server``, as a user's shell would be (restored after)."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server.env
