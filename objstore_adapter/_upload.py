"""Large uploads sent as parts in parallel, with bounded memory, committed only when complete.

The caller's body arrives as an iterator of chunks. :func:`upload_parts` cuts it into parts of
``part_size`` and sends up to ``max_concurrency`` of them at once from a thread pool, holding
at most ``max_concurrency + 1`` parts (the ones in flight and the one being read). Once every
part is stored the upload is committed; a failure of the caller's body or of the store aborts
it instead, so no object and no pending upload is left behind, and re-raises.

Each store says how parts are kept through a :class:`PartStore`:

- S3: a multipart upload (``CreateMultipartUpload``, ``UploadPart``,
  ``CompleteMultipartUpload``, ``AbortMultipartUpload``). The parts go through presigned
  ``UploadPart`` URLs sent with urllib3 from the worker threads, so several sockets are written
  at once without crossing to fsspec's event-loop thread (the GET path does the same, see
  ``_presigned``); the other calls, and every call where a presigned URL cannot say what the
  filesystem would send, go through s3fs's own client.
- Azure: blocks staged in parallel (``Put Block``) and committed with ``Put Block List``.
- GCS has no parallel form that commits atomically: a resumable upload takes its chunks in
  order, one at a time (composing separately uploaded objects would leave them visible in
  the bucket while the upload runs). GCS keeps the sequential stream of ``Backend.write``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import uuid
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from fsspec.asyn import sync

from ._body import UPLOAD_CHUNK
from ._errors import BodySourceError, status_error
from ._http import Timeouts
from ._info import ObjectInfo, quote_etag, to_datetime
from ._presigned import DEFINITE_OR_THROTTLED, can_presign, presigned_request
from ._transfer import Attempts


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


# --- S3 ----------------------------------------------------------------------------------------


class S3Parts:
    """An S3 multipart upload of ``path`` through s3fs, its parts presigned where possible.

    Args:
        fs: an ``s3fs.S3FileSystem``.
        path: ``bucket/key``.
        options: ``CreateMultipartUpload`` parameters (``ContentType``, ``Metadata``, ...),
            as ``S3Backend.write_options`` builds them.
        timeouts: the caller's ``timeout=``; a part's socket waits are bounded by its read
            timeout.
    """

    takes_buffers = True  # urllib3 and botocore send any buffer as it is

    def __init__(
        self,
        fs: Any,
        path: str,
        options: Mapping[str, Any],
        timeouts: Timeouts,
        condition: Mapping[str, str] | None = None,
    ) -> None:
        bucket, key, _ = fs.split_path(path)
        if not key:
            raise IsADirectoryError(path)
        self._fs = fs
        self._path = path
        self._where = {"Bucket": bucket, "Key": key}
        self._options = dict(options)
        self._condition = dict(condition or {})
        self._timeouts = timeouts
        self._presign = can_presign(fs)
        self._upload_id = ""

    def begin(self) -> None:
        answer = self._call(
            "create_multipart_upload", self._timeouts.request, **self._where, **self._options
        )
        self._upload_id = answer["UploadId"]

    def send(self, number: int, data: Part) -> str:
        if self._presign:
            presigned = self._send_presigned(number, data)
            if presigned is not None:
                return presigned
            self._presign = False  # the store took no presigned part: s3fs from now on
        answer = self._call(
            "upload_part",
            None,
            **self._where,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=data.read() if isinstance(data, FileSlice) else data,
        )
        etag: str = answer["ETag"]
        return etag

    def commit(self, tokens: list[str]) -> ObjectInfo | None:
        parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(tokens, start=1)]
        answer = self._call(
            "complete_multipart_upload",
            None,
            **self._where,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": parts},
            **self._condition,
        )
        etag = answer.get("ETag")
        return ObjectInfo(size=0, etag=quote_etag(etag) if isinstance(etag, str) else None)

    def committed(self, tokens: list[str]) -> ObjectInfo | None:
        # A multipart object's ETag is the MD5 of its parts' MD5s, and their count.
        digests = b"".join(bytes.fromhex(token.strip('"')) for token in tokens)
        expected = f'"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(tokens)}"'
        try:
            answer = self._call("head_object", self._timeouts.request, **self._where)
        except FileNotFoundError:
            return None
        etag = answer.get("ETag")
        return ObjectInfo(size=0, etag=expected) if etag == expected else None

    def abort(self) -> None:
        self._call(
            "abort_multipart_upload",
            self._timeouts.request,
            **self._where,
            UploadId=self._upload_id,
        )

    def _call(self, method: str, timeout: float | None, **kwargs: Any) -> Any:
        return sync(self._fs.loop, self._fs._call_s3, method, timeout=timeout, **kwargs)

    def _send_presigned(self, number: int, data: Part) -> str | None:
        """The part's ETag; ``None`` when the store refused the URL itself (an emulator
        without query-string auth, a redirect): then s3fs, which reports precisely, retries."""
        # A file's slice streams from the file, its length given so it is not sent chunked;
        # any buffer is sent as it is (urllib3's hints name bytes only).
        body: Any = data.pieces() if isinstance(data, FileSlice) else data
        length = data.length if isinstance(data, FileSlice) else len(data)
        params = {
            **self._where,
            "UploadId": self._upload_id,
            "PartNumber": number,
            "ContentLength": length,
        }
        response = presigned_request(self._fs, "upload_part", params, self._timeouts, body=body)
        etag = response.headers.get("ETag")
        if response.status < 300 and etag:
            return str(etag)
        if response.status == 404 or response.status in DEFINITE_OR_THROTTLED:
            raise status_error(response.status, self._path, response.headers)
        return None


# --- Azure -------------------------------------------------------------------------------------


class AzureBlocks:
    """Blocks of a block blob, staged in parallel and committed with their content settings.

    Args:
        fs: an ``adlfs.AzureBlobFileSystem``.
        path: ``container/blob``.
        options: ``content_settings`` (a dict of ``ContentSettings`` fields) and ``metadata``,
            as ``AzureBackend.write_options`` builds them.
        timeouts: the caller's ``timeout=``.
    """

    takes_buffers = False  # azure-storage-blob copies a body that is not ``bytes``

    def __init__(
        self,
        fs: Any,
        path: str,
        options: Mapping[str, Any],
        timeouts: Timeouts,
        condition: Mapping[str, Any] | None = None,
    ) -> None:
        container, blob, _ = fs.split_path(path)
        if not blob:
            raise IsADirectoryError(path)
        self._fs = fs
        self._blob = fs.service_client.get_blob_client(container, blob)
        self._options = options
        self._condition = dict(condition or {})
        self._timeouts = timeouts
        # Every block id of a blob must have the same length: one fixed-width form for all.
        self._prefix = uuid.uuid4().hex[:16]
        self._existed = True

    def begin(self) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            sync(self._fs.loop, self._blob.get_blob_properties, timeout=self._timeouts.request)
        except ResourceNotFoundError:
            self._existed = False

    def send(self, number: int, data: Part) -> str:
        block_id = f"{self._prefix}{number:08d}"
        body = data.read() if isinstance(data, FileSlice) else data
        sync(self._fs.loop, self._blob.stage_block, block_id, body, length=len(body))
        return block_id

    def commit(self, tokens: list[str]) -> ObjectInfo | None:
        from azure.core.exceptions import HttpResponseError
        from azure.storage.blob import ContentSettings

        conflict: OSError | None = None
        try:
            answer = sync(
                self._fs.loop,
                self._blob.commit_block_list,
                tokens,
                content_settings=ContentSettings(**self._options["content_settings"]),
                metadata=self._options["metadata"],
                **self._condition,
            )
        except HttpResponseError as exc:
            if getattr(exc, "error_code", None) != "InvalidBlockList":
                raise
            # Another write to this blob committed meanwhile, which discards every block
            # staged and not committed, ours included: the store could not take this PUT
            # now, and it can be sent again (a 503, not "the request was malformed").
            conflict = status_error(503, self._blob.blob_name)
        if conflict is not None:
            raise conflict
        etag = answer.get("etag")
        return ObjectInfo(
            size=0,
            etag=quote_etag(etag) if isinstance(etag, str) else None,
            last_modified=to_datetime(answer.get("last_modified")),
        )

    def committed(self, tokens: list[str]) -> ObjectInfo | None:
        return None  # committing the same block list again is harmless: it is sent again

    def abort(self) -> None:
        """Staged blocks have no delete of their own: Azure drops them at the blob's next
        commit, or a week after the last one was staged. Where no blob existed before the
        upload and none exists now (nobody committed one meanwhile), the name is deleted,
        which drops them now (Azurite does; a store that answers 404 keeps them until
        then). An existing blob keeps them until it is next written; its content is
        untouched either way."""
        if self._existed:
            return
        from azure.core.exceptions import ResourceNotFoundError

        try:
            sync(self._fs.loop, self._blob.get_blob_properties, timeout=self._timeouts.request)
            return  # someone else committed a blob under this name meanwhile: keep it
        except ResourceNotFoundError:
            pass
        with contextlib.suppress(ResourceNotFoundError):
            sync(self._fs.loop, self._blob.delete_blob, timeout=self._timeouts.request)
