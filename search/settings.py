"""The ``search:`` block of a search YAML: which algorithm, how many trials, how far each may run, on what.

One pydantic model per sub-block; a key that only another algorithm reads is refused, not silently ignored.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from search.objective import Objective
from search.resources import Resources


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AshaSettings(_Strict):
    """ASHA on ``training_iteration`` (one iteration = one reported epoch). ``max_t`` caps every algorithm's
    trials; the other keys are the early stopping of ``tpe`` (and ``reduction_factor`` BOHB's HyperBand's)."""

    grace_period: int = Field(1, ge=1)
    max_t: int = Field(ge=1)
    reduction_factor: float = Field(2.0, gt=1)
    brackets: int = Field(1, ge=1)  # more than one hedges successive halving's bias to fast starters
    # The first N trials run to max_t unstopped (their results still fill the rungs), so TPE's start-up
    # learns from full-fidelity values rather than from the rungs' fast starters (search.searcher.FullStartASHA).
    full_start: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _grace_within_max(self) -> "AshaSettings":
        if self.grace_period > self.max_t:
            raise ValueError(f"grace_period {self.grace_period} exceeds max_t {self.max_t}")
        return self


# From this many trials (num_samples) on a search is large. A GP suggestion costs the driver's CPU 0.4 s at 100
# finished trials, 1.4 s at 1 000 and 6 s at 2 000 (up to 66 s), so the default algorithm is TPE there; and TPE
# models the keys jointly, one-key-at-a-time TPE costing 3x its CPU (bench/results/tpe_scale.md).
LARGE_SEARCH = 1000


class TpeSettings(_Strict):
    """Optuna's TPESampler: random suggestions until ``n_startup_trials`` have ended, then TPE."""

    n_startup_trials: int = Field(10, ge=1)
    # Model the searched keys jointly (Optuna's multivariate + group TPE). None: in a LARGE_SEARCH.
    multivariate: bool | None = None


class GpSettings(_Strict):
    """Optuna's GPSampler: random configurations until ``n_startup_trials`` have ended, then the GP. Fewer reach
    a good region sooner but miss it more often (bench/results/search_gp_startup.md)."""

    n_startup_trials: int = Field(10, ge=1)


# The keys only some algorithms read; set with another, they are refused rather than silently ignored.
ALGORITHMS_OF = {"tpe": ("tpe",), "gp": ("gp",), "optuna_storage": ("tpe", "gp"), "asha.grace_period": ("tpe",),
                 "asha.brackets": ("tpe",), "asha.full_start": ("tpe",), "asha.reduction_factor": ("tpe", "bohb")}


class SearchSettings(_Strict):
    metric: str
    mode: Literal["max", "min"] = "max"
    num_samples: int = Field(ge=1)
    max_concurrent: int = Field(2, ge=1)
    seed: int = 0                      # the searcher's and every trial's seed
    max_failures: int = Field(1, ge=0)  # retries of a failed trial from its last checkpoint
    checkpoint_every: int = Field(1, ge=1)  # epochs between checkpoints: more on object storage (each is an upload)
    # gp: Optuna's GPSampler, kept off configurations already tried (search.unseen), every trial run to
    # asha.max_t or the trainer's own stop (the default below LARGE_SEARCH: measured against early-stopped TPE,
    # random search and the peers on bench/results/search_peers.md); tpe: Optuna TPE told which trials ASHA
    # pruned (the default from LARGE_SEARCH on, and for a conditional space, which GP cannot model); bohb:
    # TuneBOHB with HyperBand (asha's max_t and reduction_factor; grace_period and brackets are ASHA's only),
    # needs `pip install -r requirements-bohb.txt`.
    algorithm: Literal["gp", "tpe", "bohb"] = "gp"
    tpe: TpeSettings = TpeSettings()
    gp: GpSettings = GpSettings()
    # An Optuna RDB URL (sqlite:///optuna.db, postgresql://…) keeping the TPE study, named after the search,
    # where `optuna-dashboard <url>` shows it live. None: in memory, inside Tune's searcher state.
    optuna_storage: str | None = None
    asha: AshaSettings
    resources: Resources = Resources()
    # Complete configurations (every searched key) the searcher tries first, in order.
    start_with: list[dict] = []

    @property
    def objective(self) -> Objective:
        return Objective(self.metric, self.mode)

    @model_validator(mode="before")
    @classmethod
    def _default_algorithm(cls, data, info: ValidationInfo):
        """``info.context``: ``{"conditional": True}`` for a space with ``model.one_of`` (search.config)."""
        conditional = bool((info.context or {}).get("conditional"))
        if isinstance(data, dict) and data.get("algorithm") is None and isinstance(data.get("num_samples"), int):
            data = {**data, "algorithm": "tpe" if conditional or data["num_samples"] >= LARGE_SEARCH else "gp"}
        return data

    @model_validator(mode="after")
    def _keys_need_their_algorithm(self) -> "SearchSettings":
        # Set to other than their defaults: the canonical YAML that resume reloads writes every key.
        unset = AshaSettings(max_t=self.asha.max_t)
        given = {"tpe": self.tpe != TpeSettings(), "gp": self.gp != GpSettings(),
                 "optuna_storage": self.optuna_storage is not None,
                 **{key: getattr(self.asha, key[5:]) != getattr(unset, key[5:])
                    for key in ALGORITHMS_OF if key.startswith("asha.")}}
        for key, algorithms in ALGORITHMS_OF.items():
            if given[key] and self.algorithm not in algorithms:
                raise ValueError(f"{key} applies to algorithm {' or '.join(algorithms)}, not {self.algorithm}")
        return self
