"""A shaping HTTP/1.1 proxy: a slower, farther object store in front of a local one.

:class:`ShapingProxy` listens on 127.0.0.1 and relays every connection to an upstream HTTP
server (moto, SeaweedFS) over a connection of its own, byte for byte, headers untouched (so
SigV4 signatures, which cover ``Host``, still verify upstream). It makes the link look like a
real one to a cloud store:

* **latency**: each response's status line leaves ``latency`` seconds after the upstream
  sent it, so every request costs at least one round trip;
* **bandwidth**: each connection is capped at ``bandwidth`` bytes/s in each direction by a
  token bucket, as real stores cap one connection well below the link; parallel connections
  each get their own cap, which is what parallel transfers exploit.

Bodies stream through in slices of at most 64 KiB (never a whole body in memory), framed by
``Content-Length``, ``chunked`` or the end of the connection; connections are kept alive
while both sides allow it. One thread per client connection. ``Expect: 100-continue`` is
answered by the proxy itself (after the latency), so clients that wait for it are not held
up by a proxy that relays one message at a time.

``python benchmarks/_shaping.py`` checks it against a local server: a kept-alive small GET
takes the latency plus about a millisecond, one connection moves 40 MiB/s, four move four
times that, and a PUT body is capped the same way.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from io import BufferedReader
from types import TracebackType
from urllib.parse import urlsplit

MiB = 2**20
SLICE = 64 * 1024
_NO_BODY_STATUSES = {204, 304}


class TokenBucket:
    """``rate`` bytes/s on average, in bursts of at most ``burst`` bytes; ``rate=None``: no cap."""

    def __init__(self, rate: float | None, burst: int = 256 * 1024) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self, n: int) -> None:
        """Block until ``n`` bytes may go (``n`` may exceed the burst: it then waits longer)."""
        if self.rate is None:
            return
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= n
        if self.tokens < 0:
            time.sleep(-self.tokens / self.rate)


class _Closed(Exception):
    """One side closed, or broke the framing: drop both connections."""


def _read_head(reader: BufferedReader) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The start line and the header fields of one message; raises :class:`_Closed` at EOF."""
    start = reader.readline(65537)
    while start in (b"\r\n", b"\n"):  # RFC 9112 lets a client send empty lines first
        start = reader.readline(65537)
    if not start.endswith(b"\n"):
        raise _Closed
    fields: list[tuple[bytes, bytes]] = []
    while True:
        line = reader.readline(65537)
        if not line.endswith(b"\n"):
            raise _Closed
        if line in (b"\r\n", b"\n"):
            return start, fields
        name, _, value = line.partition(b":")
        fields.append((name.strip().lower(), value.strip()))


def _header(fields: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in fields:
        if key == name:
            return value
    return None


def _head_bytes(start: bytes, fields: list[tuple[bytes, bytes]], drop: set[bytes]) -> bytes:
    lines = [start.rstrip(b"\r\n")]
    lines += [name + b": " + value for name, value in fields if name not in drop]
    return b"\r\n".join(lines) + b"\r\n\r\n"


class _Relay:
    """One client connection and its upstream connection, relayed until either closes."""

    def __init__(self, proxy: ShapingProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = socket.create_connection(proxy.upstream)
        for sock in (client, self.upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.from_client = client.makefile("rb")
        self.from_upstream = self.upstream.makefile("rb")
        self.down = TokenBucket(proxy.bandwidth)  # upstream -> client
        self.up = TokenBucket(proxy.bandwidth)  # client -> upstream

    def run(self) -> None:
        try:
            while self.exchange():
                pass
        except (_Closed, OSError):
            pass
        finally:
            for f in (self.from_client, self.from_upstream):
                f.close()
            for sock in (self.client, self.upstream):
                sock.close()

    def exchange(self) -> bool:
        """Relay one request and its response; ``False`` when the connection is done."""
        start, fields = _read_head(self.from_client)
        method = start.split(b" ", 1)[0].upper()
        expect = (_header(fields, b"expect") or b"").lower() == b"100-continue"
        self.upstream.sendall(_head_bytes(start, fields, {b"expect"} if expect else set()))
        if expect:
            time.sleep(self.proxy.latency)
            self.client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.relay_body(fields, self.from_client, self.upstream, self.up, until_close=False)
        while True:
            status_line, response_fields = _read_head(self.from_upstream)
            status = int(status_line.split(b" ", 2)[1])
            time.sleep(self.proxy.latency)
            self.client.sendall(_head_bytes(status_line, response_fields, set()))
            if status >= 200 or status == 101:
                break  # interim 1xx answers (other than 100, which we strip) are relayed as is
        no_body = method == b"HEAD" or status in _NO_BODY_STATUSES or status < 200
        if not no_body and not self.relay_body(
            response_fields, self.from_upstream, self.client, self.down, until_close=True
        ):
            return False
        closing = b"close" in (_header(fields, b"connection") or b"").lower()
        closing |= b"close" in (_header(response_fields, b"connection") or b"").lower()
        return not closing

    def relay_body(
        self,
        fields: list[tuple[bytes, bytes]],
        source: BufferedReader,
        sink: socket.socket,
        bucket: TokenBucket,
        until_close: bool,
    ) -> bool:
        """Relay one body as framed by ``fields``; ``False`` if it ran to the end of input.

        A message with neither ``Transfer-Encoding`` nor ``Content-Length`` has no body if it
        is a request, and a body up to the end of the connection if it is a response.
        """
        if b"chunked" in (_header(fields, b"transfer-encoding") or b"").lower():
            self.relay_chunked(source, sink, bucket)
            return True
        length = _header(fields, b"content-length")
        if length is not None:
            self.relay_bytes(source, sink, bucket, int(length))
            return True
        if until_close:
            self.relay_bytes(source, sink, bucket, None)
            return False
        return True

    def relay_bytes(
        self, source: BufferedReader, sink: socket.socket, bucket: TokenBucket, length: int | None
    ) -> None:
        """``length`` bytes (``None``: up to EOF) from ``source`` to ``sink``, shaped."""
        remaining = length
        while remaining is None or remaining > 0:
            want = SLICE if remaining is None else min(SLICE, remaining)
            data = source.read1(want)
            if not data:
                if remaining is None:
                    return
                raise _Closed
            bucket.take(len(data))
            sink.sendall(data)
            if remaining is not None:
                remaining -= len(data)

    def relay_chunked(
        self, source: BufferedReader, sink: socket.socket, bucket: TokenBucket
    ) -> None:
        while True:
            size_line = source.readline(65537)
            if not size_line.endswith(b"\n"):
                raise _Closed
            bucket.take(len(size_line))
            sink.sendall(size_line)
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while True:  # trailer fields, then the empty line
                    line = source.readline(65537)
                    if not line.endswith(b"\n"):
                        raise _Closed
                    sink.sendall(line)
                    if line in (b"\r\n", b"\n"):
                        return
            self.relay_bytes(source, sink, bucket, size + 2)  # the data and its CRLF


class ShapingProxy:
    """Listen on 127.0.0.1; relay to ``upstream`` with added latency and a per-connection cap.

    Use it as a context manager; :attr:`endpoint` is its URL.

    Args:
        upstream: the server's URL, ``http://127.0.0.1:PORT``.
        latency: seconds added before each response's status line.
        bandwidth: bytes/s per connection and direction; ``None``: no cap.
    """

    def __init__(
        self, upstream: str, latency: float = 0.020, bandwidth: float | None = 40 * MiB
    ) -> None:
        parts = urlsplit(upstream)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream needs a host and a port: {upstream!r}")
        self.upstream = (parts.hostname, parts.port)
        self.latency = latency
        self.bandwidth = bandwidth
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._accepting = threading.Thread(target=self._accept, name="shaping-accept", daemon=True)

    def __enter__(self) -> ShapingProxy:
        self._accepting.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting and drop every open connection."""
        self._listener.close()  # accept() then fails, and the accepting thread ends
        with self._lock:
            clients, self._clients = set(self._clients), set()
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._clients.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            _Relay(self, client).run()
        except OSError:  # the upstream refused the connection
            client.close()
        finally:
            with self._lock:
                self._clients.discard(client)


def _check(size: int = 64 * MiB, latency: float = 0.020, bandwidth: float = 40 * MiB) -> None:
    """Measure the proxy against a local server: latency, 1 and 4 connections, a PUT."""
    from concurrent.futures import ThreadPoolExecutor
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import requests

    payload = bytes(size)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else the body waits for a delayed ACK: 40 ms

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = payload if self.path == "/big" else b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self) -> None:
            received = 0
            while received < int(self.headers["Content-Length"]):
                received += len(self.rfile.read(min(SLICE, size - received)))
            self.send_response(200)
            self.send_header("Content-Length", str(len(str(received))))
            self.end_headers()
            self.wfile.write(str(received).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    upstream = f"http://127.0.0.1:{server.server_address[1]}"

    def get(url: str) -> int:
        with requests.get(url, stream=True, timeout=60) as response:
            return sum(len(c) for c in response.iter_content(SLICE))

    try:
        with ShapingProxy(upstream, latency, bandwidth) as proxy, requests.Session() as s:
            s.get(f"{proxy.endpoint}/small").raise_for_status()
            start = time.perf_counter()
            for _ in range(10):
                s.get(f"{proxy.endpoint}/small").raise_for_status()
            print(f"small GET, kept alive: {(time.perf_counter() - start) * 100:.1f} ms each")
            for connections in (1, 4):
                start = time.perf_counter()
                with ThreadPoolExecutor(connections) as pool:
                    got = sum(pool.map(get, [f"{proxy.endpoint}/big"] * connections))
                rate = got / (time.perf_counter() - start) / MiB
                print(f"GET, {connections} connection(s): {rate:.1f} MiB/s in all")
            start = time.perf_counter()
            answer = s.put(f"{proxy.endpoint}/up", data=payload).text
            rate = size / (time.perf_counter() - start) / MiB
            print(f"PUT, 1 connection: {rate:.1f} MiB/s ({answer} bytes arrived)")
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    _check()
