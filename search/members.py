"""Promotion members: one configuration retrained with one seed on its own re-split, kept on storage.

A member's folder (``<promotion>/members/<trial>-seed<seed>/``) holds its weights, its predictions on
the scored tiers and ``member.json``, written last: a folder with ``member.json`` is complete, and a
re-run of ``promote`` reuses it instead of training again. The worker writes the folder itself, so
weights and predictions never pass through Ray's object store; the driver reads them from storage. Both
sides hold one session's tier of predictions at a time: the worker writes each as it is predicted, the
driver reads each when it scores it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from search import storage as store
from sensorium_models.compose import RunConfig

RECORD_FILE, WEIGHTS_FILE, PREDICTIONS_FILE = "member.json", "weights.pt", "predictions.npz"


@dataclass
class MemberRecord:
    """What a finished member is, without its weights and predictions (those stay in ``folder``)."""

    trial_id: str
    seed: int
    validation_corr: float   # on its own held-out split
    epochs: int
    split: str               # fingerprint of its validation trials
    skip: int                # frames of a video trial the scorer skips (trainer.eval_skip, else 51)
    folder: str              # on storage

    @staticmethod
    def location(promotion: str, trial_id: str, seed: int) -> str:
        return store.join(promotion, "members", f"{trial_id}-seed{seed}")

    @classmethod
    def find(cls, promotion: str, trial_id: str, seed: int) -> "MemberRecord | None":
        """The member if an earlier run finished it, else None."""
        folder = cls.location(promotion, trial_id, seed)
        text = store.read_text(store.join(folder, RECORD_FILE))
        return None if text is None else cls(**{**json.loads(text), "folder": folder})

    @contextlib.contextmanager
    def stored_predictions(self) -> Iterator[Callable[[str, str], np.ndarray | list[np.ndarray]]]:
        """``read(session key, tier)``: the predictions the member wrote for them, read from storage when
        asked (an .npz member is loaded on access), so a reader holds one session's tier, not all."""
        with tempfile.TemporaryDirectory() as tmp:
            folder = store.get_folder(self.folder, Path(tmp))
            with np.load(folder / PREDICTIONS_FILE, allow_pickle=False) as stored:
                index = json.loads(str(stored["index"]))
                names: dict[tuple[str, str], list[str]] = {}
                for name, (key, tier, _) in index.items():
                    names.setdefault((key, tier), []).append(name)

                def read(key: str, tier: str) -> np.ndarray | list[np.ndarray]:
                    found = names[(key, tier)]
                    return stored[found[0]] if index[found[0]][2] is None else [stored[name] for name in found]

                yield read

    def state_dict(self) -> dict:
        import torch

        with tempfile.TemporaryDirectory() as tmp:
            folder = store.get_folder(self.folder, Path(tmp))
            return torch.load(folder / WEIGHTS_FILE, weights_only=True, map_location="cpu")


def save_predictions(path: Path, predictions: Iterable[tuple[str, str, np.ndarray | list[np.ndarray]]]) -> None:
    """(session key, tier, predictions) as they come, into one .npz (``np.savez``'s layout: one stored
    .npy per array, and an ``index`` naming them), so the writer holds one session's tier at a time.
    Static predictions are one array per tier, video ones a list of arrays (one per trial)."""
    index = {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        def write(name: str, array: np.ndarray) -> None:
            with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)

        for key, tier, value in predictions:
            for item, array in [(None, value)] if isinstance(value, np.ndarray) else enumerate(value):
                name = f"a{len(index)}"
                index[name] = [key, tier, item]
                write(name, array)
        write("index", np.array(json.dumps(index)))


def scored_predictions(model, sessions: list) -> Iterator[tuple[str, str, np.ndarray | list[np.ndarray]]]:
    """The model's predictions of each session's scored tiers over whole trials, one tier at a time."""
    from sensorium_models.data.tiers import scored_tiers
    from sensorium_models.prediction import predict

    for session in sessions:
        for tier in scored_tiers(session):
            yield session.key, tier, predict(model, session.whole_trials(), session.tier_indices(tier))


def train_member(run: RunConfig, trial_id: str, seed: int, threads: int, promotion: str) -> dict:
    """On a Ray worker: fit the trial's run on its own re-split, write the member's folder to storage, return
    its record as a dict."""
    import torch

    from sensorium_models.compose import fit, sessions_of
    from sensorium_models.training import eval_skip

    torch.set_num_threads(threads)
    member = run.resplit()
    assembled, result = fit(member, seed)
    model = assembled.model  # holding its best weights
    split = hashlib.sha256(b"".join(s.indices("validation").tobytes() for s in assembled.sessions)).hexdigest()[:12]
    whole = sessions_of(member.whole_trials().data, seed)  # scored as the competition does
    folder = MemberRecord.location(promotion, trial_id, seed)
    record = MemberRecord(trial_id, seed, float(result.best_val_corr), int(result.epochs), split,
                          eval_skip(run.trainer), folder)
    with tempfile.TemporaryDirectory() as tmp:
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, Path(tmp) / WEIGHTS_FILE)
        save_predictions(Path(tmp) / PREDICTIONS_FILE, scored_predictions(model, whole))
        store.put_folder(Path(tmp), folder)
    fields = asdict(record)
    del fields["folder"]  # where it is read from decides that
    store.write_text(store.join(folder, RECORD_FILE), json.dumps(fields, indent=2))  # last: the folder is complete
    return asdict(record)
