"""Seeded re-splits of train/validation: deterministic, test tiers untouched, repeats kept together."""
from __future__ import annotations

import numpy as np
import pytest

from data_builders import static_parts, video_parts, write
from sensorium_models.data import load_sessions
from sensorium_models.data.splits import resplit
from sensorium_models.errors import UserError


@pytest.fixture(scope="module")
def static_session(tmp_path_factory):
    root = tmp_path_factory.mktemp("splits")
    parts = static_parts()
    parts["trials"]["frame_image_id"][:24] = np.repeat(np.arange(100, 112), 2)  # train images shown twice
    (session,) = load_sessions({"paths": [str(write(parts, root, "static"))], "cache_dir": str(root / "c")})
    return session


def test_resplit_is_deterministic_per_seed_and_differs_across_seeds(static_session):
    first = resplit(static_session, seed=3)
    np.testing.assert_array_equal(first.roles, resplit(static_session, seed=3).roles)
    draws = {tuple(resplit(static_session, seed=s).indices("validation")) for s in range(6)}
    assert len(draws) > 1
    assert first.stimuli is static_session.stimuli  # arrays shared, not copied


def test_resplit_leaves_test_tiers_and_keeps_the_shipped_fraction(static_session):
    for seed in range(5):
        split = resplit(static_session, seed=seed)
        np.testing.assert_array_equal(split.indices("test"), static_session.indices("test"))
        assert len(split.indices("validation")) == 4 and len(split.indices("train")) == 20
    assert sorted(resplit(static_session, 0, validation_fraction=0.5).roles[:24]).count("validation") == 12


def test_repeats_of_one_image_stay_on_one_side(static_session):
    for seed in range(5):
        split = resplit(static_session, seed=seed)
        for image in np.unique(static_session.image_ids[:24]):
            assert len(set(split.roles[static_session.image_ids == image])) == 1


def test_load_sessions_resplits_with_the_seed(tmp_path):
    folder = write(video_parts(), tmp_path, "video")
    cfg = {"paths": [str(folder)], "cache_dir": str(tmp_path / "c"), "resplit": True, "validation_fraction": 0.25}
    splits = [load_sessions(cfg, seed=s)[0] for s in (0, 0, 1, 2, 3)]
    np.testing.assert_array_equal(splits[0].roles, splits[1].roles)
    assert len({tuple(s.roles) for s in splits}) > 1
    for split in splits:
        assert list(split.roles[8:]) == ["test"] * 3 + ["skip"]
        assert len(split.indices("validation")) == 2


def test_session_without_validation_needs_a_fraction(tmp_path):
    parts = static_parts()
    parts["trials"]["tiers"][20:24] = "train"
    (session,) = load_sessions({"paths": [str(write(parts, tmp_path, "static"))], "cache_dir": str(tmp_path / "c")})
    with pytest.raises(UserError, match="validation_fraction: expected a value in"):
        resplit(session, seed=0)
    assert len(resplit(session, seed=0, validation_fraction=0.25).indices("validation")) == 6


def _video_with_repeats():
    """The tiny in-memory video session (16 train, 4 oracle, 4 live_test_main) where trials 0-11 show 4
    videos 3 times each and the oracle trials 2 videos twice: identical frames and lengths per repeat."""
    from training_builders import learnable_video_session

    session = learnable_video_session("v", seed=3)
    for i in list(range(12)) + [18, 19]:
        source = i % 4 if i < 12 else i - 2
        session.stimuli[i], session.lengths[i] = session.stimuli[source], session.lengths[source]
    return session


def test_video_repeats_are_grouped_by_their_frames_and_stay_on_one_side():
    from sensorium_models.data.repeats import repeat_groups

    session = _video_with_repeats()
    groups = repeat_groups(session, np.arange(session.n_trials))
    assert len(np.unique(groups[:12])) == 4 and groups[18] == groups[16] and groups[19] == groups[17]
    assert len(np.unique(groups)) == 4 + 4 + 2 + 4
    pool = np.arange(20)
    for seed in range(6):
        split = resplit(session, seed=seed, validation_fraction=0.3)
        for group in np.unique(groups[pool]):
            assert len(set(split.roles[pool][groups[pool] == group])) == 1
        assert list(split.roles[20:]) == ["test"] * 4


def test_train_on_test_tiers_trains_on_labelled_tiers_only_and_they_leave_the_scores(tmp_path):
    from sensorium_models.data.tiers import hidden_tiers, scored_tiers, trained_test_tiers

    parts = video_parts()
    final = list(parts["trials"]["tiers"]).index("final_test_main")
    parts["data"]["responses"][final][:, :parts["lengths"][final]] = 0  # hidden: zeros, then NaN padding
    folder = write(parts, tmp_path, "video")
    cfg = {"paths": [str(folder)], "cache_dir": str(tmp_path / "c")}
    (shipped,) = load_sessions(cfg)
    assert hidden_tiers(shipped) == ["final_test_main"]
    assert scored_tiers(shipped) == ["oracle", "final_test_bonus", "live_test_main"]
    (trained,) = load_sessions({**cfg, "train_on_test_tiers": True, "resplit": True}, seed=1)
    assert list(trained.roles[8:]) != ["test", "test", "test", "skip"]
    assert trained.roles[final] == "test" and trained.roles[11] == "skip"
    assert set(trained.roles[[8, 10]]) <= {"train", "validation"}
    assert trained_test_tiers(trained) == ["final_test_bonus", "live_test_main"]
    assert scored_tiers(trained) == ["oracle"]
