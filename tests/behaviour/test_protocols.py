"""The generic backend on protocols beyond the object stores, each against a real server on
127.0.0.1 (issue 22): keys and hosts are taken as written, or the URL is refused."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

import objstore_adapter
from objstore_adapter import SchemeRegistry
from objstore_adapter.testing.servers import ftp_server

FTP_USER, FTP_PASSWORD = "ftp-user", "ftp-password-3c9e"


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[tuple[str, Path, requests.Session]]:
    """(the server's ftp:// base URL, the directory it serves, a session with its route)."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "report").write_bytes(b"the real report")
    with ftp_server(tmp_path, FTP_USER, FTP_PASSWORD) as base:
        address = urlsplit(base)
        registry = SchemeRegistry()
        registry.register(
            "ftp",
            host=address.hostname,
            port=address.port,
            username=FTP_USER,
            password=FTP_PASSWORD,
            skip_instance_cache=True,
        )
        yield base, tmp_path, objstore_adapter.session(registry)


def test_a_key_is_read_as_written(ftp: tuple[str, Path, requests.Session]) -> None:
    base, _, session = ftp
    assert session.get(f"{base}/p/report").content == b"the real report"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_key_whose_query_ftp_would_drop_is_refused_and_replaces_nothing(
    ftp: tuple[str, Path, requests.Session], method: str
) -> None:
    base, root, session = ftp

    with pytest.raises(requests.exceptions.InvalidURL, match="without its query"):
        session.request(method, f"{base}/p/report?draft=1", data=b"DRAFT")

    assert (root / "p" / "report").read_bytes() == b"the real report"


@pytest.mark.parametrize("host", ["other.example", "127.0.0.2", "127.0.0.1:1"])
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_another_hosts_url_is_not_served_by_the_routes_server(
    ftp: tuple[str, Path, requests.Session], host: str, method: str
) -> None:
    _, root, session = ftp

    with pytest.raises(requests.exceptions.InvalidURL, match=f"names the host '{host}'"):
        session.request(method, f"ftp://{host}/p/report", data=b"elsewhere")

    assert (root / "p" / "report").read_bytes() == b"the real report"


def test_one_session_serves_sixteen_threads(ftp: tuple[str, Path, requests.Session]) -> None:
    base, _, session = ftp

    def work(n: int) -> list[bytes]:
        body = f"thread {n} ".encode() * 1000
        seen = []
        for i in range(3):
            assert session.put(f"{base}/p/t{n}-{i}.txt", data=body).status_code in (200, 201)
            seen.append(session.get(f"{base}/p/t{n}-{i}.txt").content)
            seen.append(session.get(f"{base}/p/report").content)
        return seen

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(work, range(16)))

    for n, seen in enumerate(results):
        assert seen[0::2] == [f"thread {n} ".encode() * 1000] * 3
        assert seen[1::2] == [b"the real report"] * 3
    assert session.get(f"{base}/p/report").content == b"the real report"  # still served


def test_metadata_is_read_fresh_for_every_request(ftp: tuple[str, Path, requests.Session]) -> None:
    base, root, session = ftp
    assert session.get(f"{base}/p/report").content == b"the real report"
    assert session.get(f"{base}/p/").status_code == 200  # a listing fills fsspec's dircache

    (root / "p" / "report").write_bytes(b"rewritten by another client, longer")
    (root / "p" / "new").write_bytes(b"made by another client")

    response = session.get(f"{base}/p/report")
    assert response.content == b"rewritten by another client, longer"
    assert response.headers["Content-Length"] == str(len(response.content))
    assert session.get(f"{base}/p/new").content == b"made by another client"
    (root / "p" / "new").unlink()
    assert session.head(f"{base}/p/new").status_code == 404


def test_validators_come_from_the_servers_modify_fact(
    ftp: tuple[str, Path, requests.Session],
) -> None:
    base, root, session = ftp
    os.utime(root / "p" / "report", (1_700_000_000, 1_700_000_000))

    first = session.head(f"{base}/p/report")

    assert first.headers["Last-Modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    etag = first.headers["ETag"]
    assert session.get(f"{base}/p/report", headers={"If-None-Match": etag}).status_code == 304
    (root / "p" / "report").write_bytes(b"the next report")
    os.utime(root / "p" / "report", (1_700_000_060, 1_700_000_060))
    changed = session.get(f"{base}/p/report", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
