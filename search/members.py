"""Promotion members: one configuration retrained with one seed on its own re-split, kept on storage.

A member's folder (``<promotion>/members/<trial>-seed<seed>/``) holds its weights, its predictions on
the scored tiers and ``member.json``, written last: a folder with ``member.json`` is complete, and a
re-run of ``promote`` reuses it instead of training again. The worker writes the folder itself, so
weights and predictions never pass through Ray's object store; the driver reads them from storage.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from search import storage as store

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

    def predictions(self) -> dict:
        """``{session key: {tier: predictions}}`` as the member wrote them."""
        with tempfile.TemporaryDirectory() as tmp:
            folder = store.get_folder(self.folder, Path(tmp))
            with np.load(folder / PREDICTIONS_FILE, allow_pickle=False) as stored:
                index = json.loads(str(stored["index"]))
                out: dict = {}
                for name, (key, tier, item) in index.items():
                    tiers = out.setdefault(key, {})
                    if item is None:
                        tiers[tier] = stored[name]
                    else:
                        tiers.setdefault(tier, []).append(stored[name])
                return out

    def state_dict(self) -> dict:
        import torch

        with tempfile.TemporaryDirectory() as tmp:
            folder = store.get_folder(self.folder, Path(tmp))
            return torch.load(folder / WEIGHTS_FILE, weights_only=True, map_location="cpu")


def _save_predictions(path: Path, predictions: dict) -> None:
    """Static predictions are one array per tier, video ones a list of arrays (one per trial)."""
    arrays, index = {}, {}
    for key, tiers in predictions.items():
        for tier, value in tiers.items():
            items = [(None, value)] if isinstance(value, np.ndarray) else list(enumerate(value))
            for item, array in items:
                name = f"a{len(arrays)}"
                arrays[name], index[name] = array, [key, tier, item]
    np.savez(path, index=np.array(json.dumps(index)), **arrays)


def train_member(blocks: dict, trial_id: str, seed: int, threads: int, promotion: str) -> dict:
    """On a Ray worker: train, write the member's folder to storage, return its record as a dict."""
    import torch

    from search.trainable import sessions_for
    from sensorium_models.data import placement_of
    from sensorium_models.models import build_model
    from sensorium_models.prediction import predict
    from sensorium_models.data.tiers import scored_tiers
    from sensorium_models.submission.for_predictor import full_trials
    from sensorium_models.training import eval_skip, train, trainer_config

    torch.set_num_threads(threads)
    sessions = sessions_for({**blocks["data"], "resplit": True}, seed)
    model = build_model(sessions, blocks["model"], seed)
    result = train(model, sessions, blocks["trainer"], seed, placement=placement_of(blocks["data"]))
    model.load_state_dict(result.best_state)
    split = hashlib.sha256(b"".join(s.indices("validation").tobytes() for s in sessions)).hexdigest()[:12]
    whole = sessions_for(full_trials({**blocks["data"], "resplit": True}), seed)  # scored as the competition does
    predictions = {s.key: {tier: predict(model, s.whole_trials(), s.tier_indices(tier)) for tier in scored_tiers(s)}
                   for s in whole}
    folder = MemberRecord.location(promotion, trial_id, seed)
    record = MemberRecord(trial_id, seed, float(result.best_val_corr), int(result.epochs), split,
                          eval_skip(trainer_config(blocks["trainer"])), folder)
    with tempfile.TemporaryDirectory() as tmp:
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, Path(tmp) / WEIGHTS_FILE)
        _save_predictions(Path(tmp) / PREDICTIONS_FILE, predictions)
        store.put_folder(Path(tmp), folder)
    fields = asdict(record)
    del fields["folder"]  # where it is read from decides that
    store.write_text(store.join(folder, RECORD_FILE), json.dumps(fields, indent=2))  # last: the folder is complete
    return asdict(record)
