"""Bad sessions: one-line UserErrors naming the file and the problem; the CLI exits 2 without a traceback."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from data_builders import static_parts, video_parts, write
from sensorium_models.data import load_sessions
from sensorium_models.errors import UserError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("templates")
    return {"static": write(static_parts(), root, "static"), "video": write(video_parts(), root, "video")}


def save(folder: Path, name: str, array: np.ndarray, **kwargs) -> None:
    np.save(folder / name, array, **kwargs)


def edit(folder: Path, name: str, change) -> None:
    array = np.load(folder / name)
    change(array)
    np.save(folder / name, array)


def truncate(folder: Path, name: str) -> None:
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 2])


def nested_zip(folder: Path) -> Path:
    target = folder.parent / "nested.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for file in folder.rglob("*.npy"):
            archive.write(file, f"outer/inner/{folder.name}/{file.relative_to(folder).as_posix()}")
    return target


def corrupt_zip(folder: Path) -> Path:
    target = folder.parent / "broken.zip"
    target.write_bytes(b"PK\x03\x04 not really a zip")
    return target


def set_at(index, value):
    def change(array):
        array[index] = value
    return change


# (id, kind, mutate(folder) -> path to read or None, file named, problem named)
CASES = [
    ("missing-folder", "static", lambda f: f.parent / "no-such-session", "no-such-session", "no such folder"),
    ("missing-tiers", "static", lambda f: os.remove(f / "meta/trials/tiers.npy"),
     "meta/trials/tiers.npy", "file missing"),
    ("missing-trial-file", "static", lambda f: os.remove(f / "data/responses/5.npy"),
     "data/responses/5.npy", "file missing; expected one file per trial 0..29"),
    ("extra-trial-file", "static", lambda f: shutil.copyfile(f / "data/images/0.npy", f / "data/images/30.npy") and None,
     "meta/trials/tiers.npy", "lists 30 trials but"),
    ("short-tiers", "static", lambda f: save(f, "meta/trials/tiers.npy", np.load(f / "meta/trials/tiers.npy")[:-1]),
     "meta/trials/tiers.npy", "meta/trials/tiers.npy lists 29 trials; expected one entry per trial in both"),
    ("short-unit-ids", "static", lambda f: save(f, "meta/neurons/unit_ids.npy", np.arange(6)),
     "meta/neurons/unit_ids.npy", "has 6 neuron ids but"),
    ("duplicate-unit-ids", "static", lambda f: save(f, "meta/neurons/unit_ids.npy", np.array([1, 2, 3, 3, 4, 5, 6])),
     "meta/neurons/unit_ids.npy", "expected each neuron id once, found 3 2 times"),
    ("truncated-npy", "static", lambda f: truncate(f, "data/responses/3.npy"),
     "data/responses/3.npy", "truncated or corrupt"),
    ("empty-npy", "video", lambda f: (f / "data/pupil_center/4.npy").write_bytes(b""),
     "data/pupil_center/4.npy", "unreadable header"),
    ("strings-for-numbers", "static", lambda f: save(f, "data/behavior/2.npy", np.array(["a", "b", "c"])),
     "data/behavior/2.npy", "expected numbers, found dtype <U1"),
    ("pickled-object", "static", lambda f: save(f, "meta/neurons/unit_ids.npy", np.array([{}] * 7), allow_pickle=True),
     "meta/neurons/unit_ids.npy", "found a pickled/object array"),
    ("trial-count", "static", lambda f: save(f, "meta/trials/frame_image_id.npy", np.arange(29)),
     "meta/trials/frame_image_id.npy", "has shape (29,) but meta/trials/tiers.npy lists 30 trials"),
    ("neurons-vs-unit-ids", "static", lambda f: save(f, "data/responses/0.npy", np.ones(6, np.float32)),
     "data/responses/0.npy", "expected shape (7,) (one per neuron in meta/neurons/unit_ids.npy), found (6,)"),
    ("video-neurons-vs-unit-ids", "video", lambda f: save(f, "data/responses/7.npy", np.ones((6, 40))),
     "data/responses/7.npy", "expected shape (7, T)"),
    ("shape-across-trials", "static", lambda f: save(f, "data/images/12.npy", np.ones((1, 144, 255))),
     "data/images/12.npy", "expected shape (1, 144, 256) (like data/images/0.npy)"),
    ("coords-vs-unit-ids", "static", lambda f: save(f, "meta/neurons/cell_motor_coordinates.npy", np.ones((7, 2))),
     "cell_motor_coordinates.npy", "expected shape (7, 3)"),
    ("unknown-tier", "static", lambda f: save(f, "meta/trials/tiers.npy", np.array(["trian"] * 30)),
     "meta/trials/tiers.npy", "found ['trian']"),
    ("nan-static-response", "static", lambda f: edit(f, "data/responses/8.npy", set_at(2, np.nan)),
     "data/responses/8.npy", "expected finite numbers, found NaN"),
    ("nan-static-image", "static", lambda f: edit(f, "data/images/9.npy", set_at((0, 5, 5), np.nan)),
     "data/images/9.npy", "expected finite numbers, found NaN"),
    ("inf-inside-video-trial", "video", lambda f: edit(f, "data/responses/3.npy", set_at((2, 5), np.inf)),
     "data/responses/3.npy", "expected finite numbers or NaN, found inf"),
    ("video-trial-without-frames", "video", lambda f: edit(f, "data/behavior/2.npy", set_at(..., np.nan)),
     "data/behavior/2.npy", "expected at least one frame before the NaN padding, found none"),
    ("missing-video-tiers", "video", lambda f: os.remove(f / "meta/trials/tiers.npy"),
     "meta/trials/tiers.npy", "file missing"),
    ("truncated-optional-trial-field", "video",
     lambda f: (save(f, "meta/trials/trial_idx.npy", np.arange(12)), truncate(f, "meta/trials/trial_idx.npy"))[1],
     "meta/trials/trial_idx.npy", "found an unreadable header"),
    ("inf-in-video-statistics", "video", lambda f: edit(f, "meta/statistics/videos/all/mean.npy", lambda a: a.fill(np.inf)),
     "meta/statistics/videos/all/mean.npy", "expected numbers or NaN, found inf"),
    ("nan-in-statistics", "static", lambda f: edit(f, "meta/statistics/responses/all/std.npy", set_at(1, np.nan)),
     "meta/statistics/responses/all/std.npy", "expected finite numbers, found NaN"),
    ("negative-std", "static", lambda f: edit(f, "meta/statistics/behavior/all/std.npy", set_at(0, -1.0)),
     "meta/statistics/behavior/all/std.npy", "expected standard deviations >= 0"),
    ("all-response-std-zero", "video", lambda f: edit(f, "meta/statistics/responses/all/std.npy", set_at(..., 0.0)),
     "meta/statistics/responses/all/std.npy", "expected some neuron with std > 0"),
    ("statistic-shape", "static", lambda f: save(f, "meta/statistics/responses/all/std.npy", np.ones(6)),
     "meta/statistics/responses/all/std.npy", "broadcasting to (7,), found shape (6,)"),
    ("short-per-frame-statistic", "video", lambda f: save(f, "meta/statistics/responses/all/std.npy", np.ones((7, 30))),
     "meta/statistics/responses/all/std.npy", "(7, T) with T >= 40, found shape (7, 30)"),
    ("bad-timestamp", "static", lambda f: save(f, "meta/trials/frame_trial_ts.npy", np.array(["yesterday"] * 30)),
     "meta/trials/frame_trial_ts.npy", "found 'yesterday'"),
    ("no-stimulus-folder", "static", lambda f: os.rename(f / "data/images", f / "data/pictures"),
     "data", "expected data/images (static) or data/videos (video), found neither"),
    ("file-not-a-session", "static", lambda f: f / "meta/trials/tiers.npy",
     "meta/trials/tiers.npy", "expected a session folder or .zip, found a file that is not a .zip"),
    ("corrupt-zip", "static", corrupt_zip, "broken.zip", "expected a zip archive of one session, found an unreadable"),
    ("zip-with-other-layout", "static", nested_zip,
     "nested.zip", "expected meta/trials/tiers.npy at the zip root or under one top folder"),
]


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_session_is_named_in_one_line_and_cli_exits_2(case, templates, tmp_path):
    _, kind, mutate, file_named, problem = case
    folder = tmp_path / templates[kind].name
    shutil.copytree(templates[kind], folder)
    path = mutate(folder) or folder
    cache = tmp_path / "cache"

    with pytest.raises(UserError) as caught:
        load_sessions({"paths": [str(path)], "cache_dir": str(cache)})
    message = str(caught.value)
    assert file_named in message and problem in message and "\n" not in message

    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(cache)}
    result = subprocess.run([sys.executable, "-m", "search.cli", "data", "inspect", str(path)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"sensorium-search: error: {message}"
