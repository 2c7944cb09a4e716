"""The one top-level handler: a user's mistake is one line and status 2 wherever it was raised (also inside
a Ray task), a fault of the tool is one line and status 1, and ``--debug`` adds the traceback."""
from __future__ import annotations

from search.cli import describe_error
from search_builders import run_cli
from sensorium_models.errors import UserError


def test_a_user_error_from_a_ray_task_is_its_own_line():
    from ray.exceptions import RayTaskError

    remote = RayTaskError("train_member", "Traceback (most recent call last):\n  ...", UserError("x.npy: truncated"))
    assert describe_error(remote.as_instanceof_cause()) == ("x.npy: truncated", 2)
    try:
        raise RuntimeError("wrapper") from UserError("y.yaml: bad")
    except RuntimeError as err:
        assert describe_error(err) == ("y.yaml: bad", 2)


def test_os_errors_name_their_file_and_tool_faults_point_at_debug():
    assert describe_error(PermissionError(13, "Permission denied", "/data/s1")) == ("/data/s1: Permission denied", 2)
    line, status = describe_error(KeyError("boom"))
    assert status == 1 and line.startswith("KeyError: 'boom'") and "--debug" in line


def test_debug_shows_the_traceback(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("data: {paths: [x]}\nmodel: {layres: 3}\n")
    rc, _, err = run_cli("train", str(path))
    assert rc == 2 and "Traceback" not in err
    rc, _, err = run_cli("--debug", "train", str(path))
    assert rc == 2 and "Traceback (most recent call last)" in err and err.rstrip().endswith("did you mean 'layers'?")
