"""What a search optimises and how it ranks: the one owner of ``metric`` and ``mode``.

Every place that compares scores (the trainable's running best, Tune's and Optuna's direction, the status
table, the best trial, promotion's top-k, the plots) asks an :class:`Objective` instead of branching on
``mode`` itself. A missing or non-finite score (a diverged epoch) never counts as better.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeVar

T = TypeVar("T")

# Result key the trainable adds to every epoch: the best value of the search metric so far. ASHA and TPE
# compare trials by it, as the project ranks and promotes them by their best epoch.
OBJECTIVE = "objective"


def finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class Objective:
    metric: str
    mode: Literal["max", "min"]

    @property
    def direction(self) -> str:
        """Optuna's word for the mode."""
        return "maximize" if self.mode == "max" else "minimize"

    def better(self, a: float | None, b: float | None) -> bool:
        """Whether ``a`` beats ``b``; a finite score beats a missing one."""
        a, b = finite(a), finite(b)
        return a is not None and (b is None or (a > b if self.mode == "max" else a < b))

    def running_best(self, best: float | None, value: float | None) -> float | None:
        """The better of the two; a missing or non-finite value changes nothing (a first NaN stays until a
        finite value comes)."""
        if best is None or self.better(value, best):
            return value
        return best

    def sort_key(self, value: float | None) -> tuple[bool, float]:
        """Best first, missing scores last."""
        value = finite(value)
        return (value is None, 0.0 if value is None else -value if self.mode == "max" else value)

    def ranked(self, items: Iterable[T], score: Callable[[T], float | None]) -> list[T]:
        """``items`` best first by ``score``, the unscored last (stable among equals)."""
        return sorted(items, key=lambda item: self.sort_key(score(item)))

    def best(self, items: Iterable[T], score: Callable[[T], float | None]) -> T | None:
        """The item with the best finite score, or None when none has one."""
        ranked = self.ranked(items, score)
        return ranked[0] if ranked and finite(score(ranked[0])) is not None else None

    def trial_best(self, trial) -> float | None:
        """A Tune trial's best finite value of the metric over its epochs (Tune's own running statistics)."""
        return finite(trial.metric_analysis.get(self.metric, {}).get(self.mode))
