"""What requests and io promise, kept on every backend: header values as str or bytes, and a
``Response.raw`` that behaves as an ``io.BufferedIOBase``."""

from __future__ import annotations

import io

import pytest
from urllib3.util import Timeout as Urllib3Timeout

import objstore_adapter
from objstore_adapter._body import READ_BUFFER, SMALL_READ, BodyReader

from ..conftest import Store

DIGITS = b"0123456789abcdefghij"


def test_bytes_header_values_work_like_text(store: Store) -> None:
    store.write("digits.txt", DIGITS, None)
    url = store.url("digits.txt")

    ranged = store.session.get(url, headers={"Range": b"bytes=2-5"})
    etag = ranged.headers["ETag"]
    revalidated = store.session.get(url, headers={"If-None-Match": etag.encode()})
    put = store.session.put(
        store.url("new.txt"), data=b"x", headers={"Content-Type": b"text/plain", "X-Note": b"1"}
    )

    assert (ranged.status_code, ranged.content) == (206, DIGITS[2:6])
    assert ranged.headers["Content-Range"] == "bytes 2-5/20"
    assert revalidated.status_code == 304
    assert put.status_code == 200
    assert store.session.get(store.url("new.txt")).content == b"x"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Range", "bytes=0-\u20ac"),
        ("If-None-Match", '"\u2603"'),
        ("Content-Type", "text/\u00e9\u0100"),
    ],
)
def test_a_header_that_is_not_latin_1_is_400(store: Store, name: str, value: str) -> None:
    store.write("digits.txt", DIGITS, None)

    response = store.session.get(store.url("digits.txt"), headers={name: value})

    assert response.status_code == 400
    assert name in response.json()["detail"]


def test_a_latin_1_header_value_is_accepted(store: Store) -> None:
    store.write("digits.txt", DIGITS, None)

    response = store.session.get(store.url("digits.txt"), headers={"X-Note": "caf\u00e9"})

    assert response.status_code == 200


class _Chunks:
    """A backend body that hands out at most ``step`` bytes per read, like a socket."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._step = step
        self.closed = False

    def read(self, n: int) -> bytes:
        part, self._data = self._data[: min(n, self._step)], self._data[min(n, self._step) :]
        return part

    def close(self) -> None:
        self.closed = True


DATA = bytes(range(256)) * (3 * READ_BUFFER // 256 + 7)


@pytest.mark.parametrize("size", [7, 100, SMALL_READ, SMALL_READ + 1, READ_BUFFER + 3])
def test_read_n_returns_exactly_n_bytes_across_backend_reads(size: int) -> None:
    body = BodyReader(_Chunks(DATA, step=10_000), len(DATA), "s3://b/k")

    parts, delivered = [], 0
    while part := body.read(size):
        assert len(part) == size or len(part) == len(DATA) % size
        parts.append(part)
        delivered += len(part)
        assert body.tell() == delivered

    assert b"".join(parts) == DATA


def test_read1_readinto_and_tell_keep_the_buffered_io_contract() -> None:
    source = _Chunks(DATA, step=10_000)
    body = BodyReader(source, len(DATA), "s3://b/k")
    buffer = bytearray(SMALL_READ * 2)

    first = body.read1(SMALL_READ * 2)  # at most one backend read: what it had
    filled = body.readinto(buffer)
    filled1 = body.readinto1(memoryview(buffer)[:5])

    assert len(first) == 10_000
    assert filled == len(buffer)
    assert bytes(buffer[:filled1]) == DATA[10_000 + len(buffer) : 10_000 + len(buffer) + 5]
    assert body.tell() == 10_000 + len(buffer) + 5
    assert body.readable()
    assert not body.seekable()
    offset = body.tell()
    assert body.read() == DATA[offset:]
    assert body.read(10) == b""
    assert body.read1(10) == b""
    assert source.closed  # the backend connection is released once the body is complete
    body.close()
    assert body.closed
    with pytest.raises(ValueError, match="closed"):
        body.read(1)


def test_text_wrapper_and_line_reading_over_the_raw_stream(store: Store) -> None:
    lines = [f"line {n}: {'x' * (n % 97)}\n" for n in range(20_000)]
    store.write("lines.txt", "".join(lines).encode(), "text/plain")

    response = store.session.get(store.url("lines.txt"), stream=True)
    read = list(io.TextIOWrapper(response.raw, encoding="utf-8"))  # type: ignore[type-var]

    assert read == lines


def test_a_urllib3_timeout_with_a_total_is_taken_by_a_get() -> None:
    # requests passes a urllib3 Timeout on; a total alone used to raise TimeoutStateError.
    registry = objstore_adapter.SchemeRegistry()
    registry.register("memory")
    session = objstore_adapter.session(registry)
    assert session.put("memory://timeouts/total.txt", data=b"ok").status_code == 200

    total = Urllib3Timeout(total=5)
    response = session.get("memory://timeouts/total.txt", timeout=total)  # type: ignore[arg-type]

    assert response.content == b"ok"
