"""The promotion table: one column per scored tier and metric, the mean over the scored mice."""
from __future__ import annotations

from search.members import MemberRecord
from search.promote import Candidate
from search.score_table import score_table
from sensorium_models.scoring import flat_scores

MICE = [f"dynamic{29000 + i}-1-1-Video-{i:032x}" for i in range(10)]


def _rows(offset: float) -> list[dict]:
    """Ten mice scored on oracle; the first five (old mice) also on live_test_main."""
    rows = [{"session": m, "tier": "oracle", "trials": 60, "challenge_corr": 0.1 * i + offset, "corr_to_average": 0.5}
            for i, m in enumerate(MICE)]
    return rows + [{"session": m, "tier": "live_test_main", "trials": 60, "challenge_corr": 0.2, "corr_to_average": 0.4}
                   for m in MICE[:5]]


def test_ten_sessions_make_four_columns_of_means_over_the_scored_mice():
    member = flat_scores(_rows(0.0))
    member_record = MemberRecord("t1", 100, 0.25, 2, "ab", 51, "m")
    candidate = Candidate("t1", 0.3, {}, members=[member_record], scores=flat_scores(_rows(0.05)))
    header, _, member_row, ensemble_row = score_table([candidate], {("t1", 100): member}).splitlines()
    assert header == ("| trial | model | own-split val corr | oracle challenge_corr (10 mice) | oracle corr_to_average "
                      "(10 mice) | live_test_main challenge_corr (5 mice) | live_test_main corr_to_average (5 mice) |")
    assert member_row == "| t1 | seed 100 | 0.2500 | 0.4500 | 0.5000 | 0.2000 | 0.4000 |"
    assert ensemble_row.startswith("| t1 | **ensemble** | 0.2500 (mean) | **0.5000** | **0.5000** |")


def test_the_note_names_the_test_tiers_trained_on():
    from training_builders import learnable_video_session

    from search.score_table import training_note
    from sensorium_models.data.splits import train_on_test_tiers

    session = learnable_video_session("v", seed=1)  # its live_test_main tier ships responses
    assert training_note([session]) is None
    assert training_note([train_on_test_tiers(session)]) == (
        "not scored, trained on (data.train_on_test_tiers): v: live_test_main")
