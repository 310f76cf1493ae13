"""No backend follows a redirect: a store's 3xx with another host in ``Location`` is a 502
naming the redirect, never that host's answer served as the object or a write it "stored".

A recording proxy answers every request in the store's place with the redirect; the other
host is a small HTTP server that answers anything with a body of its own and counts what
it was sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from objstore_adapter._errors import outcome_for, redirect_detail
from objstore_adapter._http import Timeouts

from ..conftest import Proxied, proxied_store

OTHER_BODY = b"the other host's body, not the object"


class OtherHost:
    """An HTTP server on 127.0.0.1 answering 200 with :data:`OTHER_BODY` to any request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self) -> None:
                host.requests.append((self.command, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Length", str(len(OTHER_BODY)))
                self.send_header("ETag", '"other"')
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(OTHER_BODY)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OtherHost:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def other_host() -> Iterator[OtherHost]:
    with OtherHost() as host:
        yield host


@pytest.fixture(params=["s3", "gs", "az"])
def proxied(request: pytest.FixtureRequest) -> Iterator[Proxied]:
    with proxied_store(request, request.param) as p:
        yield p


#: Each operation: the request method and the key (a trailing slash lists).
OPERATIONS = {
    "GET": ("GET", "object.txt"),
    "HEAD": ("HEAD", "object.txt"),
    "PUT": ("PUT", "object.txt"),
    "DELETE": ("DELETE", "object.txt"),
    "listing": ("GET", "dir/"),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("status", [301, 307])
def test_a_redirect_to_another_host_is_a_502_and_is_not_followed(
    proxied: Proxied, other_host: OtherHost, status: int, operation: str
) -> None:
    method, key = OPERATIONS[operation]
    proxied.store.write("object.txt", b"stored bytes", None)
    proxied.store.write("dir/inside.txt", b"listed", None)
    before = len(other_host.requests)
    # A signed query in the Location must not be echoed.
    location = f"{other_host.origin}/elsewhere/{key}?X-Amz-Signature=s3cr3t"
    proxied.proxy.answer(status, {"Location": location}, times=None)

    data = b"new bytes" if method == "PUT" else None
    response = proxied.session.request(method, proxied.url(key), data=data, timeout=10)

    assert other_host.requests[before:] == [], "a request was sent to the other host"
    assert proxied.proxy.requests, "the store was asked"
    assert response.status_code == 502
    assert OTHER_BODY not in response.content
    if method != "HEAD":
        document = json.loads(response.content)
        assert document["status"] == 502
        assert document["detail"] == (
            f"the store redirected to {other_host.origin}: check the route's endpoint_url or region"
        )
        assert "s3cr3t" not in response.text


@pytest.mark.parametrize("status", [301, 307])
def test_the_error_names_where_the_store_redirected(
    proxied: Proxied, other_host: OtherHost, status: int
) -> None:
    """What the backend raises says the store redirected and to which host, never the
    Location's path or query."""
    before = len(other_host.requests)
    location = f"{other_host.origin}/elsewhere?X-Amz-Signature=s3cr3t"
    proxied.proxy.answer(status, {"Location": location}, times=None)
    url = proxied.url("object.txt")
    target = proxied.session.get_adapter(url).registry.resolve(url)  # type: ignore[attr-defined]
    backend = target.backend

    failure: Exception | None = None
    try:  # each SDK raises its own class
        backend.stat(target.fs, target.path, Timeouts(request=10, read=10))
    except Exception as exc:
        failure = exc

    assert failure is not None, "the redirect was followed"
    assert outcome_for(failure) == 502
    assert redirect_detail(failure) == (
        f"the store redirected to {other_host.origin}: check the route's endpoint_url or region"
    )
    assert other_host.requests[before:] == [], "a request was sent to the other host"
