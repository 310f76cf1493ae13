"""Faults heal by default, under load.

A proxy in front of moto throttles (503 SlowDown with ``Retry-After``), resets connections,
stalls (briefly, and past the read timeout), cuts bodies at random offsets and loses answers,
at random from a seeded RNG, while 16 threads share one session with the default
:class:`~objstore_adapter.TransferConfig`: no error may reach the caller and every body must be
exact. An object replaced while many readers stream it through cuts is never spliced.

botocore's own retries are off (``total_max_attempts: 1``), so only the adapter's policy heals.
"""

from __future__ import annotations

import collections
import hashlib
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

import objstore_adapter
from objstore_adapter import TransferConfig

from .._proxy import Chaos, RecordingProxy
from ..conftest import s3_registry

SEED = 11
THREADS = 16
REQUESTS = 1_000
TIMEOUT = (5.0, 2.0)  # connect, read: long stalls outlast the read timeout
#: Sizes of the objects read: empty, tiny, and up to a few backend reads.
SIZES = (0, 1, 1_000, 64 * 2**10, 200 * 2**10 + 7, 512 * 2**10, 2**20 + 3, 2 * 2**20 - 5)
PUT_SIZES = (0, 17, 4_096, 100 * 2**10, 300 * 2**10 + 1)
ONE_ATTEMPT = {"retries": {"total_max_attempts": 1}}


def chaos() -> Chaos:
    """The faults of the thousand requests, as rates per request dealt from shuffled decks of
    100 (see :class:`Chaos`).

    GETs meet every fault; PUT, HEAD and DELETE meet them less often (a PUT whose answer
    was lost is settled by a HEAD, not sent again). With 5
    attempts a request fails only if 5 tries in a row (or 5 cuts of one body) meet a fault,
    about 1e-6 per request here: the test fails by chance in about 1 run in 500.
    """
    return Chaos(
        SEED,
        slow_down={"GET": 0.03, "HEAD": 0.01, "PUT": 0.01, "DELETE": 0.01},
        reset={"GET": 0.02, "HEAD": 0.01, "PUT": 0.01, "DELETE": 0.01},
        stall={"GET": 0.05, "HEAD": 0.03, "PUT": 0.03, "DELETE": 0.03},
        long_stall={"GET": 0.03},
        cut={"GET": 0.05},
        lost_answer={"PUT": 0.03},
        long_stall_seconds=TIMEOUT[1] + 0.5,  # past the read timeout
    )


#: At least this many of each fault (about half of what the decks deal in a run), so the test
#: cannot pass without meeting them.
AT_LEAST = {
    "slow_down: Retry-After 0": 8,
    "slow_down: Retry-After 1": 8,
    "reset: FIN": 6,
    "reset: RST": 6,
    "stall: before the head": 15,
    "stall: in the body": 3,  # a coin decides head or body, for GETs with a body: 4 to 12 seen
    "long_stall: before the head": 6,
    "long_stall: in the body": 3,
    "cut": 20,
    "lost_answer": 3,
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Stored:
    data: bytes
    etag: str


@dataclass
class Run:
    """What the threads share: the session, the objects, and what went wrong."""

    session: requests.Session
    base: str
    objects: dict[str, Stored]
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    mine: threading.local = field(default_factory=threading.local)  # this thread's calls

    def call(self, op: str, method: str, key: str, **kwargs: Any) -> requests.Response:
        with self.lock:
            self.calls[op] += 1
        self.mine.calls = self.made() + 1
        return self.session.request(method, f"{self.base}/{key}", timeout=TIMEOUT, **kwargs)

    def made(self) -> int:
        """Calls this thread made."""
        return getattr(self.mine, "calls", 0)

    def fail(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)


def read_body(response: requests.Response, streamed: bool) -> bytes:
    if not streamed:
        return response.content
    return b"".join(response.iter_content(64 * 2**10))


def get_whole(run: Run, rng: random.Random, mine: list[str]) -> None:
    key = rng.choice(list(run.objects))
    streamed = rng.random() < 0.5
    response = run.call("GET whole", "GET", key, stream=streamed)
    body = read_body(response, streamed)
    expected = run.objects[key].data
    if response.status_code != 200 or sha256(body) != sha256(expected):
        run.fail(f"GET {key}: {response.status_code}, {len(body)} of {len(expected)} bytes")


def get_range(run: Run, rng: random.Random, mine: list[str]) -> None:
    key = rng.choice([key for key, stored in run.objects.items() if stored.data])
    data = run.objects[key].data
    first = rng.randrange(len(data))
    form = rng.randrange(3)
    if form == 0:
        last = rng.randrange(first, len(data))
        span, expected = f"bytes={first}-{last}", data[first : last + 1]
    elif form == 1:
        span, expected = f"bytes={first}-", data[first:]
    else:
        tail = rng.randrange(1, len(data) + 1)
        span, expected = f"bytes=-{tail}", data[-tail:]
    streamed = rng.random() < 0.5
    response = run.call("GET range", "GET", key, headers={"Range": span}, stream=streamed)
    body = read_body(response, streamed)
    if response.status_code != 206 or body != expected:
        run.fail(f"GET {key} {span}: {response.status_code}, {len(body)} bytes")


def head(run: Run, rng: random.Random, mine: list[str]) -> None:
    key = rng.choice(list(run.objects))
    stored = run.objects[key]
    response = run.call("HEAD", "HEAD", key)
    length, etag = response.headers.get("Content-Length"), response.headers.get("ETag")
    if response.status_code != 200 or length != str(len(stored.data)) or etag != stored.etag:
        run.fail(f"HEAD {key}: {response.status_code}, {length}, {etag}")


def put_and_get(run: Run, rng: random.Random, mine: list[str]) -> None:
    if mine and rng.random() < 0.3:
        key = rng.choice(mine)  # replaced
    else:
        key = f"rw/{uuid.uuid4().hex}"
        mine.append(key)
    data = rng.randbytes(rng.choice(PUT_SIZES))
    stored = run.call("PUT", "PUT", key, data=data)
    # 200 whether created or replaced, a lost answer included (settled, not sent again).
    if stored.status_code != 200:
        run.fail(f"PUT {key}: {stored.status_code}")
    response = run.call("GET back", "GET", key)
    if response.status_code != 200 or response.content != data:
        run.fail(f"GET back {key}: {response.status_code}, {len(response.content)} bytes")


def delete(run: Run, rng: random.Random, mine: list[str]) -> None:
    if not mine:
        put_and_get(run, rng, mine)
        return
    key = mine.pop(rng.randrange(len(mine)))
    response = run.call("DELETE", "DELETE", key)
    if response.status_code != 204:
        run.fail(f"DELETE {key}: {response.status_code}")
    gone = run.call("HEAD deleted", "HEAD", key)
    if gone.status_code != 404:
        run.fail(f"HEAD {key} after DELETE: {gone.status_code}")


Op = Callable[[Run, random.Random, list[str]], None]
OPS: dict[Op, int] = {get_whole: 35, get_range: 20, head: 15, put_and_get: 15, delete: 10}


def worker(run: Run, index: int, quota: int) -> None:
    """``quota`` calls, mixed at random: two-call operations only while two are left."""
    rng = random.Random(f"{SEED}-{index}")
    mine: list[str] = []  # keys this thread stored and has not deleted
    while run.made() < quota:
        op = rng.choices(list(OPS), list(OPS.values()))[0]
        if quota - run.made() == 1 and op in (put_and_get, delete):
            op = head
        try:
            op(run, rng, mine)
        except Exception as exc:  # what the caller would see: the test counts it
            run.fail(f"{op.__name__}: {type(exc).__name__}: {exc}"[:400])


def run_threads(target: Callable[[int], None], count: int, seconds: float) -> None:
    """``target(i)`` in ``count`` threads; fails (a hang) if they are not done in ``seconds``."""
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    hung = sum(thread.is_alive() for thread in threads)
    assert not hung, f"{hung} of {count} threads still running after {seconds} s: a hang"


@pytest.fixture
def prefix() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def chaos_proxy(moto_endpoint: str) -> Iterator[RecordingProxy]:
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        yield proxy


def resumes(proxy: RecordingProxy) -> int:
    """GETs of the rest of a body, pinned to its version: the healing of a cut."""
    return sum(
        method == "GET" and {name.lower() for name in headers} >= {"if-match", "range"}
        for (method, _), headers in zip(proxy.requests, proxy.request_headers, strict=True)
    )


@pytest.mark.parametrize("native", [False, True], ids=["presigned", "native"])
def test_a_thousand_mixed_requests_heal_through_chaos(
    chaos_proxy: RecordingProxy, s3_client: Any, s3_bucket: str, prefix: str, native: bool
) -> None:
    rng = random.Random(SEED)
    objects = {}
    for i, size in enumerate(SIZES):
        data = rng.randbytes(size)
        key = f"ro/{i}.bin"
        answer = s3_client.put_object(Bucket=s3_bucket, Key=f"{prefix}/{key}", Body=data)
        objects[key] = Stored(data, answer["ETag"])
    transfer = TransferConfig(native_gets=native)
    registry = s3_registry(chaos_proxy.endpoint, config_kwargs=ONE_ATTEMPT, transfer=transfer)
    run = Run(objstore_adapter.session(registry), f"s3://{s3_bucket}/{prefix}", objects)
    chaos_proxy.chaos = faults = chaos()
    shares = [REQUESTS // THREADS + (i < REQUESTS % THREADS) for i in range(THREADS)]

    started = time.monotonic()
    run_threads(lambda i: worker(run, i, shares[i]), THREADS, 150)
    elapsed = time.monotonic() - started

    counts = dict(sorted(faults.counts.items()))
    healed = resumes(chaos_proxy)
    print(
        f"\n{sum(run.calls.values())} requests ({dict(run.calls)}) in {elapsed:.1f} s, "
        f"{len(chaos_proxy.requests)} reached the proxy, {healed} resumed a body; "
        f"faults: {counts}"
    )
    assert run.errors == [], f"{len(run.errors)} errors reached the caller: {run.errors[:10]}"
    assert sum(run.calls.values()) == REQUESTS
    missing = {name: (counts.get(name, 0), least) for name, least in AT_LEAST.items()}
    assert all(found >= least for found, least in missing.values()), (
        f"faults injected (found, wanted): {missing}"
    )
    if not native:  # obstore hands over bodies up to 1 MiB whole: a cut one is asked again
        assert healed >= counts["cut"] + counts["long_stall: in the body"]


VERSIONS = 8
READERS = 12
READS = 5
HOT_SIZE = 2**20


def test_an_object_replaced_under_many_readers_is_never_spliced(
    chaos_proxy: RecordingProxy, s3_client: Any, s3_bucket: str, prefix: str
) -> None:
    rng = random.Random(SEED)
    versions = [rng.randbytes(HOT_SIZE) for _ in range(VERSIONS)]
    digests = {sha256(data): index for index, data in enumerate(versions)}
    key = f"{prefix}/hot.bin"
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=versions[0])
    session = objstore_adapter.session(s3_registry(chaos_proxy.endpoint, config_kwargs=ONE_ATTEMPT))
    url = f"s3://{s3_bucket}/{key}"
    chaos_proxy.chaos = Chaos(SEED, cut={"GET": 0.5}, stall={"GET": 0.2})
    outcomes: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    reading = threading.Event()
    readers_done = threading.Event()

    def spliced(data: bytes) -> bool:
        """True unless ``data`` is the start of one version."""
        return not any(version.startswith(data) for version in versions)

    def reader(index: int) -> None:
        for _ in range(READS):
            received = bytearray()
            try:
                response = session.get(url, stream=True, timeout=TIMEOUT)
                reading.set()
                for chunk in response.iter_content(64 * 2**10):
                    received += chunk
                    time.sleep(0.005)  # a slow reader: replacements land mid-body
                version = digests.get(sha256(bytes(received)))
                outcome = "spliced" if version is None else f"complete v{version}"
            except requests.exceptions.ChunkedEncodingError:
                outcome = "spliced before the error" if spliced(bytes(received)) else "refused"
            except Exception as exc:
                outcome = f"{type(exc).__name__}: {exc}"[:300]
            with lock:
                outcomes[outcome] += 1

    def writer() -> None:
        reading.wait(30)
        index = 1
        while not readers_done.is_set():
            s3_client.put_object(Bucket=s3_bucket, Key=key, Body=versions[index % VERSIONS])
            index += 1
            readers_done.wait(0.25)

    replacing = threading.Thread(target=writer, daemon=True)
    replacing.start()
    try:
        run_threads(reader, READERS, 90)
    finally:
        readers_done.set()
        replacing.join(10)

    print(f"\noutcomes: {dict(outcomes)}; {resumes(chaos_proxy)} resumes")
    assert sum(outcomes.values()) == READERS * READS
    wrong = {name: n for name, n in outcomes.items() if not name.startswith(("complete", "ref"))}
    assert wrong == {}, f"readers got neither one whole version nor the error: {wrong}"
    assert outcomes["refused"] >= 1, "a resume met a replaced object"
    delivered = [name for name in outcomes if name.startswith("complete")]
    assert len(delivered) >= 2, "readers saw the object replaced"
    # Each refused body ends at one refused resume; the other resumes healed a cut.
    assert resumes(chaos_proxy) - outcomes["refused"] >= 5, "cut bodies healed too"


def test_a_delete_whose_answer_was_lost_is_not_a_404(
    chaos_proxy: RecordingProxy, s3_client: Any, s3_bucket: str, prefix: str
) -> None:
    key = f"{prefix}/doomed.txt"
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    session = objstore_adapter.session(s3_registry(chaos_proxy.endpoint, config_kwargs=ONE_ATTEMPT))
    # Every DELETE's answer is lost (the store removed the object): the adapter settles the
    # lost answer with a HEAD, finds nothing there, and answers 204 without a second DELETE.
    chaos_proxy.chaos = faults = Chaos(4, lost_answer={"DELETE": 1.0}, deck=3)

    response = session.delete(f"s3://{s3_bucket}/{key}", timeout=TIMEOUT)

    if faults.counts["lost_answer"] != 1:
        pytest.fail(f"the proxy was to lose one DELETE answer: {faults.counts}")
    assert response.status_code == 204, chaos_proxy.requests
    deletes = [path for method, path in chaos_proxy.requests if method == "DELETE"]
    assert len(deletes) == 1, chaos_proxy.requests
    listed = s3_client.list_objects_v2(Bucket=s3_bucket, Prefix=key)
    assert listed["KeyCount"] == 0
