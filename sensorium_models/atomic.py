"""Write files and folders so that a crash or a bad input never leaves anything half-written, and never
delete what the tool did not write.

An existing folder is replaced only when every file in it is one the new output writes as well (a
previous output of the same command); anything else in it is the user's, so the write is refused with a
UserError instead. A folder is never replaced by a file or a file by a folder, and the working directory
or a folder above it is never replaced at all.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Collection, Iterator

from .errors import UserError


def files_under(folder: Path) -> set[str]:
    """Relative names (``a/b.npy``) of every file and symlink below ``folder``."""
    found = set()
    for parent, dirs, files in os.walk(folder):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(parent, d))]:
            found.add(os.path.relpath(os.path.join(parent, name), folder))
    return found


def check_target(target: str | os.PathLike, writes: Collection[str] | None = None) -> Path:
    """UserError unless ``target`` may be (re)placed by an output; returns it absolute.

    ``writes`` is the output's relative file names when it is a folder, None when it is a file. Call it
    before long work, so a refusal comes before the hours of training rather than after.
    """
    target = Path(os.path.abspath(target))
    if not os.path.lexists(target):
        return target
    cwd = Path.cwd().resolve()
    if target.resolve() in (cwd, *cwd.parents):
        raise UserError(f"{target}: is the working directory or a folder above it; expected a new or an "
                        f"output folder (nothing was written)")
    if target.is_symlink():
        raise UserError(f"{target}: is a symlink; expected a new path or a previous output (nothing was written)")
    if writes is None:
        if target.is_dir():
            raise UserError(f"{target}: is a folder; expected a file name (nothing was written)")
        return target
    if not target.is_dir():
        raise UserError(f"{target}: is a file; expected a folder (nothing was written)")
    foreign = sorted(files_under(target) - set(writes))
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise UserError(f"{target}: exists and holds files this command did not write ({foreign[0]}{more}); "
                        f"expected an empty folder, a new path or a previous output. Nothing was written or "
                        f"deleted; pick another path or remove it yourself")
    return target


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds.

    Works for a file or a folder: whatever the block writes at the yielded path replaces ``target`` in
    one rename, after :func:`check_target` allowed it. On error the temporary is deleted and ``target``
    is untouched.
    """
    target = Path(os.path.abspath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp.rmdir()  # the block decides whether it is a file or a folder
    try:
        yield tmp
        writes = files_under(tmp) if tmp.is_dir() else None
        check_target(target, writes)
        if target.is_dir():
            _replace_folder(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def _replace_folder(new: Path, target: Path) -> None:
    """Swap ``new`` in for the previous output at ``target``: set the old aside, rename, then delete it."""
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink()
