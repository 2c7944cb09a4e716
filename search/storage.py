"""Files on a search's storage, beside its Tune experiment: a local folder or a URI (``s3://…``, ``gs://…``).

Local writes go through a temporary and a rename; on object storage one object is written in one PUT,
which is atomic there. Folders are copied with pyarrow, as Tune itself does.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from sensorium_models.atomic import atomic_path


def is_uri(location: str) -> bool:
    return "://" in location


def tune_filesystem(location: str):
    """The ``storage_filesystem`` Tune should write ``location`` with: for a local folder, one that renames
    each file into place (``atomic_fs``); for a URI, None (Tune's own, atomic per object there)."""
    if is_uri(location):
        return None
    from search.atomic_fs import atomic_local_filesystem

    return atomic_local_filesystem()


def join(location: str, *parts: str) -> str:
    return "/".join([location.rstrip("/"), *parts])


def _fs(location: str):
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(location)


def exists(location: str) -> bool:
    if not is_uri(location):
        return Path(location).exists()
    import pyarrow.fs

    fs, path = _fs(location)
    return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound


def read_text(location: str) -> str | None:
    """The file's text, or None if there is none."""
    if not is_uri(location):
        path = Path(location)
        return path.read_text() if path.is_file() else None
    if not exists(location):
        return None
    fs, path = _fs(location)
    with fs.open_input_stream(path) as f:
        return f.read().decode()


def write_text(location: str, text: str) -> None:
    if not is_uri(location):
        with atomic_path(location) as tmp:
            tmp.write_text(text)
        return
    fs, path = _fs(location)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)  # a no-op on object storage
    with fs.open_output_stream(path) as f:
        f.write(text.encode())


def put_folder(local: Path, location: str) -> None:
    """Copy a finished local folder to ``location``, replacing what was there (locally in one rename)."""
    if not is_uri(location):
        if Path(location).resolve() != Path(local).resolve():
            with atomic_path(location) as tmp:
                shutil.copytree(local, tmp)
        return
    import pyarrow.fs

    fs, path = _fs(location)
    fs.create_dir(path, recursive=True)
    pyarrow.fs.copy_files(str(local), path, source_filesystem=pyarrow.fs.LocalFileSystem(), destination_filesystem=fs)


def get_folder(location: str, local: Path) -> Path:
    """A local copy of the folder at ``location`` (the folder itself when it is local)."""
    if not is_uri(location):
        return Path(location)
    import pyarrow.fs

    fs, path = _fs(location)
    local.mkdir(parents=True, exist_ok=True)
    pyarrow.fs.copy_files(path, str(local), source_filesystem=fs, destination_filesystem=pyarrow.fs.LocalFileSystem())
    return local


def list_folders(location: str) -> list[str]:
    """Names of the folders directly under ``location`` (none if it does not exist)."""
    if not is_uri(location):
        path = Path(location)
        return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")) if path.is_dir() else []
    import pyarrow.fs

    fs, path = _fs(location)
    found = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
    return sorted(i.base_name for i in found if i.type == pyarrow.fs.FileType.Directory)
