"""Where the three contracts meet: a typed record of one run (data, model, trainer; validated once) and the one
function that loads, builds and trains from it.

The trainable, promotion members, ``sensorium-search train``, the search's preflight and the benchmarks all
go through here, so a decision about a run (where its data lives on the device, which sessions a member
re-splits, which frames a score reads) is made once, from the record, and not by each caller splicing dicts.
A search's trials are records too: ``SearchSpec.run_config`` decodes a Tune config into one.

Sessions are read once per process and data config (``sessions_of``): Tune runs many trials in one worker
under ``reuse_actors``, and a promotion scores every member on the same whole-trial sessions.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .data import DataConfig, Session, as_data_config, load_sessions
from .errors import UserError
from .models.families import model_schema, parse_model
from .training import Report, TrainerConfig, TrainResult, train, trainer_config


def schemas() -> dict:
    """The pydantic schemas of the three blocks, as the contracts define them; the model block's depends on
    the family it names."""
    return {"data": DataConfig, "model": model_schema, "trainer": TrainerConfig}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One run's data, model and trainer blocks, each validated against its schema."""

    data: DataConfig
    model: BaseModel        # the model family's schema, ``family`` included
    trainer: TrainerConfig

    @classmethod
    def from_blocks(cls, blocks: dict[str, Any], where: str = "") -> "RunConfig":
        """Validate plain ``data``/``model``/``trainer`` blocks (a missing model or trainer block means its
        defaults); a UserError names the key, after ``where`` (e.g. the file)."""
        data, model, trainer = (blocks.get(name) or {} for name in ("data", "model", "trainer"))
        try:
            return cls(as_data_config(data), parse_model(model)[1], trainer_config(trainer))
        except UserError as err:
            raise UserError(f"{where}{err}") from None

    def blocks(self) -> dict[str, dict]:
        """The record as plain blocks with the keys its config set (YAML, MLflow params, a Ray task's argument)."""
        return {"data": _given(self.data), "model": _given(self.model), "trainer": _given(self.trainer)}

    def __reduce__(self):
        # The model schema is made per family at run time (not importable by name): travel as blocks.
        return RunConfig.from_blocks, (self.blocks(),)

    def resplit(self) -> "RunConfig":
        """A promotion member's run: train/validation redrawn with the member's seed (test tiers untouched)."""
        return self.changed("data", resplit=True)

    def whole_trials(self) -> "RunConfig":
        """The run reading the frames the 2023 scorer reads (``full_trials``): for submission files and for
        scores that are the competition's, whatever ``max_frames`` training used."""
        from .submission.for_predictor import full_trials

        return dataclasses.replace(self, data=as_data_config(full_trials(_given(self.data))))

    def changed(self, block: str, **changes: Any) -> "RunConfig":
        """The run with ``changes`` to one block's keys, validated again."""
        return RunConfig.from_blocks({**self.blocks(), block: {**_given(getattr(self, block)), **changes}})


def _given(block: BaseModel) -> dict:
    return block.model_dump(mode="json", exclude_unset=True)


_loaded: dict[str, list[Session]] = {}  # at most one entry: the data config this process loaded last


def sessions_of(data: DataConfig, seed: int) -> list[Session]:
    """The sessions of ``data``, read once per process and data config (the previous one is let go first)."""
    key = json.dumps([data.model_dump(mode="json"), seed], sort_keys=True)
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = load_sessions(data, seed)
    return _loaded[key]


@dataclasses.dataclass
class Assembled:
    """A run's sessions and freshly built model, ready to train."""

    run: RunConfig
    seed: int
    sessions: list[Session]
    model: Any  # torch.nn.Module

    def train(self, report: Report | None = None, checkpoint: str | Path | None = None,
              device_share: float = 1.0) -> TrainResult:
        """Train the model in place (it ends holding its best weights), data placed as the record says."""
        return train(self.model, self.sessions, self.run.trainer, self.seed, report=report, checkpoint=checkpoint,
                     placement=self.run.data.placement, device_share=device_share)


def assemble(run: RunConfig, seed: int) -> Assembled:
    """Load (or reuse) the run's sessions and build its model: the two contracts before training."""
    from .models import build_model

    sessions = sessions_of(run.data, seed)
    return Assembled(run, seed, sessions, build_model(sessions, run.model, seed))


def fit(run: RunConfig, seed: int, report: Report | None = None, checkpoint: str | Path | None = None,
        device_share: float = 1.0) -> tuple[Assembled, TrainResult]:
    """Load, build and train one run (``assemble``, then ``Assembled.train``)."""
    assembled = assemble(run, seed)
    return assembled, assembled.train(report, checkpoint, device_share)
