"""GETs whose caller reads the body at once, read whole by libcurl with the GIL released.

Against real sockets: moto behind a recording proxy (what was sent, cut bodies), a TLS
forwarder with a certificate made here, and raw servers that stall or cut an answer where a
test wants it. A ``stream=True`` GET is the reference: the same answer through urllib3.
"""

from __future__ import annotations

import contextlib
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
from objstore_adapter._backends.s3 import curl
from objstore_adapter._http import Timeouts

from .._proxy import RecordingProxy
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


def test_a_body_read_at_once_is_read_by_libcurl_a_streamed_one_by_urllib3(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    """The same answer either way, headers and all; one request each."""
    key = f"curl/{uuid.uuid4().hex}.txt"
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
    by_curl = _gets(proxy, since)
    since = len(proxy.requests)
    streamed = session.get(url, stream=True, timeout=30)
    by_urllib3 = _gets(proxy, since)

    assert (whole.status_code, whole.content) == (200, b"read whole")
    assert (streamed.status_code, streamed.content) == (200, b"read whole")
    assert dict(whole.headers) == dict(streamed.headers)
    assert len(by_curl) == len(by_urllib3) == 1
    assert by_curl[0]["User-Agent"] == curl.USER_AGENT
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
    key = f"curl/{uuid.uuid4().hex}.txt"
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
    ("size", "parallel_below", "gets"),
    [(PART, None, 1), (PART + 1, None, 2), (2 * PART + 1, 0, 1)],
)
def test_a_body_that_may_go_parallel_is_streamed_instead(
    proxy: RecordingProxy,
    s3_client: Any,
    s3_bucket: str,
    size: int,
    parallel_below: float | None,
    gets: int,
) -> None:
    """A body larger than a download part may be fetched in parallel parts on a slow link:
    libcurl stops its answer after the head (its Content-Length), and urllib3 streams it.
    With parallel parts off, any body is read whole."""
    key = f"curl/{uuid.uuid4().hex}.bin"
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
    assert len(agents) == gets
    assert agents[0] == curl.USER_AGENT


def test_a_body_cut_while_read_at_once_is_healed(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    """The bytes that came are handed on as urllib3 would hand them, ending in the cut, and
    the transfer policy reads on from the same version."""
    key = f"curl/{uuid.uuid4().hex}.bin"
    data = os.urandom(MiB)
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=data)
    session = objstore_adapter.session(s3_registry(proxy.endpoint))
    proxy.cut_body_after, proxy.cuts_left = 100_000, 1

    response = session.get(f"s3://{s3_bucket}/{key}", timeout=30)

    assert response.status_code == 200
    assert response.content == data
    assert proxy.cuts_left == 0
    resumed = [h for h in _gets(proxy) if "If-Match" in h and "Range" in h]
    assert resumed


# --- the transport alone, against raw sockets ---------------------------------------------------


@contextlib.contextmanager
def _raw_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A server on 127.0.0.1 that reads a request's head and lets ``answer`` reply."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                received = b""
                while b"\r\n\r\n" not in received:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                with contextlib.suppress(OSError):
                    answer(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/bucket/key"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


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
        answer = curl.fetch("GET", url, {}, WAITS, True)
        assert (answer.status, answer.complete) == (200, False)
        with pytest.raises(ReadTimeoutError):
            answer.read(100)


def test_a_body_that_is_cut_raises_where_its_bytes_end() -> None:
    with _raw_server(_cut_after(HEAD_OF_100 + b"y" * 10)) as url:
        answer = curl.fetch("GET", url, {}, WAITS, True)
        assert (answer.status, answer.complete) == (200, False)
        with pytest.raises(ProtocolError):
            answer.read()


def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    with _raw_server(_stall_after(b"")) as url, pytest.raises(ReadTimeoutError):
        curl.fetch("GET", url, {}, WAITS, True)


def test_a_refused_connection_is_a_new_connection_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(NewConnectionError):
        curl.fetch("GET", f"http://127.0.0.1:{port}/b/k", {}, WAITS, True)


def test_an_interim_answer_is_not_the_answer() -> None:
    interim = b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
    whole = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with _raw_server(_cut_after(interim + whole)) as url:
        answer = curl.fetch("GET", url, {}, WAITS, True)
    assert (answer.status, answer.complete, answer.data) == (200, True, b"ok")
    assert "X-Interim" not in answer.headers


@pytest.mark.parametrize("read", [None, 1, 30])
def test_read_timeouts_libcurl_can_keep_take_it(read: float | None) -> None:
    assert curl.available(Timeouts(read=read, whole=PART))


def test_a_read_timeout_under_a_second_stays_with_urllib3() -> None:
    """libcurl notices a stall within a second of its bound."""
    assert not curl.available(Timeouts(read=0.5, whole=PART))


def test_a_body_the_caller_streams_stays_with_urllib3() -> None:
    assert not curl.available(Timeouts(read=30))


# --- TLS ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _tls_forwarder(upstream_port: int, context: ssl.SSLContext) -> Iterator[int]:
    """TLS on a port of its own, forwarded as plain TCP to ``upstream_port``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    opened: list[socket.socket] = []

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            opened.append(raw)
            try:
                client = context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                continue
            upstream = socket.create_connection(("127.0.0.1", upstream_port))
            opened.extend((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for each in opened:
            each.close()


@pytest.mark.parametrize("verify", ["the certificate", False, True])
def test_tls_is_verified_as_botocore_was_told(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str, tmp_path: Path, verify: Any
) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    key = f"curl/{uuid.uuid4().hex}.txt"
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"over TLS")
    wanted = str(cert_file) if verify == "the certificate" else verify
    with _tls_forwarder(proxy.port, context) as port:
        endpoint = f"https://127.0.0.1:{port}"
        transfer = objstore_adapter.TransferConfig(max_attempts=1)
        registry = s3_registry(endpoint, client_kwargs={"verify": wanted}, transfer=transfer)
        session = objstore_adapter.session(registry)
        if wanted is True:  # certifi's roots do not hold a certificate made here
            with pytest.raises(SSLError):
                curl.fetch("GET", f"{endpoint}/{s3_bucket}/{key}", {}, WAITS, True)
            with pytest.raises(requests.exceptions.ConnectionError):
                session.get(f"s3://{s3_bucket}/{key}", timeout=30)
            return
        response = session.get(f"s3://{s3_bucket}/{key}", timeout=30)
    assert (response.status_code, response.content) == (200, b"over TLS")
    assert _gets(proxy)[-1]["User-Agent"] == curl.USER_AGENT


def test_a_session_reads_whole_from_sixteen_threads(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    """One curl handle per thread, each keeping its connection."""
    keys = [f"curl/{uuid.uuid4().hex}-{i}" for i in range(32)]
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
    assert {h.get("User-Agent") for h in _gets(proxy)} == {curl.USER_AGENT}


def test_requests_exceptions_name_the_failure(s3_bucket: str) -> None:
    """Through the adapter: a refused connection while reading whole is a ConnectionError."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    transfer = objstore_adapter.TransferConfig(max_attempts=1)
    session = objstore_adapter.session(s3_registry(f"http://127.0.0.1:{port}", transfer=transfer))
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"s3://{s3_bucket}/k", timeout=(2, 2))


def test_without_pycurl_urllib3_reads_every_get(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pycurl comes with the ``s3`` extra; an install without it still serves every GET."""
    key = f"curl/{uuid.uuid4().hex}.txt"
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"by urllib3")
    monkeypatch.setattr(curl, "pycurl", None)  # as the failed import leaves it
    session = objstore_adapter.session(s3_registry(proxy.endpoint))

    response = session.get(f"s3://{s3_bucket}/{key}", timeout=30)

    assert (response.status_code, response.content) == (200, b"by urllib3")
    assert _gets(proxy)[-1]["User-Agent"].startswith("python-urllib3/")


def test_a_head_is_sent_by_libcurl_and_answers_as_a_get_would(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    """HEAD is the GET's status and headers, without the body; a missing key is 404."""
    key = f"curl/{uuid.uuid4().hex}.txt"
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
    assert [h["User-Agent"] for h in heads] == [curl.USER_AGENT]
    assert missing.status_code == 404
