"""A registered ensemble stands on its own: it loads, predicts and serves where the checkout is not importable.

The child processes run with a ``sitecustomize`` that takes the project out of reach before anything else
runs (the editable install's finder removed, no path entry inside the checkout, cwd elsewhere); each child
checks that ``sensorium_models`` cannot be found before it loads the model. Real MLflow, real
``mlflow models serve``; nothing mocked.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from mlflow import MlflowClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlflow_server import free_port
from model_builders import SMALL
from search.registry import (MODEL_DISTRIBUTIONS, Member, data_fingerprint, download_ensemble, load_ensemble_folder,
                             model_requirements, register_ensemble, save_ensemble)
from search_builders import tiny_session
from sensorium_models.data import load_sessions
from sensorium_models.errors import UserError
from sensorium_models.models import build_model

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[1]
NAME = "standalone"

GUARD = textwrap.dedent("""
    import os, sys
    inside = lambda path, folder: (os.path.realpath(path) + os.sep).startswith(os.path.realpath(folder) + os.sep)
    checkout, venv = os.environ["GUARD_CHECKOUT"], sys.prefix  # the venv may live in the checkout (.venv)
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
    sys.path[:] = [p for p in sys.path if p and (inside(p, venv) or not inside(p, checkout))]
    with open(os.environ["GUARD_LOG"], "a") as log:
        log.write(f"{os.getpid()}\\n")
""")

CHILD = textwrap.dedent("""
    import importlib.util, json, sys
    assert importlib.util.find_spec("sensorium_models") is None, "the checkout is importable"
    assert importlib.util.find_spec("search") is None, "the checkout is importable"
    import mlflow.pyfunc
    before = {name.split(".")[0] for name in sys.modules}
    model = mlflow.pyfunc.load_model(sys.argv[1])
    predictions = model.predict({"paths": [sys.argv[2]]})
    import sensorium_models
    print(json.dumps({
        "code": sensorium_models.__file__,
        "imported": sorted({name.split(".")[0] for name in sys.modules} - before - set(sys.stdlib_module_names)),
        "predictions": {s: {t: v.tolist() for t, v in tiers.items()} for s, tiers in predictions.items()},
    }))
""")


def _member(sessions, seed: int) -> Member:
    """A member whose weights are not those its seed builds (as trained ones are not)."""
    generator = torch.Generator().manual_seed(seed)
    state = {k: v + 0.1 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v
             for k, v in build_model(sessions, SMALL, seed).state_dict().items()}
    return Member({"data": {"paths": ["unused"]}, "model": SMALL, "trainer": {"max_epochs": 1}}, seed, state)


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    root = tmp_path_factory.mktemp("standalone")
    data = tiny_session(root / "data")
    sessions = load_sessions({"paths": [str(data)], "cache_dir": str(root / "cache")})
    folder = save_ensemble(root / "ensemble", [_member(sessions, 1), _member(sessions, 2)], sessions, {})
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("promotion", artifact_location=(root / "artifacts").as_uri())
    run_id = MlflowClient().create_run(experiment).info.run_id
    tags = {"search": "tiny", "git_commit": "abc", "data_fingerprint": data_fingerprint(sessions),
            "score.mean/test/single_trial_corr": "0.25"}
    version = register_ensemble(folder, NAME, "champion", run_id, [str(data)], tags)
    ensemble, matched = load_ensemble_folder(folder, sessions)
    expected = {s.name: {tier: ensemble.predict(s.whole_trials(), s.tier_indices(tier)) for tier in ("test", "final_test")}
                for s in matched}
    guard = root / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(guard),
           "GUARD_CHECKOUT": str(ROOT), "GUARD_LOG": str(root / "guard.log"), "MLFLOW_TRACKING_URI": uri,
           "XDG_CACHE_HOME": str(root / "xdg"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}  # as in an active venv
    (root / "elsewhere").mkdir()
    return {"root": root, "data": data, "uri": uri, "version": version, "tags": tags, "expected": expected,
            "env": env, "cwd": root / "elsewhere"}


def _assert_predictions(answer: dict, expected: dict) -> None:
    assert sorted(answer) == sorted(expected)
    for session, tiers in expected.items():
        assert sorted(answer[session]) == sorted(tiers)
        for tier, values in tiers.items():
            np.testing.assert_allclose(np.asarray(answer[session][tier]), values, rtol=1e-5, atol=1e-6)


def test_the_model_loads_and_predicts_where_the_checkout_is_not_importable(registered):
    proc = subprocess.run([sys.executable, "-c", CHILD, f"models:/{NAME}@champion", str(registered["data"])],
                          cwd=registered["cwd"], env=registered["env"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (registered["root"] / "guard.log").read_text().strip()  # the guard ran in the child
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert f"{os.sep}code{os.sep}sensorium_models{os.sep}" in out["code"] and not out["code"].startswith(str(ROOT))
    _assert_predictions(out["predictions"], registered["expected"])
    # Every distribution that loading and predicting imported is one the model pins, or one they require.
    by_module = packages_distributions()
    needed = {canonicalize_name(dist) for module in out["imported"] for dist in by_module.get(module, [])}
    assert needed - {"sensorium-search"} <= _closure(MODEL_DISTRIBUTIONS), needed - _closure(MODEL_DISTRIBUTIONS)
    assert "torch" in needed  # imported by the code the model carries, not by MLflow


def _closure(names) -> set[str]:
    """The distributions ``names`` pull in when installed (their requirements, recursively, extras too)."""
    seen, todo = set(), [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            todo += [canonicalize_name(Requirement(r).name) for r in distribution(name).requires or []]
        except PackageNotFoundError:
            pass
    return seen


def test_the_model_carries_its_code_requirements_signature_example_and_tags(registered):
    from mlflow.models import Model

    client = MlflowClient(registered["uri"])
    version = client.get_model_version(NAME, registered["version"])
    assert client.get_model_version_by_alias(NAME, "champion").version == version.version
    mlflow.set_tracking_uri(registered["uri"])
    assert (download_ensemble(f"models:/{NAME}@champion") / "ensemble.yaml").exists()
    with pytest.raises(UserError, match=f"models:/{NAME}@nope"):
        download_ensemble(f"models:/{NAME}@nope")
    assert {k: version.tags[k] for k in registered["tags"]} == registered["tags"]
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{NAME}/{registered['version']}",
                                                     tracking_uri=registered["uri"]))
    model = Model.load(local / "MLmodel")
    assert model.flavors["python_function"]["code"] == "code"
    assert (local / "code" / "sensorium_models" / "ensemble.py").exists() and (local / "code" / "search" / "registry.py").exists()
    assert model.signature.inputs.input_names() == ["paths"]
    assert json.loads((local / "input_example.json").read_text())["data"] == [[[str(registered["data"])]]]
    pins = (local / "requirements.txt").read_text().split()
    assert pins == model_requirements()
    project = set((ROOT / "requirements.txt").read_text().splitlines())
    assert all(pin in project or pin.replace("_", "-") in project for pin in pins if not pin.startswith("pydantic_core"))


def test_mlflow_models_serve_answers_a_request(registered):
    port = free_port()
    log, guarded = registered["root"] / "serve.log", registered["root"] / "guard.log"
    started = len(guarded.read_text().split()) if guarded.exists() else 0
    mlflow_cli = str(Path(sys.executable).parent / "mlflow")
    with open(log, "w") as out:
        proc = subprocess.Popen([mlflow_cli, "models", "serve", "-m", f"models:/{NAME}@champion", "--env-manager",
                                 "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
                                cwd=registered["cwd"], env=registered["env"], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        body = json.dumps({"dataframe_records": [{"paths": [str(registered["data"])]}]}).encode()
        deadline, answer = time.monotonic() + 240, None
        while answer is None:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    answer = json.loads(response.read())
            except urllib.error.HTTPError as err:
                pytest.fail(f"{err.code}: {err.read()[:2000]!r}")
            except OSError:
                time.sleep(0.5)
        _assert_predictions(answer["predictions"], registered["expected"])
        assert len(guarded.read_text().split()) >= started + 2  # the mlflow CLI and the server it ran: guarded
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own session: mlflow and the uvicorn it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
