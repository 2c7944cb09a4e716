"""Each quirk of the real 2023 release: present in the synthetic release, and what the reader does with it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_builders import video_parts, write
from sensorium_models.data import load_sessions
from sensorium_models.data.ground_truth import load_ground_truth
from sensorium_models.data.synthetic import synthesize
from sensorium_models.data.synthetic_plan import HIDDEN_TIERS
from sensorium_models.data.tiers import hidden_tiers
from sensorium_models.errors import UserError
from sensorium_models.models import build_model

VIDEO_MODEL = {"hidden_channels": [4, 4], "layers": 2, "input_kern": 5, "hidden_kern": 3, "temporal_kern": 3,
               "hidden_temporal_kern": 3, "pad_hidden": True}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> list[Path]:
    """The tiny release: an old mouse (every tier labelled, 'none' trials) and a new one (hidden tests)."""
    return synthesize(tmp_path_factory.mktemp("release"), "video", "tiny", seed=0)


@pytest.fixture(scope="module")
def sessions(release, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return load_sessions({"paths": [str(release[0].parent)], "cache_dir": str(cache)})


def _trial(folder: Path, modality: str, i: int) -> np.ndarray:
    return np.load(folder / "data" / modality / f"{i}.npy")


def _tiers(folder: Path) -> np.ndarray:
    return np.load(folder / "meta/trials/tiers.npy")


def test_old_mice_label_every_tier_new_mice_hide_main_and_bonus_tests(release, sessions):
    old, new = release
    assert set(_tiers(old)) == set(_tiers(new)) | {"none"} == {"train", "oracle", *HIDDEN_TIERS, "none"}
    for i in np.flatnonzero(np.isin(_tiers(new), HIDDEN_TIERS)):
        responses, video = _trial(new, "responses", i), _trial(new, "videos", i)
        length = int(np.argmax(np.isnan(video[0, 0])))
        assert not responses[:, :length].any() and np.isnan(responses[:, length:]).all()
    labelled = np.flatnonzero(np.isin(_tiers(old), HIDDEN_TIERS))
    assert all(np.nansum(_trial(old, "responses", i)) > 0 for i in labelled)
    truth = load_ground_truth(new)
    assert truth["hidden_responses"].shape[0] == int(truth["hidden"].sum()) == int(np.isin(_tiers(new), HIDDEN_TIERS).sum())

    by_name = {s.name: s for s in sessions}
    assert hidden_tiers(by_name[old.name]) == [] and not by_name[old.name].hidden.any()
    assert hidden_tiers(by_name[new.name]) == sorted(HIDDEN_TIERS)
    np.testing.assert_array_equal(by_name[new.name].hidden, truth["hidden"])
    assert old.name.split("-Video-")[1] != new.name.split("-Video-")[1]  # one digest per batch of mice, as shipped


def test_none_trials_some_without_frames_are_skipped(release, sessions):
    old = release[0]
    skipped = np.flatnonzero(_tiers(old) == "none")
    truth = load_ground_truth(old)
    empty = np.flatnonzero(truth["empty"])
    assert len(skipped) == 3 and len(empty) >= 1 and set(empty) <= set(skipped)
    assert all(np.isnan(_trial(old, m, i)).all() for i in empty for m in ("videos", "responses", "behavior"))
    session = next(s for s in sessions if s.name == old.name)
    assert session.quirks["none_skipped"] == 3 and list(session.roles[skipped]) == ["skip"] * 3
    assert not session.lengths[skipped].any() and not np.any(session.stimuli[skipped])


def test_dropouts_inside_valid_frames_cut_the_trial_with_one_warning(release, tmp_path, capsys):
    cut_sessions = []
    for folder in release:
        truth = load_ground_truth(folder)
        dropped = np.flatnonzero(truth["dropouts"][:, 0] >= 0)
        assert len(dropped) >= 1
        for i in dropped:
            start, stop = truth["dropouts"][i]
            length = truth["lengths"][i]
            pupil, behavior = _trial(folder, "pupil_center", i), _trial(folder, "behavior", i)
            assert np.isnan(pupil[:, start:stop]).all() and np.isnan(behavior[0, start:stop]).all()
            assert np.isfinite(pupil[:, stop:length]).all() and np.isfinite(behavior[1, :length]).all()
        cut_sessions.append((folder.name, dropped, truth))
    loaded = {s.name: s for s in load_sessions({"paths": [str(release[0].parent)], "cache_dir": str(tmp_path)})}
    lines = capsys.readouterr().err.strip().splitlines()
    for name, dropped, truth in cut_sessions:
        session = loaded[name]
        read = session.tiers != "none"
        np.testing.assert_array_equal(session.lengths[read], truth["released_lengths"][read])
        np.testing.assert_array_equal(session.trial_lengths[read], truth["lengths"][read])
        assert session.quirks["trials_cut"] == len(dropped)
        assert sum(name in line and "cut at its first NaN" in line for line in lines) == 1
        for i in dropped:  # kept up to the trial's end for predictions, NaN filled, zeros after
            end = session.trial_lengths[i]
            assert np.isfinite(session.pupil_center[i]).all() and session.stimuli[i, :end].any()
            assert not np.any(session.stimuli[i, end:])


def test_per_frame_statistics_are_nan_where_no_trial_reaches(release, sessions):
    for folder, session in zip(release, sorted(sessions, key=lambda s: s.name)):
        std = np.load(folder / "meta/statistics/responses/all/std.npy")
        video_mean = np.load(folder / "meta/statistics/videos/all/mean.npy")
        longest = int(load_ground_truth(folder)["lengths"].max())
        assert video_mean.shape == (36, 64, std.shape[1]) and std.shape[1] > longest
        assert np.isnan(std[:, longest:]).all() and np.isnan(video_mean[..., longest:]).all()
        assert np.isfinite(session.response_std).all() and (session.response_std > 0).all()


def test_repeats_in_oracle_test_and_train_share_a_repeat_group(release, sessions):
    for folder in release:
        session = next(s for s in sessions if s.name == folder.name)
        ids, tiers = load_ground_truth(folder)["stimulus_ids"], _tiers(folder)
        read = np.flatnonzero(tiers != "none")
        same_id = ids[read][:, None] == ids[read][None, :]
        same_group = session.repeat_groups[read][:, None] == session.repeat_groups[read][None, :]
        np.testing.assert_array_equal(same_group, same_id)
        for tier in ("oracle", "live_test_main", "final_test_main", "train"):
            _, counts = np.unique(session.repeat_groups[tiers == tier], return_counts=True)
            assert counts.max() >= 2, tier


def test_coordinates_ship_as_int64_and_are_read_as_float(release, sessions):
    coords = np.load(release[0] / "meta/neurons/cell_motor_coordinates.npy")
    assert coords.dtype == np.int64
    np.testing.assert_array_equal(next(s for s in sessions if s.name == release[0].name).coords, coords)


def _variant(tmp_path: Path, change) -> Path:
    parts = video_parts()
    change(parts)
    return write(parts, tmp_path, "video")


def test_nan_statistics_inside_used_frames_follow_neuralpredictors(tmp_path):
    def change(parts):
        std = parts["statistics"]["responses"]["std"]
        std[2, 3] = np.nan                                   # a NaN std counts as below the 1 % floor
        parts["statistics"]["behavior"]["mean"][0, 30] = np.nan  # not used: behaviour is not centred
        parts["statistics"]["pupil_center"]["mean"][1, 20] = np.nan  # used: trials reaching frame 20 end there
    folder = _variant(tmp_path, change)
    (session,) = load_sessions({"paths": [str(folder)], "cache_dir": str(tmp_path / "cache")})
    std = np.load(folder / "meta/statistics/responses/all/std.npy")
    assert session.response_std[3, 2] == pytest.approx(0.01 * np.nanmean(std))
    read = session.tiers != "none"
    np.testing.assert_array_equal(session.lengths[read], np.minimum(video_parts()["lengths"], 20)[read])


@pytest.mark.parametrize("field, value", [
    ("trial_idx", np.array([{}] * 12, dtype=object)),     # pickled: never unpickled
    ("trial_idx", np.arange(11)),                           # wrong length
    ("frame_trial_ts", np.array(["yesterday"] * 12)),       # unparsable
])
def test_malformed_optional_trial_fields_leave_no_order_and_one_clear_error(field, value, tmp_path, capsys):
    folder = _variant(tmp_path, lambda parts: None)
    np.save(folder / f"meta/trials/{field}.npy", value, allow_pickle=True)
    (session,) = load_sessions({"paths": [str(folder)], "cache_dir": str(tmp_path / "cache")})
    err = capsys.readouterr().err
    assert session.order is None and session.quirks["notes"]
    assert err.count("\n") == 1 and f"meta/trials/{field}.npy" in err and "no presentation order" in err
    with pytest.raises(UserError, match="presentation order"):
        build_model([session], {**VIDEO_MODEL, "history": True}, seed=0)


@pytest.mark.parametrize("trial_idx", [None, np.arange(12)[::-1]], ids=["tiers-only", "numeric-trial-idx"])
def test_absent_or_good_optional_fields_read_without_a_warning(trial_idx, tmp_path, capsys):
    folder = _variant(tmp_path, lambda parts: None)
    if trial_idx is not None:
        np.save(folder / "meta/trials/trial_idx.npy", trial_idx)
    (session,) = load_sessions({"paths": [str(folder)], "cache_dir": str(tmp_path / "cache")})
    assert (session.order is None) == (trial_idx is None) and not session.quirks["notes"]
    assert capsys.readouterr().err == ""
