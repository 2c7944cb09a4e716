"""The consolidated cache: built once, then memory-mapped; keyed by content and by what shapes the arrays."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from data_builders import static_parts, video_parts, write
from sensorium_models.data import cache, load_sessions
from sensorium_models.errors import UserError

ARRAYS = ("stimuli", "responses", "behavior", "pupil_center", "response_std", "tiers", "unit_ids", "coords")


def entries(root):
    return sorted(p.name for p in (root / "sensorium-search").iterdir() if p.is_dir())


def refuse_to_read(*args, **kwargs):
    raise AssertionError("the per-trial files were read again")


@pytest.mark.parametrize("kind", ["static", "video"])
def test_second_open_is_memory_mapped_and_identical(tmp_path, monkeypatch, kind):
    parts = static_parts() if kind == "static" else video_parts()
    folder = write(parts, tmp_path, kind)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (first,) = load_sessions({"paths": [str(folder)]})
    assert len(entries(tmp_path / "xdg")) == 1

    monkeypatch.setattr(cache, "read_session", refuse_to_read)
    (second,) = load_sessions({"paths": [str(folder)]})
    for field in ARRAYS:
        np.testing.assert_array_equal(getattr(second, field), getattr(first, field))
    for field in ("stimuli", "responses", "behavior", "pupil_center"):
        array = getattr(second, field)
        assert isinstance(array, np.memmap) and not array.flags.writeable and array.flags.c_contiguous


def test_changed_content_or_scale_builds_a_new_entry(tmp_path):
    folder = write(static_parts(), tmp_path, "static")
    cfg = {"paths": [str(folder)], "cache_dir": str(tmp_path / "c")}
    (before,) = load_sessions(cfg)
    (smaller,) = load_sessions({**cfg, "scale": 0.125})
    assert smaller.stimuli.shape == (30, 1, 18, 32) and before.stimuli.shape == (30, 1, 36, 64)
    assert len(list((tmp_path / "c").glob("static*"))) == 2

    np.save(folder / "data" / "responses" / "0.npy", np.arange(7, dtype=np.float64) * 2)
    (after,) = load_sessions(cfg)
    assert len(list((tmp_path / "c").glob("static*"))) == 3
    np.testing.assert_allclose(after.responses[0], np.arange(7) * 2 / after.response_std, rtol=1e-6)
    assert not np.allclose(after.responses[0], before.responses[0])


def test_failed_build_leaves_no_entry(tmp_path):
    folder = write(static_parts(), tmp_path, "static")
    os.remove(folder / "data" / "behavior" / "29.npy")
    with pytest.raises(UserError, match="29.npy"):
        load_sessions({"paths": [str(folder)], "cache_dir": str(tmp_path / "c")})
    assert not [p for p in (tmp_path / "c").iterdir() if p.is_dir()]


def test_unwritable_cache_dir_is_a_user_error(tmp_path):
    folder = write(static_parts(), tmp_path, "static")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="expected a writable cache folder"):
        load_sessions({"paths": [str(folder)], "cache_dir": str(blocker / "cache")})


def test_parallel_opens_build_the_entry_once(tmp_path, monkeypatch):
    folder = write(video_parts(), tmp_path, "video")
    builds = []
    real_read = cache.read_session

    def counted(*args, **kwargs):
        builds.append(1)
        return real_read(*args, **kwargs)

    monkeypatch.setattr(cache, "read_session", counted)
    cfg = {"paths": [str(folder)], "cache_dir": str(tmp_path / "c")}
    with ThreadPoolExecutor(4) as pool:
        sessions = [s for (s,) in pool.map(lambda _: load_sessions(cfg), range(4))]
    assert len(builds) == 1
    for session in sessions[1:]:
        np.testing.assert_array_equal(session.responses, sessions[0].responses)
