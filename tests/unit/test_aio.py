"""The loop-to-thread bridge on a real event-loop thread (fsspec's), and what ``no_resend``
does to a real aiohttp session talking to a small local server: no request sent again when a
kept-alive connection drops, no redirect followed."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import pytest
from fsspec.asyn import FSTimeoutError, get_loop, sync

from objstore_adapter._backends import _aio
from objstore_adapter._backends._aio import (
    STREAM_CHUNK,
    LoopBody,
    no_resend,
    widen_read_buffer,
)
from objstore_adapter._errors import StoreRedirected


class Server:
    """Answers by path: ``/ok``, ``/drop`` (closes without an answer), ``/redirect``
    (a 302 to ``/target`` in ``Location``), ``/uri`` (the same in ``URI``), ``/relative``
    (the same as a relative reference), ``/bare`` (a 302 naming no target), ``/target``;
    records each path asked."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.closed = threading.Event()  # a client closed a connection
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def finish(self) -> None:
                super().finish()
                server.closed.set()

            def do_GET(self) -> None:
                server.paths.append(self.path)
                if self.path == "/drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                body = b"ok"
                headers: dict[str, str] = {}
                status = 200
                if self.path in ("/redirect", "/uri"):
                    body = b"moved" * 2**18  # more than aiohttp reads with the head
                if self.path in ("/redirect", "/uri", "/bare", "/relative"):
                    status = 302
                    target = f"{server.endpoint}/target"
                    if self.path == "/redirect":
                        headers["Location"] = target
                    elif self.path == "/relative":
                        headers["Location"] = "/target"
                    elif self.path == "/uri":
                        headers["URI"] = target
                headers["Content-Length"] = str(len(body))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(OSError):  # a client that closed, not reading it
                    self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    server = Server()
    try:
        yield server
    finally:
        server.close()


LOOP = get_loop()


def _on_loop(function: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    return sync(LOOP, function, *args, timeout=10)


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with session.get(url) as response:
        return response.status, await response.read()


async def _session(*traces: aiohttp.TraceConfig) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(trace_configs=list(traces) or None)


@pytest.fixture
def session() -> Iterator[aiohttp.ClientSession]:
    session = _on_loop(_session)
    no_resend(session)
    try:
        yield session
    finally:
        _on_loop(session.close)


# --- no_resend ---------------------------------------------------------------------------------


def test_a_dropped_kept_alive_connection_is_not_sent_again(
    server: Server, session: aiohttp.ClientSession
) -> None:
    assert _on_loop(_get, session, f"{server.endpoint}/ok") == (200, b"ok")
    with pytest.raises(aiohttp.ClientError):
        _on_loop(_get, session, f"{server.endpoint}/drop")
    assert server.paths == ["/ok", "/drop"]


def test_an_unchanged_session_sends_it_again(server: Server) -> None:
    # What no_resend is for: aiohttp's own default.
    session = _on_loop(_session)
    try:
        _on_loop(_get, session, f"{server.endpoint}/ok")
        with pytest.raises(aiohttp.ClientError):
            _on_loop(_get, session, f"{server.endpoint}/drop")
    finally:
        _on_loop(session.close)
    assert server.paths == ["/ok", "/drop", "/drop"]


@pytest.mark.parametrize("path", ["/redirect", "/uri"])
def test_a_redirect_is_raised_not_followed(
    server: Server, session: aiohttp.ClientSession, path: str
) -> None:
    with pytest.raises(StoreRedirected) as raised:
        _on_loop(_get, session, f"{server.endpoint}{path}")
    assert raised.value.status == 302
    assert raised.value.headers == {"location": f"{server.endpoint}/target"}
    assert str(raised.value) == str(StoreRedirected(302, f"{server.endpoint}/target", ""))
    assert server.paths == [path]
    # The refused answer is closed with its connection, not left to the garbage collector.
    assert server.closed.wait(5)
    assert _on_loop(_get, session, f"{server.endpoint}/ok") == (200, b"ok")


def test_a_relative_redirect_is_named_by_the_url_asked(
    server: Server, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(StoreRedirected) as raised:
        _on_loop(_get, session, f"{server.endpoint}/relative")
    assert str(raised.value) == (
        f"the store redirected to {server.endpoint}: check the route's endpoint_url or region"
    )
    assert server.paths == ["/relative"]


def test_a_redirect_naming_no_target_is_the_answer(
    server: Server, session: aiohttp.ClientSession
) -> None:
    assert _on_loop(_get, session, f"{server.endpoint}/bare") == (302, b"ok")
    assert server.paths == ["/bare"]


def test_no_resend_adds_its_trace_once_to_a_copy_of_the_list() -> None:
    mine = aiohttp.TraceConfig()
    mine.freeze()
    session = _on_loop(_session, mine)
    try:
        traces = session._trace_configs
        no_resend(session)
        no_resend(session)
        assert traces == [mine]  # the caller's list, untouched
        assert session._trace_configs == [mine, _aio.redirect_refusal()]
        assert session._retry_connection is False
    finally:
        _on_loop(session.close)


def test_no_resend_of_no_session_is_nothing() -> None:
    no_resend(None)


def test_no_resend_leaves_a_session_without_those_settings() -> None:
    class Bare:
        pass

    bare = Bare()
    no_resend(bare)
    assert vars(bare) == {}


# --- widen_read_buffer -------------------------------------------------------------------------


def test_widen_read_buffer_lets_a_whole_chunk_in(
    server: Server, session: aiohttp.ClientSession
) -> None:
    async def widened() -> int:
        async with session.get(f"{server.endpoint}/ok") as response:
            widen_read_buffer(response)
            return int(response.content._high_water)

    assert _on_loop(widened) == 2 * STREAM_CHUNK


def test_widen_read_buffer_of_a_response_without_a_stream_is_nothing() -> None:
    widen_read_buffer(object())


# --- LoopBody ----------------------------------------------------------------------------------


class Source:
    """A body handed out ``piece`` bytes per read, on the loop's thread; records each ``n``."""

    def __init__(self, data: bytes, piece: int, delay: float = 0.0) -> None:
        self.data = data
        self.piece = piece
        self.delay = delay
        self.asked: list[int] = []
        self.threads: set[int] = set()
        self.closed = 0

    async def read(self, n: int) -> bytes:
        self.asked.append(n)
        self.threads.add(threading.get_ident())
        if self.delay:
            await asyncio.sleep(self.delay)
        part, self.data = self.data[: min(n, self.piece)], self.data[min(n, self.piece) :]
        return part

    async def close(self) -> None:
        self.closed += 1


def _body(source: Source, timeout: float | None = 5) -> LoopBody:
    return LoopBody(LOOP, source.read, source.close, timeout)


def test_a_read_fills_the_whole_chunk_on_the_loop() -> None:
    source = Source(b"0123456789abc", piece=3)
    body = _body(source)
    assert body.read(10) == b"0123456789"
    assert source.asked == [10, 7, 4, 1]
    assert body.read(10) == b"abc"
    assert body.read(10) == b""
    assert source.threads == {LOOP._thread_id}


def test_a_read_in_two_pieces() -> None:
    source = Source(b"0123456789", piece=3)
    assert _body(source).read(6) == b"012345"
    assert source.asked == [6, 3]


def test_a_read_in_one_piece() -> None:
    source = Source(b"0123456789", piece=100)
    body = _body(source)
    assert body.read(4) == b"0123"
    assert source.asked == [4]


def test_a_read_waits_no_longer_than_the_timeout() -> None:
    body = _body(Source(b"late", piece=4, delay=2), timeout=0.2)
    with pytest.raises(FSTimeoutError):
        body.read(4)


def test_a_read_without_a_timeout_waits() -> None:
    assert _body(Source(b"late", piece=4, delay=0.3), timeout=None).read(4) == b"late"


def test_close_from_another_thread_runs_the_close_on_the_loop() -> None:
    source = Source(b"", piece=1)
    _body(source).close()
    assert source.closed == 1


def test_close_on_the_loop_thread_is_scheduled_and_kept_until_done() -> None:
    source = Source(b"", piece=1)
    body = _body(source)

    async def close_on_loop() -> tuple[int, int, int]:
        body.close()  # as garbage collection may, on the loop's own thread
        pending = len(_aio._CLOSING)
        for _ in range(200):  # the task's turn on a busy loop
            await asyncio.sleep(0.01)
            if source.closed and not _aio._CLOSING:
                break
        return pending, source.closed, len(_aio._CLOSING)

    assert _on_loop(close_on_loop) == (1, 1, 0)


def test_close_after_the_loop_closed_is_nothing() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    source = Source(b"", piece=1)
    LoopBody(loop, source.read, source.close, None).close()
    assert source.closed == 0
