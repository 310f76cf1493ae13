"""16 threads sharing one session against the local S3 server: no errors, no leaks."""

from __future__ import annotations

import gc
import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ..conftest import Store

THREADS = 16
REQUESTS = 1200


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
def test_mixed_load_from_sixteen_threads(s3_store: Store) -> None:
    blobs = {f"load/{i}.bin": os.urandom(1024 * (1 + i * 8)) for i in range(32)}
    for key, data in blobs.items():
        s3_store.write(key, data, None)
    session = s3_store.session
    errors: list[str] = []

    def check(condition: bool, what: str) -> None:
        if not condition:
            errors.append(what)

    def operate(i: int) -> str:
        key = f"load/{i % 32}.bin"
        data = blobs[key]
        url = s3_store.url(key)
        kind = ("get", "head", "range", "put", "unread", "dropped")[i % 6]
        try:
            if kind == "get":
                check(session.get(url).content == data, f"{i}: body differs")
            elif kind == "head":
                head = session.head(url)
                check(head.headers["Content-Length"] == str(len(data)), f"{i}: length")
            elif kind == "range":
                start = (i * 7) % len(data)
                ranged = session.get(url, headers={"Range": f"bytes={start}-{start + 99}"})
                check(ranged.content == data[start : start + 100], f"{i}: range differs")
            elif kind == "put":
                own = s3_store.url(f"load/put-{i}.bin")
                payload = hashlib.sha256(str(i).encode()).digest() * 100
                check(session.put(own, data=payload).status_code == 200, f"{i}: put")
                check(session.get(own).content == payload, f"{i}: put body differs")
                check(session.delete(own).status_code == 204, f"{i}: delete")
            elif kind == "unread":
                response = session.get(url, stream=True)
                check(response.status_code == 200, f"{i}: unread status")
                response.close()  # closed without reading a byte
            else:
                check(session.get(url, stream=True).status_code == 200, f"{i}: dropped")
                # never read, never closed: dropped on the floor
        except Exception as exc:
            errors.append(f"{i} {kind}: {exc!r}")
        return kind

    def run(count: int) -> dict[str, Any]:
        with ThreadPoolExecutor(THREADS) as pool:
            kinds = list(pool.map(operate, range(count)))
        return {kind: kinds.count(kind) for kind in set(kinds)}

    run(THREADS * 6)  # warm up: clients built, connection pools filled
    gc.collect()
    fds_before, rss_before = _open_fds(), _rss()

    started = time.monotonic()
    served = run(REQUESTS)
    seconds = time.monotonic() - started
    gc.collect()
    time.sleep(0.5)  # let the event loop finish closing dropped connections
    fds_after, rss_after = _open_fds(), _rss()

    print(
        f"load: {REQUESTS} operations ({served}) by {THREADS} threads in {seconds:.1f} s, "
        f"{len(errors)} errors; fds {fds_before} -> {fds_after}; "
        f"RSS {rss_before / 2**20:.1f} -> {rss_after / 2**20:.1f} MiB"
    )
    assert errors == []
    assert fds_after <= fds_before + 2, f"file descriptors leaked: {fds_before} -> {fds_after}"
    assert rss_after - rss_before < 48 * 2**20, "memory grew under load"
