"""A local (or NFS) filesystem for Tune's storage on which every file appears whole or not at all.

Tune's driver copies its experiment state to storage file by file, in place, and a worker copies its
checkpoints the same way. A driver killed mid-copy left ``experiment_state-*.json`` cut short, and the
resume then failed (Tune logs the JSONDecodeError, "restarts" the experiment and its searcher refuses).
Here each file is written to a hidden temporary beside it and renamed over it when closed, so a kill
leaves the previous version. Object stores (``s3://``, ``gs://``) need none of this: an object appears
when its upload completes.
"""
from __future__ import annotations

import io
import os
import uuid

import pyarrow
import pyarrow.fs


class _RenamedOnClose(io.FileIO):
    """A temporary file beside ``target``, renamed onto it by ``close``; dropped instead if a write failed."""

    def __init__(self, target: str):
        folder, name = os.path.split(target)
        self.temporary = os.path.join(folder, f".{name}.{uuid.uuid4().hex}.partial")  # no pattern Tune lists
        super().__init__(os.open(self.temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb")  # umask's mode
        self.target, self.failed = target, False

    def write(self, data) -> int:
        try:
            return super().write(data)
        except BaseException:
            self.failed = True
            raise

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self.failed:
                self.flush()
                os.fsync(self.fileno())  # the rename must not land before the bytes on a crash of the host
        except BaseException:
            self.failed = True
            raise
        finally:
            super().close()
            if self.failed:
                os.unlink(self.temporary)
            else:
                os.replace(self.temporary, self.target)


class AtomicLocalHandler(pyarrow.fs.FileSystemHandler):
    """pyarrow's ``LocalFileSystem``, except that an output stream replaces its file in one rename."""

    def __init__(self):
        self.local = pyarrow.fs.LocalFileSystem()

    def __eq__(self, other) -> bool:
        return isinstance(other, AtomicLocalHandler)

    def __reduce__(self):
        return AtomicLocalHandler, ()

    def get_type_name(self) -> str:
        return "atomic-local"

    def normalize_path(self, path: str) -> str:
        return self.local.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list:
        return self.local.get_file_info(paths)

    def get_file_info_selector(self, selector) -> list:
        return self.local.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self.local.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.local.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.local.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        self.local.delete_dir_contents("/", accept_root_dir=True)

    def delete_file(self, path: str) -> None:
        self.local.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self.local.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        with self.local.open_input_stream(src) as source, self.open_output_stream(dest, None) as out:
            while chunk := source.read(1 << 24):
                out.write(chunk)

    def open_input_stream(self, path: str):
        return self.local.open_input_stream(path)

    def open_input_file(self, path: str):
        return self.local.open_input_file(path)

    def open_output_stream(self, path: str, metadata):
        return pyarrow.PythonFile(_RenamedOnClose(path), mode="w")

    def open_append_stream(self, path: str, metadata):
        return self.local.open_append_stream(path)


def atomic_local_filesystem() -> pyarrow.fs.PyFileSystem:
    return pyarrow.fs.PyFileSystem(AtomicLocalHandler())
