"""Damaged session files and cache entries: one line naming the file and exit status 2 (or a rebuild,
for the cache, which is ours), never a traceback; the good data then works as before."""
from __future__ import annotations

import json
import os
import shutil
import zipfile

import numpy as np
import pytest

from data_builders import static_parts, write
from search_builders import run_cli
from sensorium_models.data import load_sessions
from sensorium_models.errors import UserError


@pytest.fixture
def session(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # `data inspect` builds the default cache
    return write(static_parts(), tmp_path / "data", "static")


def _zip_with_corrupt_member(session, tmp_path):
    target = tmp_path / f"{session.name}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(session.rglob("*")):
            if path.is_file():
                archive.write(path, f"{session.name}/{path.relative_to(session)}")
    data = bytearray(target.read_bytes())
    with zipfile.ZipFile(target) as archive:
        info = archive.getinfo(f"{session.name}/data/responses/0.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start:start + info.compress_size] = b"\xff" * info.compress_size  # deflate stream destroyed
    target.write_bytes(bytes(data))
    return target, "data/responses/0.npy"


def _dangling_symlink(session, tmp_path):
    link = session / "data" / "responses" / "0.npy"
    link.unlink()
    link.symlink_to(tmp_path / "moved-away.npy")
    return session, "dangling symlink"


def _symlink_loop(session, tmp_path):
    (session / "data" / "images" / "loop").symlink_to(session / "data")
    return session, "symlink loop"


def _self_link(session, tmp_path):
    (session / "meta" / "self.npy").symlink_to(session / "meta" / "self.npy")
    return session, "symlink loop"


@pytest.mark.parametrize("damage", [_zip_with_corrupt_member, _dangling_symlink, _symlink_loop, _self_link])
def test_a_damaged_session_is_one_line_and_status_2(session, tmp_path, damage, capsys):
    path, named = damage(session, tmp_path)
    rc, out, err = run_cli("data", "inspect", str(path))
    assert rc == 2, err
    assert named in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_damaged_cache_entry_is_rebuilt_and_no_lock_file_is_left(session, tmp_path):
    cache = tmp_path / "cache"
    cfg = {"paths": [str(session)], "cache_dir": str(cache)}
    (session_read,) = load_sessions(cfg)
    good = np.array(session_read.responses)
    del session_read  # its memory map must not see the file cut short
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    responses = entry / "responses.npy"
    responses.write_bytes(responses.read_bytes()[:200])
    (rebuilt,) = load_sessions(cfg)
    np.testing.assert_array_equal(rebuilt.responses, good)
    (entry / "session.json").write_text("{not json")
    (again,) = load_sessions(cfg)
    np.testing.assert_array_equal(again.responses, good)
    assert json.loads((entry / "session.json").read_text())["kind"] == "static"
    assert sorted(os.listdir(cache)) == [entry.name]  # no .lock, no temporaries


def test_an_edit_that_keeps_size_and_mtime_is_not_served_stale(session, tmp_path):
    cfg = {"paths": [str(session)], "cache_dir": str(tmp_path / "cache")}
    (before,) = load_sessions(cfg)
    path = session / "data" / "responses" / "0.npy"
    stat = path.stat()
    values = np.load(path)
    np.save(path, values[::-1].copy())
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    (after,) = load_sessions(cfg)
    assert not np.array_equal(after.responses[0], before.responses[0])


def test_a_failed_build_leaves_no_lock_file(session, tmp_path):
    os.remove(session / "data" / "behavior" / "3.npy")
    shutil.rmtree(session / "data" / "pupil_center")
    rc, _, err = run_cli("data", "inspect", str(session))
    assert rc == 2 and "Traceback" not in err
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match="behavior/3.npy"):
        load_sessions({"paths": [str(session)], "cache_dir": str(cache)})
    assert os.listdir(cache) == []


def test_a_video_modality_shorter_than_the_others_is_cut_and_said(tmp_path, capsys):
    from data_builders import video_parts

    parts = video_parts()
    behavior = parts["data"]["behavior"][3]
    length = int(parts["lengths"][3])
    behavior[:, length - 5:] = np.nan  # behaviour ends 5 frames before the other modalities
    session = write(parts, tmp_path / "data", "video")
    (read,) = load_sessions({"paths": [str(session)], "cache_dir": str(tmp_path / "cache")})
    assert read.lengths[3] == length - 5
    err = capsys.readouterr().err
    assert "1 of 12 trials have modalities of different lengths" in err and len(err.strip().splitlines()) == 1
