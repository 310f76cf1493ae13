"""Sixteen threads share one session on every backend (issue 19).

For a bounded time they GET, GET ranges, PUT (small bodies, create-only and If-Match ones, and
two bodies above ``part_size``), DELETE and list the same four keys. Every answer must be one
the operation allows, every body one whole version written to its key (a range: the right
slice of one), an ETag never names two bodies, and closing the session leaves no file
descriptor or thread behind. ``OBJSTORE_MIXED_SECONDS`` sets the time per backend (4 s by
default; 60 s for a soak, see the testing guide).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable

import pytest
import requests

from ..conftest import BACKENDS, Store

THREADS = 16
KEYS = [f"mixed/k{index}.bin" for index in range(4)]
SECONDS = float(os.environ.get("OBJSTORE_MIXED_SECONDS", "4"))
LARGE_SIZE = 7 * 2**20  # above the default part_size (6 MiB): a multipart upload, or blocks
LARGE_PUTS = 2  # per run: each costs 7 MiB of memory and a few hundred ms
SMALL_SIZES = (1024, 8192)  # every range asked for starts below 1024, so none is a 416
PART = 4 * 2**20  # the smallest part a GET reads in one request (download_part_size, Azure's)
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class Written:
    """Every body ever sent to each key, and which body each ETag was seen with."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: dict[str, dict[bytes, bytes]] = {key: {} for key in KEYS}
        self._by_length: dict[tuple[str, int], list[bytes]] = {}
        self._etags: dict[str, bytes] = {}
        self._recent: dict[str, str] = {}

    def add(self, key: str, body: bytes) -> None:
        """Record ``body`` before it is sent: a reader may see it before the PUT answers."""
        with self._lock:
            self._bodies[key][hashlib.sha256(body).digest()] = body
            self._by_length.setdefault((key, len(body)), []).append(body)

    def holds(self, key: str, body: bytes) -> bool:
        digest = hashlib.sha256(body).digest()
        with self._lock:
            return digest in self._bodies[key]

    def slice_of_one(self, key: str, start: int, stop: int, total: int, body: bytes) -> bool:
        with self._lock:
            candidates = list(self._by_length.get((key, total), ()))
        return any(version[start:stop] == body for version in candidates)

    def sizes(self, key: str) -> set[int]:
        with self._lock:
            return {size for (name, size) in self._by_length if name == key}

    def etag_names_one_body(self, key: str, etag: str, body: bytes) -> bool:
        digest = hashlib.sha256(body).digest()
        with self._lock:
            self._recent[key] = etag
            return self._etags.setdefault(f"{key} {etag}", digest) == digest

    def recent_etag(self, key: str) -> str | None:
        with self._lock:
            return self._recent.get(key)


def _threads() -> int:
    """Threads running, but those of asyncio's default executors: a pool that grows to its
    bound (cores + 4) under load and keeps its threads (asyncssh resolves and reads files
    in one: sshfs's runs grew it by one or two now and then)."""
    return sum(not thread.name.startswith("asyncio_") for thread in threading.enumerate())


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _small_body(rng: random.Random, label: str) -> bytes:
    size = rng.randint(*SMALL_SIZES)
    head = f"{label};".encode()
    return (head * (size // len(head) + 1))[:size]


def _run(store: Store, seconds: float, written: Written, large_puts: int) -> dict[str, int]:
    """Mixed operations from THREADS threads for ``seconds``; returns counts by operation."""
    session = store.session
    deadline = time.monotonic() + seconds
    errors: list[str] = []
    counts: dict[str, int] = {}
    counts_lock = threading.Lock()
    larges = iter(range(large_puts))
    larges_lock = threading.Lock()

    def worker(thread: int) -> None:
        rng = random.Random(thread * 7919 + int(seconds * 1000))
        serial = 0
        while time.monotonic() < deadline:
            key = rng.choice(KEYS)
            url = store.url(key)
            with larges_lock:
                large = next(larges, None) if thread < large_puts else None
            kind = "large" if large is not None else _pick(rng)
            serial += 1
            try:
                problem = OPERATIONS[kind](
                    session, store, written, key, url, rng, f"{thread}.{serial}"
                )
            except Exception as exc:
                problem = f"raised {exc!r}"
            with counts_lock:
                counts[kind] = counts.get(kind, 0) + 1
            if problem:
                errors.append(f"{kind} {key}: {problem}")

    # Daemons, waited for until one deadline: threads that stopped making progress fail the
    # test, and neither hold the suite nor keep its process from ending.
    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    give_up = time.monotonic() + seconds + 120
    for thread in threads:
        thread.join(max(0.0, give_up - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a worker never finished"
    assert errors == [], f"{len(errors)} bad answers of {sum(counts.values())}: {errors[:10]}"
    return counts


WEIGHTS = {"get": 30, "range": 20, "put": 20, "create": 5, "replace": 5, "delete": 10, "list": 10}


def _pick(rng: random.Random) -> str:
    return rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]


def _get(
    session: requests.Session,
    store: Store,
    written: Written,
    key: str,
    url: str,
    rng: random.Random,
    label: str,
) -> str | None:
    with session.get(url, stream=True) as answer:
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            return f"status {answer.status_code}: {answer.text[:200]}"
        try:
            body = answer.content
        except requests.exceptions.ChunkedEncodingError as exc:
            # Past its first part a body is read in requests pinned to its version: if that
            # version is replaced or deleted meanwhile, the reader gets an error, by design.
            if int(answer.headers["Content-Length"]) > PART:
                return None
            return f"a body of {answer.headers['Content-Length']} bytes failed: {exc}"
    if answer.headers.get("Content-Length") != str(len(body)):
        return f"Content-Length {answer.headers.get('Content-Length')} for {len(body)} bytes"
    if not written.holds(key, body):
        return f"200 with {len(body)} bytes that are no version written ({body[:40]!r})"
    etag = answer.headers.get("ETag")
    if etag is not None and not written.etag_names_one_body(key, etag, body):
        return f"ETag {etag} seen with two different bodies"
    return None


def _range(
    session: requests.Session,
    store: Store,
    written: Written,
    key: str,
    url: str,
    rng: random.Random,
    label: str,
) -> str | None:
    start = rng.randrange(0, SMALL_SIZES[0])
    last = start + rng.randrange(0, 4096)
    answer = session.get(url, headers={"Range": f"bytes={start}-{last}"})
    if answer.status_code == 404:
        return None
    if answer.status_code != 206:
        return f"status {answer.status_code} for bytes={start}-{last}: {answer.text[:200]}"
    body = answer.content
    match = CONTENT_RANGE.fullmatch(answer.headers.get("Content-Range", ""))
    if match is None:
        return f"Content-Range {answer.headers.get('Content-Range')!r}"
    first, final, total = (int(group) for group in match.groups())
    if first != start or final != min(last, total - 1):
        return f"Content-Range {match.group(0)} for bytes={start}-{last}"
    if answer.headers.get("Content-Length") != str(len(body)) or len(body) != final - first + 1:
        return f"Content-Length {answer.headers.get('Content-Length')}, {len(body)} bytes"
    if not written.slice_of_one(key, first, final + 1, total, body):
        return f"206 {match.group(0)} whose bytes are no slice of one version"
    return None


def _put(
    session: requests.Session,
    store: Store,
    written: Written,
    key: str,
    url: str,
    rng: random.Random,
    label: str,
) -> str | None:
    body = _small_body(rng, label)
    written.add(key, body)
    answer = session.put(url, data=body)
    return None if answer.status_code == 200 else f"status {answer.status_code}: {answer.text}"


def _large(
    session: requests.Session,
    store: Store,
    written: Written,
    key: str,
    url: str,
    rng: random.Random,
    label: str,
) -> str | None:
    body = label.encode() + os.urandom(LARGE_SIZE - len(label))
    written.add(key, body)
    answer = session.put(url, data=body)
    if answer.status_code == 503 and store.name == "az":
        # Azure discards a blob's staged blocks when another write to it commits: the
        # multipart PUT that loses is told to send again (a 503), never stored in part.
        return None
    return None if answer.status_code == 200 else f"status {answer.status_code}: {answer.text}"


def _create(
    session: requests.Session,
    store: Store,
    written: Written,
    key: str,
    url: str,
    rng: random.Random,
    label: str,
) -> str | None:
    body = _small_body(rng, label)
    written.add(key, body)
    answer = session.put(url, data=body, headers={"If-None-Match": "*"})
    if answer.status_code in (201, 412):
        return None
    return f"status {answer.status_code}: {answer.text[:300]}"


def _replace(
    session: requests.Session,
    store: Store,
    written: Written,
    key: str,
    url: str,
    rng: random.Random,
    label: str,
) -> str | None:
    etag = written.recent_etag(key)
    if etag is None:
        return None
    body = _small_body(rng, label)
    written.add(key, body)
    answer = session.put(url, data=body, headers={"If-Match": etag})
    if answer.status_code in (204, 412):
        return None
    return f"status {answer.status_code}: {answer.text[:300]}"


def _delete(
    session: requests.Session,
    store: Store,
    written: Written,
    key: str,
    url: str,
    rng: random.Random,
    label: str,
) -> str | None:
    answer = session.delete(url)
    return None if answer.status_code == 204 else f"status {answer.status_code}: {answer.text}"


def _list(
    session: requests.Session,
    store: Store,
    written: Written,
    key: str,
    url: str,
    rng: random.Random,
    label: str,
) -> str | None:
    answer = session.get(store.url("mixed/"))
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        return f"status {answer.status_code}: {answer.text[:200]}"
    entries = json.loads(answer.content)["entries"]
    for entry in entries:
        name = f"mixed/{entry['name']}"
        if name not in KEYS or entry["type"] != "file":
            return f"listed {entry!r}"
        if entry.get("size") is not None and entry["size"] not in written.sizes(name):
            return f"listed {name} with size {entry['size']}, no version's"
    return None


OPERATIONS: dict[str, Callable[..., str | None]] = {
    "get": _get,
    "range": _range,
    "put": _put,
    "large": _large,
    "create": _create,
    "replace": _replace,
    "delete": _delete,
    "list": _list,
}


#: Why HTTP is not put under this load: half of it would be refused (405), by design.
HTTP_CANNOT = "fsspec's HTTP filesystem has no DELETE and sends no body over one block"
#: wsgidav's own failure under this load, which a retry policy can only make rare.
WSGIDAV_500 = (
    "wsgidav answers 500 to a PROPFIND of a file being deleted or replaced (FileNotFoundError "
    "in get_etag): 46 of 820 PROPFINDs in one run. Each is tried again as the route allows; "
    "on a loaded machine, one request in a run now and then meets it every time (502)"
)


@pytest.mark.parametrize(
    "name",
    [
        *BACKENDS,
        *["ftp", "sshfs", "paramiko"],
        pytest.param("webdav", marks=pytest.mark.xfail(strict=False, reason=WSGIDAV_500)),
        pytest.param("http", marks=pytest.mark.skip(reason=HTTP_CANNOT)),
    ],
)
def test_sixteen_threads_mixed_on_few_keys(request: pytest.FixtureRequest, name: str) -> None:
    store: Store = request.getfixturevalue(f"{name}_store")
    written = Written()
    _run(store, 0.5, written, 0)  # warm up: clients, pools and SDK event-loop threads exist
    gc.collect()
    fds_before, threads_before = _open_fds(), _threads()

    started = time.monotonic()
    counts = _run(store, SECONDS, written, LARGE_PUTS)
    elapsed = time.monotonic() - started
    store.session.close()
    gc.collect()
    time.sleep(0.2)  # an SDK's loop closes the connections the session dropped
    # A client's own threads (paramiko's transports) end after close() returns: on a loaded
    # machine one outlived the 0.2 s. A leaked one never ends; a closing one, within seconds.
    deadline = time.monotonic() + 5
    while _threads() > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    fds_after, threads_after = _open_fds(), _threads()

    print(
        f"{store.name}: {sum(counts.values())} operations {dict(sorted(counts.items()))} "
        f"by {THREADS} threads in {elapsed:.1f} s; fds {fds_before} -> {fds_after}, "
        f"threads {threads_before} -> {threads_after}"
    )
    assert counts.get("large") == LARGE_PUTS
    # An SDK's pool may keep a connection per thread that ran at once (Azure's did: 37 -> 42
    # in one CI run); a leak per request would leave hundreds from the thousands made.
    assert fds_after <= fds_before + THREADS, (
        f"file descriptors left open: {fds_before} -> {fds_after}"
    )
    assert threads_after <= threads_before, f"threads left: {threads_before} -> {threads_after}"
