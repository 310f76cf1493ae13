"""Every answer describes one version, every local write is atomic (issue 19).

A reader racing a writer sees the old object or the new one, whole, under its own ETag and
length; a write that fails part way leaves the old file as it was and nothing else behind; a
listing racing deletes lists what it saw; a key under an empty segment (``a//b``) is found by
walking the listings.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ..conftest import Store

SMALL = b"small-body"  # 10 bytes
LARGE = bytes(range(256)) * 1200  # 300 kB


@pytest.mark.parametrize("name", ["file", "memory"])
def test_readers_racing_a_writer_see_one_whole_version(
    request: pytest.FixtureRequest, name: str
) -> None:
    store: Store = request.getfixturevalue(f"{name}_store")
    url = store.url("raced.bin")
    versions: dict[str, bytes] = {}  # ETag -> body, as each PUT answered it
    first = store.session.put(url, data=LARGE)
    assert first.status_code == 200
    versions[first.headers["ETag"]] = LARGE
    stop = threading.Event()
    seen: list[tuple[int, str | None, str | None, bytes]] = []
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for index in itertools.count():
                if stop.is_set():
                    return
                body = SMALL if index % 2 == 0 else LARGE
                answer = store.session.put(url, data=body)
                assert answer.status_code == 200, answer.text
                versions[answer.headers["ETag"]] = body
        except BaseException as exc:
            failures.append(exc)

    def read() -> None:
        try:
            while not stop.is_set():
                got = store.session.get(url)
                seen.append(
                    (
                        got.status_code,
                        got.headers.get("ETag"),
                        got.headers.get("Content-Length"),
                        got.content,
                    )
                )
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert not failures, failures[0]
    assert len(versions) > 10
    assert len(seen) > 30
    wrong = [
        (status, etag, length, len(body))
        for status, etag, length, body in seen
        if status != 200 or etag is None or versions.get(etag) != body or length != str(len(body))
    ]
    assert not wrong, f"{len(wrong)} of {len(seen)} GETs: {wrong[:5]}"


def _failing_body(size: int) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        yield b"n" * 2**20
        sent += 2**20
    raise OSError("the caller's body failed part way")


def test_put_whose_body_fails_part_way_keeps_the_old_file(
    file_store: Store, tmp_path: Path
) -> None:
    """Larger than one block (streamed) and within one block (written whole)."""
    (tmp_path / "keep.txt").write_bytes(SMALL)
    for size in (12 * 2**20, 3 * 2**20):
        with pytest.raises(OSError, match="failed part way"):
            file_store.session.put(file_store.url("keep.txt"), data=_failing_body(size))
        assert (tmp_path / "keep.txt").read_bytes() == SMALL
        assert os.listdir(tmp_path) == ["keep.txt"]


_LIMITED_PUT = """
import resource, signal, sys
import objstore_adapter
registry = objstore_adapter.SchemeRegistry()
registry.register("file")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
try:
    answer = objstore_adapter.session(registry).put(sys.argv[1], data=bytes(300_000))
except Exception as exc:
    print(repr(exc))
else:
    print(answer.status_code)
"""


def test_put_that_the_disk_refuses_part_way_keeps_the_old_file(tmp_path: Path) -> None:
    """The write itself fails after 100 kB (the process may write no bigger file)."""
    target = tmp_path / "keep.txt"
    target.write_bytes(SMALL)
    done = subprocess.run(
        [sys.executable, "-c", _LIMITED_PUT, target.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert done.stdout.strip() not in ("", "200"), done.stdout + done.stderr
    assert target.read_bytes() == SMALL
    assert os.listdir(tmp_path) == ["keep.txt"]


@pytest.mark.parametrize("name", ["file", "memory"])
def test_listing_racing_deletes_lists_what_it_saw(
    request: pytest.FixtureRequest, name: str
) -> None:
    store: Store = request.getfixturevalue(f"{name}_store")
    keys = [f"busy/k{index:03}.txt" for index in range(40)]
    for key in ["busy/kept.txt", *keys]:
        store.write(key, b"x", None)
    stop = threading.Event()
    listings: list[int] = []
    failures: list[BaseException] = []

    def churn(mine: list[str]) -> None:
        try:
            while not stop.is_set():
                for key in mine:
                    assert store.session.delete(store.url(key)).status_code == 204
                    assert store.session.put(store.url(key), data=b"x").status_code == 200
        except BaseException as exc:
            failures.append(exc)

    def walk() -> None:
        try:
            while not stop.is_set():
                got = store.session.get(store.url("busy/"))
                listings.append(got.status_code)
                names = {entry["name"] for entry in got.json()["entries"]}
                assert "kept.txt" in names, got.text
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=churn, args=(keys[i::8],)) for i in range(8)]
    threads += [threading.Thread(target=walk) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert not failures, repr(failures[0])
    assert listings
    assert set(listings) == {200}


def _walk(session: requests.Session, url: str, depth: int = 0) -> Iterator[str]:
    """Every file URL a walker reaches from the listing at ``url``."""
    assert depth < 5, f"the walk does not end: {url}"
    got = session.get(url)
    assert got.status_code == 200, (url, got.text)
    for entry in got.json()["entries"]:
        if entry["type"] == "directory":
            yield from _walk(session, entry["url"], depth + 1)
        else:
            yield entry["url"]


@pytest.mark.parametrize("name", ["memory", "file", "s3", "gs", "az"])
def test_key_under_an_empty_segment_is_found_by_walking(
    request: pytest.FixtureRequest, name: str
) -> None:
    store: Store = request.getfixturevalue(f"{name}_store")
    bodies = {"double//x.txt": b"under an empty segment", "double//deep/y.txt": b"deeper"}
    for key, body in bodies.items():
        assert store.session.put(store.url(key), data=body).status_code == 200
    found: dict[bytes, Any] = {}
    for url in _walk(store.session, store.url("double/")):
        got = store.session.get(url)
        assert got.status_code == 200, url
        found[got.content] = url
    assert set(found) == set(bodies.values()), found
