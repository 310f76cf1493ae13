"""Parallel ranged GETs behind one streaming body: in order, pinned to one version, bounded."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator

import pytest
import requests
from urllib3.exceptions import ProtocolError

import objstore_adapter
from objstore_adapter import TransferConfig
from objstore_adapter._transfer import parallel as parallel_module
from objstore_adapter._transfer.parallel import ParallelSource

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


@pytest.mark.parametrize("into", [False, True], ids=["iter_content", "readinto"])
def test_a_large_get_arrives_whole_and_in_order_over_parallel_parts(
    parallel: Proxied, into: bool
) -> None:
    parallel.store.write("big.bin", DATA, None)

    response = parallel.session.get(parallel.url("big.bin"), stream=True, timeout=60)
    digest = hashlib.sha256()
    if into:  # the one stream into the caller's buffer, then the parts' pieces copied in
        buffer = memoryview(bytearray(300_000))
        while n := response.raw.readinto(buffer):
            digest.update(buffer[:n])
    else:
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


# ParallelSource on its own: sources over bytes in memory and a clock the test moves, so that
# every boundary (the halves judged, where the stream hands over, each part, the review) is
# exact.

SMALL = os.urandom(10_000)
PART = 1000  # so the first bytes are judged in two halves of 500


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class _Source:
    """``data[start:stop]``, advancing the clock by ``seconds`` on each read, and (when
    ``ends_after`` is set) ending early."""

    def __init__(
        self,
        data: bytes,
        start: int,
        stop: int,
        clock: _Clock | None = None,
        seconds: float = 0.0,
        ends_after: int | None = None,
        most: int | None = None,
    ) -> None:
        self.data, self.offset, self.stop = data, start, stop
        self.most = most  # the most one read returns, as a socket may
        if ends_after is not None:
            self.stop = start + ends_after
        self.clock, self.seconds = clock, seconds
        self.reads: list[int] = []
        self.closed = False

    def read(self, n: int) -> bytes:
        if self.clock is not None:
            self.clock.now += self.seconds
        n = min(n, self.most or n)
        data = self.data[self.offset : min(self.stop, self.offset + n)]
        self.offset += len(data)
        self.reads.append(len(data))
        return data

    def close(self) -> None:
        self.closed = True


class _Parts:
    """``open_part`` over ``data``: records each range opened, and the thread that asked."""

    def __init__(self, data: bytes, failing: dict[tuple[int, int], list[Exception]] | None = None):
        self.data = data
        self.opened: list[tuple[int, int]] = []
        self.threads: set[str] = set()
        self.sources: list[_Source] = []
        self.failing = failing or {}
        self.ends_after: dict[tuple[int, int], int] = {}
        self.most: int | None = None

    def __call__(self, start: int, stop: int) -> _Source:
        self.opened.append((start, stop))
        self.threads.add(threading.current_thread().name)
        if self.failing.get((start, stop)):
            raise self.failing[(start, stop)].pop(0)
        source = _Source(
            self.data, start, stop, ends_after=self.ends_after.get((start, stop)), most=self.most
        )
        self.sources.append(source)
        return source


def _config(**changes: object) -> TransferConfig:
    settings: dict[str, object] = dict(
        parallel_below=float("inf"),
        download_part_size=PART,
        download_concurrency=4,
        backoff_base=0,
        max_attempts=1,
    )
    settings.update(changes)
    return TransferConfig(**settings)  # type: ignore[arg-type]


def _source(
    config: TransferConfig,
    start: int = 0,
    stop: int = len(SMALL),
    clock: _Clock | None = None,
    seconds: float = 0.0,
    parts: _Parts | None = None,
) -> tuple[ParallelSource, _Source, _Parts]:
    first = _Source(SMALL, start, stop, clock, seconds)
    parts = parts or _Parts(SMALL)
    return ParallelSource(first, parts, start, stop, config), first, parts


def _doubled(config: TransferConfig) -> tuple[bytes, _Parts, ParallelSource]:
    """A source over twice SMALL, and the parts it opens."""
    data = SMALL * 2
    parts = _Parts(data)
    return data, parts, ParallelSource(_Source(data, 0, len(data)), parts, 0, len(data), config)


def _read_all(source: ParallelSource, n: int = 10_000, received: bytearray | None = None) -> bytes:
    received = bytearray() if received is None else received
    while chunk := source.read(n):
        assert len(chunk) <= n
        received += chunk
    return bytes(received)


def _ranges(start: int, stop: int) -> list[tuple[int, int]]:
    return [(first, min(stop, first + PART)) for first in range(start, stop, PART)]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(parallel_module, "time", clock)
    return clock


def test_the_stream_is_judged_in_two_halves_then_serves_one_part(clock: _Clock) -> None:
    source, first, parts = _source(_config())

    assert _read_all(source) == SMALL
    # Reads stop at each half's end (500, 1000), then the stream serves one more part.
    assert first.reads == [500, 500, 1000]
    assert first.closed
    assert sorted(parts.opened) == _ranges(2000, len(SMALL))
    assert parts.threads
    assert all(name.startswith("objstore-part") for name in parts.threads)
    assert all(source.closed for source in parts.sources)


def test_a_range_is_judged_and_split_from_where_it_starts(clock: _Clock) -> None:
    source, first, parts = _source(_config(), start=1500, stop=9700)

    assert _read_all(source, 700) == SMALL[1500:9700]
    assert first.reads == [500, 500, 700, 300]
    assert sorted(parts.opened) == _ranges(3500, 9700)


def test_small_reads_come_in_order_and_never_past_what_was_asked(clock: _Clock) -> None:
    source, _, _ = _source(_config())

    assert _read_all(source, 333) == SMALL


def test_parts_in_flight_are_bounded_by_the_concurrency(clock: _Clock) -> None:
    source, _, parts = _source(_config())

    assert source.read(2000) == SMALL[:500]
    assert source.read(2000) == SMALL[500:1000]
    assert source.read(2000) == SMALL[1000:2000]  # the stream's part: the parts start
    time.sleep(0.2)
    # The stream is one connection: three parts were started with it, one more when it ended.
    assert sorted(parts.opened) == _ranges(2000, 6000)
    assert source.read(2000) == SMALL[2000:3000]
    assert source.read(2000) == SMALL[3000:4000]
    time.sleep(0.2)
    assert sorted(parts.opened) == _ranges(2000, 7000)  # a part used: the next one starts
    source.close()


def test_a_fast_stream_goes_on_alone(clock: _Clock) -> None:
    # 500 bytes a second, judged against 400: fast enough.
    source, first, parts = _source(_config(parallel_below=400), clock=clock, seconds=1.0)

    assert _read_all(source) == SMALL
    assert first.reads == [500, 500, 9000, 0]
    assert parts.opened == []


def test_a_stream_slow_in_both_halves_is_split(clock: _Clock) -> None:
    source, _, parts = _source(_config(parallel_below=600), clock=clock, seconds=1.0)

    assert _read_all(source) == SMALL
    assert sorted(parts.opened) == _ranges(2000, len(SMALL))


def test_one_slow_half_is_taken_for_a_pause_not_a_slow_link(clock: _Clock) -> None:
    for slow_half in (0, 1):
        stream = _Source(SMALL, 0, len(SMALL))
        parts = _Parts(SMALL)
        source = ParallelSource(stream, parts, 0, len(SMALL), _config(parallel_below=600))

        for half in (0, 1):
            clock.now += 10.0 if half == slow_half else 0.1
            assert source.read(10_000) == SMALL[half * 500 : half * 500 + 500]
        assert _read_all(source) == SMALL[1000:]
        assert parts.opened == [], f"half {slow_half} was slow"


@pytest.mark.parametrize("size", [1500, 2000])
def test_what_is_left_within_one_part_stays_one_stream(clock: _Clock, size: int) -> None:
    source, first, parts = _source(_config(), stop=size)

    assert _read_all(source) == SMALL[:size]
    assert first.reads == [500, 500, size - 1000, 0]
    assert parts.opened == []


def test_a_one_part_object_is_read_from_its_stream(clock: _Clock) -> None:
    source, first, parts = _source(_config(), stop=800)

    assert _read_all(source) == SMALL[:800]
    assert first.reads == [400, 400, 0]
    assert parts.opened == []


def _read_with_clock(source: ParallelSource, clock: _Clock, parts_slower: float = 100) -> bytes:
    """Read 1,000 bytes at a time, the stream's at 1,000 bytes a second, the parts'
    ``parts_slower`` times slower."""
    received = bytearray()
    while chunk := source.read(PART):
        clock.now += len(chunk) / 1000 * (1 if len(received) < 2000 else parts_slower)
        received += chunk
    return bytes(received)


def test_parts_slower_than_the_stream_give_way_to_one_stream(clock: _Clock) -> None:
    data = SMALL * 2
    parts = _Parts(data)
    stream = _Source(data, 0, len(data))
    source = ParallelSource(stream, parts, 0, len(data), _config(parallel_below=2.0**40))

    assert _read_with_clock(source, clock) == data
    # Four parts started with the stream (2000-6000); each of the first three used started
    # one more (to 9000); the fourth used showed parts slower: the rest is one stream.
    assert parts.opened[-1] == (9000, len(data))
    assert sorted(parts.opened[:-1]) == _ranges(2000, 9000)


def test_parts_as_fast_as_the_stream_go_on(clock: _Clock) -> None:
    data, parts, source = _doubled(_config(parallel_below=2.0**40))

    assert _read_with_clock(source, clock, parts_slower=0.1) == data
    assert sorted(parts.opened) == _ranges(2000, len(data))


def test_parts_always_means_parts_however_slow(clock: _Clock) -> None:
    data = SMALL * 2
    parts = _Parts(data)
    source = ParallelSource(_Source(data, 0, len(data)), parts, 0, len(data), _config())

    assert _read_with_clock(source, clock) == data
    assert sorted(parts.opened) == _ranges(2000, len(data))


def test_with_fewer_connections_the_review_comes_sooner(clock: _Clock) -> None:
    data = SMALL * 2
    parts = _Parts(data)
    config = _config(parallel_below=2.0**40, download_concurrency=2)
    source = ParallelSource(_Source(data, 0, len(data)), parts, 0, len(data), config)

    assert _read_with_clock(source, clock) == data
    # Two parts with the stream (2000-4000), one more after the first used; the second
    # used is the review.
    assert parts.opened[-1] == (5000, len(data))
    assert sorted(parts.opened[:-1]) == _ranges(2000, 5000)


def test_a_part_that_ends_early_raises_naming_its_bytes(clock: _Clock) -> None:
    parts = _Parts(SMALL)
    parts.ends_after[(4000, 5000)] = 300
    source, _, _ = _source(_config(), parts=parts)

    received = bytearray()
    with pytest.raises(ProtocolError, match=r"^bytes 4000-4999 ended after 300 bytes$"):
        _read_all(source, received=received)
    assert bytes(received) == SMALL[:4000] + SMALL[4000:4300]
    source.close()


def test_a_part_that_fails_raises_in_its_place(clock: _Clock) -> None:
    denied = PermissionError("denied")
    parts = _Parts(SMALL, failing={(3000, 4000): [denied]})
    source, _, _ = _source(_config(max_attempts=3), parts=parts)

    received = bytearray()
    with pytest.raises(PermissionError) as raised:
        _read_all(source, received=received)
    assert raised.value is denied
    assert bytes(received) == SMALL[:3000]
    assert parts.opened.count((3000, 4000)) == 1, "a definite answer is not asked again"
    source.close()


def test_a_part_that_fails_to_open_is_tried_again(clock: _Clock) -> None:
    parts = _Parts(SMALL, failing={(3000, 4000): [ConnectionResetError(), TimeoutError()]})
    source, _, _ = _source(_config(max_attempts=3), parts=parts)

    assert _read_all(source) == SMALL
    assert parts.opened.count((3000, 4000)) == 3


def test_a_cut_part_resumes_where_it_was_cut(clock: _Clock) -> None:
    parts = _Parts(SMALL)
    parts.ends_after[(5000, 6000)] = 400
    source, _, _ = _source(_config(max_attempts=2), parts=parts)

    assert _read_all(source) == SMALL
    assert (5400, 6000) in parts.opened


def test_the_rest_opened_as_one_stream_heals_too(clock: _Clock) -> None:
    data = SMALL * 2
    parts = _Parts(data)
    parts.ends_after[(9000, len(data))] = 100
    source = ParallelSource(
        _Source(data, 0, len(data)),
        parts,
        0,
        len(data),
        _config(parallel_below=2.0**40, max_attempts=2),
    )

    assert _read_with_clock(source, clock) == data
    assert parts.opened[-1] == (9100, len(data))


def test_close_ends_the_body_and_every_connection(clock: _Clock) -> None:
    source, first, parts = _source(_config())
    received = source.read(500) + source.read(500) + source.read(1000) + source.read(300)
    assert received == SMALL[:2300]

    source.close()

    assert first.closed
    assert source.read(1000) == b""
    time.sleep(0.2)
    assert parts.sources
    assert all(part.closed for part in parts.sources)
    assert max(stop for _, stop in parts.opened) <= 6000, "no part started after close"


def test_close_before_the_parts_start_closes_the_stream(clock: _Clock) -> None:
    source, first, parts = _source(_config())
    assert source.read(100) == SMALL[:100]

    source.close()

    assert first.closed
    assert source.read(100) == b""
    assert parts.opened == []


def _read_timed(source: ParallelSource, clock: _Clock, judged: float, after: float) -> bytes:
    """Read 1,000 bytes at a time; each read of the first 1,000 bytes moves the clock
    ``judged`` seconds, each later one ``after`` seconds."""
    received = bytearray()
    while chunk := source.read(PART):
        clock.now += judged if len(received) < PART else after
        received += chunk
    return bytes(received)


def test_parts_exactly_as_fast_as_the_stream_go_on(clock: _Clock) -> None:
    # The stream: 1,000 bytes in 1.25 s (800/s). The review, after the stream's part and
    # four parts: 5,000 bytes in 1.25 + 5 s, 800/s too. Only slower parts give way.
    data, parts, source = _doubled(_config(parallel_below=2.0**40))

    assert _read_timed(source, clock, judged=1.25, after=1.0) == data
    assert sorted(parts.opened) == _ranges(2000, len(data))


def test_parts_that_took_no_time_at_all_go_on(clock: _Clock) -> None:
    data, parts, source = _doubled(_config(parallel_below=2.0**40))

    assert _read_timed(source, clock, judged=0.0005, after=0.0) == data
    assert sorted(parts.opened) == _ranges(2000, len(data))


def test_parts_of_a_range_far_into_the_object_are_measured_from_where_they_began(
    clock: _Clock,
) -> None:
    # 5,000 bytes in 25 s (200/s) against the stream's 2,000/s: slower, however far into
    # the object the range starts.
    data = SMALL * 12
    start = 100_000
    parts = _Parts(data)
    source = ParallelSource(
        _Source(data, start, len(data)), parts, start, len(data), _config(parallel_below=2.0**40)
    )

    assert _read_timed(source, clock, judged=0.25, after=5.0) == data[start:]
    assert parts.opened[-1] == (start + 9000, len(data))


def test_the_rest_opened_as_one_stream_is_retried_within_the_budget(clock: _Clock) -> None:
    data = SMALL * 2
    parts = _Parts(data, failing={(9000, len(data)): [ConnectionResetError()]})
    config = _config(parallel_below=2.0**40, max_attempts=3, backoff_base=0.05)
    stream = _Source(data, 0, len(data))
    source = ParallelSource(stream, parts, 0, len(data), config, budget=0.0)

    with pytest.raises(ConnectionResetError):
        _read_with_clock(source, clock)
    assert parts.opened.count((9000, len(data))) == 1, "no time was left for a retry"
    source.close()


def test_the_rest_opened_as_one_stream_resumes_within_the_budget(clock: _Clock) -> None:
    data = SMALL * 2
    parts = _Parts(data, failing={(9100, len(data)): [ConnectionResetError()]})
    parts.ends_after[(9000, len(data))] = 100
    config = _config(parallel_below=2.0**40, max_attempts=3, backoff_base=0.05)
    stream = _Source(data, 0, len(data))
    source = ParallelSource(stream, parts, 0, len(data), config, budget=0.0)

    with pytest.raises(ConnectionResetError):
        _read_with_clock(source, clock)
    assert parts.opened.count((9100, len(data))) == 1, "no time was left for a retry"
    source.close()


def test_a_part_is_retried_within_the_budget(clock: _Clock) -> None:
    parts = _Parts(SMALL, failing={(3000, 4000): [ConnectionResetError()]})
    config = _config(max_attempts=3, backoff_base=0.05)
    source = ParallelSource(_Source(SMALL, 0, len(SMALL)), parts, 0, len(SMALL), config, 0.0)

    with pytest.raises(ConnectionResetError):
        _read_all(source)
    assert parts.opened.count((3000, 4000)) == 1, "no time was left for a retry"
    source.close()


@pytest.mark.parametrize("cycle", [[300, 10_000, 1, 999, 1000], [1, 5000]])
def test_reads_of_any_size_deliver_each_byte_once(clock: _Clock, cycle: list[int]) -> None:
    source, _, _ = _source(_config())
    received = bytearray()
    sizes = itertools.cycle(cycle)

    while chunk := source.read(n := next(sizes)):
        assert len(chunk) <= n
        received += chunk

    assert bytes(received) == SMALL


def test_parts_that_arrive_in_small_reads_are_read_to_their_last_byte(clock: _Clock) -> None:
    parts = _Parts(SMALL)
    parts.most = 333  # 333 + 333 + 333 + 1
    source, _, _ = _source(_config(), parts=parts)

    assert _read_all(source) == SMALL


def test_a_cut_part_resumes_within_the_budget(clock: _Clock) -> None:
    parts = _Parts(SMALL, failing={(3300, 4000): [ConnectionResetError()]})
    parts.ends_after[(3000, 4000)] = 300
    config = _config(max_attempts=3, backoff_base=0.05)
    source = ParallelSource(_Source(SMALL, 0, len(SMALL)), parts, 0, len(SMALL), config, 0.0)

    with pytest.raises(ConnectionResetError):
        _read_all(source)
    assert parts.opened.count((3300, 4000)) == 1, "no time was left for a retry"
    source.close()


class _Stalled(_Source):
    """A part whose reads wait until the test lets them go."""

    def __init__(self, data: bytes, start: int, stop: int, go: threading.Event) -> None:
        super().__init__(data, start, stop)
        self.go = go

    def read(self, n: int) -> bytes:
        self.go.wait(10)
        return super().read(n)


def test_close_does_not_wait_for_parts_being_read(clock: _Clock) -> None:
    go = threading.Event()
    opened: list[tuple[int, int]] = []

    def open_part(start: int, stop: int) -> _Source:
        opened.append((start, stop))
        return _Stalled(SMALL, start, stop, go)

    source = ParallelSource(_Source(SMALL, 0, len(SMALL)), open_part, 0, len(SMALL), _config())
    assert source.read(2000) + source.read(2000) + source.read(2000) == SMALL[:2000]
    closing = threading.Thread(target=source.close)

    closing.start()
    closing.join(2)
    finished = not closing.is_alive()
    go.set()
    closing.join(10)

    assert opened, "parts were being read"
    assert finished, "close() waited for parts stalled in their reads"


def test_parts_of_a_range_far_into_the_object_that_keep_up_go_on(clock: _Clock) -> None:
    # The stream: 1,000 bytes in 0.25 s (4,000/s); the parts: 5,000 bytes in 0.75 s.
    data = SMALL * 12
    start = 100_000
    parts = _Parts(data)
    source = ParallelSource(
        _Source(data, start, len(data)), parts, start, len(data), _config(parallel_below=2.0**40)
    )

    assert _read_timed(source, clock, judged=0.25, after=0.1) == data[start:]
    assert sorted(parts.opened) == _ranges(start + 2000, len(data))


def test_a_stream_exactly_as_fast_as_parallel_below_goes_on_alone(clock: _Clock) -> None:
    # 500 bytes a second in each half, judged against 500.
    source, _, parts = _source(_config(parallel_below=500), clock=clock, seconds=1.0)

    assert _read_all(source) == SMALL
    assert parts.opened == []


def test_a_stream_slower_than_a_byte_a_second_is_split(clock: _Clock) -> None:
    # 500 bytes in 1,000 s per half: 0.5 bytes a second, judged against 1.
    source, _, parts = _source(_config(parallel_below=1), clock=clock, seconds=1000.0)

    assert _read_all(source) == SMALL
    assert sorted(parts.opened) == _ranges(2000, len(SMALL))


def test_a_half_is_judged_whole_not_by_its_fastest_read(clock: _Clock) -> None:
    # The first 100 bytes come at once, the rest of each half 100 bytes per 10 s: each
    # half is slow (500 bytes in 40 or 50 s), however fast one read of it was.
    parts = _Parts(SMALL)
    source = ParallelSource(
        _Source(SMALL, 0, len(SMALL)), parts, 0, len(SMALL), _config(parallel_below=600)
    )
    received = bytearray()
    while len(received) < 1000:
        received += source.read(100)
        clock.now += 10.0

    assert _read_all(source, received=received) == SMALL
    assert sorted(parts.opened) == _ranges(2000, len(SMALL))
