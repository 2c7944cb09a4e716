"""Where a session's files come from: the folder as unzipped, or the ``.zip`` as shipped, read in place.

Both give the same view: relative member names (``data/responses/0.npy``), ``load(name)`` returning a
plain numeric-or-string array (never unpickled), ``header(name)`` for a shape without reading the data,
a content ``fingerprint`` for the cache, and ``label(name)`` to name a file in error messages.
Also here: turning a user's path entry into the session sources it names.
"""
from __future__ import annotations

import errno
import hashlib
import io
import os
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from ..errors import UserError

TIERS_FILE = "meta/trials/tiers.npy"
SKIPPED_FOLDERS = ("ground_truth",)  # the synthetic generator writes true parameters beside sessions


def parse_npy(label: str, opener: Callable[[], BinaryIO]) -> np.ndarray:
    """``np.load`` with ``allow_pickle=False``; any failure becomes a one-line UserError naming ``label``."""
    try:
        with opener() as handle:
            return np.load(handle, allow_pickle=False)
    except ValueError as err:
        text = str(err)
        if "pickle" in text or "Object arrays" in text:
            raise UserError(f"{label}: expected a plain numeric .npy array, found a pickled/object array "
                            f"(not loaded: unpickling untrusted files is unsafe)") from None
        raise UserError(f"{label}: expected a complete .npy file, found a truncated or corrupt one ({text})") from None
    except EOFError:
        raise UserError(f"{label}: expected a .npy file, found an empty file") from None
    except (OSError, zipfile.BadZipFile, zlib.error) as err:
        raise UserError(f"{label}: expected a readable .npy file, found a corrupt or unreadable one ({err})") from None


def parse_header(label: str, opener: Callable[[], BinaryIO]) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a .npy header, reading only its first bytes."""
    try:
        with opener() as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as err:
        raise UserError(f"{label}: expected a .npy file, found an unreadable header ({err})") from None
    return shape, dtype


class FolderFiles:
    """A session folder on disk."""

    def __init__(self, root: Path):
        self.path = root
        self.name = root.name
        self._stats: dict[str, tuple[int, int, int]] = {}
        seen: set[tuple[int, int]] = set()
        folders = [("", root)]
        while folders:
            prefix, folder = folders.pop()
            try:
                real = folder.stat()
                if (real.st_dev, real.st_ino) in seen:
                    raise UserError(f"{folder}: expected a session folder tree, found a symlink loop "
                                    f"(it leads back to a folder above it)")
                seen.add((real.st_dev, real.st_ino))
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if entry.is_dir():
                            folders.append((f"{prefix}{entry.name}/", Path(entry.path)))
                        else:
                            stat = entry.stat()
                            self._stats[prefix + entry.name] = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
            except OSError as err:
                where = err.filename or folder
                what = err.strerror
                if os.path.islink(where):
                    what = "a symlink loop" if err.errno == errno.ELOOP else "a dangling symlink"
                raise UserError(f"{where}: expected a readable session file or folder, found {what}") from None
        self.names = frozenset(self._stats)

    def label(self, name: str) -> str:
        return str(self.path / name)

    def load(self, name: str, expected: str) -> np.ndarray:
        require(self, name, expected)
        return parse_npy(self.label(name), lambda: open(self.path / name, "rb"))

    def header(self, name: str, expected: str) -> tuple[tuple[int, ...], np.dtype]:
        require(self, name, expected)
        return parse_header(self.label(name), lambda: open(self.path / name, "rb"))

    def fingerprint(self) -> str:
        listing = "".join(f"{name}\0{size}\0{mtime}\0{ctime}\n"
                          for name, (size, mtime, ctime) in sorted(self._stats.items()))
        return hashlib.sha256(listing.encode()).hexdigest()

    def close(self) -> None:
        """Nothing held open; here so both sources are used alike."""


class ZipFiles:
    """A session read straight from its zip, members at the root or under one top folder."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
            members = [info.filename for info in self._zip.infolist() if not info.is_dir()]
        except (zipfile.BadZipFile, OSError) as err:
            raise UserError(f"{path}: expected a zip archive of one session, found an unreadable file ({err})") from None
        self._prefix = session_prefix(path, members)
        self.name = self._prefix.rstrip("/") or path.stem
        self.names = frozenset(m[len(self._prefix):] for m in members if m.startswith(self._prefix))

    def label(self, name: str) -> str:
        return f"{self.path}:{self._prefix}{name}"

    def load(self, name: str, expected: str) -> np.ndarray:
        require(self, name, expected)
        return parse_npy(self.label(name), lambda: io.BytesIO(self._zip.read(self._prefix + name)))

    def header(self, name: str, expected: str) -> tuple[tuple[int, ...], np.dtype]:
        require(self, name, expected)
        return parse_header(self.label(name), lambda: self._zip.open(self._prefix + name))

    def fingerprint(self) -> str:
        stat = self.path.stat()
        text = f"zip\0{self._prefix}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ctime_ns}"
        return hashlib.sha256(text.encode()).hexdigest()

    def close(self) -> None:
        self._zip.close()


SessionFiles = FolderFiles | ZipFiles


def require(files: SessionFiles, name: str, expected: str) -> None:
    """Raise the one-line error for a member the layout needs but the session lacks."""
    if name not in files.names:
        raise UserError(f"{files.label(name)}: file missing; expected {expected}")


def session_prefix(path: Path, members: list[str]) -> str:
    """The folder inside a zip that holds the session: '' (root) or '<top>/'; anything else is an error."""
    prefixes = {m[: -len(TIERS_FILE)] for m in members if m == TIERS_FILE or m.endswith("/" + TIERS_FILE)}
    shallow = sorted(p for p in prefixes if p.count("/") <= 1)
    if len(shallow) == 1:
        return shallow[0]
    if len(shallow) > 1:
        raise UserError(f"{path}: expected one session per zip, found {len(shallow)} ({', '.join(shallow)})")
    found = sorted(prefixes)[0] + TIERS_FILE if prefixes else f"{len(members)} members, none of them {TIERS_FILE}"
    raise UserError(f"{path}: expected {TIERS_FILE} at the zip root or under one top folder, found {found}")


def _looks_like_session_folder(folder: Path) -> bool:
    return (folder / "data").is_dir() or (folder / "meta").is_dir()


def _zip_holds_session(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith(TIERS_FILE) for n in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return True  # let opening it report what is wrong


def session_paths(entry: str | os.PathLike) -> list[Path]:
    """The absolute session paths (folders or zips) a user's entry names.

    An entry is a session folder, its zip (``X.zip``, or ``X`` when only ``X.zip`` exists), or a folder
    holding sessions; in the latter a folder and its zip count once (the folder), ``ground_truth`` is skipped.
    """
    path = Path(entry).expanduser().absolute()
    if path.is_dir():
        if _looks_like_session_folder(path):
            return [path]
        found = []
        for child in sorted(path.iterdir()):
            if child.name.startswith(".") or child.name in SKIPPED_FOLDERS:
                continue
            if child.is_dir() and _looks_like_session_folder(child):
                found.append(child)
            elif child.suffix == ".zip" and child.is_file() and not child.with_suffix("").is_dir():
                if _zip_holds_session(child):
                    found.append(child)
        if not found:
            raise UserError(f"{path}: expected a session folder (data/, meta/), its .zip, or a folder holding "
                            f"sessions, found none")
        return found
    if path.suffix == ".zip" and path.is_file():
        return [path]
    zipped = path.with_name(path.name + ".zip")
    if not path.exists() and zipped.is_file():
        return [zipped]
    found = "a file that is not a .zip" if path.exists() else "no such folder or file"
    raise UserError(f"{path}: expected a session folder or .zip, found {found}")


def open_files(path: Path) -> SessionFiles:
    """The file view of one session path returned by :func:`session_paths`."""
    return FolderFiles(path) if path.is_dir() else ZipFiles(path)
