"""GETs whose caller reads the body at once, read whole over a kept-alive HTTP/1.1 connection.

Against real sockets: moto behind a recording proxy (what was sent, cut bodies), a TLS
forwarder with a certificate made here, and raw servers that stall or cut an answer where a
test wants it. A ``stream=True`` GET is the reference: the same answer through urllib3.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError, SSLError

import objstore_adapter
from objstore_adapter._backends.s3 import wire
from objstore_adapter._http import Timeouts

from .._proxy import RecordingProxy, serving, until_head
from ..behaviour.test_security import _self_signed
from ..conftest import s3_registry

MiB = 2**20


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[RecordingProxy]:
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as recording:
        yield recording


def _gets(proxy: RecordingProxy, since: int = 0) -> list[dict[str, str]]:
    return [
        headers
        for (method, _), headers in zip(
            proxy.requests[since:], proxy.request_headers[since:], strict=True
        )
        if method == "GET"
    ]


def test_a_body_read_at_once_is_read_here_a_streamed_one_by_urllib3(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    """The same answer either way, headers and all; one request each."""
    key = f"wire/{uuid.uuid4().hex}.txt"
    s3_client.put_object(
        Bucket=s3_bucket,
        Key=key,
        Body=b"read whole",
        ContentType="text/plain",
        CacheControl="max-age=60",
        Metadata={"colour": "blue"},
    )
    session = objstore_adapter.session(s3_registry(proxy.endpoint))
    url = f"s3://{s3_bucket}/{key}"

    since = len(proxy.requests)
    whole = session.get(url, timeout=30)
    by_wire = _gets(proxy, since)
    since = len(proxy.requests)
    streamed = session.get(url, stream=True, timeout=30)
    by_urllib3 = _gets(proxy, since)

    assert (whole.status_code, whole.content) == (200, b"read whole")
    assert (streamed.status_code, streamed.content) == (200, b"read whole")
    assert dict(whole.headers) == dict(streamed.headers)
    assert len(by_wire) == len(by_urllib3) == 1
    assert by_wire[0]["User-Agent"] == wire.USER_AGENT
    assert by_urllib3[0]["User-Agent"].startswith("python-urllib3/")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Range": "bytes=2-5"}, 206),
        ({"Range": "bytes=-3"}, 206),
        ({"If-None-Match": "*"}, 304),
        ({"If-Match": '"other"'}, 412),
        ({"If-Match": '"\xe9\x80"'}, 412),  # Latin-1 text, as HTTP headers may hold
        ({"Range": "bytes=50-60"}, 416),
    ],
)
def test_ranges_and_preconditions_read_at_once_are_answered_as_streamed_ones(
    proxy: RecordingProxy,
    s3_client: Any,
    s3_bucket: str,
    headers: dict[str, str],
    status: int,
) -> None:
    key = f"wire/{uuid.uuid4().hex}.txt"
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"0123456789")
    session = objstore_adapter.session(s3_registry(proxy.endpoint))
    url = f"s3://{s3_bucket}/{key}"

    whole = session.get(url, headers=headers, timeout=30)
    streamed = session.get(url, headers=headers, stream=True, timeout=30)

    assert whole.status_code == streamed.status_code == status
    assert whole.content == streamed.content
    assert dict(whole.headers) == dict(streamed.headers)


PART = objstore_adapter.TransferConfig().download_part_size


@pytest.mark.parametrize(
    ("size", "parallel_below", "streamed"),
    [(PART, None, False), (PART + 1, None, True), (2 * PART + 1, 0, False)],
)
def test_a_body_that_may_go_parallel_is_streamed_from_the_same_request(
    proxy: RecordingProxy,
    s3_client: Any,
    s3_bucket: str,
    size: int,
    parallel_below: float | None,
    streamed: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A body larger than a download part may be fetched in parallel parts on a slow link:
    it is not read whole, but streamed from the connection its head came on, one request.
    With parallel parts off, any body is read whole."""
    handed_on: list[Any] = []
    monkeypatch.setattr(wire, "_Streamed", _recorded(wire._Streamed, handed_on))
    key = f"wire/{uuid.uuid4().hex}.bin"
    data = os.urandom(size)
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=data)
    transfer = objstore_adapter.TransferConfig()
    if parallel_below is not None:
        transfer = objstore_adapter.TransferConfig(parallel_below=parallel_below)
    session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=transfer))

    since = len(proxy.requests)
    response = session.get(f"s3://{s3_bucket}/{key}", timeout=30)

    assert response.status_code == 200
    assert response.content == data
    agents = [h.get("User-Agent") for h in _gets(proxy, since)]
    assert agents == [wire.USER_AGENT]
    assert len(handed_on) == streamed


def test_large_bodies_read_at_once_share_one_connection(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    key = f"wire/{uuid.uuid4().hex}.bin"
    data = os.urandom(PART + 1)
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=data)
    session = objstore_adapter.session(s3_registry(proxy.endpoint))

    since = len(proxy.clients)
    for _ in range(3):
        assert session.get(f"s3://{s3_bucket}/{key}", timeout=30).content == data

    assert len(set(proxy.clients[since:])) == 1, "each GET went on the connection before it"


def _recorded(cls: Any, made: list[Any]) -> Any:
    """``cls``, with each instance it makes appended to ``made``."""

    def make(*args: Any) -> Any:
        made.append(cls(*args))
        return made[-1]

    return make


@pytest.mark.parametrize("size", [MiB, PART + MiB], ids=["read whole", "streamed"])
def test_a_body_cut_while_read_at_once_is_healed(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str, size: int
) -> None:
    """The bytes that came are handed on as urllib3 would hand them, ending in the cut, and
    the transfer policy reads on from the same version, where the cut was."""
    key = f"wire/{uuid.uuid4().hex}.bin"
    data = os.urandom(size)
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=data)
    session = objstore_adapter.session(s3_registry(proxy.endpoint))
    proxy.cut_body_after, proxy.cuts_left = 100_000, 1

    response = session.get(f"s3://{s3_bucket}/{key}", timeout=30)

    assert response.status_code == 200
    assert response.content == data
    assert proxy.cuts_left == 0
    resumed = [h["Range"] for h in _gets(proxy) if "If-Match" in h and "Range" in h]
    assert resumed == [f"bytes=100000-{size - 1}"]


# --- the transport alone, against raw sockets ---------------------------------------------------


@contextlib.contextmanager
def _raw_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A server on 127.0.0.1 that reads a request's head and lets ``answer`` reply."""

    def handle(connection: socket.socket) -> None:
        until_head(connection)
        answer(connection)

    with serving(handle) as port:
        yield f"http://127.0.0.1:{port}/bucket/key"


HEAD_OF_100 = b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nETag: "e"\r\n\r\n'
WAITS = Timeouts(request=10, read=1, connect=5, whole=PART)


def _stall_after(first: bytes) -> Callable[[socket.socket], None]:
    def answer(connection: socket.socket) -> None:
        connection.sendall(first)
        time.sleep(4)

    return answer


def _cut_after(first: bytes) -> Callable[[socket.socket], None]:
    def answer(connection: socket.socket) -> None:
        connection.sendall(first)

    return answer


def test_a_body_that_stalls_times_out_where_its_bytes_end() -> None:
    with _raw_server(_stall_after(HEAD_OF_100)) as url:
        answer = wire.fetch("GET", url, {}, WAITS, True)
        assert (answer.status, answer.loaded) == (200, None)
        with pytest.raises(ReadTimeoutError):
            answer.read(100)


def test_a_body_that_is_cut_raises_where_its_bytes_end() -> None:
    with _raw_server(_cut_after(HEAD_OF_100 + b"y" * 10)) as url:
        answer = wire.fetch("GET", url, {}, WAITS, True)
        assert (answer.status, answer.loaded) == (200, None)
        with pytest.raises(ProtocolError):
            answer.read()


def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    with _raw_server(_stall_after(b"")) as url, pytest.raises(ReadTimeoutError):
        wire.fetch("GET", url, {}, WAITS, True)


def test_a_refused_connection_is_a_new_connection_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(NewConnectionError):
        wire.fetch("GET", f"http://127.0.0.1:{port}/b/k", {}, WAITS, True)


def test_an_interim_answer_is_not_the_answer() -> None:
    interim = b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
    whole = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with _raw_server(_cut_after(interim + whole)) as url:
        answer = wire.fetch("GET", url, {}, WAITS, True)
    assert (answer.status, answer.loaded, answer.read()) == (200, b"ok", b"ok")
    assert "X-Interim" not in answer.headers


def test_a_chunked_answer_is_decoded() -> None:
    chunked = (
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    with _raw_server(_cut_after(chunked)) as url:
        answer = wire.fetch("GET", url, {}, WAITS, True)
    assert (answer.status, answer.read()) == (404, b"hello world")


@pytest.mark.parametrize("server", [_cut_after, _stall_after])
def test_a_chunked_answer_cut_raises_where_its_bytes_end(
    server: Callable[[bytes], Callable[[socket.socket], None]],
) -> None:
    cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n9\r\nwor"
    with _raw_server(server(cut)) as url:
        answer = wire.fetch("GET", url, {}, WAITS, True)
    assert answer.loaded is None
    assert answer.read(8) == b"hellowor"
    with pytest.raises((ProtocolError, ReadTimeoutError)):
        answer.read()


def test_a_chunked_body_whose_trailers_are_cut_is_whole() -> None:
    """As http.client reads it: the last chunk came, so the body did."""
    cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n"
    with _raw_server(_cut_after(cut)) as url:
        answer = wire.fetch("GET", url, {}, WAITS, True)
    assert (answer.status, answer.read()) == (200, b"ok")


@pytest.mark.parametrize("size", [b"-2", b"+2", b"0x2", b"2_0", b"", b"1" * 17])
def test_a_chunk_size_that_is_not_hex_digits_breaks_the_body(size: bytes) -> None:
    bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s\r\nab\r\n0\r\n\r\n" % size
    with _raw_server(_cut_after(bad)) as url:
        answer = wire.fetch("GET", url, {}, WAITS, True)
    with pytest.raises(ProtocolError):
        answer.read()


@pytest.mark.parametrize(
    ("endpoint", "header"),
    [
        ("http://s3.example:80", "s3.example"),
        ("https://s3.example:443", "s3.example"),
        ("http://s3.example:443", "s3.example:443"),
        ("http://127.0.0.1:9000", "127.0.0.1:9000"),
        ("http://[::1]:9000", "[::1]:9000"),
    ],
)
def test_the_host_header_is_the_one_botocore_signs(endpoint: str, header: str) -> None:
    """The Host sent is the one signed: botocore's, for the same endpoint."""
    from botocore.auth import _host_from_url  # what botocore's signers put in Host

    sent = [b""]

    def record(sock: Any, request: bytes) -> None:
        sent[0] = request
        raise ProtocolError("recorded")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wire, "_connect", lambda *args: socket.socket())
        patch.setattr(wire, "_send", record)
        with pytest.raises(ProtocolError):
            wire.fetch("GET", f"{endpoint}/b/k", {}, WAITS, True)
    assert f"\r\nHost: {header}\r\n".encode() in sent[0]
    assert _host_from_url(f"{endpoint}/b/k") == header


def test_a_request_that_is_not_latin_1_is_refused_without_quoting_it() -> None:
    with pytest.raises(ProtocolError) as raised:
        wire.fetch("GET", "http://127.0.0.1:9/b/k", {"Authorization": "sig \u20ac"}, WAITS, True)
    assert "sig" not in str(raised.value)
    assert raised.value.__context__ is None


def test_a_body_without_a_length_ends_with_its_connection() -> None:
    with _raw_server(_cut_after(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")) as url:
        answer = wire.fetch("GET", url, {}, WAITS, True)
    assert (answer.status, answer.read()) == (200, b"until the end")


@pytest.mark.parametrize(
    "head",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 2xx OK\r\n\r\n",
        b"HTTP/1.1 20\xb2 OK\r\n\r\n",  # Latin-1 superscript two: a digit to str.isdigit
        b"HTTP/1.1 200 OK\r\n bad\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\xb2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 099 Below\r\n\r\n",
    ],
)
def test_an_answer_that_is_not_http_is_a_protocol_error(head: bytes) -> None:
    with _raw_server(_cut_after(head)) as url, pytest.raises(ProtocolError):
        wire.fetch("GET", url, {}, WAITS, True)


def test_an_endless_head_is_a_protocol_error() -> None:
    endless = b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"a" * (wire.MAX_HEAD + 10)
    with _raw_server(_cut_after(endless)) as url, pytest.raises(ProtocolError):
        wire.fetch("GET", url, {}, WAITS, True)


def _large_head(length: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % length


def test_a_body_larger_than_a_part_is_handed_on_unread_and_streams_to_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read as the caller asks, from the bytes that came with the head on; it ends at its
    length (the server keeps the connection open), and only then is its connection kept."""
    body = os.urandom(PART + 300_000)
    streamed: list[Any] = []
    monkeypatch.setattr(wire, "_Streamed", _recorded(wire._Streamed, streamed))
    got: list[bytes] = []
    kept_while_read: list[bool] = []

    def work() -> None:
        answer = wire.fetch("GET", url, {}, WAITS, True)
        assert (answer.status, answer.loaded, answer.streamed) == (200, None, True)
        kept_while_read.append(any(key[2] == port for key in wire._kept()))
        got.extend([answer.read(5), answer.read(2**20)])
        while chunk := answer.read(2**20):
            got.append(chunk)
        kept_while_read.append(any(key[2] == port for key in wire._kept()))

    with _raw_server(_stall_after(_large_head(len(body)) + body)) as url:
        port = int(url.split(":")[2].split("/")[0])
        thread = threading.Thread(target=work)  # its kept connections end with it
        thread.start()
        thread.join(30)

    assert b"".join(got) == body
    assert len(got[1]) == 2**20, "each read is filled: the bytes of the head's read, then more"
    assert kept_while_read == [False, True], "the answer holds it to the body's end, no longer"
    assert streamed[0]._sock is None


@pytest.mark.parametrize(
    "head",
    [
        _large_head(PART + 1),
        _large_head(PART + 1).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"),
    ],
    ids=["kept", "closed"],
)
def test_a_streamed_body_read_to_its_end_leaves_its_connection_to_the_next_request(
    head: bytes,
) -> None:
    """A large GET read at once costs the next one no new connection (a TLS handshake on
    a cloud store), unless its answer said the connection ends."""
    first = head + b"x" * (PART + 1)
    with _keeping_server([first, OK]) as (url, served):
        answer_and_next: list[bytes] = []

        def work() -> None:
            answer = wire.fetch("GET", url, {}, WAITS, True)
            assert answer.streamed
            answer_and_next.append(b"".join(iter(functools.partial(answer.read, MiB), b"")))
            answer_and_next.append(wire.fetch("GET", url, {}, WAITS, True).data)

        thread = threading.Thread(target=work)
        thread.start()
        thread.join(30)
    assert answer_and_next == [b"x" * (PART + 1), b"ok"]
    assert served == ([2] if b"close" not in head else [1, 1])


@pytest.mark.parametrize("fault", ["stall", "cut"])
def test_a_streamed_body_that_stops_raises_as_urllib3_raises(
    fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """And its connection, out of step, is closed at once, not when the answer is dropped."""
    streamed: list[Any] = []
    monkeypatch.setattr(wire, "_Streamed", _recorded(wire._Streamed, streamed))
    first = _large_head(PART + 1) + b"x" * 1000
    answer_with = _stall_after(first) if fault == "stall" else _cut_after(first)
    with _raw_server(answer_with) as url:
        answer = wire.fetch("GET", url, {}, WAITS, True)

        assert answer.read(10) == b"x" * 10
        with pytest.raises(ReadTimeoutError if fault == "stall" else ProtocolError):
            _read_to_end(answer)
        assert streamed[0]._sock is None
        port = int(url.split(":")[2].split("/")[0])
        assert not [key for key in wire._kept() if key[2] == port], "closed, not kept"


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_streamed_body_followed_by_bytes_nobody_asked_for_is_not_kept(
    tls: bool, tmp_path: Path
) -> None:
    """Bytes past the body that come after its head (a server out of step) would be read as
    the next request's answer: that connection is closed at the body's end. Over TLS they
    may wait decrypted in the TLS layer, where polling the socket cannot see them."""
    evil = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!"
    connections: list[int] = []

    def handle(connection: socket.socket) -> None:
        connections.append(0)
        if len(connections) == 1:
            until_head(connection)
            connection.sendall(_large_head(1000))
            time.sleep(0.05)  # the head's read ends before the body comes
            connection.sendall(b"x" * 1000 + evil)
        while until_head(connection) is not None:
            connection.sendall(OK)

    small_part = Timeouts(request=10, read=5, connect=5, whole=10)  # 1,000 bytes stream
    got: list[object] = []

    def work() -> None:
        answer = wire.fetch("GET", url, {}, small_part, False)
        got.extend([answer.streamed, answer.read()])
        got.append(wire.fetch("GET", url, {}, small_part, False).data)

    with contextlib.ExitStack() as stack:
        port = stack.enter_context(serving(handle))
        if tls:
            cert_file, key_file = _self_signed(tmp_path)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert_file, key_file)
            port = stack.enter_context(_tls_forwarder(port, context))
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/bucket/key"
        thread = threading.Thread(target=work)
        thread.start()
        thread.join(30)

    assert got == [True, b"x" * 1000, b"ok"]
    assert len(connections) == 2


def test_a_connection_kept_in_the_place_of_another_closes_that_one() -> None:
    """While a thread streams a body, another request of the thread may keep a connection
    to the same server; the streamed one kept at its end takes its place, and the other
    is closed, not dropped open."""
    first, first_peer = socket.socketpair()
    second, second_peer = socket.socketpair()
    key = (False, "127.0.0.1", 1, None)

    def work() -> None:
        wire._keep(key, first)
        wire._keep(key, second)
        assert wire._kept()[key][0] is second

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(10)
    try:
        assert first.fileno() == -1, "the displaced connection is closed"
        deadline = time.monotonic() + 5  # the thread's connections go with its state
        while second.fileno() != -1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert second.fileno() == -1, "the kept one is closed with its thread's connections"
    finally:
        for each in (first, first_peer, second, second_peer):
            each.close()


def _read_to_end(answer: wire.Whole) -> None:
    while answer.read(PART):
        pass


def test_a_streamed_body_closed_early_closes_its_connection() -> None:
    seen_end = threading.Event()

    def answer_and_wait(connection: socket.socket) -> None:
        connection.sendall(_large_head(PART + 1) + b"x" * 1000)
        connection.settimeout(5)
        with contextlib.suppress(OSError):
            if connection.recv(1) == b"":
                seen_end.set()

    with _raw_server(answer_and_wait) as url:
        answer = wire.fetch("GET", url, {}, WAITS, True)
        answer.read(10)
        answer.close()

        assert seen_end.wait(5), "the server saw the connection end"


def test_a_body_of_no_announced_length_larger_than_a_part_is_too_large() -> None:
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    with _raw_server(_stall_after(head + b"x" * (PART + 1))) as url, pytest.raises(wire.TooLarge):
        wire.fetch("GET", url, {}, WAITS, True)


def test_a_stall_under_a_second_is_a_read_timeout() -> None:
    """Each wait for bytes is bounded by the read timeout, as with urllib3."""
    waits = Timeouts(request=10, read=0.3, connect=5, whole=PART)
    with _raw_server(_stall_after(b"")) as url, pytest.raises(ReadTimeoutError):
        wire.fetch("GET", url, {}, waits, True)


@contextlib.contextmanager
def _keeping_server(answers: list[bytes], close_after: int = 0) -> Iterator[tuple[str, list[int]]]:
    """A server answering each request of a connection with the next of ``answers``; after
    ``close_after`` answers (0: never) it closes the connection. Yields the URL and the
    number of answers given on each connection accepted."""
    served: list[int] = []
    pending = list(answers)

    def handle(connection: socket.socket) -> None:
        served.append(0)
        received: bytes | None = b""
        while pending and (received := until_head(connection, received or b"")) is not None:
            received = received.split(b"\r\n\r\n", 1)[1]
            connection.sendall(pending.pop(0))
            served[-1] += 1
            if close_after and served[-1] == close_after:
                return

    with serving(handle) as port:
        yield f"http://127.0.0.1:{port}/bucket/key", served


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _fetch_in_a_new_thread(url: str, times: int) -> list[bytes]:
    """``times`` GETs from one new thread: its connections are its own."""
    bodies: list[bytes] = []

    def work() -> None:
        for _ in range(times):
            bodies.append(wire.fetch("GET", url, {}, WAITS, True).data)
            time.sleep(0.2)  # the server's close reaches this side before the next GET

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)
    return bodies


def test_a_connection_is_kept_for_the_next_request() -> None:
    with _keeping_server([OK, OK, OK]) as (url, served):
        bodies = _fetch_in_a_new_thread(url, 3)
    assert bodies == [b"ok"] * 3
    assert served == [3]


def test_a_connection_its_server_closed_is_not_used_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle connection the server closed (its keep-alive timeout) is dropped unused."""
    monkeypatch.setattr(wire, "CHECK_IDLE_AFTER", 0.05)  # the GETs are 0.2 s apart
    with _keeping_server([OK, OK, OK], close_after=1) as (url, served):
        bodies = _fetch_in_a_new_thread(url, 3)
    assert bodies == [b"ok"] * 3
    assert served == [1, 1, 1]


def test_a_connection_that_just_answered_is_used_unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Within CHECK_IDLE_AFTER of its last answer a kept connection is taken as open: one
    its server closed meanwhile fails the GET after one request, as a connection closed
    without an answer does (the adapter's retry policy decides what follows)."""
    monkeypatch.setattr(wire, "CHECK_IDLE_AFTER", 60.0)
    connections: list[socket.socket] = []
    closed = threading.Event()

    def answer_once(connection: socket.socket) -> None:
        connections.append(connection)
        until_head(connection)
        connection.sendall(OK)
        connection.close()  # unannounced: no Connection: close
        closed.set()

    outcomes: list[object] = []

    def work() -> None:
        outcomes.append(wire.fetch("GET", url, {}, WAITS, True).data)
        closed.wait(10)
        try:
            outcomes.append(wire.fetch("GET", url, {}, WAITS, True).data)
        except ProtocolError as exc:  # its end met unanswered, or reset: either is no answer
            outcomes.append(exc)

    with serving(answer_once) as port:
        url = f"http://127.0.0.1:{port}/bucket/key"
        thread = threading.Thread(target=work)
        thread.start()
        thread.join(30)
    assert outcomes[0] == b"ok"
    assert isinstance(outcomes[1], ProtocolError)
    assert len(connections) == 1  # the second GET opened no connection of its own


def test_a_changed_read_timeout_bounds_a_kept_connection() -> None:
    """The read timeout is set on a kept connection only when it changes, and then it is."""
    requests_seen: list[float] = []
    connections: list[socket.socket] = []

    def handle(connection: socket.socket) -> None:
        connections.append(connection)
        received: bytes | None = b""
        while (received := until_head(connection, received or b"")) is not None:
            received = received.split(b"\r\n\r\n", 1)[1]
            requests_seen.append(time.monotonic())
            if len(requests_seen) == 3:
                time.sleep(3)  # the third GET stalls
                return
            connection.sendall(OK)

    patient = Timeouts(request=10, read=5, connect=5, whole=PART)
    hasty = Timeouts(request=10, read=0.3, connect=5, whole=PART)
    outcomes: list[object] = []

    def work() -> None:
        for waits in (patient, patient, hasty):
            started = time.monotonic()
            try:
                outcomes.append(wire.fetch("GET", url, {}, waits, True).data)
            except ReadTimeoutError:
                outcomes.append(time.monotonic() - started < 2)  # 0.3 s, not the 5 s before

    with serving(handle) as port:
        url = f"http://127.0.0.1:{port}/bucket/key"
        thread = threading.Thread(target=work)
        thread.start()
        thread.join(30)
    assert outcomes == [b"ok", b"ok", True]
    assert (len(connections), len(requests_seen)) == (1, 3)  # one connection carried all


@pytest.mark.parametrize(
    "first",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        OK + b"extra bytes no request asked for",
    ],
)
def test_an_answer_that_ends_its_connection_is_not_followed_by_another(first: bytes) -> None:
    with _keeping_server([first, OK]) as (url, served):
        bodies = _fetch_in_a_new_thread(url, 2)
    assert bodies == [b"ok"] * 2
    assert served == [1, 1]


def test_the_request_head_carries_each_header_once() -> None:
    """Host and User-Agent are added unless given; header text goes out as Latin-1."""
    heads: list[bytes] = []

    def echo(connection: socket.socket) -> None:
        heads.append(until_head(connection) or b"")
        connection.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

    with serving(echo) as port:
        url = f"http://user:pw@127.0.0.1:{port}/b/k%20x?versionId=1"
        answer = wire.fetch("GET", url, {"User-Agent": "mine", "If-Match": "\xe9"}, WAITS, True)
    lines = heads[0].split(b"\r\n")
    assert answer.status == 204
    assert lines[0] == b"GET /b/k%20x?versionId=1 HTTP/1.1"
    assert sorted(lines[1:-2]) == sorted(
        [
            b"Host: " + url.split("@")[1].split("/")[0].encode(),
            b"User-Agent: mine",
            b"If-Match: \xe9",
        ]
    )


def test_a_request_that_cannot_be_sent_is_a_protocol_error() -> None:
    """A connection that broke under the request: no answer will come on it."""
    near, far = socket.socketpair()
    far.close()
    near.shutdown(socket.SHUT_WR)
    with near, pytest.raises(ProtocolError):
        wire._send(near, b"GET / HTTP/1.1\r\n\r\n")


# --- TLS ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _tls_forwarder(upstream_port: int, context: ssl.SSLContext) -> Iterator[int]:
    """TLS on a port of its own, forwarded as plain TCP to ``upstream_port``."""
    opened: list[socket.socket] = []

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def handle(raw: socket.socket) -> None:
        client = context.wrap_socket(raw, server_side=True)  # it takes the connection over
        upstream = socket.create_connection(("127.0.0.1", upstream_port))
        opened.extend((client, upstream))
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    try:
        with serving(handle) as port:
            yield port
    finally:
        for each in opened:
            each.close()


@pytest.mark.parametrize("verify", ["the certificate", False, True])
def test_tls_is_verified_as_botocore_was_told(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str, tmp_path: Path, verify: Any
) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    key = f"wire/{uuid.uuid4().hex}.txt"
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"over TLS")
    wanted = str(cert_file) if verify == "the certificate" else verify
    with _tls_forwarder(proxy.port, context) as port:
        endpoint = f"https://127.0.0.1:{port}"
        transfer = objstore_adapter.TransferConfig(max_attempts=1)
        registry = s3_registry(endpoint, client_kwargs={"verify": wanted}, transfer=transfer)
        session = objstore_adapter.session(registry)
        if wanted is True:  # certifi's roots do not hold a certificate made here
            with pytest.raises(SSLError):
                wire.fetch("GET", f"{endpoint}/{s3_bucket}/{key}", {}, WAITS, True)
            with pytest.raises(requests.exceptions.ConnectionError):
                session.get(f"s3://{s3_bucket}/{key}", timeout=30)
            return
        response = session.get(f"s3://{s3_bucket}/{key}", timeout=30)
    assert (response.status_code, response.content) == (200, b"over TLS")
    assert _gets(proxy)[-1]["User-Agent"] == wire.USER_AGENT


def test_a_body_larger_than_a_part_streams_over_tls(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str, tmp_path: Path
) -> None:
    """Read from the TLS connection its head came on: records, not raw socket bytes."""
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    key = f"wire/{uuid.uuid4().hex}.bin"
    data = os.urandom(PART + 100_000)
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=data)
    with _tls_forwarder(proxy.port, context) as port:
        endpoint = f"https://127.0.0.1:{port}"
        session = objstore_adapter.session(
            s3_registry(endpoint, client_kwargs={"verify": str(cert_file)})
        )
        since = len(proxy.requests)

        response = session.get(f"s3://{s3_bucket}/{key}", timeout=30)

    assert response.content == data
    assert [h["User-Agent"] for h in _gets(proxy, since)] == [wire.USER_AGENT]


def test_a_session_reads_whole_from_sixteen_threads(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    """Each thread keeps its own connection."""
    keys = [f"wire/{uuid.uuid4().hex}-{i}" for i in range(32)]
    for i, key in enumerate(keys):
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"%d" % i * 100)
    session = objstore_adapter.session(s3_registry(proxy.endpoint))
    failures: list[str] = []

    def work(offset: int) -> None:
        for n in range(20):
            i = (offset + n) % len(keys)
            response = session.get(f"s3://{s3_bucket}/{keys[i]}", timeout=30)
            if (response.status_code, response.content) != (200, b"%d" % i * 100):
                failures.append(f"{keys[i]}: {response.status_code}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert {h.get("User-Agent") for h in _gets(proxy)} == {wire.USER_AGENT}


def test_requests_exceptions_name_the_failure(s3_bucket: str) -> None:
    """Through the adapter: a refused connection while reading whole is a ConnectionError."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    transfer = objstore_adapter.TransferConfig(max_attempts=1)
    session = objstore_adapter.session(s3_registry(f"http://127.0.0.1:{port}", transfer=transfer))
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"s3://{s3_bucket}/k", timeout=(2, 2))


def test_a_head_is_sent_here_and_answers_as_a_get_would(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    """HEAD is the GET's status and headers, without the body; a missing key is 404."""
    key = f"wire/{uuid.uuid4().hex}.txt"
    s3_client.put_object(
        Bucket=s3_bucket, Key=key, Body=b"x" * 5000, ContentType="text/csv", Metadata={"a": "b"}
    )
    session = objstore_adapter.session(s3_registry(proxy.endpoint))
    url = f"s3://{s3_bucket}/{key}"

    since = len(proxy.requests)
    head = session.head(url, timeout=30)
    sent = zip(proxy.requests[since:], proxy.request_headers[since:], strict=True)
    heads = [headers for (method, _), headers in sent if method == "HEAD"]
    with session.get(url, stream=True, timeout=30) as get:  # its headers, by urllib3
        pass
    missing = session.head(f"s3://{s3_bucket}/{key}.missing", timeout=30)

    assert head.status_code == 200
    assert head.content == b""
    assert dict(head.headers) == dict(get.headers)
    assert head.headers["Content-Length"] == "5000"
    assert [h["User-Agent"] for h in heads] == [wire.USER_AGENT]
    assert missing.status_code == 404
