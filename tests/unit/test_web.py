"""WebBackend (fsspec's HTTP filesystem, ``protocol="http"``) against web servers on
127.0.0.1: a redirect is refused and named, never followed; a failure is reported as what it
is (an unreachable server, a server error), not as a missing object."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import fsspec
import pytest
import requests

import objstore_adapter
from objstore_adapter import SchemeRegistry
from objstore_adapter._backends import _aio
from objstore_adapter._backends.web import WebBackend
from objstore_adapter.testing.servers import free_port


class _Server:
    """A web server on 127.0.0.1 whose handler answers with ``answer(handler)``."""

    def __init__(self, answer: Any) -> None:
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append((self.command, self.path))
                status, headers, body = answer(self)
                chunked = headers.get("Transfer-Encoding") == "chunked"
                self.send_response(status)
                length = {} if chunked else {"Content-Length": str(len(body))}
                for name, value in {**length, **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(
                        b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if chunked else body
                    )

            do_HEAD = do_GET

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[_Server] = []

    def start(answer: Any) -> _Server:
        servers.append(_Server(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def session() -> requests.Session:
    registry = SchemeRegistry()
    registry.register("web", protocol="http", skip_instance_cache=True)
    return objstore_adapter.session(registry)


def test_a_page_is_served_and_a_missing_one_is_404(serve: Any, session: requests.Session) -> None:
    def pages(handler: Any) -> tuple[int, dict[str, str], bytes]:
        return (200, {}, b"public page") if handler.path == "/page.txt" else (404, {}, b"")

    site = serve(pages)

    assert session.get(f"web://{site.address}/page.txt").content == b"public page"
    assert session.get(f"web://{site.address}/missing.txt").status_code == 404


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("allow_redirects", [True, False])
def test_a_redirect_to_another_host_is_named_never_followed(
    serve: Any, session: requests.Session, method: str, allow_redirects: bool
) -> None:
    metadata = serve(lambda handler: (200, {}, b"instance credentials"))
    site = serve(lambda handler: (302, {"Location": f"http://{metadata.address}/latest"}, b""))

    response = session.request(
        method, f"web://{site.address}/page.txt", allow_redirects=allow_redirects
    )

    assert response.status_code == 502
    assert b"instance credentials" not in response.content
    assert metadata.requests == [], "the redirect was followed"
    if method == "GET":
        assert response.json()["detail"].startswith(
            f"the store redirected to http://{metadata.address}"
        )


def test_an_unreachable_server_is_a_connection_error(session: requests.Session) -> None:
    with pytest.raises(requests.ConnectionError):
        session.get(f"web://127.0.0.1:{free_port()}/page.txt", timeout=10)


def test_a_server_error_is_reported_as_the_store_answered_it(
    serve: Any, session: requests.Session
) -> None:
    site = serve(lambda handler: (500, {}, b"broken"))

    response = session.get(f"web://{site.address}/page.txt")

    assert response.status_code not in (200, 404)
    assert response.status_code == 502


def test_configure_keeps_the_callers_own_traces() -> None:
    import aiohttp

    mine = aiohttp.TraceConfig()
    fs = fsspec.filesystem(
        "http", client_kwargs={"trace_configs": [mine]}, skip_instance_cache=True
    )

    WebBackend().configure(fs)
    WebBackend().configure(fs)

    assert fs.client_kwargs["trace_configs"] == [mine, _aio.redirect_refusal()]


@pytest.mark.parametrize(
    "escape", ["%2e%2e/secret.txt", ".%2e/secret.txt", "%2e%2e%2fsecret.txt", "..?x", "..#x"]
)
def test_a_prefix_route_cannot_be_left_through_encoded_or_queried_dot_segments(
    serve: Any, escape: str
) -> None:
    site = serve(lambda handler: (200, {}, b"secret" if "secret" in handler.path else b"pub"))
    registry = SchemeRegistry()
    registry.register(f"web://{site.address}/pub/", protocol="http", skip_instance_cache=True)
    session = objstore_adapter.session(registry)
    assert session.get(f"web://{site.address}/pub/page.txt").content == b"pub"
    site.requests.clear()

    with pytest.raises(requests.exceptions.InvalidURL, match="segments are refused"):
        session.get(f"web://{site.address}/pub/{escape}")

    assert site.requests == []


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_body_of_unknown_length_is_refused_not_served_empty(
    serve: Any, session: requests.Session, method: str
) -> None:
    site = serve(lambda handler: (200, {"Transfer-Encoding": "chunked"}, b"a chunked page"))

    response = session.request(method, f"web://{site.address}/page.txt")

    assert response.status_code == 502


def test_a_listing_of_an_index_page_reports_unknown_sizes_as_unknown(
    serve: Any, session: requests.Session
) -> None:
    index = b'<html><a href="a.txt">a.txt</a> <a href="b.txt">b.txt</a></html>'
    site = serve(lambda handler: (200, {"Content-Type": "text/html"}, index))

    listing = session.get(f"web://{site.address}/dir/")

    assert listing.status_code == 200
    entries = {entry["name"]: entry for entry in listing.json()["entries"]}
    assert set(entries) == {"a.txt", "b.txt"}
    assert [entry["size"] for entry in entries.values()] == [None, None]


def test_delete_which_the_http_filesystem_cannot_send_is_405(
    serve: Any, session: requests.Session
) -> None:
    site = serve(lambda handler: (200, {}, b"public page"))

    response = session.delete(f"web://{site.address}/page.txt")

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert "method not allowed" in response.text
    assert site.requests == []  # nothing sent: fsspec's HTTP filesystem has no delete


def test_a_put_over_one_block_says_the_http_filesystem_writes_only_whole_bodies(
    serve: Any, session: requests.Session
) -> None:
    site = serve(lambda handler: (200, {}, b"public page"))

    response = session.put(f"web://{site.address}/big.bin", data=iter([b"x" * (9 * 2**20)]))

    assert response.status_code == 405
    assert "whole" in response.json()["detail"]
    assert site.requests == []  # refused before a byte was sent
