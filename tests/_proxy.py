"""Small HTTP servers for tests: a proxy in front of a real local store, and a refuser.

:class:`RecordingProxy` forwards every request to the upstream server and records it, so tests
can count backend requests; on demand it stalls before answering, cuts a response body short or
answers in the store's place (a 503 with ``Retry-After``, a 403), so tests can see how the
adapter handles a slow, broken or refusing store. Given a :class:`Chaos`, it injects such
faults at random instead (seeded), and counts what it injected.

:class:`HoldingTcpProxy` does the same for a protocol that is not HTTP: it stops forwarding
while held.

:func:`serving` hands each connection to a function of the test's, for answers no store sends
(a head and body in one write, bytes after an answer).

:class:`CallOutRefuser` is where the suite sends every request that would leave the machine
(credential discovery, metadata services, token endpoints): it refuses each with a 403.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import os
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


@contextlib.contextmanager
def serving(
    handle: Callable[[socket.socket], None], connections: int | None = None
) -> Iterator[int]:
    """A server on 127.0.0.1 handing each connection it accepts to ``handle``, one at a time
    in its own thread, and closing it after; yields its port. With ``connections``, it
    accepts only that many: the kernel completes later connects, and nobody answers them."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        served = 0
        while not stop.is_set() and (connections is None or served < connections):
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            served += 1
            with connection, contextlib.suppress(OSError):
                handle(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def until_head(connection: socket.socket, received: bytes = b"") -> bytes | None:
    """``received`` and what comes after it up to the end of a request head; ``None`` if the
    connection ends first."""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        received += chunk
    return received


@dataclass
class CannedAnswer:
    """What the proxy answers instead of the store, ``times`` times (``None``: always)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    times: int | None = 1
    methods: frozenset[str] | None = None  # None: every method
    skip: int = 0  # matching requests to forward first
    agent: str | None = None  # only requests whose User-Agent starts with this
    after_store: bool = False  # the store is sent the request first; its answer is dropped
    path: str | None = None  # only requests for this path


#: S3's throttling answer, as the SlowDown faults send it.
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)

#: The faults a :class:`Chaos` injects, in the order one roll of its RNG is matched against.
FAULTS = ("slow_down", "reset", "stall", "long_stall", "cut", "lost_answer")


@dataclass
class Chaos:
    """Faults a proxy injects at random, from one seeded RNG, and how many it injected.

    Each fault has a rate per request method (a method missing: never). Faults are dealt from
    a shuffled deck per method, ``deck`` requests long, holding each fault ``rate * deck``
    times: the order is random, the numbers are not, so a test can count on meeting each
    fault. A fault that cannot apply (a cut of an empty body, of a HEAD) is not injected and
    not counted. Where a fault comes in two kinds, they alternate.

    - ``slow_down``: a 503 SlowDown with ``Retry-After: 0`` or ``1``; the store is not reached.
    - ``reset``: the connection dropped (FIN or RST) once the request is read; not reached.
    - ``stall``: the head, or the body part way, waits up to ``stall_max`` seconds.
    - ``long_stall``: the head, or the body part way, waits ``long_stall_seconds`` (set it
      above the client's read timeout), then the connection is dropped.
    - ``cut``: the body ends at a random offset (0 included) and the connection is dropped.
    - ``lost_answer``: the store did the request, but its answer is dropped (FIN or RST).

    ``strip_if_match`` forwards requests without ``If-Match``: a store that ignores it, so a
    resumed body may come from another version (to check that a test would see a splice).
    """

    seed: int
    slow_down: dict[str, float] = field(default_factory=dict)
    reset: dict[str, float] = field(default_factory=dict)
    stall: dict[str, float] = field(default_factory=dict)
    long_stall: dict[str, float] = field(default_factory=dict)
    cut: dict[str, float] = field(default_factory=dict)
    lost_answer: dict[str, float] = field(default_factory=dict)
    deck: int = 100
    stall_max: float = 0.3
    long_stall_seconds: float = 2.5
    strip_if_match: bool = False
    counts: collections.Counter[str] = field(default_factory=collections.Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._decks: dict[str, list[str | None]] = {}
        self._dealt: collections.Counter[str] = collections.Counter()

    def draw(self, method: str) -> str | None:
        """The fault for the next request with ``method``, if any."""
        with self._lock:
            deck = self._decks.get(method)
            if not deck:
                deck = self._decks[method] = self._shuffled(method)
            return deck.pop()

    def _shuffled(self, method: str) -> list[str | None]:
        cards: list[str | None] = []
        for fault in FAULTS:
            cards += [fault] * round(getattr(self, fault).get(method, 0.0) * self.deck)
        if len(cards) > self.deck:
            raise ValueError(f"the fault rates for {method} add up to more than 1")
        cards += [None] * (self.deck - len(cards))
        self._rng.shuffle(cards)
        return cards

    def second_kind(self, fault: str) -> bool:
        """Whether this ``fault`` is of its second kind: every other one is."""
        with self._lock:
            self._dealt[fault] += 1
            return self._dealt[fault] % 2 == 0

    def below(self, n: int) -> int:
        """A random integer in ``[0, n)``."""
        with self._lock:
            return self._rng.randrange(n)

    def seconds(self, most: float) -> float:
        with self._lock:
            return self._rng.uniform(0.0, most)

    def injected(self, fault: str, kind: str | None = None) -> None:
        with self._lock:
            self.counts[fault] += 1
            if kind:
                self.counts[f"{fault}: {kind}"] += 1


class RecordingProxy:
    """Forward to ``upstream_port`` on 127.0.0.1, recording ``(method, path)`` of each request."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.requests: list[tuple[str, str]] = []
        self.request_headers: list[dict[str, str]] = []
        self.clients: list[tuple[str, int]] = []  # the client's address, per request
        self.stall_seconds = 0.0  # wait, then close without an answer
        self.delay_seconds = 0.0  # wait, then answer
        self.cut_body_after: int | None = None
        self.cuts_left: int | None = None  # how many bodies to cut; None: every one
        self.cut_statuses = frozenset({200, 206})  # the answers whose bodies may be cut
        self.on_request: Callable[[str, str], None] | None = None  # (method, path), on arrival
        self.cut_request_after: int | None = None
        self.hold_body: threading.Event | None = None
        self.chaos: Chaos | None = None  # set: faults at random instead of the settings above
        self._canned: list[CannedAnswer] = []
        self._canned_lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                proxy.requests.append((self.command, self.path))
                proxy.request_headers.append(dict(self.headers.items()))
                proxy.clients.append(self.client_address)
                if proxy.on_request is not None:
                    proxy.on_request(self.command, self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if proxy.cut_request_after is not None and length > proxy.cut_request_after:
                    self.rfile.read(proxy.cut_request_after)  # then drop the connection
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else None
                canned = proxy._take_canned(
                    self.command, self.headers.get("User-Agent", ""), self.path
                )
                if canned is not None:
                    if canned.after_store:  # a store that failed after it did the work
                        self._from_store(body)
                    self._answer(canned)
                    return
                if proxy.chaos is not None:
                    try:
                        self._forward_with_chaos(proxy.chaos, body)
                    except OSError:  # the client gave up first (its read timeout)
                        self.close_connection = True
                    return
                if proxy.stall_seconds:
                    time.sleep(proxy.stall_seconds)
                    self.close_connection = True
                    return
                time.sleep(proxy.delay_seconds)
                response, payload = self._from_store(body)
                self._send_head(response, payload)
                if self.command == "HEAD":
                    return
                if proxy.hold_body is not None:
                    proxy.hold_body.wait(30)
                if (
                    proxy.cut_body_after is not None
                    and response.status in proxy.cut_statuses
                    and proxy._take_cut()
                ):
                    self.wfile.write(payload[: proxy.cut_body_after])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(payload)

            def _from_store(self, body: bytes | None) -> tuple[http.client.HTTPResponse, bytes]:
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if proxy.chaos is not None and proxy.chaos.strip_if_match:
                    headers = {k: v for k, v in headers.items() if k.lower() != "if-match"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                upstream.close()
                return response, payload

            def _send_head(self, response: http.client.HTTPResponse, payload: bytes) -> None:
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                announced = response.getheader("Content-Length")
                if self.command == "HEAD" and announced is not None:
                    self.send_header("Content-Length", announced)
                else:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.flush()

            def _drop(self, reset: bool = False) -> None:
                """Close the connection: a FIN, or with ``reset`` an RST (unsent bytes lost)."""
                self.close_connection = True
                if reset:
                    linger = struct.pack("ii", 1, 0)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.connection.close()
                else:
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _forward_with_chaos(self, chaos: Chaos, body: bytes | None) -> None:
                fault = chaos.draw(self.command)
                if fault == "slow_down":
                    retry_after = "1" if chaos.second_kind(fault) else "0"
                    chaos.injected(fault, f"Retry-After {retry_after}")
                    headers = {"Retry-After": retry_after, "Content-Type": "application/xml"}
                    self._answer(CannedAnswer(503, headers, SLOW_DOWN))
                    return
                if fault == "reset":
                    hard = chaos.second_kind(fault)
                    chaos.injected(fault, "RST" if hard else "FIN")
                    self._drop(reset=hard)
                    return
                if fault == "long_stall" and not chaos.second_kind(fault):
                    chaos.injected(fault, "before the head")
                    time.sleep(chaos.long_stall_seconds)
                    self._drop()
                    return
                response, payload = self._from_store(body)
                if fault == "lost_answer":
                    hard = chaos.second_kind(fault)
                    chaos.injected(fault, "RST" if hard else "FIN")
                    self._drop(reset=hard)
                    return
                has_body = self.command != "HEAD" and response.status < 300 and bool(payload)
                at = chaos.below(len(payload)) if has_body else 0
                if fault == "stall" and not (has_body and chaos.below(2) == 0):
                    chaos.injected(fault, "before the head")
                    time.sleep(chaos.seconds(chaos.stall_max))
                    fault = None
                self._send_head(response, payload)
                if self.command == "HEAD":
                    return
                if fault is None or not has_body:
                    self.wfile.write(payload)
                    return
                self.wfile.write(payload[:at])
                self.wfile.flush()
                if fault == "stall":
                    chaos.injected(fault, "in the body")
                    time.sleep(chaos.seconds(chaos.stall_max))
                    self.wfile.write(payload[at:])
                    return
                chaos.injected(fault, "in the body" if fault == "long_stall" else None)
                if fault == "long_stall":
                    time.sleep(chaos.long_stall_seconds)
                self._drop()

            def _answer(self, canned: CannedAnswer) -> None:
                self.send_response(canned.status)
                for key, value in canned.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(canned.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(canned.body)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward
            do_OPTIONS = do_PROPFIND = do_MOVE = do_MKCOL = _forward  # WebDAV's

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        # A short poll: shutdown() waits for the loop to look, 0.5 s by default, per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def _take_cut(self) -> bool:
        with self._canned_lock:
            if self.cuts_left is None:
                return True
            if self.cuts_left <= 0:
                return False
            self.cuts_left -= 1
            return True

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(
        self,
        status: int,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        times: int | None = 1,
        methods: tuple[str, ...] | None = None,
        skip: int = 0,
        agent: str | None = None,
        after_store: bool = False,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (``None``: all of them) in the store's place.

        Only requests with one of ``methods`` (and a User-Agent starting with ``agent``)
        count, when given, and the first ``skip`` of those still reach the store. With
        ``after_store``, the store is sent each such request first, and its answer dropped.
        With ``path``, only requests for that path count. Every request is recorded;
        answers queue up in order.
        """
        methods_set = frozenset(methods) if methods else None
        canned = CannedAnswer(
            status, dict(headers or {}), body, times, methods_set, skip, agent, after_store, path
        )
        with self._canned_lock:
            self._canned.append(canned)

    def _take_canned(self, method: str, agent: str, path: str) -> CannedAnswer | None:
        with self._canned_lock:
            for canned in self._canned:
                if canned.agent is not None and not agent.startswith(canned.agent):
                    continue
                if canned.path is not None and path != canned.path:
                    continue
                if canned.methods is None or method in canned.methods:
                    if canned.skip > 0:
                        canned.skip -= 1
                        return None
                    if canned.times is not None:
                        canned.times -= 1
                        if canned.times <= 0:
                            self._canned.remove(canned)
                    return canned
        return None

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hold_body is not None:
            self.hold_body.set()
        self._server.shutdown()
        self._server.server_close()


class HoldingTcpProxy:
    """A TCP proxy in front of a server on 127.0.0.1, for protocols that are not HTTP (FTP's
    control connection, SSH): while ``held`` is set, nothing is forwarded either way, as
    from a server that stopped answering; once it is cleared, traffic flows again."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.held = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            self._sockets.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                while self.held.is_set() and not self._closed.is_set():
                    time.sleep(0.01)
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def cut(self) -> None:
        """Close every connection made so far, both ends, as a network that dropped them;
        connections made afterwards are forwarded."""
        sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def __enter__(self) -> HoldingTcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._listener.close()
        for sock in self._sockets:
            sock.close()


class CallOutRefuser:
    """A loopback HTTP server that refuses whatever reaches it, and remembers what that was.

    The suite points proxies and metadata endpoints here, so a client that tries to leave
    the machine fails at once, with a 403, instead of waiting on a network it must not use.
    """

    def __init__(self) -> None:
        self.refused: list[str] = []
        refuser = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _refuse(self) -> None:
                direct = self.command != "CONNECT" and "://" not in self.path
                target = f"{self.headers.get('Host')}{self.path}" if direct else self.path
                refuser.refused.append(f"{self.command} {target}")
                body = b"the test suite refuses every call that would leave this machine\n"
                self.send_response(403, "Refused by the test suite")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_CONNECT = _refuse

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()


_refuser: CallOutRefuser | None = None


def call_out_refuser() -> CallOutRefuser:
    """The process's one refuser, started on first use."""
    global _refuser
    if _refuser is None:
        _refuser = CallOutRefuser()
    return _refuser


#: Settings that make an SDK look for credentials or metadata off this machine.
CLOUD_DISCOVERY_VARIABLES = (
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",  # ECS task role: 169.254.170.2
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",  # STS AssumeRoleWithWebIdentity
    "AWS_ROLE_ARN",
    "AWS_PROFILE",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "IDENTITY_ENDPOINT",  # Azure App Service / Arc managed identity
    "IDENTITY_HEADER",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
)


def offline_environment() -> dict[str, str]:
    """Environment settings under which no SDK looks for credentials off this machine.

    Metadata services (AWS, GCE, Azure IMDS) and every HTTP(S) proxy point at the refuser;
    AWS and gcloud configuration files are empty. Variables in
    :data:`CLOUD_DISCOVERY_VARIABLES` must be removed as well.
    """
    refuser = call_out_refuser().endpoint
    host = refuser.split("://", 1)[1]
    return {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": refuser,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "GCE_METADATA_HOST": host,
        "GCE_METADATA_IP": host,
        "NO_GCE_CHECK": "true",
        "CLOUDSDK_CONFIG": os.devnull,
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": refuser,
        "AZURE_AUTHORITY_HOST": refuser.replace("http://", "https://"),
        # Anything else that calls out goes through a proxy: the refuser.
        **dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"), refuser),
        **dict.fromkeys(("http_proxy", "https_proxy", "all_proxy"), refuser),
        **dict.fromkeys(("NO_PROXY", "no_proxy"), "127.0.0.1,127.0.0.0/8,localhost,::1"),
    }
