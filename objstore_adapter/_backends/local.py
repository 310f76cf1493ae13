"""``memory://`` and ``file://``: stores in this process and on this machine, whose writes the
backend makes atomic itself (a new file object published whole; a temporary file renamed).
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterable
from typing import Any

from fsspec.spec import AbstractFileSystem

from .. import _info
from .._body import ChunkSource, LoadedBody
from .._errors import status_error
from .._http import ByteRange, Timeouts, WriteCondition
from .._info import ObjectInfo, Representation
from .._listing import listing_entries
from .._transfer import Attempts
from . import Backend


class MemoryBackend(Backend):
    """fsspec's memory filesystem: a dict of paths to file objects (``fs.store``).

    It publishes a file when it is opened for writing, so an upload is gathered first (the
    store holds every byte in memory anyway) and stored whole, as a new file object that
    replaces the old one in one assignment. A read takes the file object once and answers
    from it alone, bytes and validators, so a GET or a listing racing writes and deletes
    describes one version of each object (the store's own ``info``/``open``/``ls`` look the
    path up several times, and the file object ``open`` returns is shared by all readers).
    """

    drops_unknown_options = True

    def stat(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> ObjectInfo:
        stored = fs.store.get(path)
        if stored is not None:
            return _memory_info(path, stored, stored.size)
        try:
            return super().stat(fs, path, timeouts)  # a directory, or nothing
        except KeyError as exc:  # removed between the store's own two looks
            raise FileNotFoundError(path) from exc

    def open(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        byte_range: ByteRange | None = None,
    ) -> tuple[ObjectInfo, ChunkSource]:
        stored = fs.store.get(path)
        if stored is None:
            if self.stat(fs, path, timeouts).is_dir:
                raise IsADirectoryError(path)
            raise FileNotFoundError(path)
        data = stored.getvalue()
        info = _memory_info(path, stored, len(data))
        if byte_range is not None:
            data = data[byte_range.start : byte_range.end + 1]
        return info, LoadedBody(data)

    def list(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> list[dict[str, Any]]:
        base = path.rstrip("/") + "/"
        found = [
            {"name": name, "size": stored.size, "type": "file", "created": stored.created}
            for name, stored in tuple(fs.store.items())  # one look: deletes cannot race it
            if name.startswith(base)
        ]
        found += [
            {"name": name, "size": 0, "type": "directory"}
            for name in tuple(fs.pseudo_dirs)
            if name.startswith(base)
        ]
        return listing_entries(path, found)

    def write(
        self,
        fs: AbstractFileSystem,
        path: str,
        chunks: Iterable[bytes],
        stored: Representation,
        timeouts: Timeouts,
        attempts: Attempts,
        condition: WriteCondition | None = None,
    ) -> ObjectInfo | None:
        data = b"".join(chunks)
        with self._judged(fs, path, timeouts, condition):
            written = fs.open(path, "wb", data=data)  # the file object now in the store
        return _memory_info(path, written, len(data))


def _memory_info(path: str, stored: Any, size: int) -> ObjectInfo:
    """The validators of one file object of fsspec's memory store, as ``info`` gives them."""
    return _info.from_fsspec(
        {"name": path, "size": size, "type": "file", "created": stored.created}
    )


LOCAL_TEMP_PREFIX = ".objstore-tmp-"


class LocalBackend(Backend):
    """Local files: a write fills a temporary file beside the target, flushes it to disk and
    renames it into place (``os.replace``), so a reader opens the old file or the new one,
    never one half written, and a failure leaves the old file as it was. A read answers
    from the file it opened: validators from ``fstat`` of that file, not of the path."""

    drops_unknown_options = True

    def open(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        byte_range: ByteRange | None = None,
    ) -> tuple[ObjectInfo, ChunkSource]:
        file = open(path, "rb")  # noqa: SIM115 - the body: closed by whoever reads it
        try:
            info = _local_info(path, os.fstat(file.fileno()))
            if info.is_dir:
                raise IsADirectoryError(path)
            if byte_range is not None:
                file.seek(byte_range.start)
        except BaseException:
            file.close()
            raise
        return info, file

    def list(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> list[dict[str, Any]]:
        return [
            entry
            for entry in super().list(fs, path, timeouts)
            if not entry["name"].startswith(LOCAL_TEMP_PREFIX)
        ]

    def write(
        self,
        fs: AbstractFileSystem,
        path: str,
        chunks: Iterable[bytes],
        stored: Representation,
        timeouts: Timeouts,
        attempts: Attempts,
        condition: WriteCondition | None = None,
    ) -> ObjectInfo | None:
        """Write ``chunks`` to a temporary file and rename it to ``path`` once complete.

        Create-only (``If-None-Match: *``) links the temporary file to ``path``, which fails
        if anything is there, so it is exact even against other processes; an ETag condition
        is judged under the lock of :meth:`Backend._judged` (exact among this process's
        threads). Returns the new file's validators, read before the rename, so the answer
        describes this write whatever happens to the path after it.
        """
        if os.path.islink(path):  # write through a link (one the route's root allows)
            path = os.path.realpath(path)
        directory = os.path.dirname(path) or "."
        _make_directories(directory)
        temp = os.path.join(directory, f"{LOCAL_TEMP_PREFIX}{uuid.uuid4().hex}")
        try:
            written = _fill(temp, path, chunks)
            with self._judged(fs, path, timeouts, condition):
                if condition is not None and condition.create:
                    if not _link_new(temp, path):
                        raise status_error(412, path)  # its cause carries the 412
                else:
                    os.replace(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            fs.invalidate_cache(path)
        return written


def _link_new(source: str, target: str) -> bool:
    """Link ``source`` as ``target`` unless ``target`` exists: False then (exact, atomic)."""
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    return True


def _make_directories(directory: str) -> None:
    """``os.makedirs(directory, exist_ok=True)`` without its recursion, which stops past
    about a thousand missing levels (RecursionError) where the filesystem would not."""
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another writer
            os.mkdir(folder)


def _fill(temp: str, target: str, chunks: Iterable[bytes]) -> ObjectInfo:
    """Write ``chunks`` to the new file ``temp``, flushed to disk, with the permissions
    ``target`` has (or a new file's); return its validators."""
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    with open(fd, "wb") as file:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
        for chunk in chunks:
            file.write(chunk)
        file.flush()
        os.fsync(fd)
        return _local_info(target, os.fstat(fd))


def _local_info(path: str, status: os.stat_result) -> ObjectInfo:
    """Validators of a local file from its ``stat``, as ``LocalFileSystem.info`` gives them."""
    kind = "directory" if stat.S_ISDIR(status.st_mode) else "file"
    return _info.from_fsspec(
        {"name": path, "size": status.st_size, "type": kind, "mtime": status.st_mtime}
    )
