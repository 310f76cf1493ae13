"""The streaming body behind ``Response.raw``.

:class:`BodyReader` pulls bytes lazily from a backend :class:`ChunkSource`, stops at the
announced length, and turns a body that ends early, or any backend failure while reading,
into the urllib3 exceptions that ``requests`` already maps for HTTP (``ProtocolError`` →
``ChunkedEncodingError``). :func:`raw_response` wraps it in a real ``urllib3.HTTPResponse`` so
tools that inspect ``response.raw`` (requests-cache, CacheControl) work unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from requests import exceptions as rex
from urllib3 import HTTPResponse
from urllib3.exceptions import IncompleteRead, ProtocolError, ReadTimeoutError

from ._errors import BodySourceError, describe, outcome_for
from ._http import ByteRange
from ._info import ObjectInfo
from ._redact import stand_in

#: Bytes read, or the part of a caller's buffer they were read into.
Filled = TypeVar("Filled", bytes, memoryview)

#: Reads smaller than this are served from one backend read of READ_BUFFER bytes.
SMALL_READ = 64 * 1024
READ_BUFFER = 2**20


class ChunkSource(Protocol):
    """What a backend hands over for a body: ``read(n)`` up to n bytes, b"" at the end.

    A source that can also fill a caller's buffer without a copy of its own has
    ``readinto(view)`` (up to ``len(view)`` bytes, 0 at the end): see :func:`read_into`.
    """

    def read(self, n: int) -> bytes: ...

    def close(self) -> None: ...


def read_into(source: ChunkSource, view: memoryview) -> int:
    """Up to ``len(view)`` bytes of ``source`` into ``view`` (0 at the end): through the
    source's own ``readinto`` where it has one, else read and copied in."""
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        n: int = readinto(view)
        return n
    return copied_into(view, source.read(len(view)))


def copied_into(view: memoryview | bytearray, data: bytes) -> int:
    """``data``, which fits, copied to the start of ``view``: how many bytes it is."""
    view[: len(data)] = data
    return len(data)


class LoadedBody:
    """A body the backend read whole before answering: nothing is left to heal or guard."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._offset = 0

    def read(self, n: int) -> bytes:
        chunk = self.data[self._offset : self._offset + n]
        self._offset += len(chunk)
        return chunk

    def close(self) -> None:
        self._offset = len(self.data)


@dataclass(frozen=True)
class StoreGet:
    """A store's own answer to a GET whose range and preconditions it resolved itself."""

    status: int  # 200, 206, or 304/412 when a precondition stopped it
    info: ObjectInfo  # for 304/412 only the validators the store sent
    body: ChunkSource | None  # None for 304/412
    served: ByteRange | None  # the range served; None: the whole object


class BodyReader(io.BufferedIOBase):
    """A read-once, length-guarded file object over a backend's body.

    It keeps the :class:`io.BufferedIOBase` contract: ``read(n)`` returns exactly ``n`` bytes
    unless the body ends, ``read1(n)`` at most one backend read, ``tell()`` the bytes delivered.
    Large reads go straight to the backend and hand its bytes on uncopied; small ones
    (``iter_content()`` defaults to 1 byte, ``iter_lines()`` to 512) are served from one
    buffered backend read of :data:`READ_BUFFER`, since each backend read may be a thread hop
    or a request.
    """

    def __init__(self, source: ChunkSource, length: int, url: str) -> None:
        super().__init__()
        self._source: ChunkSource | None = source
        self._length = length
        self._remaining = length  # not yet read from the backend
        self._url = url
        self._buffer = b""
        self._offset = 0
        if length == 0:
            self._release()

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """Bytes delivered to the reader so far."""
        return self._length - self._remaining - (len(self._buffer) - self._offset)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._length
        first = self.read1(size)
        if len(first) == size or not first:
            return first
        parts = [first]
        wanted = size - len(first)
        while wanted > 0 and (part := self.read1(wanted)):
            parts.append(part)
            wanted -= len(part)
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed body")
        if size < 0:
            size = READ_BUFFER
        if size == 0:
            return b""
        if self._offset < len(self._buffer):
            return self._take(size)
        if self._remaining <= 0:
            return b""
        if size >= SMALL_READ:
            return self._read_chunk(min(size, self._remaining))
        self._buffer, self._offset = self._read_chunk(min(READ_BUFFER, self._remaining)), 0
        return self._take(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill ``buffer`` as ``read`` would; a large one straight from the backend, where
        its source can (see :func:`read_into`): no bytes object between them."""
        view = memoryview(buffer).cast("B")
        if view.readonly:  # the caller's mistake: said before a byte is taken from the store
            raise TypeError("readinto() needs a writable buffer")
        if len(view) < SMALL_READ or self._offset < len(self._buffer):
            return copied_into(view, self.read(len(view)))
        if self.closed:
            raise ValueError("I/O operation on closed body")
        filled = 0
        while filled < len(view) and self._remaining > 0:
            filled += self._read_chunk_into(view[filled : filled + self._remaining])
        return filled

    def readinto1(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        return copied_into(buffer, self.read1(len(buffer)))

    def _take(self, size: int) -> bytes:
        end = min(self._offset + size, len(self._buffer))
        data = self._buffer[self._offset : end]
        self._offset = end
        if end == len(self._buffer):
            self._buffer, self._offset = b"", 0
        return data

    def _read_chunk(self, n: int) -> bytes:
        data = self._from_source(lambda source: source.read(n))
        if len(data) > self._remaining:
            data = data[: self._remaining]
        self._counted(len(data))
        return data

    def _read_chunk_into(self, view: memoryview) -> int:
        """One backend read into ``view``, which is no longer than what is left."""
        n = len(self._from_source(lambda source: view[: read_into(source, view)]))
        self._counted(n)
        return n

    def _from_source(self, pull: Callable[[ChunkSource], Filled]) -> Filled:
        """``pull(source)``, which is not empty: a failure, or a body that ended early, is
        raised as the urllib3 error requests expects, and the source released."""
        if self._source is None:
            raise ProtocolError(f"Connection broken: the body of {self._url} failed earlier")
        failure: Exception | None = None
        try:
            data = pull(self._source)
        except Exception as exc:
            failure = exc
        if failure is not None:  # raised outside the except block: no unredacted __context__
            self._release()
            error = _stream_error(failure, self._url)
            failure = None  # this frame's locals are printed with the traceback: no SDK text
            raise error
        if not data:
            received = self._length - self._remaining
            self._release()
            raise ProtocolError(
                f"Connection broken: the body of {self._url} ended after {received} of "
                f"{self._length} bytes",
                IncompleteRead(received, self._remaining),
            )
        return data

    def _counted(self, n: int) -> None:
        self._remaining -= n
        if self._remaining == 0:
            self._release()  # give the backend connection back as soon as the body is complete

    def _release(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.close()

    def close(self) -> None:
        try:
            self._release()
        finally:
            super().close()


def body_stream(source: ChunkSource, length: int, url: str) -> BodyReader:
    """A length-guarded stream over ``source``, for ``Response.raw``."""
    return BodyReader(source, length, url)


class _IteratorReader(io.RawIOBase):
    """A file object over an iterator of byte strings (a generated body)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def iterator_stream(chunks: Iterator[bytes]) -> io.BufferedReader:
    """A buffered stream over generated bytes, for ``Response.raw``."""
    return io.BufferedReader(_IteratorReader(chunks), buffer_size=READ_BUFFER)


#: How much of a caller's file-like request body is read at a time.
UPLOAD_CHUNK = 2**20


def request_chunks(body: object) -> Iterator[bytes]:
    """The bytes of a request body, in order, whatever form requests prepared it in.

    Bytes, text, a file-like object or any iterable of bytes or text (a generator). A failure
    of the caller's own body is raised as :class:`BodySourceError`, so it is not mistaken for
    a failure of the store.
    """
    if body is None:
        return
    if isinstance(body, (bytes, bytearray, memoryview)):
        yield bytes(body)
        return
    if isinstance(body, str):
        yield body.encode("utf-8")
        return
    try:
        if hasattr(body, "read"):
            while chunk := body.read(UPLOAD_CHUNK):
                yield chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
            return
        if not isinstance(body, Iterable):
            raise TypeError(f"cannot upload a body of type {type(body).__name__}")
        for chunk in body:
            if chunk:
                yield chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
    except Exception as exc:
        raise BodySourceError(exc) from exc


def _stream_error(exc: Exception, url: str) -> Exception:
    """The urllib3 error requests expects from ``raw`` for a failure while reading.

    It is chained only from a redacted copy of ``exc``: requests re-raises it inside
    ``ChunkedEncodingError``, and every exception in that chain is printed (SDK errors quote
    signed URLs and echoed signatures) and pickled.
    """
    outcome = outcome_for(exc)
    message = f"reading the body of {url} failed ({describe(exc)})"
    copy = stand_in(exc)
    error: Exception
    if isinstance(outcome, type) and issubclass(outcome, rex.Timeout):
        error = ReadTimeoutError(None, url, message)  # type: ignore[arg-type]
        error.args = (message,)  # not urllib3's "<pool>: " prefix: a store has no pool ("None: ")
    else:
        error = ProtocolError(message, copy)
    error.__cause__ = copy
    return error


class _StoreResponse(HTTPResponse):
    """urllib3's response, whose ``readinto`` hands a large buffer to the body itself.

    urllib3 reads into a buffer by reading a bytes object and copying it in; over a
    :class:`BodyReader` the buffer goes down to the backend, which fills it from its
    socket where it can. Bytes urllib3 holds already, or a body a tool has wrapped
    (requests-cache, CacheControl), go urllib3's way.
    """

    def readinto(self, b: bytearray | memoryview) -> int:
        body = self._fp
        held = getattr(self, "_decoded_buffer", None)
        if (
            not isinstance(body, BodyReader)
            or body.closed  # urllib3 answers that: 0, or the body's IncompleteRead
            or held is None
            or len(held)
            or getattr(self, "_has_decoded_content", True)
            or self.decode_content
        ):
            return super().readinto(b)
        n = body.readinto(b)
        self._uncached_read_occurred = True  # .data is no longer the whole body
        counted_as_urllib3(self, n)
        return n


def counted_as_urllib3(response: HTTPResponse, n: int) -> None:
    """Count ``n`` body bytes read past urllib3's own ``read`` as urllib3 counts what it
    reads: what ``tell()`` reports and ``length_remaining``."""
    response._fp_bytes_read += n
    if response.length_remaining is not None:
        response.length_remaining -= n


def raw_response(
    body: io.BufferedIOBase,
    *,
    status: int,
    reason: str,
    headers: Mapping[str, str],
    method: str,
    url: str,
) -> HTTPResponse:
    """A urllib3 response over ``body``: lazy, length-enforced, never decoded."""
    return _StoreResponse(
        body=body,
        headers=dict(headers),
        status=status,
        reason=reason,
        preload_content=False,
        decode_content=False,
        enforce_content_length=True,
        # Closed only when the caller closes it, as io wrappers (TextIOWrapper, GzipFile) expect;
        # the backend's connection is released as soon as the body is complete regardless.
        auto_close=False,
        request_method=method,
        request_url=url,
        version=11,
    )
