"""Two classes of mistakes, for every command they can reach: asking for hardware this machine lacks, and a
file that is not what its name or place says. Each is one line naming what is wrong, status 2, no traceback,
and nothing left behind by a launch it refused."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from search_builders import run_cli, tiny_session, tiny_space, write_space

pytestmark = pytest.mark.timeout(300)
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has the GPU this mistake asks for")


def _refused(argv: list[str], names: str) -> None:
    rc, out, err = run_cli(*argv)
    assert rc == 2, (argv, out, err)
    assert err.count("\n") == 1 and err.startswith("sensorium-search: error: ") and "Traceback" not in err, err
    assert names in err, err


@pytest.fixture(scope="module")
def where(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mistakes")
    data = tiny_session(root / "data").parent
    binary = root / "binary.yaml"
    binary.write_bytes(bytes(range(256)) * 4)  # a .yaml that is not text (a PNG renamed, a partial download)
    (root / "notzip.zip").write_text("a text file, named as a zip\n")
    for name, content in (("garbled", bytes(range(128, 256))), ("notarecord", b"[1, 2]")):
        folder = root / "runs" / "searches" / name
        folder.mkdir(parents=True)
        (folder / "record.json").write_bytes(content)
    (root / "model" / "artifacts" / "ensemble").mkdir(parents=True)  # a registered model's layout, downloaded
    (root / "model" / "artifacts" / "ensemble" / "ensemble.yaml").write_bytes(bytes(range(128, 256)))
    return {"root": root, "data": data, "binary": binary, "runs": root / "runs"}


def _space(where, name: str, **search) -> Path:
    space = tiny_space(where["data"], where["root"] / "cache")
    space["search"].update(search)
    return write_space(where["root"] / f"{name}.yaml", space)


@NO_CUDA
def test_a_search_asking_for_a_gpu_per_trial_on_a_cpu_machine(where):
    config = _space(where, "gpus", resources={"cpus": 1, "gpus": 1})
    _refused(["search", "launch", str(config), "--runs-dir", str(where["root"] / "r1")], "search.resources.gpus")
    assert not (where["root"] / "r1" / "searches").exists()


def test_a_search_training_on_cuda_with_no_gpu_given_to_its_trials(where):
    space = tiny_space(where["data"], where["root"] / "cache")
    space["trainer"]["device"] = {"choice": ["cpu", "cuda"]}
    config = write_space(where["root"] / "cuda.yaml", space)
    _refused(["search", "launch", str(config), "--runs-dir", str(where["root"] / "r2")], "trainer.device: 'cuda'")
    assert not (where["root"] / "r2" / "searches").exists()  # the refused launch left no search behind


@NO_CUDA
def test_training_on_cuda_on_a_cpu_machine(where):
    config = where["root"] / "train.yaml"
    config.write_text(f"data: {{paths: ['{where['data']}'], cache_dir: '{where['root'] / 'cache'}'}}\n"
                      "model: {hidden_channels: 4, layers: 1}\ntrainer: {max_epochs: 1, device: cuda}\n")
    _refused(["train", str(config), "--out", str(where["root"] / "t")], "trainer.device: 'cuda'")


COMMANDS_ON_A_RECORD = [["search", "status"], ["search", "best"], ["search", "resume"], ["search", "sync"], ["promote"]]


@pytest.mark.parametrize("command", COMMANDS_ON_A_RECORD, ids=" ".join)
@pytest.mark.parametrize("record", ["garbled", "notarecord"])
def test_a_search_record_that_is_not_one(where, command, record):
    path = where["runs"] / "searches" / record / "record.json"
    _refused([*command, record, "--runs-dir", str(where["runs"])], str(path))


@pytest.mark.parametrize("command", [["train"], ["search", "launch"]], ids=" ".join)
def test_a_yaml_that_is_not_text(where, command):
    _refused([*command, str(where["binary"])], f"{where['binary']}: expected UTF-8 text")


def test_a_zip_that_is_not_a_zip(where):
    zip_path = str(where["root"] / "notzip.zip")
    _refused(["data", "inspect", zip_path], f"{zip_path}: expected a zip archive")
    _refused(["submission", "validate", str(where["root"] / "submission_file_live_test.csv"), "--data", zip_path],
             f"{zip_path}: expected a zip archive")


def test_an_npy_that_is_text(where, tmp_path):
    import shutil

    (session,) = [p for p in where["data"].iterdir() if p.is_dir() and p.name.startswith("static")]
    copy = shutil.copytree(session, tmp_path / session.name)
    npy = sorted((copy / "data" / "responses").iterdir())[0]
    npy.write_text("0.1 0.2 0.3\n")
    _refused(["data", "inspect", str(copy)], str(npy))


def test_an_ensemble_description_that_is_not_text(where):
    folder = where["root"] / "model"
    _refused(["submission", "write", "--model", str(folder), "--data", str(where["data"]), "--out",
              str(where["root"] / "out")], "ensemble.yaml: expected UTF-8 text")
    assert not (where["root"] / "out").exists()


def test_a_tracking_store_that_is_not_sqlite(where):
    store = f"sqlite:///{where['binary']}"
    _refused(["ui", "--mlflow-uri", store], f"{where['binary']}: expected an MLflow store")
    _refused(["search", "launch", str(_space(where, "store")), "--runs-dir", str(where["root"] / "r3"),
              "--mlflow-uri", store], f"{where['binary']}: expected an MLflow store")
