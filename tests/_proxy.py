"""Small HTTP servers for tests: a proxy in front of a real local store, and a refuser.

:class:`RecordingProxy` forwards every request to the upstream server and records it, so tests
can count backend requests; on demand it stalls before answering, cuts a response body short or
answers in the store's place (a 503 with ``Retry-After``, a 403), so tests can see how the
adapter handles a slow, broken or refusing store.

:class:`CallOutRefuser` is where the suite sends every request that would leave the machine
(credential discovery, metadata services, token endpoints): it refuses each with a 403.
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass
class CannedAnswer:
    """What the proxy answers instead of the store, ``times`` times (``None``: always)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    times: int | None = 1
    methods: frozenset[str] | None = None  # None: every method
    skip: int = 0  # matching requests to forward first


class RecordingProxy:
    """Forward to ``upstream_port`` on 127.0.0.1, recording ``(method, path)`` of each request."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.requests: list[tuple[str, str]] = []
        self.request_headers: list[dict[str, str]] = []
        self.stall_seconds = 0.0
        self.cut_body_after: int | None = None
        self.cuts_left: int | None = None  # how many bodies to cut; None: every one
        self.cut_request_after: int | None = None
        self.hold_body: threading.Event | None = None
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
                length = int(self.headers.get("Content-Length") or 0)
                if proxy.cut_request_after is not None and length > proxy.cut_request_after:
                    self.rfile.read(proxy.cut_request_after)  # then drop the connection
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else None
                canned = proxy._take_canned(self.command)
                if canned is not None:
                    self._answer(canned)
                    return
                if proxy.stall_seconds:
                    time.sleep(proxy.stall_seconds)
                    self.close_connection = True
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                upstream.close()
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
                if self.command == "HEAD":
                    return
                if proxy.hold_body is not None:
                    proxy.hold_body.wait(30)
                if proxy.cut_body_after is not None and response.status < 300 and proxy._take_cut():
                    self.wfile.write(payload[: proxy.cut_body_after])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(payload)

            def _answer(self, canned: CannedAnswer) -> None:
                self.send_response(canned.status)
                for key, value in canned.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(canned.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(canned.body)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

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
    ) -> None:
        """Answer the next ``times`` requests (``None``: all of them) in the store's place.

        Only requests with one of ``methods`` count, when given, and the first ``skip`` of
        those still reach the store. Every request is recorded; answers queue up in order.
        """
        methods_set = frozenset(methods) if methods else None
        canned = CannedAnswer(status, dict(headers or {}), body, times, methods_set, skip)
        with self._canned_lock:
            self._canned.append(canned)

    def _take_canned(self, method: str) -> CannedAnswer | None:
        with self._canned_lock:
            for canned in self._canned:
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
