"""The promotion's score table: one row per member and per ensemble, one column per scored tier and metric.

Each cell is the mean over the mice scored on that tier (the 2023 leaderboard's average; for one 2022
session, its score), so the table has the same width for one session or ten. Per-session values stay in
the flat scores (``sensorium_models.scoring.flat_scores``), logged to MLflow and the ensemble's YAML.
"""
from __future__ import annotations

from sensorium_models.data.session import TIER_ROLES
from sensorium_models.data.tiers import trained_test_tiers
from sensorium_models.scoring import MEAN, split_key

METRIC_ORDER = ("challenge_corr", "single_trial_corr", "corr_to_average", "feve")


def columns(scores: list[dict[str, float]]) -> list[tuple[str, str, int]]:
    """``(tier, metric, mice)`` of every mean score in ``scores``: validation tiers first, then tests."""
    found: dict[tuple[str, str], set[str]] = {}
    for flat in scores:
        for key in flat:
            session, tier, metric = split_key(key)
            mice = found.setdefault((tier, metric), set())
            if session != MEAN:
                mice.add(session)
    order = sorted(found, key=lambda c: (TIER_ROLES.get(c[0]) != "validation", c[0], METRIC_ORDER.index(c[1])
                                         if c[1] in METRIC_ORDER else len(METRIC_ORDER)))
    return [(tier, metric, len(found[(tier, metric)])) for tier, metric in order]


def _cells(flat: dict[str, float], cols: list[tuple[str, str, int]], bold: bool = False) -> str:
    mark = "**" if bold else ""
    return " | ".join(f"{mark}{flat.get(f'{MEAN}/{tier}/{metric}', float('nan')):.4f}{mark}"
                      for tier, metric, _ in cols)


def score_table(candidates, member_scores: dict, combined=None) -> str:
    """Markdown: a row per member (``member_scores[(trial_id, seed)]``) and per ensemble (``candidate.scores``),
    and one for ``combined``, the ensemble of every member, where promotion made one."""
    everyone = [*candidates, combined] if combined is not None else candidates
    cols = columns([*member_scores.values(), *(c.scores for c in everyone)])
    header = " | ".join(f"{tier} {metric} ({mice} {'mouse' if mice == 1 else 'mice'})" for tier, metric, mice in cols)
    lines = [f"| trial | model | own-split val corr | {header} |", "|---|---|---|" + "---|" * len(cols)]
    for candidate in candidates:
        for member in candidate.members:
            cells = _cells(member_scores[(candidate.trial_id, member.seed)], cols)
            lines.append(f"| {candidate.trial_id} | seed {member.seed} | {member.validation_corr:.4f} | {cells} |")
        lines.append(f"| {candidate.trial_id} | **ensemble** | {candidate.member_validation:.4f} (mean) | "
                     f"{_cells(candidate.scores, cols, bold=True)} |")
    if combined is not None:
        lines.append(f"| {combined.trial_id} | **ensemble of all {len(combined.members)}** | "
                     f"{combined.member_validation:.4f} (mean) | {_cells(combined.scores, cols, bold=True)} |")
    return "\n".join(lines)


def training_note(sessions) -> str | None:
    """The labelled test tiers the run trained on (``data.train_on_test_tiers``), which the table leaves out."""
    trained = [f"{s.key}: {', '.join(trained_test_tiers(s))}" for s in sessions if trained_test_tiers(s)]
    if not trained:
        return None
    return ("not scored, trained on (data.train_on_test_tiers): " + "; ".join(trained))
