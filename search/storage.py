"""Files on a search's storage, beside its Tune experiment: a local folder or a URI (``s3://…``, ``gs://…``).

Local writes go through a temporary and a rename; on object storage one object is written in one PUT,
which is atomic there. Folders are copied with pyarrow, as Tune itself does. Object storage reads the
standard variables Ray, pyarrow and MLflow all read (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, or a node's role); a failure there is one line naming the
storage and what to check (``check``, and every operation below).
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from sensorium_models.atomic import atomic_path
from sensorium_models.errors import UserError

# What an object store's error text says, and what the user should check then (pyarrow's S3 and GCS clients).
CAUSES = [
    (("ACCESS_DENIED", "INVALID_ACCESS_KEY_ID", "SignatureDoesNotMatch", "InvalidAccessKeyId", "HTTP status 403",
      "Forbidden", "PermissionDenied", "Unauthenticated", "UNAUTHENTICATED"),
     "access denied; check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE, "
     "GOOGLE_APPLICATION_CREDENTIALS, or the node's role) and that they may read and write this bucket"),
    (("NETWORK_CONNECTION", "curlCode", "Could not resolve", "Couldn't resolve", "Connection refused", "Timeout",
      "timed out"),
     "cannot reach the object store{endpoint}; check AWS_ENDPOINT_URL and the network"),
    (("NoSuchBucket", "NO_SUCH_BUCKET"),
     "the bucket does not exist{endpoint}; create it first (e.g. `aws s3 mb s3://BUCKET`)"),
]


def is_uri(location: str) -> bool:
    return "://" in location


def tune_storage(location: str) -> tuple[str, object]:
    """The path and ``storage_filesystem`` Tune should use for ``location``: a local folder through one that
    renames each file into place (``atomic_fs``); a URI, its path in the bucket through one that waits out
    an outage of the store (``patient_fs``)."""
    if is_uri(location):
        fs, path = _fs(location)
        return path, fs
    from search.atomic_fs import atomic_local_filesystem

    return location, atomic_local_filesystem()


def join(location: str, *parts: str) -> str:
    return "/".join([location.rstrip("/"), *parts])


def _fs(location: str, patient: bool = True):
    """The (filesystem, path) of a URI; ``patient``: calls wait out an outage of the store (``patient_fs``)."""
    import pyarrow
    import pyarrow.fs

    from search.patient_fs import patient_filesystem

    try:
        fs, path = pyarrow.fs.FileSystem.from_uri(location)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError) as err:
        raise UserError(f"storage {location}: {err}; expected a folder, s3://BUCKET/PATH or gs://BUCKET/PATH") \
            from None
    return (patient_filesystem(fs, location), path) if patient else (fs, path)


def _endpoint() -> str:
    url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return f" at {url}" if url else ""


def describe(location: str, err: BaseException) -> str:
    """One line for an object store's error: the storage, what went wrong, what to check."""
    text = " ".join(str(err).split())
    for needles, advice in CAUSES:
        if any(needle in text for needle in needles):
            return f"storage {location}: {advice.format(endpoint=_endpoint())} ({text[:200]})"
    return f"storage {location}: {text[:300]}; check the address, the bucket and the credentials"


@contextlib.contextmanager
def _errors(location: str):
    """An object store's OSError as a UserError naming ``location`` (local errors name their file already)."""
    try:
        yield
    except OSError as err:
        if not is_uri(location):
            raise
        raise UserError(describe(location, err)) from None


def check(location: str) -> None:
    """UserError unless the bucket behind ``location`` exists and answers with the credentials at hand.

    Called before anything starts, so a wrong endpoint, bucket or key is one line, not a failed search.
    A local folder needs no check (it is made when first written)."""
    if not is_uri(location):
        return
    import pyarrow.fs

    fs, path = _fs(location, patient=False)  # a wrong endpoint or key fails now, not after the patience
    bucket = path.split("/", 1)[0]
    with _errors(location):
        found = fs.get_file_info(bucket).type != pyarrow.fs.FileType.NotFound
    if not found:
        raise UserError(f"storage {location}: bucket {bucket!r} does not exist{_endpoint()}; create it first, "
                        f"or check the bucket name and AWS_ENDPOINT_URL")


def exists(location: str) -> bool:
    if not is_uri(location):
        return Path(location).exists()
    import pyarrow.fs

    fs, path = _fs(location)
    with _errors(location):
        return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound


def read_text(location: str) -> str | None:
    """The file's text, or None if there is none."""
    if not is_uri(location):
        path = Path(location)
        return _decoded(location, path.read_bytes()) if path.is_file() else None
    if not exists(location):
        return None
    fs, path = _fs(location)
    with _errors(location), fs.open_input_stream(path) as f:
        return _decoded(location, f.read())


def _decoded(location: str, data: bytes) -> str:
    """The file's bytes as text; a file that is not text (overwritten, corrupted) is the user's to fix."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{location}: expected UTF-8 text, found byte {err.object[err.start]:#04x} at offset "
                        f"{err.start}") from None


def write_text(location: str, text: str) -> None:
    if not is_uri(location):
        with atomic_path(location) as tmp:
            tmp.write_text(text)
        return
    fs, path = _fs(location)
    with _errors(location):
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
    with _errors(location):
        fs.create_dir(path, recursive=True)
        pyarrow.fs.copy_files(str(local), path, source_filesystem=pyarrow.fs.LocalFileSystem(),
                              destination_filesystem=fs)


def get_folder(location: str, local: Path) -> Path:
    """A local copy of the folder at ``location`` (the folder itself when it is local)."""
    if not is_uri(location):
        return Path(location)
    import pyarrow.fs

    fs, path = _fs(location)
    local.mkdir(parents=True, exist_ok=True)
    with _errors(location):
        pyarrow.fs.copy_files(path, str(local), source_filesystem=fs,
                              destination_filesystem=pyarrow.fs.LocalFileSystem())
    return local


def list_folders(location: str) -> list[str]:
    """Names of the folders directly under ``location`` (none if it does not exist)."""
    if not is_uri(location):
        path = Path(location)
        return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")) if path.is_dir() else []
    import pyarrow.fs

    fs, path = _fs(location)
    with _errors(location):
        found = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
    return sorted(i.base_name for i in found if i.type == pyarrow.fs.FileType.Directory)


def remove_folder(location: str) -> None:
    """Delete the folder at ``location`` and everything in it (nothing if there is none)."""
    if not is_uri(location):
        shutil.rmtree(location, ignore_errors=True)
        return
    import pyarrow.fs

    fs, path = _fs(location)
    with _errors(location):
        if fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound:
            fs.delete_dir(path)
