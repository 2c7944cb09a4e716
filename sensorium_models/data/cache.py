"""A consolidated, memory-mapped copy of each session, so only the first open reads the per-trial files.

An entry is keyed by the session's content (relative file names + sizes + mtimes; for a zip its size +
mtime) and by what changes the arrays (``scale`` for static, ``max_frames`` for video, the format version).
It is built atomically under a file lock, so parallel trials on one machine build it once; later opens
memory-map the arrays read-only, and every process on the machine shares their pages.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
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

CACHE_FORMAT = 2  # 2: video trials cut at interior NaN, none skipped; trial_lengths, hidden, repeat_groups
MAPPED = ("stimuli", "responses", "behavior", "pupil_center")
MANIFEST = "session.json"


def cache_root(cache_dir: str | os.PathLike | None) -> Path:
    """``cache_dir`` if given, else ``$XDG_CACHE_HOME/sensorium-search`` (default ``~/.cache``)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser().absolute() / "sensorium-search"


def entry_name(files: SessionFiles, kind: str, scale: float, max_frames: int) -> str:
    knob = {"scale": scale} if kind == "static" else {"max_frames": max_frames}
    text = json.dumps({"format": CACHE_FORMAT, "content": files.fingerprint(), **knob}, sort_keys=True)
    return f"{files.name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_session(files: SessionFiles, root: Path, scale: float, max_frames: int) -> Session:
    """The session behind ``files``, read from its cache entry (built first if missing)."""
    kind = detect_kind(files)
    entry = root / entry_name(files, kind, scale, max_frames)
    if not (entry / MANIFEST).is_file():
        try:
            root.mkdir(parents=True, exist_ok=True)
            lock = root / f".{entry.name}.lock"
            lock.touch()
        except OSError as err:
            raise UserError(f"{root}: expected a writable cache folder (set cache_dir in the data config), "
                            f"found {err.strerror}") from None
        with _locked(lock):
            if not (entry / MANIFEST).is_file():
                with atomic_path(entry) as tmp:
                    tmp.mkdir()
                    quirks = read_session(files, tmp, scale, max_frames)
                    manifest = {"format": CACHE_FORMAT, "name": files.name, "kind": kind, "quirks": quirks}
                    (tmp / MANIFEST).write_text(json.dumps(manifest))
    return load_entry(entry, files.path)


def load_entry(entry: Path, path: Path) -> Session:
    """A session from a built entry: large arrays memory-mapped read-only, small ones in memory."""
    manifest = json.loads((entry / MANIFEST).read_text())
    arrays = {
        file.stem: np.load(file, mmap_mode="r" if file.stem in MAPPED else None, allow_pickle=False)
        for file in entry.glob("*.npy")
    }
    name, kind = manifest["name"], manifest["kind"]
    return Session(key=session_key(name) if kind == "static" else name, name=name, kind=kind, path=path,
                   quirks=manifest.get("quirks", {}), **arrays)
