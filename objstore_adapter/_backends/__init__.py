"""The backend contract: how one filesystem is asked for an object's metadata and bytes.

:class:`Backend` is the contract every store's backend keeps (its methods, and the exceptions
they may raise: ``FileNotFoundError``, ``IsADirectoryError``, ``OSError`` chained from a
``StoreStatusError``, ``VersionChanged``), and its implementation for any fsspec filesystem:
``info()`` for metadata, ``open()`` for the bytes. Where a store's own API does better, its
module says so in a subclass: S3's ``GetObject`` returns the metadata *and* a streaming body
in one request, where ``fs.open`` would cost an ``info()`` call plus one ranged GET per block.

- :mod:`._aio`: the loop-to-thread bridge the cloud backends share.
- :mod:`.s3`, :mod:`.gcs`, :mod:`.azure`: one store each.
- :mod:`.local`: ``memory://`` and ``file://``.
- :mod:`.web`, :mod:`.ftp`, :mod:`.sftp`, :mod:`.webdav`, :mod:`.archive`: web, FTP, SFTP
  and WebDAV servers, zip and tar archives.
- :mod:`.cache`: fsspec's caching filesystems, checked against their store.

Which backend serves a protocol is said once, in the registry's protocol table.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import itertools
import re
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from fsspec.asyn import AsyncFileSystem, sync
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from .. import _info
from .._body import ChunkSource, StoreGet
from .._errors import status_error, store_answer
from .._http import ByteRange, Timeouts, WriteCondition
from .._info import ObjectInfo, Representation
from .._listing import hides_keys, listing_entries
from .._transfer import Attempts, TransferConfig, VersionChanged, retryable
from .._transfer.upload import FileSlice, PartStore, upload_parts

#: Block size for generic ``fs.open`` reads: big enough that a sequential read costs few
#: backend requests, small enough to stay well inside the memory budget of one stream.
READ_BLOCK = 8 * 2**20

#: How often a read through ``fs.open`` is opened again when the object was replaced
#: before its first block was checked.
VERIFIED_OPENS = 10

#: Block size of streamed uploads: what one upload holds in memory, and the multipart part
#: size where the backend has multipart uploads (S3's minimum part is 5 MiB).
WRITE_BLOCK = 8 * 2**20


def runs_async(fs: AbstractFileSystem) -> bool:
    """True where ``fs``'s coroutine methods can run on its loop: an async filesystem,
    unless it wraps one that is not (fsspec's ``dir`` over ``memory``, say, has coroutine
    methods that call ones its target lacks)."""
    inner = getattr(fs, "fs", None)
    if isinstance(inner, AbstractFileSystem) and not inner.async_impl:
        return False
    return isinstance(fs, AsyncFileSystem)


def call(
    fs: AbstractFileSystem, method: str, *args: Any, timeout: float | None, **kwargs: Any
) -> Any:
    """``fs.<method>(*args, **kwargs)``, within ``timeout`` seconds where ``fs`` runs on
    fsspec's loop (its coroutine, given that deadline; sshfs's and the cloud filesystems'
    own calls wait without one). A blocking filesystem's waits are bounded by its sockets'
    timeouts instead, which :meth:`Backend.limit_waits` sets."""
    coroutine = getattr(fs, f"_{method}", None) if runs_async(fs) else None
    if coroutine is not None:
        return sync(fs.loop, coroutine, *args, timeout=timeout, **kwargs)
    return getattr(fs, method)(*args, **kwargs)


class Backend:
    """Metadata and streaming reads through plain fsspec calls."""

    #: True where the filesystem class accepts any keyword and drops those it does not take
    #: (gcsfs, adlfs, fsspec's memory and local): a misspelt option would be lost silently,
    #: so the registry refuses options no constructor names.
    drops_unknown_options = False

    #: True where a write lands at its path whole or not at all (an object store's PUT, a
    #: committed multipart upload): elsewhere (a file on an FTP or SFTP server) a body is
    #: written under a temporary name and moved into place, so a write that fails part way
    #: never replaces the object, and no reader sees half of one.
    atomic_writes = False

    #: True where :meth:`move_into_place` renames, keeping the validators the staged body
    #: had (FTP, SFTP, WebDAV servers); fsspec's default ``mv`` may copy.
    renames_into_place = False

    #: Characters a key cannot hold on this protocol: the filesystem would read a key holding
    #: one as another (the registry refuses such a URL).
    refused_in_keys = ""

    #: True where a filesystem cannot be shared between threads (ftplib's one connection):
    #: the registry then builds one for each thread that uses the route.
    per_thread = False

    #: The block sizes of bodies read and written through ``fs.open``: what one request of
    #: the filesystem's asks for or sends.
    read_block = READ_BLOCK
    write_block = WRITE_BLOCK

    def limit_waits(self, fs: AbstractFileSystem, timeouts: Timeouts) -> None:
        """Bound each wait of ``fs``'s connection by the caller's ``timeout=``, before a
        request is served with it. Only per-thread filesystems (FTP, SFTP, WebDAV), whose
        clients wait on their own sockets, are given one: elsewhere each call is bounded by
        its own deadline, and a shared client's setting would be every thread's."""

    def reopen(self, fs: AbstractFileSystem, timeouts: Timeouts) -> None:
        """Before a request is tried again: open ``fs``'s connection again where the failure
        may have left it out of step with its server (a reply that timed out may still
        come, and be read as the next command's). Only per-thread filesystems are reopened;
        the others' clients drop a failed connection themselves."""

    def connected(self, fs: AbstractFileSystem) -> bool:
        """False when ``fs`` holds a connection the server closed, which the filesystem
        would not open again: the registry then builds a new one (per-thread routes)."""
        return True

    def bound(self, transfer: TransferConfig) -> Backend:
        """This backend with the settings of a route's ``transfer`` it depends on (S3: whether
        GETs go through obstore); the registry binds it when it builds the route's
        filesystem, so no method carries another store's flag."""
        return self

    def storage_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options a route's filesystem is built with: the route's own, with whatever
        the backend's SDK needs to try each request once (the handlers retry, see
        :class:`Attempts`; a retry layer under them would multiply the attempts). A
        filesystem built for one thread is kept out of fsspec's instance cache, which would
        hand every thread (and every rebuild) the same one."""
        if self.per_thread:
            return {**options, "skip_instance_cache": True}
        return dict(options)

    def configure(self, fs: AbstractFileSystem) -> None:
        """Tell a filesystem just built for a route to try each request once, where it can
        only be told after it is built."""

    def stat(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> ObjectInfo:
        """One metadata request for ``path``, never answered from a listing cached earlier
        (FTP's ``info`` reads the parent's listing, kept until invalidated)."""
        fs.invalidate_cache(path)
        fs.invalidate_cache(fs._parent(path))
        info = call(fs, "info", path, timeout=timeouts.request)
        if info.get("size") is None and info.get("type") != "directory":
            # A body of unknown length (a web server's chunked answer) cannot be answered with
            # the Content-Length every answer carries, nor a range judged against it: a 502,
            # not a body served empty.
            raise OSError(f"the store reported no size for {path}")
        return _info.from_fsspec(info)

    def open(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        byte_range: ByteRange | None = None,
    ) -> tuple[ObjectInfo, ChunkSource]:
        """The whole object's metadata and a lazily read body: the whole object, or only
        ``byte_range`` (absolute, already checked against the size) when one is given."""
        for _ in range(VERIFIED_OPENS):
            info = self.stat(fs, path, timeouts)
            if info.is_dir:
                raise IsADirectoryError(path)
            block = (
                self.read_block if byte_range is None else min(self.read_block, byte_range.length)
            )
            body = _Verified(
                self.open_reader(fs, path, block, info.size, timeouts),
                lambda: self.stat(fs, path, timeouts),
                info,
                path,
                self.read_block,
            )
            # A file left open is closed by the garbage collector in whatever thread it runs
            # in then: sshfs's close waits on fsspec's loop, and so blocks that thread (an
            # SFTP server's own event loop, in the suite: a deadlock).
            try:
                if byte_range is not None:
                    body.file.seek(byte_range.start)
                body.prime(READ_BLOCK if byte_range is None else byte_range.length)
            except VersionChanged:  # replaced before a byte was answered: open it again
                body.close()
                continue
            except BaseException as exc:
                body.close()
                # A file removed or replaced while it was opened fails in the filesystem's
                # own way (webdav4 seeks in a 404 answer: "server does not support ranges");
                # a failure of the connection is no sign of either.
                transient = not isinstance(exc, Exception) or retryable(exc)
                if not transient and not self._holds(fs, path, info, timeouts):
                    continue
                raise
            return info, body
        raise status_error(503, path)  # replaced faster than it can be read

    def _holds(
        self, fs: AbstractFileSystem, path: str, info: ObjectInfo, timeouts: Timeouts
    ) -> bool:
        """Whether the store holds the version ``info`` describes still; ``True`` where that
        cannot be told (the store's failure, then, is the answer)."""
        try:
            now = self.stat_or_none(fs, path, timeouts)
        except Exception:
            return True
        return now is not None and (now.etag, now.size) == (info.etag, info.size)

    def open_direct(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        span: tuple[int, int | None] | None,
        conditions: Mapping[str, str],
    ) -> StoreGet | None:
        """One request for a GET whose range (``bytes=start-[end]``) and preconditions the
        store resolves itself.

        Returns the store's answer, or ``None`` when the backend cannot (or the store would
        not) answer that way; then the caller reads the metadata, judges, and asks
        :meth:`open` for an absolute range.
        """
        return None

    def can_resume(self, fs: AbstractFileSystem, info: ObjectInfo) -> bool:
        """True when :meth:`open_part` can fetch more of the version ``info`` describes."""
        return False

    def open_part(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        start: int,
        stop: int,
        info: ObjectInfo,
    ) -> ChunkSource:
        """Bytes ``start`` to ``stop - 1`` of the version ``info`` describes, streamed.

        Raises:
            VersionChanged: the store holds another version of the object now.
        """
        raise NotImplementedError

    def list(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> list[dict[str, Any]]:
        """Listing entries for what lies directly under the prefix ``path``."""
        fs.invalidate_cache(path)  # a listing must see writes made by anyone since the last
        try:
            found = call(fs, "ls", path, detail=True, timeout=timeouts.request)
        except (FileNotFoundError, NotADirectoryError):
            return []
        if any(hides_keys(path, item) for item in found):
            found = [*found, *_under_empty_segment(fs, path, timeouts)]
        if not self.atomic_writes:  # bodies on their way to another key: no objects yet
            found = [
                item
                for item in found
                if not _STAGING_NAME.fullmatch(str(item.get("name", "")).rpartition("/")[2])
            ]
        return listing_entries(path, found)

    def delete(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts, etag: str | None = None
    ) -> None:
        """Remove the object at ``path`` in one request; with ``etag``, only that version.

        Raises:
            FileNotFoundError: there was nothing to remove (where the store says so).
            OSError: chained from a 412 ``StoreStatusError`` when ``etag`` no longer matches.
        """
        with self._judged(fs, path, timeouts, None if etag is None else WriteCondition(etag=etag)):
            call(fs, "rm_file", path, timeout=timeouts.request)
        fs.invalidate_cache(path)

    @contextlib.contextmanager
    def _judged(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        condition: WriteCondition | None,
        attempts: Attempts | None = None,
    ) -> Iterator[None]:
        """Judge ``condition`` and write, for a store that cannot judge it itself: the check
        and the write hold a lock, so they are atomic among the threads of this process (the
        whole store, for memory://), not against other processes. The check is tried again
        as ``attempts`` allows, where the write is not (a move into place)."""
        if condition is None:
            yield
            return
        with _LOCAL_WRITES[hash(path) % len(_LOCAL_WRITES)]:
            fs.invalidate_cache(path)

            def check() -> ObjectInfo | None:
                return self.stat_or_none(fs, path, timeouts)

            current = check() if attempts is None else attempts.call(check)
            if not condition_holds(condition, current):
                raise status_error(412, path)
            yield

    def write_options(self, stored: Representation) -> dict[str, Any]:
        """Options for ``fs.open(path, "wb", ...)`` and ``fs.pipe_file`` that store the type,
        the stored headers and the metadata, as far as the backend keeps them."""
        return {}

    def open_reader(
        self, fs: AbstractFileSystem, path: str, block: int, size: int, timeouts: Timeouts
    ) -> Any:
        """A file open for reading ``path`` (``size`` bytes, as stat'ed) in blocks of
        ``block`` bytes."""
        return fs.open(path, "rb", block_size=block)

    def open_writer(
        self,
        fs: AbstractFileSystem,
        path: str,
        stored: Representation,
        autocommit: bool,
        timeouts: Timeouts,
    ) -> Any:
        """A file open for writing ``path`` in blocks of :attr:`write_block`."""
        return fs.open(
            path,
            "wb",
            autocommit=autocommit,
            block_size=self.write_block,
            **self.write_options(stored),
        )

    def write_whole(
        self,
        fs: AbstractFileSystem,
        path: str,
        data: bytes,
        stored: Representation,
        condition: WriteCondition | None,
        timeouts: Timeouts,
    ) -> ObjectInfo | None:
        """Store a body that fits in one block with one request, if ``condition`` holds.

        Returns the validators the store's answer gave (``None``: it gave none).
        """
        with self._judged(fs, path, timeouts, condition):
            self.send_whole(fs, path, data, stored, timeouts)
        return None

    def send_whole(
        self,
        fs: AbstractFileSystem,
        path: str,
        data: bytes,
        stored: Representation,
        timeouts: Timeouts,
    ) -> None:
        """The one request of :meth:`write_whole`, once its condition is judged."""
        call(fs, "pipe_file", path, data, timeout=timeouts.request, **self.write_options(stored))

    def part_store(
        self,
        fs: AbstractFileSystem,
        path: str,
        stored: Representation,
        timeouts: Timeouts,
        condition: WriteCondition | None,
    ) -> PartStore | None:
        """Where a body larger than one part is sent in parallel parts, committed only if
        ``condition`` holds; ``None`` when the backend has no such form (the body is then
        streamed block by block)."""
        return None

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
        """Stream ``chunks`` to ``path``, committing only once every chunk is written and only
        if ``condition`` holds. Returns the validators the store's answer gave, if any.

        A body of one block is one request, tried again as ``attempts`` allows; a request
        whose answer was lost is not sent again once the store holds the body. A larger
        body goes in parts (each part tried again) or, where the store has no parts, as one
        stream opened without autocommit, so a failure part way (the caller's body or the
        store) discards what was written: no object, no partial object. Where a write is not
        atomic at its path (``atomic_writes``), the body is written under a temporary name
        beside it and moved into place once whole.
        """
        if self.atomic_writes:
            return self._write_at(fs, path, chunks, stored, timeouts, attempts, condition)
        attempts.call(lambda: _make_folders(fs, fs._parent(path), timeouts))
        staging = staging_path(path)
        try:
            self._write_at(fs, staging, chunks, stored, timeouts, attempts, None, autocommit=True)
            # The validators of the body written, read before it is moved where a rename
            # keeps them: once in place, another writer may replace or remove it at once.
            written = (
                attempts.call(lambda: self.stat(fs, staging, timeouts))
                if self.renames_into_place
                else None
            )
            with self._judged(fs, path, timeouts, condition, attempts):
                attempts.call(self._mover(fs, staging, path, timeouts))
        except BaseException:
            with contextlib.suppress(Exception):
                call(fs, "rm_file", staging, timeout=timeouts.request)
            raise
        finally:
            fs.invalidate_cache(path)
            fs.invalidate_cache(fs._parent(path))
        return written

    def stat_or_none(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts
    ) -> ObjectInfo | None:
        """:meth:`stat`, or ``None`` where nothing is stored at ``path``."""
        try:
            return self.stat(fs, path, timeouts)
        except FileNotFoundError:
            return None

    def _mover(
        self, fs: AbstractFileSystem, staging: str, path: str, timeouts: Timeouts
    ) -> Callable[[], None]:
        """The move of a staged body into place, as tried (again) by ``Attempts``: a try
        after one that failed first asks whether the staged body is still there. A failure
        is no proof the move did not happen, lost answer or not: wsgidav moves, then answers
        500 when the target was deleted meanwhile; a MOVE sent again would find nothing."""
        tries = 0

        def move() -> None:
            nonlocal tries
            tries += 1
            if tries > 1 and self.stat_or_none(fs, staging, timeouts) is None:
                return  # an earlier try moved it, whatever its answer said
            self.move_into_place(fs, staging, path, timeouts)

        return move

    def move_into_place(
        self, fs: AbstractFileSystem, staging: str, path: str, timeouts: Timeouts
    ) -> None:
        """Replace ``path`` with the whole body written at ``staging``, in one step where the
        protocol has one (a rename over the target)."""
        call(fs, "mv", staging, path, timeout=timeouts.request)

    def _write_at(
        self,
        fs: AbstractFileSystem,
        path: str,
        chunks: Iterable[bytes],
        stored: Representation,
        timeouts: Timeouts,
        attempts: Attempts,
        condition: WriteCondition | None,
        autocommit: bool = False,
    ) -> ObjectInfo | None:
        config = attempts.config
        if getattr(fs, "local_file", False):  # keys have no folders to create; files do
            fs.makedirs(fs._parent(path), exist_ok=True)
        parts = self.part_store(fs, path, stored, timeouts, condition)
        large_file = isinstance(chunks, FileSlice) and chunks.length > config.part_size
        if parts is not None and large_file:  # each part read from the file as it is sent
            try:
                return upload_parts(parts, chunks, attempts)
            finally:
                fs.invalidate_cache(path)
        body = iter(chunks)
        block = config.part_size if parts is not None else WRITE_BLOCK
        first, size = [], 0
        for chunk in body:
            first.append(chunk)
            size += len(chunk)
            if size > block:
                break
        else:  # the whole body fits in one block: one request, nothing to clean up
            try:
                return self._write_once(
                    fs, path, b"".join(first), stored, condition, timeouts, attempts
                )
            finally:
                fs.invalidate_cache(path)
        if parts is not None:  # parts sent in parallel, committed once all are stored
            try:
                return upload_parts(parts, itertools.chain(first, body), attempts)
            finally:
                fs.invalidate_cache(path)
        with self._judged(fs, path, timeouts, condition):
            file = self.open_writer(fs, path, stored, autocommit, timeouts)
            try:
                for chunk in itertools.chain(first, body):
                    file.write(chunk)
                file.close()
                if not autocommit:
                    file.commit()
            except BaseException:
                _abandon(file)
                raise
            finally:
                fs.invalidate_cache(path)
        return None

    def _write_once(
        self,
        fs: AbstractFileSystem,
        path: str,
        data: bytes,
        stored: Representation,
        condition: WriteCondition | None,
        timeouts: Timeouts,
        attempts: Attempts,
    ) -> ObjectInfo | None:
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()

        def send() -> ObjectInfo | None:
            return self.write_whole(fs, path, data, stored, condition, timeouts)

        def settled() -> ObjectInfo | None:
            # The answer was lost: the write took effect if the store holds these bytes now.
            info = self.stat_or_none(fs, path, timeouts)
            return info if info is not None and info.md5 == digest else None

        return attempts.call(send, settled)


class _Verified:
    """A body read with ``fs.open`` from a store that cannot pin a version: each block is a
    request of its own (FTP's ``RETR``, a ranged GET) that reads whatever the store holds
    then, or a part of one stream that reads the file as it is (a file overwritten in place
    on a WebDAV or SFTP server). After each block of the backend's ``read_block`` bytes,
    the validators are read again; a body whose object was replaced meanwhile raises
    ``VersionChanged``, never two versions spliced, nor the old length of the new bytes."""

    def __init__(
        self,
        file: Any,
        stat: Callable[[], ObjectInfo],
        info: ObjectInfo,
        path: str,
        block: int,
    ) -> None:
        self.file = file  # the fsspec file read
        self._stat, self._info, self._path = stat, info, path
        self._block = block  # what one request of the filesystem's reads
        self._read = 0
        self._checked = -1  # the last block checked after
        self._first = b""

    def prime(self, size: int) -> None:
        """Read the first bytes (``size`` at most), which fetches the first block, and check
        them before the answer is given: a replacement found then costs a new open, not a
        failed body."""
        self._first = self.read(min(size, 64 * 2**10))
        if self._checked < 0:  # nothing read: the file ends before the range, or is empty
            self._check(0)

    def read(self, n: int) -> bytes:
        if self._first:
            first, self._first = self._first[:n], self._first[n:]
            return first
        data: bytes = self.file.read(n)
        self._read += len(data)
        block = (self._read - 1) // self._block
        if data and block > self._checked:
            self._check(block)
        return data

    def _check(self, block: int) -> None:
        self._checked = block
        now = self._stat()
        if (now.etag, now.size) != (self._info.etag, self._info.size):
            raise VersionChanged(self._path)

    def close(self) -> None:
        self.file.close()


def _under_empty_segment(
    fs: AbstractFileSystem, path: str, timeouts: Timeouts
) -> list[dict[str, Any]]:
    """The keys under ``path + "//"`` (``a//b``), which ``ls`` folds into a directory
    named like ``path`` itself: asked for with the stem filter of ``find`` where the
    filesystem has one (s3fs, gcsfs, adlfs); nothing where it has none."""
    find = fs._find if runs_async(fs) else fs.find
    if "prefix" not in inspect.signature(find).parameters:
        return []
    found = call(fs, "find", path, detail=True, prefix="/", timeout=timeouts.request)
    return list(found.values())


def close_when_dropped(fs: AbstractFileSystem, attribute: str) -> None:
    """Close ``fs``'s client (``fs.<attribute>``, whichever one it holds then) once ``fs``
    is dropped: a filesystem of a thread that ended, or one replaced after its connection
    failed. ftplib and paramiko close nothing when collected, and leave the socket open."""
    state = fs.__dict__  # not fs itself: the finalizer would keep it alive
    weakref.finalize(fs, _close_quietly, state, attribute)


def _close_quietly(state: dict[str, Any], attribute: str) -> None:
    client = state.get(attribute)
    if client is not None:
        with contextlib.suppress(Exception):
            client.close()


def staging_path(path: str) -> str:
    """A name beside ``path`` for a body on its way there: hidden, and unique to one write."""
    folder, slash, name = path.rpartition("/")
    return f"{folder}{slash}.{name}.{uuid.uuid4().hex[:16]}.partial"


#: The last segment of a :func:`staging_path`: left out of listings.
_STAGING_NAME = re.compile(r"\..+\.[0-9a-f]{16}\.partial")


def _make_folders(fs: AbstractFileSystem, folder: str, timeouts: Timeouts) -> None:
    """Make ``folder`` and its parents, where keys live in folders (an FTP or SFTP server's
    files). Another writer may make them meanwhile, and a filesystem's check for them may
    be stale (FTP's cached listing): the server's answer here, refusal or failure, is left
    to the write, which says what is wrong if the folder is missing still (wsgidav answers
    500 to a PROPFIND of a folder whose files are being renamed: one in three, with sixteen
    writers in it). A failure with no answer (the connection, a timeout) is raised, to be
    tried again."""
    fs.invalidate_cache(folder)
    fs.invalidate_cache(fs._parent(folder))
    try:
        call(fs, "makedirs", folder, exist_ok=True, timeout=timeouts.request)
    except Exception as exc:
        if retryable(exc) and store_answer(exc) is None:
            raise


#: Locks for writes whose conditions the adapter judges itself, striped by path.
_LOCAL_WRITES = tuple(threading.Lock() for _ in range(64))


def condition_holds(condition: WriteCondition, current: ObjectInfo | None) -> bool:
    """Whether a write under ``condition`` may replace ``current`` (``None``: no object)."""
    if condition.create:
        return current is None
    return current is not None and current.etag == condition.etag


def bucket_key(fs: Any, path: str) -> tuple[str, str, str | None]:
    """Bucket (or container), key and version of a cloud path; a bucket alone is no object."""
    bucket, key, version = fs.split_path(path)
    if not key:
        raise IsADirectoryError(path)
    return bucket, key, version


def written(size: int, etag: Any, last_modified: Any = None) -> ObjectInfo:
    """The validators a store's answer to a write gave."""
    return ObjectInfo(
        size=size,
        etag=_info.quote_etag(etag) if isinstance(etag, str) else None,
        last_modified=_info.to_datetime(last_modified),
        md5=_info.md5_of(etag),
    )


def _abandon(file: Any) -> None:
    """Throw away an unfinished upload without committing any of it."""
    if isinstance(file, AbstractBufferedFile):
        with contextlib.suppress(Exception):
            file.discard()
        # close() on a buffered file flushes the last block and, for some backends (adlfs),
        # commits what was staged: mark it closed so neither we nor __del__ call it.
        file.closed = True
    else:  # local and memory files: close the temporary, then drop it
        with contextlib.suppress(Exception):
            file.close()
        with contextlib.suppress(Exception):
            file.discard()
