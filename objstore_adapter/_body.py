"""The streaming body behind ``Response.raw``.

:class:`BodyReader` pulls bytes lazily from a backend :class:`ChunkSource`, stops at the
announced length, and turns a body that ends early, or any backend failure while reading,
into the urllib3 exceptions that ``requests`` already maps for HTTP (``ProtocolError`` →
``ChunkedEncodingError``). :func:`raw_response` wraps it in a real ``urllib3.HTTPResponse`` so
tools that inspect ``response.raw`` (requests-cache, CacheControl) work unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Protocol

from requests import exceptions as rex
from urllib3 import HTTPResponse
from urllib3.exceptions import IncompleteRead, ProtocolError, ReadTimeoutError

from ._errors import describe, outcome_for


class ChunkSource(Protocol):
    """What a backend hands over for a body: ``read(n)`` up to n bytes, b"" at the end."""

    def read(self, n: int) -> bytes: ...

    def close(self) -> None: ...


class BodyReader(io.RawIOBase):
    """A read-once, length-guarded file object over a backend's body."""

    def __init__(self, source: ChunkSource, length: int, url: str) -> None:
        super().__init__()
        self._source: ChunkSource | None = source
        self._length = length
        self._remaining = length
        self._url = url
        if length == 0:
            self._release()

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed body")
        if self._remaining <= 0 or size == 0:
            return b""
        want = self._remaining if size is None or size < 0 else min(size, self._remaining)
        if size is not None and size >= 0:
            return self._read_chunk(want)  # may be short, as RawIOBase.read allows
        chunks = []
        while self._remaining > 0:
            chunks.append(self._read_chunk(self._remaining))
        return b"".join(chunks)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _read_chunk(self, n: int) -> bytes:
        if self._source is None:
            raise ProtocolError(f"Connection broken: the body of {self._url} failed earlier")
        try:
            data = self._source.read(n)
        except Exception as exc:
            self._release()
            raise _stream_error(exc, self._url) from exc
        if not data:
            received = self._length - self._remaining
            self._release()
            raise ProtocolError(
                f"Connection broken: the body of {self._url} ended after {received} of "
                f"{self._length} bytes",
                IncompleteRead(received, self._remaining),
            )
        if len(data) > self._remaining:
            data = data[: self._remaining]
        self._remaining -= len(data)
        if self._remaining == 0:
            self._release()  # give the backend connection back as soon as the body is complete
        return data

    def _release(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.close()

    def close(self) -> None:
        try:
            self._release()
        finally:
            super().close()


#: Backend reads are at least this big, however small the caller's reads (``iter_content()``
#: defaults to 1 byte, ``.content`` to 10 KiB): each backend read may be a thread hop or a
#: request.
READ_BUFFER = 2**20


def body_stream(source: ChunkSource, length: int, url: str) -> io.BufferedReader:
    """A buffered, length-guarded stream over ``source``, for ``Response.raw``."""
    return io.BufferedReader(BodyReader(source, length, url), buffer_size=READ_BUFFER)


def _stream_error(exc: Exception, url: str) -> Exception:
    """Map a failure while reading to the urllib3 error requests expects from ``raw``."""
    outcome = outcome_for(exc)
    message = f"reading the body of {url} failed ({describe(exc)})"
    if isinstance(outcome, type) and issubclass(outcome, rex.Timeout):
        return ReadTimeoutError(None, url, message)  # type: ignore[arg-type]
    return ProtocolError(message, exc)


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
    return HTTPResponse(
        body=body,
        headers=dict(headers),
        status=status,
        reason=reason,
        preload_content=False,
        decode_content=False,
        enforce_content_length=True,
        request_method=method,
        request_url=url,
        version=11,
    )
