"""The installed command works outside a checkout: from a folder that is not the repository, with no PYTHONPATH,
``sensorium-search cluster local`` runs and the shipped configs (model presets) are found as package data."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.timeout(120)


def outside(folder: Path, *argv: str) -> subprocess.CompletedProcess:
    """``argv`` run in ``folder`` with what the install provides: no PYTHONPATH, so nothing of this checkout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=90)


def test_the_local_cluster_is_a_command_of_the_installed_cli(tmp_path):
    done = outside(tmp_path, str(BIN / "sensorium-search"), "cluster", "local", "start", "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: sensorium-search cluster local start" in done.stdout and "--workers" in done.stdout


def test_a_mistake_in_its_options_is_one_line_and_status_2(tmp_path):
    done = outside(tmp_path, str(BIN / "sensorium-search"), "cluster", "local", "start", "--resources", "[1]")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "local_cluster: error: --resources: expected a JSON object, found '[1]'\n"


def test_a_shipped_model_preset_is_found_from_any_folder(tmp_path):
    code = "import json; from search.presets import read_preset; print(json.dumps(read_preset('model4')))"
    done = outside(tmp_path, sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout) == yaml.safe_load((ROOT / "configs" / "model" / "model4.yaml").read_text())
