"""Reading sessions as shipped: normalisation checked against the reference formulas, zips, discovery, order."""
from __future__ import annotations

import re

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from data_builders import static_parts, video_parts, write
from sensorium_models.data import DataConfig, load_sessions
from sensorium_models.data.tiers import hidden_tiers
from sensorium_models.data.layout import trial_statistics
from sensorium_models.data.normalize import Rescale
from sensorium_models.errors import UserError


def load_one(path: Path, cache: Path, **cfg) -> object:
    (session,) = load_sessions({"paths": [str(path)], "cache_dir": str(cache), **cfg})
    return session


def floored(std: np.ndarray) -> np.ndarray:
    return np.maximum(std, 0.01 * np.nanmean(std))


def test_static_round_trip_matches_reference_formulas(tmp_path):
    parts = static_parts()
    for r in parts["data"]["responses"]:
        r[0] = 3.0  # a constant neuron: std 0, floored at 1 % of the mean std
    parts["statistics"]["responses"]["std"] = np.std(np.stack(parts["data"]["responses"]).astype(np.float64), axis=0)
    session = load_one(write(parts, tmp_path, "static"), tmp_path / "cache")
    data, stats = parts["data"], parts["statistics"]

    images = (np.stack(data["images"]) - stats["images"]["mean"]) / stats["images"]["std"]
    expected = torch.nn.functional.interpolate(torch.tensor(images), scale_factor=0.25, mode="bilinear",
                                               align_corners=False, antialias=False).numpy()
    np.testing.assert_allclose(session.stimuli, expected, atol=1e-5)
    assert session.stimuli.shape == (30, 1, 36, 64) and session.stimuli.dtype == np.float32

    std = floored(stats["responses"]["std"])
    assert std[0] == pytest.approx(0.01 * stats["responses"]["std"].mean())
    np.testing.assert_allclose(session.responses, np.stack(data["responses"]) / std, rtol=1e-6)
    np.testing.assert_allclose(session.response_std, std, rtol=1e-6)
    np.testing.assert_allclose(session.behavior, np.stack(data["behavior"]) / stats["behavior"]["std"], rtol=1e-6)
    pupil = (np.stack(data["pupil_center"]) - stats["pupil_center"]["mean"]) / stats["pupil_center"]["std"]
    np.testing.assert_allclose(session.pupil_center, pupil, rtol=1e-5, atol=1e-6)

    assert session.key == "11111-1-1" and session.kind == "static" and session.lengths is None
    np.testing.assert_array_equal(session.tiers, parts["trials"]["tiers"])
    np.testing.assert_array_equal(session.image_ids, parts["trials"]["frame_image_id"])
    np.testing.assert_array_equal(session.unit_ids, parts["neurons"]["unit_ids"])
    assert session.coords.shape == (7, 3)
    assert list(session.indices("test")) == list(range(24, 30))


def test_video_round_trip_trims_padding_and_uses_per_frame_std(tmp_path):
    parts = video_parts()
    parts["data"]["responses"][9][:] = np.nan  # a hidden test trial (final_test_main): unlabelled
    session = load_one(write(parts, tmp_path, "video", key="22222-2-2"), tmp_path / "cache", max_frames=36)
    data, stats = parts["data"], parts["statistics"]

    lengths = np.minimum(parts["lengths"], 36)
    lengths[11] = 0  # the 'none' trial is never read
    np.testing.assert_array_equal(session.lengths, lengths)
    np.testing.assert_array_equal(session.trial_lengths, np.where(lengths, parts["lengths"], 0))
    assert list(np.flatnonzero(session.hidden)) == [9] and hidden_tiers(session) == ["final_test_main"]
    assert session.stimuli.shape == (12, 36, 36, 64)
    assert session.responses.shape == (12, 36, 7)
    std = floored(stats["responses"]["std"])[:, :36]
    np.testing.assert_allclose(session.response_std, std.T, rtol=1e-6)
    for i, length in enumerate(lengths):
        video = (data["videos"][i][..., :length] - stats["videos"]["mean"]) / stats["videos"]["std"]
        np.testing.assert_allclose(session.stimuli[i, :length], np.moveaxis(video, -1, 0), rtol=1e-5, atol=1e-5)
        expected = 0 * std[:, :length] if i == 9 else data["responses"][i][:, :length] / std[:, :length]
        np.testing.assert_allclose(session.responses[i, :length], expected.T, rtol=1e-5)
        behavior = data["behavior"][i][:, :length] / stats["behavior"]["std"][:, :length]
        np.testing.assert_allclose(session.behavior[i, :length], behavior.T, rtol=1e-5)
        pupil = (data["pupil_center"][i][:, :length] - stats["pupil_center"]["mean"][:, :length]) \
            / stats["pupil_center"]["std"][:, :length]
        np.testing.assert_allclose(session.pupil_center[i, :length], pupil.T, rtol=1e-4, atol=1e-5)
        for array in (session.stimuli, session.responses, session.behavior, session.pupil_center):
            assert not np.any(array[i, length:])
    assert session.key == session.name and session.order is None
    np.testing.assert_array_equal(session.trial_ids, np.arange(12))
    assert list(session.roles) == ["train"] * 6 + ["validation"] * 2 + ["test"] * 3 + ["skip"]
    assert session.quirks["none_skipped"] == 1 and session.quirks["trials_cut"] == 0


def zip_folder(folder: Path, target: Path, top: bool) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                relative = file.relative_to(folder.parent if top else folder)
                archive.write(file, relative.as_posix())
    return target


@pytest.mark.parametrize("top", [True, False], ids=["top-folder", "zip-root"])
def test_zip_read_in_place_equals_folder(tmp_path, top):
    folder = write(static_parts(), tmp_path / "unzipped", "static")
    from_folder = load_one(folder, tmp_path / "cache")
    archive = zip_folder(folder, tmp_path / f"{folder.name}.zip", top)
    shipped_as = tmp_path / folder.name  # the folder is missing, its zip sits beside the path
    for path in (archive, shipped_as):
        from_zip = load_one(path, tmp_path / "cache")
        assert from_zip.name == folder.name and from_zip.path == archive
        for field in ("stimuli", "responses", "behavior", "pupil_center", "response_std", "order", "tiers"):
            np.testing.assert_array_equal(getattr(from_zip, field), getattr(from_folder, field))
    assert not (tmp_path / folder.name).exists()  # read in place, not extracted


def test_parent_folder_lists_sessions_and_skips_ground_truth(tmp_path):
    write(static_parts(), tmp_path / "sessions", "static", key="1-1-1")
    second = write(static_parts(seed=1), tmp_path / "elsewhere", "static", key="2-2-2")
    zip_folder(second, tmp_path / "sessions" / f"{second.name}.zip", top=True)
    (tmp_path / "sessions" / "ground_truth" / "data").mkdir(parents=True)
    sessions = load_sessions(DataConfig(paths=[str(tmp_path / "sessions")], cache_dir=str(tmp_path / "cache")))
    assert [s.key for s in sessions] == ["1-1-1", "2-2-2"]
    assert sessions[1].path.suffix == ".zip"


def test_relative_paths_resolve_against_cwd_and_are_stored_absolute(tmp_path, monkeypatch):
    folder = write(static_parts(), tmp_path, "static")
    monkeypatch.chdir(tmp_path)
    session = load_one(Path(folder.name), Path("cache"))
    assert session.path == folder and session.path.is_absolute()
    assert (tmp_path / "cache").is_dir()


def test_same_session_twice_is_an_error(tmp_path):
    folder = write(static_parts(), tmp_path, "static")
    copy = tmp_path / "copy" / folder.name
    shutil.copytree(folder, copy)
    with pytest.raises(UserError, match="expected each session once, found key 11111-1-1"):
        load_sessions({"paths": [str(folder), str(copy)], "cache_dir": str(tmp_path / "cache")})


def test_order_from_timestamps_numeric_trial_idx_or_none(tmp_path):
    parts = static_parts()
    session = load_one(write(parts, tmp_path / "a", "static"), tmp_path / "cache")
    np.testing.assert_array_equal(session.order, parts["presented"])  # hashed trial_idx: from timestamps
    assert session.trial_ids.dtype.kind == "U" and len(session.trial_ids[0]) == 32

    parts["trials"]["trial_idx"] = 1000 + 3 * parts["presented"][::-1]
    session = load_one(write(parts, tmp_path / "b", "static"), tmp_path / "cache")
    np.testing.assert_array_equal(session.order, parts["presented"][::-1])  # numeric trial_idx wins
    np.testing.assert_array_equal(session.trial_ids, parts["trials"]["trial_idx"])

    parts["trials"]["trial_idx"] = np.array([f"{i:032x}" for i in range(30)])
    del parts["trials"]["frame_trial_ts"]
    assert load_one(write(parts, tmp_path / "c", "static"), tmp_path / "cache").order is None


def test_rescale_matches_torch_bilinear_for_other_scales():
    images = np.random.default_rng(0).normal(size=(2, 1, 144, 256))  # float64: torch's sample points exact
    for scale in (0.5, 0.3, 1.0):
        rescale = Rescale(144, 256, scale)
        expected = torch.nn.functional.interpolate(torch.tensor(images), size=rescale.shape, mode="bilinear",
                                                   align_corners=False, antialias=False).numpy()
        np.testing.assert_allclose(rescale(images), expected, atol=1e-5)


@pytest.mark.parametrize("cfg, start", [
    ({"paths": ["x"], "scael": 0.5}, "data.scael: unknown key"),
    ({"paths": []}, "data.paths: "),
    ({"paths": ["x"], "scale": 2.0}, "data.scale: "),
    ({"paths": ["x"], "validation_fraction": 0.2}, "data: validation_fraction only applies with resplit"),
])
def test_data_config_errors_name_the_key(cfg, start):
    with pytest.raises(UserError, match="^" + re.escape(start)):
        load_sessions(cfg)


def test_video_statistics_per_pixel_and_frame_or_per_channel(tmp_path):
    parts = video_parts()
    data, stats = parts["data"], parts["statistics"]
    stats["videos"] = trial_statistics(data["videos"])  # (36, 64, T), the shape ViV1T reads from the organisers
    stats["behavior"] = {k: v[:, 0] for k, v in stats["behavior"].items()}  # (2,): constant over time
    session = load_one(write(parts, tmp_path, "video"), tmp_path / "cache")
    for i in (0, 5):
        length = parts["lengths"][i]
        std = stats["videos"]["std"]
        video = (data["videos"][i] - stats["videos"]["mean"]) / np.where(std > 0, std, 1)  # 0: frame of one trial
        np.testing.assert_allclose(session.stimuli[i, :length], np.moveaxis(video[..., :length], -1, 0),
                                   rtol=1e-5, atol=1e-5)
        behavior = data["behavior"][i][:, :length] / stats["behavior"]["std"][:, None]
        np.testing.assert_allclose(session.behavior[i, :length], behavior.T, rtol=1e-5)


def test_zeroed_behaviour_of_a_competition_session_stays_zero(tmp_path):
    parts = static_parts()
    parts["data"]["behavior"] = [np.zeros(3, np.float32) for _ in range(30)]
    parts["data"]["pupil_center"] = [np.zeros(2, np.float32) for _ in range(30)]
    for modality in ("behavior", "pupil_center"):
        parts["statistics"][modality] = trial_statistics(parts["data"][modality])  # std 0
    session = load_one(write(parts, tmp_path, "static"), tmp_path / "cache")
    assert not np.any(session.behavior) and not np.any(session.pupil_center)
