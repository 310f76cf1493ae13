"""Parallel ranged GETs behind one streaming body: in order, pinned to one version, bounded."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
import tracemalloc
from collections.abc import Iterator

import pytest
import requests

import objstore_adapter
from objstore_adapter import TransferConfig

from ..conftest import Proxied, Store, proxied_store, s3_registry

MiB = 2**20
DATA = os.urandom(10 * MiB + 12_345)

#: Parts of 1 MiB over four connections, and the one stream always judged too slow.
ALWAYS_PARALLEL = TransferConfig(
    parallel_below=float("inf"), download_part_size=MiB, download_concurrency=4
)


@pytest.fixture(params=["s3", "gs", "az"])
def parallel(request: pytest.FixtureRequest) -> Iterator[Proxied]:
    with proxied_store(request, request.param, transfer=ALWAYS_PARALLEL) as proxied:
        yield proxied


def _ranged_gets(proxied: Proxied) -> list[dict[str, str]]:
    gets = []
    for (method, path), headers in zip(
        proxied.proxy.requests, proxied.proxy.request_headers, strict=True
    ):
        sent = {name.lower(): value for name, value in headers.items()}
        if method == "GET" and ("range" in sent or "x-ms-range" in sent):
            gets.append({**sent, "path": path})
    return gets


def test_a_large_get_arrives_whole_and_in_order_over_parallel_parts(parallel: Proxied) -> None:
    parallel.store.write("big.bin", DATA, None)

    response = parallel.session.get(parallel.url("big.bin"), stream=True, timeout=60)
    digest = hashlib.sha256()
    for chunk in response.iter_content(256 * 1024):
        digest.update(chunk)

    assert response.status_code == 200
    assert digest.hexdigest() == hashlib.sha256(DATA).hexdigest()
    pinned = [
        sent
        for sent in _ranged_gets(parallel)
        if "if-match" in sent or "generation=" in sent["path"]
    ]
    assert len(pinned) >= 6, "the rest came in parts, each pinned to the version read"


def test_a_large_range_is_fetched_in_parts_too(parallel: Proxied) -> None:
    parallel.store.write("big.bin", DATA, None)

    response = parallel.session.get(
        parallel.url("big.bin"), headers={"Range": "bytes=1000-9000999"}, timeout=60
    )

    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 1000-9000999/{len(DATA)}"
    assert response.content == DATA[1000:9001000]
    assert len(_ranged_gets(parallel)) >= 5


def test_replaced_mid_transfer_is_never_spliced(parallel: Proxied) -> None:
    parallel.store.write("swap.bin", DATA, None)

    response = parallel.session.get(parallel.url("swap.bin"), stream=True, timeout=60)
    first = response.raw.read(5 * MiB)  # parts past these are still being fetched, or not yet
    parallel.store.write("swap.bin", os.urandom(len(DATA)), None)
    try:
        rest = b"".join(response.iter_content(256 * 1024))
    except requests.exceptions.ChunkedEncodingError:
        rest = None

    assert first == DATA[: 5 * MiB]
    assert rest is None or first + rest == DATA, "bytes of two versions were spliced"


def _range_start(sent: dict[str, str]) -> int:
    return int((sent.get("x-ms-range") or sent["range"]).split("=")[1].split("-")[0])


def test_the_first_stream_serves_its_part_and_no_byte_is_fetched_twice(parallel: Proxied) -> None:
    parallel.store.write("big.bin", DATA, None)

    assert parallel.session.get(parallel.url("big.bin"), timeout=60).content == DATA

    # The GET's own stream was judged after 1 MiB and went on for one more part (1 MiB):
    # the parts start at 2 MiB, one after the other, to the end.
    starts = sorted(start for sent in _ranged_gets(parallel) if (start := _range_start(sent)))
    assert starts == list(range(2 * MiB, len(DATA), MiB))


def test_parts_slower_than_the_one_stream_give_way_to_one_stream(
    request: pytest.FixtureRequest,
) -> None:
    # Judged too slow below 1 TiB/s: parts, as in the other tests, but not forced.
    config = dataclasses.replace(ALWAYS_PARALLEL, parallel_below=2.0**40)
    data = os.urandom(24 * MiB)
    with proxied_store(request, "s3", transfer=config) as proxied:
        proxied.store.write("slow-parts.bin", data, None)
        response = proxied.session.get(proxied.url("slow-parts.bin"), stream=True, timeout=60)
        proxied.proxy.delay_seconds = 0.3  # every range from now on waits: parts cost dearly

        assert response.content == data

    starts = sorted(_range_start(sent) for sent in _ranged_gets(proxied))
    ends = sorted(int(sent["range"].rsplit("-", 1)[1]) for sent in _ranged_gets(proxied))
    # The first round (four parts, and the few started as they were read) came slower than
    # the stream had: the rest, from where the parts stopped, came as one ranged GET.
    assert ends[-1] == len(data) - 1
    assert ends[-1] + 1 - starts[-1] > 8 * MiB, "the rest came in parts"
    assert len(starts) < 12


def test_with_retries_off_a_cut_part_raises_after_a_true_prefix(
    request: pytest.FixtureRequest,
) -> None:
    config = TransferConfig(
        parallel_below=float("inf"), download_part_size=MiB, download_concurrency=4, max_attempts=1
    )
    with proxied_store(request, "s3", transfer=config) as proxied:
        proxied.store.write("cut.bin", DATA, None)
        proxied.proxy.cut_statuses = frozenset({206})  # the parts, not the GET's own stream
        proxied.proxy.cut_body_after = 300_000
        proxied.proxy.cuts_left = 1

        response = proxied.session.get(proxied.url("cut.bin"), stream=True, timeout=60)
        received = bytearray()

        def read_all() -> None:
            for chunk in response.iter_content(64 * 1024):
                received.extend(chunk)

        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            read_all()

        assert proxied.proxy.cuts_left == 0
        assert 2 * MiB <= len(received) < len(DATA)
        assert received == DATA[: len(received)], "bytes after the cut part were misplaced"


def test_a_cut_part_heals(parallel: Proxied) -> None:
    parallel.store.write("cut.bin", DATA, None)
    parallel.proxy.cut_body_after = 300_000
    parallel.proxy.cuts_left = 3

    response = parallel.session.get(parallel.url("cut.bin"), timeout=60)

    assert response.status_code == 200, response.text
    assert response.content == DATA
    assert parallel.proxy.cuts_left == 0


def test_a_pause_of_the_reader_is_not_taken_for_a_slow_link(
    request: pytest.FixtureRequest,
) -> None:
    # The first bytes are judged in two halves (512 KiB each here): a pause in one of them
    # (a busy machine, a reader that stops) must not start parts on a fast link.
    config = TransferConfig(parallel_below=50 * MiB, download_part_size=MiB, download_concurrency=4)
    with proxied_store(request, "s3", transfer=config) as proxied:
        proxied.store.write("paused.bin", DATA, None)

        response = proxied.session.get(proxied.url("paused.bin"), stream=True, timeout=60)
        first = response.raw.read(256 * 1024)
        time.sleep(0.3)
        rest = response.raw.read()

        assert first + rest == DATA
        assert [method for method, _ in proxied.proxy.requests] == ["GET"]


def test_parallel_below_zero_keeps_one_stream(request: pytest.FixtureRequest) -> None:
    config = TransferConfig(parallel_below=0, download_part_size=MiB)
    with proxied_store(request, "s3", transfer=config) as proxied:
        proxied.store.write("one.bin", DATA, None)

        assert proxied.session.get(proxied.url("one.bin")).content == DATA
        assert [method for method, _ in proxied.proxy.requests] == ["GET"]


def test_memory_stays_bounded_by_the_parts_in_flight(
    seaweed_store: Store, seaweed_endpoint: str
) -> None:
    data = os.urandom(64 * MiB)
    seaweed_store.write("bounded.bin", data, None)
    # Straight to the server: the recording proxy would hold whole bodies in this process.
    session = objstore_adapter.session(s3_registry(seaweed_endpoint, transfer=ALWAYS_PARALLEL))
    tracemalloc.start()
    try:
        response = session.get(seaweed_store.url("bounded.bin"), stream=True, timeout=60)
        received = sum(len(chunk) for chunk in response.iter_content(256 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert received == len(data)
    # Four 1 MiB parts in flight, one handed over, and their copies in urllib3: about
    # 18 MiB here, whatever the object's size; a body held whole would be 64 MiB.
    assert peak < 32 * MiB, f"peak {peak / MiB:.1f} MiB"
