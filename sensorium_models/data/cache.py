"""A consolidated, memory-mapped copy of each session, so only the first open reads the per-trial files.

An entry is keyed by the session's files as the file system describes them, not by hashing their bytes
(hashing a real release would cost minutes at every open): each file's relative name, size, mtime and
ctime (for a zip, the zip's). The OS sets ctime on every write and no tool can set it back, so an edit that
keeps size and mtime still makes a new entry; a copy or a ``chmod`` does too (a rebuild, never a stale
read). Also in the key: what changes the arrays (``scale`` for static, ``max_frames`` for video, a
behaviour normalisation other than the reference's) and the format version. To force a rebuild, delete
the entry folder (or the whole cache folder). Inputs derived from a session's arrays (Model 4's network
state) may be kept in its entry too, in ``.npz`` files the manifest does not list.

An entry is built atomically under a file lock, so parallel trials on one machine build it once; the lock
file is removed after. Later opens memory-map the arrays read-only, and every process on the machine
shares their pages. An entry found damaged (a file missing, cut short or unreadable) is rebuilt.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from ..atomic import atomic_path
from ..errors import UserError
from .filetree import detect_kind, read_session
from .layout import session_key
from .session import Session
from .sources import SessionFiles

# 2: video trials cut at interior NaN, none skipped; trial_lengths, hidden, repeat_groups.
# 3: the manifest lists each file's size, so a damaged entry is found and rebuilt; ctime in the key.
# 4: the stored quirks no longer carry hidden_tiers (derived from Session.hidden); format-3 entries built
#    before that change hold the field, so they are keyed apart and rebuilt.
CACHE_FORMAT = 4
MAPPED = ("stimuli", "responses", "behavior", "pupil_center")
MANIFEST = "session.json"


def cache_root(cache_dir: str | os.PathLike | None) -> Path:
    """``cache_dir`` if given, else ``$XDG_CACHE_HOME/sensorium-search`` (default ``~/.cache``)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser().absolute() / "sensorium-search"


def entry_name(files: SessionFiles, kind: str, scale: float, max_frames: int, behavior: str = "std") -> str:
    knob = {"scale": scale} if kind == "static" else {"max_frames": max_frames}
    if behavior != "std":  # keyed only when set, so entries built before the option existed stay valid
        knob["behavior"] = behavior
    text = json.dumps({"format": CACHE_FORMAT, "content": files.fingerprint(), **knob}, sort_keys=True)
    return f"{files.name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``, which is deleted on release.

    A waiter may lock a file another process just deleted; it then sees the inode changed and retries.
    """
    while True:
        handle = open(path, "a")
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        handle.close()


def open_session(files: SessionFiles, root: Path, scale: float, max_frames: int, behavior: str = "std") -> Session:
    """The session behind ``files``, read from its cache entry (built first if missing or damaged)."""
    kind = detect_kind(files)
    entry = root / entry_name(files, kind, scale, max_frames, behavior)
    session = _load_intact(entry, files.path)
    if session is not None:
        return session
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = root / f".{entry.name}.lock"
        lock.touch()
    except OSError as err:
        raise UserError(f"{root}: expected a writable cache folder (set cache_dir in the data config), "
                        f"found {err.strerror}") from None
    with locked(lock):
        session = _load_intact(entry, files.path)
        if session is None:
            if entry.exists():
                print(f"sensorium-search: cache entry {entry} is damaged; rebuilding it", file=sys.stderr)
                shutil.rmtree(entry)
            with atomic_path(entry) as tmp:
                tmp.mkdir()
                quirks = read_session(files, tmp, scale, max_frames, behavior)
                sizes = {file.name: file.stat().st_size for file in tmp.iterdir()}
                manifest = {"format": CACHE_FORMAT, "name": files.name, "kind": kind, "quirks": quirks,
                            "sizes": sizes}
                (tmp / MANIFEST).write_text(json.dumps(manifest))
            session = load_entry(entry, files.path)
    return session


def _load_intact(entry: Path, path: Path) -> Session | None:
    """The entry's session, or None when it is missing or damaged."""
    try:
        return load_entry(entry, path)
    except (OSError, ValueError, KeyError, TypeError):  # json.JSONDecodeError is a ValueError
        return None


def load_entry(entry: Path, path: Path) -> Session:
    """A session from a built entry: large arrays memory-mapped read-only, small ones in memory.

    Every file the manifest lists must be there at its size (a ValueError otherwise).
    """
    manifest = json.loads((entry / MANIFEST).read_text())
    for name, size in manifest["sizes"].items():
        if name != MANIFEST and (entry / name).stat().st_size != size:
            raise ValueError(f"{entry / name}: {size} bytes expected")
    arrays = {
        file.stem: np.load(file, mmap_mode="r" if file.stem in MAPPED else None, allow_pickle=False)
        for file in entry.glob("*.npy")
    }
    name, kind = manifest["name"], manifest["kind"]
    return Session(key=session_key(name) if kind == "static" else name, name=name, kind=kind, path=path,
                   quirks=manifest.get("quirks", {}), cache_entry=entry, **arrays)
