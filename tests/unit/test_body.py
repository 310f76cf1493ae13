"""The rules of ``_body``, case by case: the length guard, errors while reading, request bodies.

The conformance suite streams real objects from every backend through these; here each rule is
pinned over plain in-memory and socket sources, so a planted bug fails in milliseconds.
"""

from __future__ import annotations

import gc
import gzip
import io
import socket
import traceback
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest
from urllib3.exceptions import IncompleteRead, ProtocolError, ReadTimeoutError

from objstore_adapter._body import (
    READ_BUFFER,
    SMALL_READ,
    UPLOAD_CHUNK,
    BodyReader,
    body_stream,
    iterator_stream,
    raw_response,
    request_chunks,
)
from objstore_adapter._errors import BodySourceError
from objstore_adapter._redact import RedactedError

URL = "s3://bucket/key"
DATA = bytes(range(256)) * (2 * READ_BUFFER // 256 + 3)


@pytest.fixture(autouse=True)
def _finalize_readers_here() -> Generator[None, None, None]:
    """Close this test's unclosed readers at its end, not inside some later allocation.

    Readers caught in exception tracebacks are freed by the garbage collector, whose
    finalizers (``close()``) can run in the middle of another call; under mutmut's stats run,
    whose wrappers keep a context variable per call, that crashed CPython 3.11.
    """
    yield
    gc.collect()


class Counted(io.BytesIO):
    """A BytesIO that counts the reads made of it: each would be a backend request."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, n: int | None = -1) -> bytes:
        self.reads.append(-1 if n is None else n)
        return super().read(n)


def _drain(stream: io.BufferedIOBase, size: int) -> None:
    while stream.read(size):
        pass


def test_read_all_in_every_spelling() -> None:
    for size in (-1, None, -5):
        body = body_stream(io.BytesIO(DATA), len(DATA), URL)
        assert body.read(size) == DATA
        assert body.tell() == len(DATA)
        assert body.read(size) == b""


def test_read_zero_reads_nothing() -> None:
    source = Counted(b"abc")
    body = BodyReader(source, 3, URL)

    assert body.read(0) == b""
    assert body.read1(0) == b""
    assert source.reads == []
    assert body.read1(-1) == b"abc"
    assert source.reads == [3]


def test_small_reads_share_one_backend_read() -> None:
    source = Counted(DATA)
    body = BodyReader(source, len(DATA), URL)

    first = [body.read(1) for _ in range(3)]
    line = body.read(SMALL_READ - 1)

    assert b"".join(first) + line == DATA[: SMALL_READ + 2]
    assert source.reads == [READ_BUFFER]
    assert body.tell() == SMALL_READ + 2
    assert body.read1(READ_BUFFER) == DATA[SMALL_READ + 2 : READ_BUFFER]  # the buffer's rest
    assert source.reads == [READ_BUFFER]


def test_large_reads_go_straight_to_the_backend() -> None:
    source = Counted(DATA)
    body = BodyReader(source, len(DATA), URL)

    assert body.read(SMALL_READ) == DATA[:SMALL_READ]
    assert body.read1(3 * READ_BUFFER) == DATA[SMALL_READ:]
    assert source.reads == [SMALL_READ, len(DATA) - SMALL_READ]


def test_the_last_small_read_asks_only_for_what_is_left() -> None:
    source = Counted(b"0123456789")
    body = BodyReader(source, 10, URL)

    assert body.read(4) == b"0123"
    assert source.reads == [10]
    assert body.read(100) == b"456789"
    assert source.closed


def test_readinto_fills_across_reads() -> None:
    body = BodyReader(io.BytesIO(DATA), len(DATA), URL)
    buffer = bytearray(10)

    assert body.readinto1(buffer) == 10
    assert bytes(buffer) == DATA[:10]
    assert body.readinto(memoryview(buffer)[:4]) == 4
    assert bytes(buffer[:4]) == DATA[10:14]


def test_a_body_past_its_length_is_cut_at_the_length() -> None:
    source = io.BytesIO(b"0123456789-and-more")
    body = BodyReader(source, 10, URL)

    assert body.read(SMALL_READ) == b"0123456789"
    assert body.tell() == 10
    assert source.closed  # released as soon as the body is complete
    assert body.read(SMALL_READ) == b""


class Greedy(io.BytesIO):
    """A backend body that hands out everything it has, whatever it was asked for."""

    def read(self, n: int | None = -1) -> bytes:
        return super().read()


@pytest.mark.parametrize("size", [1, SMALL_READ])
def test_a_source_that_sends_too_much_is_cut_at_the_length(size: int) -> None:
    source = Greedy(b"0123456789-and-more")
    body = BodyReader(source, 10, URL)

    assert body.read(size) + body.read() == b"0123456789"
    assert body.tell() == 10
    assert source.closed


def test_an_empty_body_releases_its_source_at_once() -> None:
    source = io.BytesIO(b"")

    body = BodyReader(source, 0, URL)

    assert source.closed
    assert body.read() == b""
    assert body.tell() == 0


@pytest.mark.parametrize("size", [1, SMALL_READ, -1])
def test_a_body_shorter_than_its_length_raises(size: int) -> None:
    source = io.BytesIO(b"0123456")
    body = body_stream(source, 10, URL)

    with pytest.raises(ProtocolError) as caught:
        _drain(body, size)

    message, incomplete = caught.value.args
    assert message == f"Connection broken: the body of {URL} ended after 7 of 10 bytes"
    assert isinstance(incomplete, IncompleteRead)
    assert (incomplete.partial, incomplete.expected) == (7, 3)
    assert source.closed
    with pytest.raises(ProtocolError, match=f"the body of {URL} failed earlier"):
        body.read(1)


def _silent_socket() -> tuple[socket.socket, io.BufferedReader]:
    """A real connection whose peer never sends: a read waits until its timeout."""
    ours, _peer = socket.socketpair()
    ours.settimeout(0.05)
    _silent_socket.peers.append(_peer)  # type: ignore[attr-defined]
    return ours, ours.makefile("rb")


_silent_socket.peers = []  # type: ignore[attr-defined]


@pytest.fixture(autouse=True, scope="module")
def _close_silent_peers() -> Iterator[None]:
    """The silent peers live as long as this module's tests (unclosed, they were reported as
    leaked sockets when the interpreter exited)."""
    yield
    for peer in _silent_socket.peers:  # type: ignore[attr-defined]
        peer.close()
    _silent_socket.peers.clear()  # type: ignore[attr-defined]


def test_a_read_that_times_out_is_a_read_timeout() -> None:
    sock, stream = _silent_socket()
    with sock, stream:
        body = BodyReader(stream, 10, URL)

        with pytest.raises(ReadTimeoutError) as caught:
            body.read(1)

    assert str(caught.value) == f"reading the body of {URL} failed (TimeoutError)"
    assert caught.value.url == URL
    assert isinstance(caught.value.__cause__, RedactedError)
    assert stream.closed


def test_a_backend_failure_while_reading_is_a_broken_connection() -> None:
    source = io.BytesIO(b"token=SECRET-VALUE")
    source.close()  # reading it raises ValueError, as a dead backend body does
    body = BodyReader(source, 10, URL)

    with pytest.raises(ProtocolError) as caught:
        body.read(1)

    message, cause = caught.value.args
    assert message == f"reading the body of {URL} failed (ValueError)"
    assert isinstance(cause, RedactedError)
    assert caught.value.__cause__ is cause
    assert not isinstance(caught.value.__context__, ValueError)  # chained only as a copy


class _LeakyFailure:
    """A body source whose failure quotes a signed URL, as SDK errors do."""

    def read(self, n: int) -> bytes:
        raise OSError("GET https://store/key?X-Amz-Signature=canary-signature-5c1e failed")

    def close(self) -> None:
        pass


def test_a_body_failure_leaves_no_sdk_text_in_frame_locals() -> None:
    # A crash reporter prints the locals of every frame of the traceback (capture_locals,
    # Sentry, pytest -l): the frames that read the body must not hold the SDK's exception.
    body = BodyReader(_LeakyFailure(), 10, URL)

    with pytest.raises(ProtocolError) as caught:
        body.read(1)

    rendered = "".join(
        traceback.TracebackException.from_exception(caught.value, capture_locals=True).format()
    )
    assert "reading the body of" in rendered
    assert "canary-signature-5c1e" not in rendered


def test_close_releases_and_then_refuses_reads() -> None:
    source = io.BytesIO(DATA)
    body = BodyReader(source, len(DATA), URL)

    body.close()
    body.close()

    assert source.closed
    assert body.closed
    with pytest.raises(ValueError, match="closed") as caught:
        body.read1(1)
    assert str(caught.value) == "I/O operation on closed body"
    assert body.readable()


def test_iterator_streams_read_generated_bytes() -> None:
    stream = iterator_stream(iter([b"ab", b"", b"cde", b"f"]))

    assert stream.read(4) == b"abcd"
    assert stream.read() == b"ef"
    assert stream.read() == b""


def test_iterator_streams_hand_on_up_to_a_read_buffer_at_once() -> None:
    stream = iterator_stream(iter([b"x" * (READ_BUFFER + 5)]))

    assert len(stream.read1()) == READ_BUFFER


def test_iterator_streams_hand_out_what_fits() -> None:
    raw = iterator_stream(iter([b"abcdef"])).raw
    buffer = bytearray(4)

    assert raw.readinto(memoryview(buffer)) == 4
    assert bytes(buffer) == b"abcd"
    assert raw.readinto(memoryview(buffer)) == 2
    assert bytes(buffer[:2]) == b"ef"
    assert raw.readinto(memoryview(buffer)) == 0
    assert raw.readable()


class _Lines(io.StringIO):
    pass


def _generated() -> Iterator[bytes | bytearray | str]:
    yield b"a"
    yield ""
    yield "\u00e9"
    yield bytearray(b"b")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: None, []),
        (lambda: b"bytes", [b"bytes"]),
        (lambda: bytearray(b"array"), [b"array"]),
        (lambda: memoryview(b"view"), [b"view"]),
        (lambda: "caf\u00e9", ["caf\u00e9".encode()]),
        (lambda: "", [b""]),
        (lambda: io.BytesIO(b"file"), [b"file"]),
        (lambda: _Lines("t\u00e9xt"), ["t\u00e9xt".encode()]),
        (_generated, [b"a", "\u00e9".encode(), b"b"]),
        (lambda: [b"x", b"", b"y"], [b"x", b"y"]),
    ],
)
def test_request_chunks(make: Callable[[], object], expected: list[bytes]) -> None:
    # Bodies are made per run: a file or generator is spent once read.
    chunks = list(request_chunks(make()))

    assert chunks == expected
    assert all(type(chunk) is bytes for chunk in chunks)


def test_request_chunks_read_files_a_chunk_at_a_time() -> None:
    source = Counted(b"x" * (UPLOAD_CHUNK + 1))

    chunks = list(request_chunks(source))

    assert [len(c) for c in chunks] == [UPLOAD_CHUNK, 1]
    assert source.reads == [UPLOAD_CHUNK] * 3


def test_a_body_of_no_known_form_is_the_callers_error() -> None:
    with pytest.raises(BodySourceError) as caught:
        list(request_chunks(42))

    assert isinstance(caught.value.original, TypeError)
    assert str(caught.value.original) == "cannot upload a body of type int"
    assert str(caught.value) == "TypeError"


def test_a_failing_generator_is_the_callers_error() -> None:
    def broken() -> Iterator[bytes]:
        yield b"first"
        raise KeyError("mine")

    with pytest.raises(BodySourceError) as caught:
        list(request_chunks(broken()))

    assert isinstance(caught.value.original, KeyError)
    assert caught.value.__cause__ is caught.value.original


def test_raw_response_is_a_lazy_length_enforcing_urllib3_response() -> None:
    body = io.BytesIO(b"abc")
    headers = {"Content-Length": "5", "Content-Encoding": "gzip"}

    raw = raw_response(body, status=206, reason="Partial", headers=headers, method="GET", url=URL)

    assert (raw.status, raw.reason, raw.version, raw.url) == (206, "Partial", 11, URL)
    assert dict(raw.headers) == headers
    assert not body.closed  # nothing read yet
    assert raw.read(2) == b"ab"  # not decoded as gzip
    with pytest.raises(ProtocolError, match="IncompleteRead"):
        _drain(raw, 2)  # type: ignore[arg-type]  # urllib3's response is io.IOBase


def test_raw_response_stays_open_until_the_caller_closes_it() -> None:
    raw = raw_response(
        io.BytesIO(b"abc"),
        status=200,
        reason="OK",
        headers={"Content-Length": "3"},
        method="GET",
        url=URL,
    )

    assert raw.read() == b"abc"
    assert not raw.closed
    raw.close()
    assert raw.closed


class Into(io.BytesIO):
    """A BytesIO that records the buffers its ``readinto`` filled."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.filled: list[object] = []

    def readinto(self, buffer: Any) -> int:
        self.filled.append(memoryview(buffer).obj)
        return super().readinto(buffer)


def test_a_large_readinto_goes_to_the_source_with_the_callers_buffer() -> None:
    source = Into(DATA)
    raw = raw_response(
        BodyReader(source, len(DATA), URL),
        status=200,
        reason="OK",
        headers={"Content-Length": str(len(DATA))},
        method="GET",
        url=URL,
    )
    buffer = bytearray(READ_BUFFER)

    got = []
    while n := raw.readinto(buffer):
        got.append(bytes(buffer[:n]))
        assert raw.tell() == sum(map(len, got))

    assert b"".join(got) == DATA
    assert source.filled
    assert all(each is buffer for each in source.filled)
    assert raw.length_remaining == 0


def test_a_small_readinto_is_served_from_the_bodys_buffer() -> None:
    source = Into(DATA)
    body = BodyReader(source, len(DATA), URL)
    buffer = bytearray(100)

    assert body.readinto(buffer) == 100
    assert bytes(buffer) == DATA[:100]
    assert source.filled == [], "one read of READ_BUFFER bytes, not the caller's buffer"


def test_a_readinto_of_a_body_that_ends_early_raises() -> None:
    body = BodyReader(Into(DATA[:SMALL_READ]), 2 * SMALL_READ, URL)

    with pytest.raises(ProtocolError, match="ended after 65536 of 131072 bytes"):
        body.readinto(bytearray(2 * SMALL_READ))


def _raw_over(source: io.BytesIO, length: int) -> Any:
    return raw_response(
        BodyReader(source, length, URL),
        status=200,
        reason="OK",
        headers={"Content-Length": str(length)},
        method="GET",
        url=URL,
    )


def test_after_a_partial_readinto_data_is_not_cached_as_the_whole_body() -> None:
    """As after a partial ``read``: ``.data`` reads the rest once, and does not keep it as
    the body (a caching tool would store a truncated body as whole)."""
    raw = _raw_over(Into(DATA), len(DATA))
    raw.readinto(bytearray(READ_BUFFER))

    assert raw.data == DATA[READ_BUFFER:]
    assert raw.data == b""


def test_readinto_after_close_is_urllib3s_answer() -> None:
    whole, cut = _raw_over(Into(DATA), len(DATA)), _raw_over(Into(DATA), len(DATA))
    while whole.readinto(bytearray(READ_BUFFER)):
        pass
    cut.readinto(bytearray(READ_BUFFER))
    whole.close()
    cut.close()

    assert whole.readinto(bytearray(READ_BUFFER)) == 0
    with pytest.raises(ProtocolError, match="IncompleteRead"):
        cut.readinto(bytearray(READ_BUFFER))


def test_a_read_only_buffer_is_refused_before_the_store_is_read() -> None:
    source = Into(DATA)
    raw = _raw_over(source, len(DATA))

    with pytest.raises(TypeError, match="writable"):
        raw.readinto(memoryview(bytes(READ_BUFFER)))
    assert source.filled == []
    assert source.tell() == 0
    assert raw.read(10) == DATA[:10], "the body is intact"


def test_readinto_decodes_when_the_caller_asks_urllib3_to() -> None:
    """Only bytes as stored go straight into the buffer; with ``decode_content`` set,
    urllib3 reads and decodes them as its ``read`` does."""
    text = DATA[:200_000]
    stored = gzip.compress(text)
    raw = raw_response(
        BodyReader(Into(stored), len(stored), URL),
        status=200,
        reason="OK",
        headers={"Content-Length": str(len(stored)), "Content-Encoding": "gzip"},
        method="GET",
        url=URL,
    )
    raw.decode_content = True
    buffer = bytearray(READ_BUFFER)

    n = raw.readinto(buffer)

    assert bytes(buffer[:n]) == text
