"""Parallel uploads on real local stores: parts sent at once, memory bounded, all or nothing."""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from objstore_adapter import TransferConfig
from objstore_adapter._backends.azure import AzureBackend, AzureBlocks
from objstore_adapter._backends.s3 import S3Backend
from objstore_adapter._backends.s3.parts import S3Parts
from objstore_adapter._body import UPLOAD_CHUNK
from objstore_adapter._errors import BodySourceError, outcome_for
from objstore_adapter._http import Timeouts, representation
from objstore_adapter._info import ObjectInfo
from objstore_adapter._registry import SchemeRegistry
from objstore_adapter._transfer import Attempts
from objstore_adapter._transfer.upload import (
    PARTS_PER_SIZE,
    FileSlice,
    file_body,
    iter_parts,
    part_size_of,
    upload_parts,
)

from .._proxy import RecordingProxy
from ..conftest import (
    Store,
    az_registry,
    azurite_connection_string,
    proxied_store,
    s3_registry,
)

MiB = 2**20
PART = 5 * MiB  # S3's smallest part: tests stay small and still have several parts
TIMEOUTS = Timeouts(request=30, read=30, connect=10)
HEADERS = {
    "Content-Type": "application/x-parquet",
    "Cache-Control": "max-age=60",
    "Content-Disposition": 'attachment; filename="big.bin"',
    "X-Object-Meta-Owner": "tests",
}


def chunks_of(data: bytes, size: int = MiB) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def filesystem(registry: SchemeRegistry, url: str) -> tuple[Any, str]:
    route = registry.route_for(url)
    fs: Any = registry.filesystem(route)
    path = url.split("://", 1)[1]
    return fs, path


def s3_parts(registry: SchemeRegistry, url: str) -> S3Parts:
    fs, path = filesystem(registry, url)
    options = S3Backend().write_options(representation(HEADERS, path))
    return S3Parts(fs, path, options, TIMEOUTS)


def az_blocks(registry: SchemeRegistry, url: str) -> AzureBlocks:
    fs, path = filesystem(registry, url)
    options = AzureBackend().write_options(representation(HEADERS, path))
    return AzureBlocks(fs, path, options, TIMEOUTS)


def key_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1]


class BodyFailed(Exception):
    pass


def failing_after(data: bytes, good: int) -> Iterator[bytes]:
    yield from chunks_of(data[:good])
    raise BodyFailed("the caller's body broke")


class OverlapCounter:
    """Wraps a proxy's handler to count part uploads (PUTs) in progress at the same time."""

    def __init__(self, proxy: RecordingProxy) -> None:
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()
        counter = self
        server: Any = proxy._server
        base = server.RequestHandlerClass

        class Counting(base):  # type: ignore[misc,valid-type]
            def do_PUT(self) -> None:
                with counter._lock:
                    counter.now += 1
                    counter.most = max(counter.most, counter.now)
                try:
                    super().do_PUT()
                finally:
                    with counter._lock:
                        counter.now -= 1

        server.RequestHandlerClass = Counting


# --- cutting the body into parts ---------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 1000, PART - 1, PART, 3 * PART + 7])
def test_parts_are_the_body_in_order_each_full_but_the_last(chunk: int) -> None:
    data = os.urandom(3 * PART + 12345)
    parts = list(iter_parts(chunks_of(data, chunk), PART))
    assert b"".join(parts) == data
    assert [len(p) for p in parts] == [PART, PART, PART, 12345]


def test_an_empty_body_is_one_empty_part() -> None:
    assert list(iter_parts(iter([]), PART)) == [b""]


def test_parts_grow_so_ten_thousand_reach_the_largest_object() -> None:
    # S3 takes 10,000 parts at most: part sizes double every PARTS_PER_SIZE parts.
    data = os.urandom(10 * PARTS_PER_SIZE + 20 * PARTS_PER_SIZE + 7)
    parts = list(iter_parts(chunks_of(data, 3), 10))
    assert b"".join(parts) == data
    sizes = [len(p) for p in parts]
    assert sizes == [10] * PARTS_PER_SIZE + [20] * PARTS_PER_SIZE + [7]
    default = TransferConfig().part_size
    assert sum(part_size_of(n, default) for n in range(1, 10_001)) >= 5 * 2**40
    assert part_size_of(10_000, default) <= 4000 * MiB


# --- S3: a multipart upload, parts in parallel -------------------------------------------------


def test_s3_parallel_upload_round_trips_with_its_stored_headers(
    s3_store: Store, s3_client: Any, s3_bucket: str
) -> None:
    data = os.urandom(3 * PART + 4321)
    url = s3_store.url("big.bin")
    config = TransferConfig(part_size=PART, max_concurrency=3)

    sent = upload_parts(s3_parts(s3_store.registry, url), chunks_of(data), Attempts(config))

    assert sent is not None
    assert sent.etag is not None
    assert sent.etag.endswith('-4"')
    stored = s3_client.get_object(Bucket=s3_bucket, Key=key_of(url))
    body = stored["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    assert stored["ContentType"] == "application/x-parquet"
    assert stored["CacheControl"] == "max-age=60"
    assert stored["ContentDisposition"] == 'attachment; filename="big.bin"'
    assert stored["Metadata"] == {"owner": "tests"}
    assert stored["ETag"].endswith('-4"'), "not stored as a multipart upload of 4 parts"


def test_s3_parts_are_really_sent_at_once(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    counter = OverlapCounter(proxy)
    registry = s3_registry(proxy.endpoint)
    url = f"s3://{s3_bucket}/upload/concurrent.bin"
    data = os.urandom(8 * PART)
    config = TransferConfig(part_size=PART, max_concurrency=4)

    upload_parts(s3_parts(registry, url), chunks_of(data), Attempts(config))

    parts = [path for method, path in proxy.requests if method == "PUT" and "partNumber" in path]
    assert len(parts) == 8
    assert counter.most == 4, f"at most {counter.most} part(s) in flight at once"
    body = s3_client.get_object(Bucket=s3_bucket, Key=key_of(url))["Body"].read()
    assert body == data


def test_s3_upload_holds_at_most_concurrency_plus_one_parts(
    s3_store: Store, s3_client: Any, s3_bucket: str
) -> None:
    size = 16 * PART
    url = s3_store.url("memory.bin")
    config = TransferConfig(part_size=PART, max_concurrency=2)
    # Warm up: the client and its service models (~10 MiB) are built once per filesystem.
    upload_parts(s3_parts(s3_store.registry, url), iter([b"warm"]), Attempts(config))
    parts = s3_parts(s3_store.registry, url)
    digest = hashlib.sha256()

    def generated() -> Iterator[bytes]:  # made as read: the body itself is never all in memory
        for i in range(size // MiB):
            chunk = i.to_bytes(4, "big") * (MiB // 4)
            digest.update(chunk)
            yield chunk

    tracemalloc.start()
    try:
        upload_parts(parts, generated(), Attempts(config))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # 2 parts in flight, 1 being gathered, 1 being copied out of the gathering buffer.
    assert peak < (config.max_concurrency + 2) * PART + 2 * MiB, f"peak {peak / MiB:.1f} MiB"
    body = s3_client.get_object(Bucket=s3_bucket, Key=key_of(url))["Body"].read()
    assert hashlib.sha256(body).digest() == digest.digest()


def test_s3_a_body_failing_part_way_leaves_no_object_and_no_upload(
    s3_store: Store, s3_client: Any, s3_bucket: str
) -> None:
    url = s3_store.url("broken-body.bin")
    config = TransferConfig(part_size=PART, max_concurrency=2)

    with pytest.raises(BodyFailed):
        upload_parts(
            s3_parts(s3_store.registry, url),
            failing_after(os.urandom(4 * PART), 3 * PART),
            Attempts(config),
        )

    key = key_of(url)
    assert s3_client.list_objects_v2(Bucket=s3_bucket, Prefix=key).get("KeyCount") == 0
    uploads = s3_client.list_multipart_uploads(Bucket=s3_bucket, Prefix=key)
    assert uploads.get("Uploads", []) == [], "an aborted multipart upload was left behind"


def test_s3_a_store_failing_a_part_leaves_no_object_and_no_upload(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    registry = s3_registry(proxy.endpoint, config_kwargs={"retries": {"total_max_attempts": 1}})
    url = f"s3://{s3_bucket}/upload/store-fails.bin"
    config = TransferConfig(part_size=PART, max_concurrency=3, max_attempts=2, backoff_base=0)
    proxy.answer(500, times=None, methods=("PUT",), skip=2)  # parts 3 and on always fail

    # A presigned part answered 500 gets s3fs's second opinion (moto answers 500 to keys it
    # refuses), which the store fails too.
    with pytest.raises(OSError, match=r"the store answered 500|Internal Server Error"):
        upload_parts(s3_parts(registry, url), chunks_of(os.urandom(6 * PART)), Attempts(config))

    key = key_of(url)
    assert s3_client.list_objects_v2(Bucket=s3_bucket, Prefix=key).get("KeyCount") == 0
    uploads = s3_client.list_multipart_uploads(Bucket=s3_bucket, Prefix=key)
    assert uploads.get("Uploads", []) == [], "an aborted multipart upload was left behind"


def test_s3_a_part_the_store_refuses_once_is_sent_again(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    registry = s3_registry(proxy.endpoint)
    url = f"s3://{s3_bucket}/upload/healed.bin"
    data = os.urandom(3 * PART)
    config = TransferConfig(part_size=PART, max_concurrency=3, backoff_base=0.01)
    proxy.answer(503, {"Retry-After": "0"}, times=1, methods=("PUT",))

    upload_parts(s3_parts(registry, url), chunks_of(data), Attempts(config))

    parts = [path for method, path in proxy.requests if method == "PUT" and "partNumber" in path]
    assert len(parts) == 4, "the refused part was not sent again"
    assert s3_client.get_object(Bucket=s3_bucket, Key=key_of(url))["Body"].read() == data


# --- Azure: blocks staged in parallel, one commit ----------------------------------------------


def container_client(azurite_endpoint: str, az_container: str) -> Any:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite_connection_string(azurite_endpoint))
    return service.get_container_client(az_container)


def test_az_parallel_upload_round_trips_with_its_stored_headers(
    az_store: Store, azurite_endpoint: str, az_container: str
) -> None:
    data = os.urandom(3 * PART + 99)
    url = az_store.url("big.bin")
    config = TransferConfig(part_size=PART, max_concurrency=3)

    sent = upload_parts(az_blocks(az_store.registry, url), chunks_of(data), Attempts(config))
    assert sent is not None
    assert sent.etag is not None

    blob = container_client(azurite_endpoint, az_container).get_blob_client(key_of(url))
    body = blob.download_blob().readall()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    props = blob.get_blob_properties()
    assert props.content_settings.content_type == "application/x-parquet"
    assert props.content_settings.cache_control == "max-age=60"
    assert props.content_settings.content_disposition == 'attachment; filename="big.bin"'
    assert props.metadata == {"owner": "tests"}
    assert len(blob.get_block_list("committed")[0]) == 4


def test_az_blocks_are_really_staged_at_once(
    request: pytest.FixtureRequest, azurite_endpoint: str, az_container: str
) -> None:
    port = int(azurite_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        counter = OverlapCounter(proxy)
        registry = az_registry(proxy.endpoint)
        url = f"az://{az_container}/upload/concurrent.bin"
        data = os.urandom(8 * PART)

        upload_parts(
            az_blocks(registry, url),
            chunks_of(data),
            Attempts(TransferConfig(part_size=PART, max_concurrency=4)),
        )

        blocks = [path for method, path in proxy.requests if "blockid=" in path]
        assert len(blocks) == 8
        assert counter.most == 4, f"at most {counter.most} block(s) in flight at once"
    blob = container_client(azurite_endpoint, az_container).get_blob_client(key_of(url))
    assert blob.download_blob().readall() == data


def test_az_a_body_failing_part_way_leaves_no_blob_and_no_uncommitted_blocks(
    az_store: Store, azurite_endpoint: str, az_container: str
) -> None:
    url = az_store.url("broken-body.bin")
    config = TransferConfig(part_size=PART, max_concurrency=2)

    with pytest.raises(BodyFailed):
        upload_parts(
            az_blocks(az_store.registry, url),
            failing_after(os.urandom(4 * PART), 3 * PART),
            Attempts(config),
        )

    container = container_client(azurite_endpoint, az_container)
    found = list(container.list_blobs(name_starts_with=key_of(url), include=["uncommittedblobs"]))
    assert found == [], "the failed upload left a blob or uncommitted blocks"


def test_az_a_failed_replacement_keeps_the_blob_as_it_was(
    az_store: Store, azurite_endpoint: str, az_container: str
) -> None:
    url = az_store.url("kept.bin")
    az_store.write("kept.bin", b"the original", "text/plain")
    config = TransferConfig(part_size=PART, max_concurrency=2)

    with pytest.raises(BodyFailed):
        upload_parts(
            az_blocks(az_store.registry, url),
            failing_after(os.urandom(4 * PART), 2 * PART),
            Attempts(config),
        )

    blob = container_client(azurite_endpoint, az_container).get_blob_client(key_of(url))
    assert blob.download_blob().readall() == b"the original"
    assert blob.get_blob_properties().content_settings.content_type == "text/plain"


# --- a file body: each part read from the file as it is sent -----------------------------------


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "body.bin"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", ["s3", "seaweed", "gs", "az"])
def test_a_file_body_is_uploaded_from_where_it_stands(
    request: pytest.FixtureRequest, name: str, tmp_path: Path
) -> None:
    store: Store = request.getfixturevalue(f"{name}_store")
    store.registry.register(
        store.url("files/"), transfer=TransferConfig(part_size=PART, max_concurrency=3)
    )
    data = os.urandom(3 * PART + 777)

    with _file(tmp_path, data).open("rb") as body:
        body.read(100)  # requests sends a file from its position on, as over HTTP
        response = store.session.put(store.url("files/body.bin"), data=body, timeout=60)

    assert response.status_code == 200, response.text
    assert store.session.get(store.url("files/body.bin"), timeout=60).content == data[100:]


def test_a_file_body_is_never_held_in_memory(seaweed_store: Store, tmp_path: Path) -> None:
    config = TransferConfig(part_size=PART, max_concurrency=4)
    seaweed_store.registry.register(seaweed_store.url("files/"), transfer=config)
    path = _file(tmp_path, os.urandom(2 * PART + 1))
    with path.open("rb") as body:  # a first upload in parts loads what the SDKs keep
        seaweed_store.session.put(seaweed_store.url("files/warm.bin"), data=body, timeout=60)
    path.write_bytes(os.urandom(12 * PART))

    with path.open("rb") as body:
        tracemalloc.start()
        try:
            response = seaweed_store.session.put(
                seaweed_store.url("files/big.bin"), data=body, timeout=60
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert response.status_code == 200, response.text
    # Parts held until sent would be five parts here (25 MiB); read as they are sent, the
    # four in flight hold a 1 MiB piece each.
    assert peak < 2 * PART, f"peak {peak / MiB:.1f} MiB"


def test_a_file_that_shrinks_mid_upload_fails_and_leaves_no_object(
    request: pytest.FixtureRequest, tmp_path: Path, s3_client: Any, s3_bucket: str
) -> None:
    config = TransferConfig(part_size=PART, max_concurrency=1)
    with proxied_store(request, "s3", transfer=config) as proxied:
        path = _file(tmp_path, os.urandom(4 * PART))
        url = proxied.url("files/shrinking.bin")

        def cut_the_file_short(method: str, path_and_query: str) -> None:
            if method == "PUT" and "partNumber=1&" in path_and_query + "&":
                os.truncate(path, MiB)  # while the first part is on its way

        proxied.proxy.on_request = cut_the_file_short
        with path.open("rb") as body, pytest.raises(EOFError, match="early"):
            proxied.session.put(url, data=body, timeout=60)

    key = key_of(url)
    assert "Contents" not in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix=key)
    assert "Uploads" not in s3_client.list_multipart_uploads(Bucket=s3_bucket, Prefix=key)


def test_az_blocks_discarded_by_another_write_are_a_503_to_send_again(
    az_store: Store, azurite_endpoint: str, az_container: str
) -> None:
    # Azure discards a blob's uncommitted blocks when another write to it commits: the
    # upload that loses cannot commit, and is told to send again, never stored in part.
    url = az_store.url("contested.bin")
    blocks = az_blocks(az_store.registry, url)
    blocks.begin()
    tokens = [blocks.send(n, os.urandom(1024)) for n in (1, 2)]
    other = container_client(azurite_endpoint, az_container).get_blob_client(key_of(url))
    other.commit_block_list([])  # another writer commits this blob meanwhile

    with pytest.raises(OSError, match="the store answered 503") as caught:
        blocks.commit(tokens)

    assert outcome_for(caught.value) == 503
    assert other.get_blob_properties().size == 0, "the other writer's blob is untouched"


# --- upload_parts and FileSlice on their own, with a part store kept in memory ----------------


#: What the store's answer to a commit gave; what asking it after a lost answer gives.
STORED, FOUND = ObjectInfo(size=0, etag='"stored"'), ObjectInfo(size=0, etag='"found"')


class PartsInMemory:
    """A :class:`PartStore` that keeps the parts in a dict: what ``upload_parts`` hands it,
    from which thread, how many sends run at once, and what was committed."""

    def __init__(self, takes_buffers: bool = True) -> None:
        self.takes_buffers = takes_buffers
        self.parts: dict[int, Any] = {}
        self.threads: set[str] = set()
        self.committed_tokens: list[str] | None = None
        self.commits = 0
        self.aborted = False
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    def begin(self) -> None:
        pass

    def send(self, number: int, data: Any) -> str:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.threads.add(threading.current_thread().name)
            self.parts[number] = data
        try:
            self._wait(number)
        finally:
            with self._lock:
                self.running -= 1
        return f"token-{number}"

    def _wait(self, number: int) -> None:
        """How long part ``number`` takes to send: at once, unless a test says otherwise."""

    def commit(self, tokens: list[str]) -> ObjectInfo | None:
        self.commits += 1
        self.committed_tokens = tokens
        return STORED

    def committed(self, tokens: list[str]) -> ObjectInfo | None:
        return FOUND if self.committed_tokens == tokens else None

    def abort(self) -> None:
        self.aborted = True


def _attempts(**settings: Any) -> Attempts:
    return Attempts(TransferConfig(backoff_base=0, **settings))


def _sparse_file(tmp_path: Path, size: int) -> int:
    path = tmp_path / "sparse.bin"
    with path.open("wb") as file:
        file.truncate(size)  # no blocks written: a large body that costs nothing
    return os.open(path, os.O_RDONLY)


def test_parts_are_sent_from_the_upload_threads_at_max_concurrency(tmp_path: Path) -> None:
    # Eight at once: more than a thread pool's default on a small machine (CPUs + 4).
    class Gathering(PartsInMemory):
        def _wait(self, number: int) -> None:  # until eight sends run at once (or 5 s)
            deadline = time.monotonic() + 5
            while self.peak < 8 and time.monotonic() < deadline:
                time.sleep(0.01)

    store = Gathering()
    fd = _sparse_file(tmp_path, 16 * PART)
    try:
        answer = upload_parts(
            store, FileSlice(fd, 0, 16 * PART), _attempts(part_size=PART, max_concurrency=8)
        )
    finally:
        os.close(fd)
    assert answer == STORED
    assert store.peak == 8
    assert store.committed_tokens == [f"token-{n}" for n in range(1, 17)]
    assert store.threads
    assert all(name.startswith("objstore-upload") for name in store.threads)


def test_while_the_parts_in_flight_are_sent_one_more_is_read_and_no_more() -> None:
    release = threading.Event()
    read = []

    class Held(PartsInMemory):
        def _wait(self, number: int) -> None:
            release.wait(10)

    def body() -> Iterator[bytes]:
        for number in range(6):
            read.append(number)
            yield bytes(PART)

    store = Held()
    done: list[Any] = []
    worker = threading.Thread(
        target=lambda: done.append(
            upload_parts(store, body(), _attempts(part_size=PART, max_concurrency=2))
        )
    )
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while (store.running < 2 or len(read) < 3) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # time for the body to be read further, if it were
        assert len(read) == 3  # two parts being sent, one waiting for a place
    finally:
        release.set()
        worker.join(30)
    assert done == [STORED]


def test_a_part_done_early_makes_room_for_the_next_at_once() -> None:
    """Part 1 is sent only once part 3 has started: the upload must not wait for every part
    in flight before it sends the next."""
    third_started = threading.Event()

    class Ordered(PartsInMemory):
        def _wait(self, number: int) -> None:
            if number == 3:
                third_started.set()
            if number == 1 and not third_started.wait(10):
                raise TimeoutError("part 3 never started while part 1 was being sent")

    store = Ordered()
    body = (bytes(PART) for _ in range(4))
    assert upload_parts(store, body, _attempts(part_size=PART, max_concurrency=2)) == STORED
    assert sorted(store.parts) == [1, 2, 3, 4]


@pytest.mark.parametrize("takes_buffers", [True, False])
def test_a_store_that_does_not_take_buffers_gets_bytes(takes_buffers: bool) -> None:
    store = PartsInMemory(takes_buffers=takes_buffers)
    body = (bytes(PART) for _ in range(2))
    upload_parts(store, body, _attempts(part_size=PART))
    kinds = {type(part) for part in store.parts.values()}
    assert kinds == ({bytearray} if takes_buffers else {bytes})


def test_a_commit_whose_answer_was_lost_is_settled_by_asking_not_sent_again() -> None:
    class LostAnswer(PartsInMemory):
        def commit(self, tokens: list[str]) -> ObjectInfo | None:
            super().commit(tokens)
            raise ConnectionResetError(104, "the answer to the commit was lost")

    store = LostAnswer()
    body = (bytes(PART) for _ in range(2))
    assert upload_parts(store, body, _attempts(part_size=PART, max_attempts=3)) == FOUND
    assert store.commits == 1
    assert not store.aborted


def test_a_failing_abort_does_not_hide_the_failure_that_ended_the_upload() -> None:
    class Failing(PartsInMemory):
        def send(self, number: int, data: Any) -> str:
            raise ValueError(f"part {number} refused")

        def abort(self) -> None:
            raise RuntimeError("abort failed too")

    with pytest.raises(ValueError, match="refused"):
        upload_parts(Failing(), (bytes(PART) for _ in range(2)), _attempts(part_size=PART))


def test_a_file_slice_reads_its_own_bytes_a_chunk_at_a_time(tmp_path: Path) -> None:
    data = os.urandom(2 * UPLOAD_CHUNK + 100)
    fd = os.open(_file(tmp_path, data), os.O_RDONLY)
    try:
        whole = FileSlice(fd, 3, 2 * UPLOAD_CHUNK + 10)
        pieces = list(itertools.islice(whole.pieces(), 5))
        assert [len(piece) for piece in pieces] == [UPLOAD_CHUNK, UPLOAD_CHUNK, 10]
        assert b"".join(pieces) == data[3 : 3 + 2 * UPLOAD_CHUNK + 10]
        assert whole.read() == b"".join(pieces)
        assert FileSlice(fd, 5, 7).read() == data[5:12]
    finally:
        os.close(fd)


def test_a_file_that_ended_early_says_by_how_much(tmp_path: Path) -> None:
    fd = os.open(_file(tmp_path, b"x" * 100), os.O_RDONLY)
    try:
        with pytest.raises(BodySourceError) as raised:
            FileSlice(fd, 0, 150).read()
    finally:
        os.close(fd)
    assert "ended 50 bytes early" in str(raised.value.original)


def test_a_file_that_cannot_be_read_is_the_callers_error(tmp_path: Path) -> None:
    fd = os.open(_file(tmp_path, b"x" * 10), os.O_RDONLY)
    os.close(fd)  # a read now fails with EBADF
    with pytest.raises(BodySourceError) as raised:
        FileSlice(fd, 0, 10).read()
    assert isinstance(raised.value.original, OSError)


def test_a_file_slice_is_split_as_a_stream_is_cut(tmp_path: Path) -> None:
    # Past PARTS_PER_SIZE parts the size doubles: the same for a file as for a stream.
    length = PARTS_PER_SIZE + 5
    fd = _sparse_file(tmp_path, length + 4)
    try:
        sizes = [part.length for part in FileSlice(fd, 4, length).split(1)]
    finally:
        os.close(fd)
    assert sizes == [len(part) for part in iter_parts([bytes(length)], 1)]
    assert sizes == [1] * PARTS_PER_SIZE + [2, 2, 1]


def test_a_file_body_starts_where_the_file_stands(tmp_path: Path) -> None:
    path = _file(tmp_path, b"0123456789")
    with path.open("rb") as file:
        file.seek(3)
        body = file_body(file)
        assert body is not None
        assert (body.offset, body.length, body.read()) == (3, 7, b"3456789")
        file.seek(0, os.SEEK_END)
        at_end = file_body(file)
        assert at_end is not None
        assert at_end.length == 0
