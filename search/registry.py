"""Promoted ensembles in the MLflow model registry: save, register under an alias, load back as a predictor.

A registered ensemble is a pyfunc model logged *from code* (``search/ensemble_pyfunc.py``), so loading it
unpickles nothing. Its artifact folder holds ``ensemble.yaml`` (each member's data/model/trainer config and
seed, the sessions it was trained on), ``members/<i>.pt`` (state dicts, read with ``weights_only=True``) and
``normalisation.npz`` (each session's neuron ids and response std, checked against the data it predicts).

It stands on its own: the model carries the code its ``predict`` imports (``code_paths``: the
``sensorium_models`` and ``search`` packages), pins every distribution that code imports, and has a
signature (``paths``: a list of session folders or zips) and an input example; the registry version is
tagged with the promotion's mean scores, the search, the git commit and the data's fingerprint.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import hashlib
from importlib.metadata import version as installed_version

import numpy as np
import torch
import yaml

from sensorium_models.atomic import atomic_path
from sensorium_models.data.session import Session
from sensorium_models.ensemble import Ensemble
from sensorium_models.errors import UserError
from sensorium_models.models import build_model
from sensorium_models.yaml_file import read_yaml

ENSEMBLE_FILE = "ensemble.yaml"
NORMALISATION_FILE = "normalisation.npz"
PYFUNC_CODE = Path(__file__).with_name("ensemble_pyfunc.py")
# The packages ``predict`` imports from the checkout, shipped with the model (MLflow puts their parent on sys.path).
CODE_PATHS = [Path(__file__).resolve().parent, Path(__file__).resolve().parents[1] / "sensorium_models"]
# Every distribution the predict path imports (tests/test_registry_standalone.py checks the list is complete),
# pinned at the versions installed here, i.e. requirements.txt's.
MODEL_DISTRIBUTIONS = ("mlflow", "torch", "numpy", "PyYAML", "pydantic", "pydantic_core", "annotated-types",
                       "typing-inspection", "typing_extensions", "tqdm")


@dataclass
class Member:
    """One trained member: the configuration it was trained with, its seed and its weights."""

    config: dict
    seed: int
    state_dict: dict[str, torch.Tensor]


def save_ensemble(folder: str | Path, members: list[Member], sessions: list[Session], meta: dict) -> Path:
    """Write the ensemble's artifact folder atomically; ``meta`` (scores, provenance) goes into the YAML."""
    folder = Path(folder)
    with atomic_path(folder) as tmp:
        (tmp / "members").mkdir(parents=True)
        entries = []
        for i, member in enumerate(members):
            torch.save(member.state_dict, tmp / "members" / f"{i}.pt")
            entries.append({"config": member.config, "seed": member.seed, "weights": f"members/{i}.pt"})
        spec = {"members": entries, "sessions": [s.key for s in sessions], **meta}
        (tmp / ENSEMBLE_FILE).write_text(yaml.safe_dump(spec, sort_keys=False))
        arrays = {}
        for s in sessions:
            arrays[f"{s.key}/unit_ids"] = np.asarray(s.unit_ids)
            arrays[f"{s.key}/response_std"] = np.asarray(s.response_std)
        np.savez(tmp / NORMALISATION_FILE, **arrays)
    return folder


def _matching_sessions(folder: Path, keys: list[str], sessions: list[Session]) -> list[Session]:
    """The sessions the ensemble was trained on, in its order, checked against its normalisation."""
    by_key = {s.key: s for s in sessions}
    missing = [k for k in keys if k not in by_key]
    if missing:
        raise UserError(f"{folder}: the ensemble was trained on sessions {missing} that the data does not hold "
                        f"(found {sorted(by_key)})")
    with np.load(folder / NORMALISATION_FILE, allow_pickle=False) as stored:
        for key in keys:
            session = by_key[key]
            if not np.array_equal(stored[f"{key}/unit_ids"], session.unit_ids):
                raise UserError(f"session {key}: neuron ids differ from those the ensemble was trained on")
            trained, std = stored[f"{key}/response_std"], np.asarray(session.response_std)
            frames = min(len(trained), len(std)) if std.ndim == 2 else None  # video: per frame; data may be longer
            if trained.shape[1:] != std.shape[1:] or not np.allclose(trained[:frames], std[:frames], rtol=1e-4):
                raise UserError(f"session {key}: response statistics differ from those the ensemble "
                                "was trained on (meta/statistics/responses changed?)")
    return [by_key[k] for k in keys]


def load_ensemble_folder(folder: str | Path, sessions: list[Session]) -> tuple[Ensemble, list[Session]]:
    """Rebuild every member for ``sessions`` and load its weights; returns the ensemble and its sessions."""
    folder = Path(folder)
    spec = read_yaml(folder / ENSEMBLE_FILE, "ensemble description")
    matched = _matching_sessions(folder, spec["sessions"], sessions)
    members = []
    for entry in spec["members"]:
        model = build_model(matched, entry["config"]["model"], entry["seed"])
        model.load_state_dict(torch.load(folder / entry["weights"], weights_only=True, map_location="cpu"))
        members.append(model.eval())
    return Ensemble(members), matched


def data_fingerprint(sessions: list[Session]) -> str:
    """What the ensemble checks the data against (each session's key, neuron ids and response std), hashed."""
    digest = hashlib.sha256()
    for s in sorted(sessions, key=lambda s: s.key):
        for part in (s.key.encode(), np.asarray(s.unit_ids).tobytes(), np.asarray(s.response_std).tobytes()):
            digest.update(part)
    return digest.hexdigest()[:16]


def model_requirements() -> list[str]:
    """``name==version`` for every distribution the model's code imports, as installed here."""
    return [f"{name}=={installed_version(name).split('+')[0]}" for name in MODEL_DISTRIBUTIONS]


def register_ensemble(folder: Path, name: str, alias: str, run_id: str, example_paths: list[str],
                      tags: dict[str, str]) -> str:
    """Log the folder as a pyfunc model on ``run_id``, register it as a new version of ``name`` tagged with
    ``tags``, point ``alias`` at it; returns the version. ``example_paths`` (the data it was trained on) is
    the input example, which MLflow predicts once to check it. The tracking URI must already be set."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import Array
    from mlflow.utils.logging_utils import disable_logging, enable_logging

    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="ensemble", python_model=str(PYFUNC_CODE), artifacts={"ensemble": str(folder)},
            code_paths=[str(p) for p in CODE_PATHS], pip_requirements=model_requirements(),
            signature=ModelSignature(inputs=Schema([ColSpec(Array(DataType.string), "paths")])),
            input_example=pd.DataFrame({"paths": [[str(p) for p in example_paths]]}),
        )
    disable_logging()  # "Successfully registered model ...", "Created version ...": promote says it once
    try:
        version = str(mlflow.register_model(info.model_uri, name).version)
    finally:
        enable_logging()
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))
    client.set_registered_model_alias(name, alias, version)
    return version


def download_ensemble(model_uri: str) -> Path:
    """The artifact folder of a registered ensemble, e.g. ``models:/sensorium@champion``."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        root = Path(mlflow.artifacts.download_artifacts(model_uri))
    except MlflowException as err:
        raise UserError(f"model {model_uri!r}: {err.message.splitlines()[0]}") from None
    folder = root / "artifacts" / "ensemble"
    if not (folder / ENSEMBLE_FILE).exists():
        raise UserError(f"model {model_uri!r} is not a sensorium-search ensemble (no {ENSEMBLE_FILE})")
    return folder
