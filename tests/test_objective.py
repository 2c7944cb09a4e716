"""The objective: the one owner of ``metric`` and ``mode``. (The running-best test moved here from
tests/test_search_trainable.py when the trainable started asking the objective.)"""
from __future__ import annotations

from search.objective import Objective

MAX, MIN = Objective("val_corr", "max"), Objective("loss", "min")
NAN = float("nan")


def test_running_best_keeps_the_better_value_and_ignores_non_finite_ones():
    assert MAX.running_best(None, 0.2) == 0.2
    assert MAX.running_best(0.2, 0.1) == 0.2 and MAX.running_best(0.2, 0.3) == 0.3
    assert MIN.running_best(0.2, 0.1) == 0.1
    assert MAX.running_best(0.2, NAN) == 0.2 and MAX.running_best(0.2, None) == 0.2
    first = MAX.running_best(None, NAN)
    assert first != first and MAX.running_best(first, 0.1) == 0.1  # a NaN start gives way


def test_ranking_puts_the_best_first_and_missing_or_non_finite_scores_last():
    scores = {"a": 0.1, "b": None, "c": 0.3, "d": NAN, "e": 0.2}
    assert MAX.ranked(scores, scores.get)[:3] == ["c", "e", "a"]
    assert MIN.ranked(scores, scores.get)[:3] == ["a", "e", "c"]
    assert set(MAX.ranked(scores, scores.get)[3:]) == {"b", "d"}
    assert MAX.best(scores, scores.get) == "c" and MIN.best(scores, scores.get) == "a"
    assert MAX.best({"b": None, "d": NAN}, {"b": None, "d": NAN}.get) is None
    assert MAX.direction == "maximize" and MIN.direction == "minimize"
