"""``timeout=`` on FTP, SFTP (both filesystems) and WebDAV (issue 22): a server that stops
answering raises ``requests``' ``Timeout`` within the caller's timeout, whatever the route's
own default (FTP 30 s, SFTP none, WebDAV 5 s), and the route answers again once the server
does. Each server sits behind a TCP proxy that stops forwarding while held."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import fsspec
import pytest
import requests

import objstore_adapter
from objstore_adapter import SchemeRegistry
from objstore_adapter.testing.servers import SFTPServer, ftp_server, sftp_server, webdav_server

from .._proxy import HoldingTcpProxy

USER, PASSWORD = "timeout-user", "timeout-password-51d2"
BODY = b"the report, " * 1000
#: A body of several blocks on every protocol (FTP's RETR, SFTP's and WebDAV's reads).
LARGE = random.Random(22).randbytes(5 * 2**20 + 7)
#: The route's own wait, far longer than the caller's: a request that waits for it fails.
ROUTE_WAIT = 60
LIMIT = 10  # seconds a request given timeout=1 may take in all, on a loaded machine


@dataclass
class Held:
    url: str  # of a file holding BODY
    proxy: HoldingTcpProxy
    session: requests.Session


def _registry(protocol: str, port: int) -> SchemeRegistry:
    registry = SchemeRegistry()
    if protocol == "ftp":
        registry.register(
            "ftp",
            host="127.0.0.1",
            port=port,
            username=USER,
            password=PASSWORD,
            timeout=ROUTE_WAIT,
        )
    elif protocol == "http":  # the WebDAV server's files, read and written as a web server's
        import aiohttp

        registry.register(
            "web",
            protocol="http",
            client_kwargs={"headers": {"Authorization": aiohttp.encode_basic_auth(USER, PASSWORD)}},
            skip_instance_cache=True,
        )
    elif protocol == "webdav":
        registry.register(
            "dav",
            protocol="webdav",
            base_url=f"http://127.0.0.1:{port}",
            auth=(USER, PASSWORD),
            timeout=ROUTE_WAIT,
        )
    else:
        name = "sftp" if protocol == "sshfs" else "psftp"
        fsspec.register_implementation("psftp", "fsspec.implementations.sftp.SFTPFileSystem")
        registry.register(
            "sftp",
            protocol=name,
            host="127.0.0.1",
            port=port,
            username=USER,
            password=PASSWORD,
        )
    return registry


@pytest.fixture(params=["ftp", "webdav", "sshfs", "paramiko", "http"])
def held(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Held]:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "report").write_bytes(BODY)
    (tmp_path / "p" / "large").write_bytes(LARGE)
    protocol = request.param
    server: contextlib.AbstractContextManager[str | SFTPServer]
    if protocol == "ftp":
        server = ftp_server(tmp_path, USER, PASSWORD)
    elif protocol in ("webdav", "http"):
        server = webdav_server(tmp_path, USER, PASSWORD)
    else:
        server = sftp_server(tmp_path, USER, PASSWORD)
    with server as served:
        port = served.port if isinstance(served, SFTPServer) else urlsplit(served).port
        assert port is not None
        with HoldingTcpProxy(port) as proxy:
            url = {
                "ftp": "ftp://127.0.0.1/p/report",
                "webdav": "dav://p/report",
                "http": f"web://127.0.0.1:{proxy.port}/p/report",
            }.get(protocol, "sftp://127.0.0.1/p/report")
            session = objstore_adapter.session(_registry(protocol, proxy.port))
            yield Held(url, proxy, session)
            proxy.held.clear()


@pytest.mark.parametrize("method", ["HEAD", "GET", "PUT", "DELETE"])
def test_a_server_that_stops_answering_is_a_timeout_of_the_callers_timeout(
    request: pytest.FixtureRequest, held: Held, method: str
) -> None:
    if method == "DELETE" and "http" in request.node.name:
        pytest.skip("fsspec's HTTP filesystem has no DELETE: 405, before any request is sent")
    assert held.session.get(held.url, timeout=LIMIT).content == BODY  # connected
    held.proxy.held.set()

    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        held.session.request(method, held.url, data=b"new" if method == "PUT" else None, timeout=1)
    assert time.monotonic() - started < LIMIT


def test_the_route_answers_again_once_the_server_does(held: Held) -> None:
    assert held.session.get(held.url, timeout=LIMIT).content == BODY
    held.proxy.held.set()
    with pytest.raises(requests.exceptions.Timeout):
        held.session.head(held.url, timeout=1)
    held.proxy.held.clear()

    assert held.session.get(held.url, timeout=LIMIT).content == BODY
    assert held.session.put(held.url, data=b"after", timeout=LIMIT).status_code in (200, 204)
    assert held.session.get(held.url, timeout=LIMIT).content == b"after"


def _read_after_first_chunk(held: Held, fault: Callable[[], None]) -> bytes:
    """GET the large file, meet ``fault`` once its first 64 KiB arrived, read on."""
    url = held.url.replace("/report", "/large")
    response = held.session.get(url, stream=True, timeout=1)
    assert response.status_code == 200
    chunks = response.iter_content(64 * 2**10)
    body: bytes = next(chunks)
    fault()
    return body + b"".join(chunks)


def test_a_body_whose_server_stops_answering_raises_within_the_callers_timeout(
    held: Held,
) -> None:
    started = time.monotonic()
    with pytest.raises(requests.exceptions.RequestException):
        _read_after_first_chunk(held, held.proxy.held.set)
    assert time.monotonic() - started < LIMIT


def test_a_body_whose_connection_is_cut_raises_or_comes_whole_never_short(held: Held) -> None:
    try:
        body = _read_after_first_chunk(held, held.proxy.cut)
    except requests.exceptions.RequestException:
        pass
    else:
        assert body == LARGE, f"{len(body)} bytes of {len(LARGE)} returned as the whole body"
    assert held.session.get(held.url, timeout=LIMIT).content == BODY  # and the route heals
