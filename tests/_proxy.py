"""A small HTTP proxy between a backend client and a real local server, for tests.

It forwards every request to the upstream server and records it, so tests can count backend
requests; on demand it stalls before answering or cuts a response body short, so tests can see
how the adapter handles a slow or broken store.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class RecordingProxy:
    """Forward to ``upstream_port`` on 127.0.0.1, recording ``(method, path)`` of each request."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.requests: list[tuple[str, str]] = []
        self.request_headers: list[dict[str, str]] = []
        self.stall_seconds = 0.0
        self.cut_body_after: int | None = None
        self.cut_request_after: int | None = None
        self.hold_body: threading.Event | None = None
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
                if proxy.cut_body_after is not None and response.status < 300:
                    self.wfile.write(payload[: proxy.cut_body_after])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(payload)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hold_body is not None:
            self.hold_body.set()
        self._server.shutdown()
        self._server.server_close()
