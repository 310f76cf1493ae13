"""Large uploads sent as parts in parallel, with bounded memory, committed only when complete.

The caller's body arrives as an iterator of chunks. :func:`upload_parts` cuts it into parts of
``part_size`` and sends up to ``max_concurrency`` of them at once from a thread pool, holding
at most ``max_concurrency + 1`` parts (the ones in flight and the one being read). Once every
part is stored the upload is committed; a failure of the caller's body or of the store aborts
it instead, so no object and no pending upload is left behind, and re-raises.

Each store says how parts are kept through a :class:`PartStore`, in its backend's module:

- S3 (``_backends.s3.parts``): a multipart upload (``CreateMultipartUpload``, ``UploadPart``,
  ``CompleteMultipartUpload``, ``AbortMultipartUpload``). The parts go through presigned
  ``UploadPart`` URLs sent with urllib3 from the worker threads, so several sockets are written
  at once without crossing to fsspec's event-loop thread; the other calls, and every call
  where a presigned URL cannot say what the filesystem would send, go through s3fs's client.
- Azure (``_backends.azure``): blocks staged in parallel (``Put Block``) and committed with
  ``Put Block List``.
- GCS has no parallel form that commits atomically: a resumable upload takes its chunks in
  order, one at a time (composing separately uploaded objects would leave them visible in
  the bucket while the upload runs). GCS keeps the sequential stream of ``Backend.write``.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Iterable, Iterator
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from .._body import UPLOAD_CHUNK
from .._errors import BodySourceError
from .._info import ObjectInfo
from . import Attempts


@dataclass(frozen=True)
class FileSlice:
    """Bytes ``[offset, offset + length)`` of an open regular file, read as they are sent.

    A request body that is a file is one (:func:`file_body`): iterated, it gives the bytes
    like any body, and an upload in parts reads each part where it is sent (``os.pread``: the
    caller's file position is left as it was). A part is never held while it waits for a
    connection, and is read again if it has to be sent again.
    """

    fd: int
    offset: int
    length: int

    def pieces(self) -> Iterator[bytes]:
        """The slice's bytes, :data:`UPLOAD_CHUNK` at a time; a file that shrank or fails
        to read raises :class:`BodySourceError` (the caller's body, not the store)."""
        done = 0
        while done < self.length:
            try:
                piece = os.pread(self.fd, min(UPLOAD_CHUNK, self.length - done), self.offset + done)
            except OSError as exc:
                raise BodySourceError(exc) from exc
            if not piece:
                shrank = EOFError(f"the file ended {self.length - done} bytes early while read")
                raise BodySourceError(shrank)
            done += len(piece)
            yield piece

    def __iter__(self) -> Iterator[bytes]:
        return self.pieces()

    def read(self) -> bytes:
        """The slice's bytes at once."""
        return b"".join(self.pieces())

    def split(self, part_size: int) -> Iterator[FileSlice]:
        """The slice as parts, sized as :func:`iter_parts` cuts a stream."""
        start, stop, number = self.offset, self.offset + self.length, 1
        while True:
            size = min(part_size_of(number, part_size), stop - start)
            yield FileSlice(self.fd, start, size)
            start += size
            number += 1
            if start >= stop:
                return


def file_body(body: object) -> FileSlice | None:
    """``body``, from its position on, when it is a binary file open on a regular file."""
    if not isinstance(body, (io.BufferedReader, io.BufferedRandom, io.FileIO)):
        return None
    try:
        fd = body.fileno()
        status = os.fstat(fd)
        offset = body.tell()
    except (OSError, ValueError):  # closed, or not a real file after all
        return None
    if not stat.S_ISREG(status.st_mode):
        return None
    return FileSlice(fd, offset, max(0, status.st_size - offset))


#: What one part is: bytes in memory, or a slice of the caller's file.
Part: TypeAlias = "bytes | bytearray | FileSlice"


class PartStore(Protocol):
    """Where the parts of one upload go, and how they become one object (or none)."""

    #: True when :meth:`send` takes a ``bytearray`` as it is; else each part is made ``bytes``
    #: (copied once more) before it is sent.
    takes_buffers: bool

    def begin(self) -> None:
        """Start the upload; nothing is visible until :meth:`commit`."""

    def send(self, number: int, data: Part) -> str:
        """Store part ``number`` (from 1); returns what :meth:`commit` needs to name it."""

    def commit(self, tokens: list[str]) -> ObjectInfo | None:
        """Make the object from the parts, in order, named by :meth:`send`'s tokens; the
        validators the store's answer gave, if any."""

    def committed(self, tokens: list[str]) -> ObjectInfo | None:
        """After a commit whose answer was lost: the object's validators if that commit took
        effect (the store holds the object those parts make), else ``None``."""

    def abort(self) -> None:
        """Throw away every part stored so far; called at most once, after every send."""


#: S3 takes at most 10,000 parts per upload: after this many parts of one size, the size
#: doubles, so 10,000 parts from the default 6 MiB upwards reach S3's 5 TiB largest object
#: (the last thousand are 3 GiB: under S3's 5 GiB and Azure's 4000 MiB largest part).
PARTS_PER_SIZE = 1000


def part_size_of(number: int, part_size: int) -> int:
    """The size of part ``number`` (from 1) of an upload whose first parts are ``part_size``."""
    return part_size << ((number - 1) // PARTS_PER_SIZE)


def iter_parts(chunks: Iterable[bytes], part_size: int) -> Iterator[bytearray]:
    """The bytes of ``chunks`` regrouped into parts (``part_size``, growing as
    :func:`part_size_of` says; the last may be shorter; an empty body is one empty part).

    Each byte is copied once, into the part handed over: a part is the largest thing an
    upload holds, once per part in flight.
    """
    pending = bytearray()
    produced = 0
    size = part_size_of(1, part_size)
    for chunk in chunks:
        view = memoryview(chunk)
        while len(view):
            take = size - len(pending)
            pending += view[:take]
            view = view[take:]
            if len(pending) == size:
                part, pending = pending, bytearray()
                produced += 1
                size = part_size_of(produced + 1, part_size)
                yield part
    if pending or not produced:
        yield pending


def upload_parts(
    store: PartStore, chunks: Iterable[bytes], attempts: Attempts
) -> ObjectInfo | None:
    """Send ``chunks`` to ``store`` in parts, in parallel, and commit them as one object.

    Args:
        store: where the parts go.
        chunks: the body, in order.
        attempts: the retry budget of the upload; its ``config`` gives ``part_size`` and
            ``max_concurrency``. Starting the upload, each part and the commit are each tried
            as it allows (a part is held in memory until stored, so it can be sent again).

    Returns:
        The validators the store's answer to the commit gave, if any.

    Raises:
        Exception: the first failure, of the caller's body or of the store, after the upload
            was aborted.
    """
    config = attempts.config
    attempts.call(store.begin)
    tokens: dict[int, str] = {}
    in_flight: set[Future[str]] = set()
    numbers: dict[Future[str], int] = {}
    pool = ThreadPoolExecutor(config.max_concurrency, thread_name_prefix="objstore-upload")
    try:
        parts: Iterable[bytearray | FileSlice] = (
            chunks.split(config.part_size)
            if isinstance(chunks, FileSlice)
            else iter_parts(chunks, config.part_size)
        )
        for number, buffer in enumerate(parts, start=1):
            if len(in_flight) >= config.max_concurrency:
                _collect(in_flight, numbers, tokens, FIRST_COMPLETED)
            part: Part = buffer
            if isinstance(buffer, bytearray) and not store.takes_buffers:
                part = bytes(buffer)
            del buffer
            future = pool.submit(_send, store, number, part, attempts)
            numbers[future] = number
            in_flight.add(future)
            del part  # the pool holds it until sent: memory is the parts in flight, plus one
        _collect(in_flight, numbers, tokens, ALL_COMPLETED)
        ordered = [tokens[n] for n in sorted(tokens)]
        written = attempts.call(lambda: store.commit(ordered), lambda: store.committed(ordered))
    except BaseException:
        # Parts not started are dropped; a part being sent is waited for, or it could
        # outlive the abort and leave a part of an upload that no longer exists.
        pool.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(Exception):  # the first failure is the one to report
            store.abort()
        raise
    finally:
        pool.shutdown(wait=True)
    return written


def _send(store: PartStore, number: int, data: Part, attempts: Attempts) -> str:
    return attempts.call(lambda: store.send(number, data))


def _collect(
    in_flight: set[Future[str]],
    numbers: dict[Future[str], int],
    tokens: dict[int, str],
    until: str,
) -> None:
    """Wait for one part (``FIRST_COMPLETED``) or all of them (``ALL_COMPLETED``), keeping
    their tokens; a part that failed raises here."""
    done, _ = wait(in_flight, return_when=until)
    for future in done:
        in_flight.discard(future)
        tokens[numbers.pop(future)] = future.result()
