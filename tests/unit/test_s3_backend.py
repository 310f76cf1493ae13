"""S3Backend on moto, method by method: which request each sends (presigned from this thread,
or through s3fs when the store refuses the URL or the filesystem cannot presign), and what
the store's answer becomes (metadata, a body, a 412, VersionChanged)."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import s3fs

from objstore_adapter import TransferConfig
from objstore_adapter._backends.s3 import native as _native
from objstore_adapter._backends.s3.backend import NATIVE_PREFIX, S3Backend, s3_condition
from objstore_adapter._backends.s3.parts import S3Parts
from objstore_adapter._errors import store_answer
from objstore_adapter._http import ByteRange, Timeouts, WriteCondition
from objstore_adapter._info import ObjectInfo, Representation
from objstore_adapter._transfer import VersionChanged

from .._proxy import RecordingProxy
from ..conftest import S3_KEY, S3_SECRET, read_exactly

TIMEOUTS = Timeouts(request=10, read=10, connect=5)
#: As for a GET read at once (``stream=False``), the only kind obstore is asked.
READ_AT_ONCE = dataclasses.replace(TIMEOUTS, whole=_native.WHOLE_BODY)
#: What moto, like an emulator without query-string auth, may answer a URL it refuses.
REFUSED = (400, {"Content-Type": "application/xml"}, b"<Error><Code>Refused</Code></Error>")


def _fs(endpoint: str, **options: Any) -> Any:
    # Each filesystem unequal to any before it: s3fs compares them by their options, and the
    # caches keyed by filesystem must not hand this one what an earlier test left.
    config = {"user_agent_extra": uuid.uuid4().hex, **options.pop("config_kwargs", {})}
    fs = s3fs.S3FileSystem(
        endpoint_url=endpoint,
        key=S3_KEY,
        secret=S3_SECRET,
        skip_instance_cache=True,
        config_kwargs=config,
        **options,
    )
    S3Backend().configure(fs)
    return fs


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[RecordingProxy]:
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        yield proxy


@pytest.fixture
def key(s3_client: Any, s3_bucket: str) -> str:
    """A key holding ``0123456789`` as text/x-digits."""
    name = f"backend/{uuid.uuid4().hex}"
    s3_client.put_object(
        Bucket=s3_bucket, Key=name, Body=b"0123456789", ContentType="text/x-digits"
    )
    return name


def _senders(proxy: RecordingProxy) -> list[str]:
    """Per request: its method and who sent it (``s3fs``, ``presigned`` or ``obstore``)."""
    found = []
    for (method, _), headers in zip(proxy.requests, proxy.request_headers, strict=True):
        agent = {k.lower(): v for k, v in headers.items()}.get("user-agent", "").lower()
        sender = "s3fs" if "botocore" in agent else "obstore" if "object_store" in agent else ""
        found.append(f"{method} {sender or 'presigned'}")
    return found


def _read(body: Any) -> bytes:
    chunks = []
    while chunk := body.read(2**20):
        chunks.append(chunk)
    body.close()
    return b"".join(chunks)


# --- configuration ----------------------------------------------------------------------------


def test_bound_follows_the_routes_native_gets() -> None:
    plain, native = S3Backend(), S3Backend(native=True)

    assert plain.bound(TransferConfig()) is plain
    assert native.bound(TransferConfig(native_gets=True)) is native
    assert plain.bound(TransferConfig(native_gets=True)).native is True
    assert native.bound(TransferConfig()).native is False


def test_botocore_tries_each_request_once() -> None:
    retries = {"max_attempts": 7, "mode": "adaptive"}
    options = {"key": "k", "config_kwargs": {"retries": retries, "region": "x"}}

    built = S3Backend().storage_options(options)

    assert built["key"] == "k"
    assert built["config_kwargs"] == {
        "retries": {"mode": "adaptive", "total_max_attempts": 1},
        "region": "x",
    }
    assert retries == {"max_attempts": 7, "mode": "adaptive"}  # the caller's left alone
    assert S3Backend().storage_options({})["config_kwargs"] == {
        "retries": {"total_max_attempts": 1}
    }


@pytest.mark.parametrize("name", ["config_kwargs", "client_kwargs", "s3_additional_kwargs"])
def test_options_that_must_be_mappings_are_refused_early(name: str) -> None:
    with pytest.raises(TypeError, match=f"the option {name} must be a mapping"):
        S3Backend().storage_options({name: ["not", "a", "mapping"]})
    assert name in S3Backend().storage_options({name: {}})


def test_retries_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match=r"config_kwargs\['retries'\] must be a mapping"):
        S3Backend().storage_options({"config_kwargs": {"retries": 3}})


def test_configure_turns_s3fs_retries_off() -> None:
    fs = s3fs.S3FileSystem(anon=True, skip_instance_cache=True)
    S3Backend().configure(fs)
    assert fs.retries == 1


@pytest.mark.parametrize(
    ("condition", "params"),
    [
        (None, {}),
        (WriteCondition(create=True), {"IfNoneMatch": "*"}),
        (WriteCondition(etag='"abc"'), {"IfMatch": '"abc"'}),
    ],
)
def test_write_conditions_as_s3_parameters(
    condition: WriteCondition | None, params: dict[str, str]
) -> None:
    assert s3_condition(condition) == params


def test_write_options_name_the_s3_parameters() -> None:
    stored = Representation(
        "text/csv", {"Cache-Control": "no-cache", "Content-Language": "fr"}, {"a": "b"}
    )

    assert S3Backend().write_options(stored) == {
        "ContentType": "text/csv",
        "CacheControl": "no-cache",
        "ContentLanguage": "fr",
        "Metadata": {"a": "b"},
    }
    assert S3Backend().write_options(Representation("text/plain")) == {"ContentType": "text/plain"}


def test_resuming_needs_an_etag() -> None:
    fs: Any = None
    assert S3Backend().can_resume(fs, ObjectInfo(size=1, etag='"e"')) is True
    assert S3Backend().can_resume(fs, ObjectInfo(size=1)) is False


# --- stat, open ----------------------------------------------------------------------------------


def test_stat_is_one_presigned_head(proxy: RecordingProxy, s3_bucket: str, key: str) -> None:
    info = S3Backend().stat(_fs(proxy.endpoint), f"{s3_bucket}/{key}", TIMEOUTS)

    assert (info.size, info.content_type) == (10, "text/x-digits")
    assert info.etag is not None
    assert _senders(proxy) == ["HEAD presigned"]


def test_stat_asks_s3fs_when_the_url_is_refused(
    proxy: RecordingProxy, s3_bucket: str, key: str
) -> None:
    proxy.answer(*REFUSED)

    info = S3Backend().stat(_fs(proxy.endpoint), f"{s3_bucket}/{key}", TIMEOUTS)

    assert (info.size, info.content_type) == (10, "text/x-digits")
    assert _senders(proxy) == ["HEAD presigned", "HEAD s3fs"]


def test_stat_of_a_missing_object_is_not_found(proxy: RecordingProxy, s3_bucket: str) -> None:
    with pytest.raises(FileNotFoundError):
        S3Backend().stat(_fs(proxy.endpoint), f"{s3_bucket}/backend/missing", TIMEOUTS)
    assert _senders(proxy) == ["HEAD presigned"]


@pytest.mark.parametrize("native", [False, True])
def test_open_reads_the_object_or_its_range(
    proxy: RecordingProxy, s3_bucket: str, key: str, native: bool
) -> None:
    fs = _fs(proxy.endpoint)
    backend = S3Backend(native)

    info, body = backend.open(fs, f"{s3_bucket}/{key}", READ_AT_ONCE)
    assert (info.size, info.content_type, _read(body)) == (10, "text/x-digits", b"0123456789")
    info, body = backend.open(fs, f"{s3_bucket}/{key}", READ_AT_ONCE, ByteRange(2, 4))
    assert (info.size, _read(body)) == (10, b"234")

    sender = "obstore" if native else "presigned"
    assert _senders(proxy) == [f"GET {sender}", f"GET {sender}"]


@pytest.mark.parametrize("native", [False, True])
def test_open_asks_s3fs_when_the_urls_are_refused(
    proxy: RecordingProxy, s3_bucket: str, key: str, native: bool
) -> None:
    fs = _fs(proxy.endpoint)
    proxy.answer(*REFUSED, times=2 if native else 1)

    info, body = S3Backend(native).open(fs, f"{s3_bucket}/{key}", READ_AT_ONCE, ByteRange(1, 3))

    assert (info.size, _read(body)) == (10, b"123")
    expected = ["GET presigned", "GET s3fs"]
    assert _senders(proxy) == (["GET obstore", *expected] if native else expected)
    assert _native._refusals.get(fs, {}).get(s3_bucket, (0, 0.0))[0] == (1 if native else 0)


def test_open_without_presigning_goes_through_s3fs(
    proxy: RecordingProxy, s3_bucket: str, key: str
) -> None:
    fs = _fs(proxy.endpoint, requester_pays=True)

    info, body = S3Backend(native=True).open(
        fs, f"{s3_bucket}/{key}", READ_AT_ONCE, ByteRange(0, 0)
    )

    assert (info.size, _read(body)) == (10, b"0")
    assert _senders(proxy) == ["GET s3fs"]


def _ranges(proxy: RecordingProxy) -> list[tuple[str | None, str | None]]:
    """Per request: the Range and If-Match it carried."""
    found = []
    for headers in proxy.request_headers:
        lowered = {k.lower(): v for k, v in headers.items()}
        found.append((lowered.get("range"), lowered.get("if-match")))
    return found


@pytest.fixture
def large(s3_client: Any, s3_bucket: str) -> tuple[str, bytes, str]:
    """A key holding a body larger than obstore reads in one call: (key, body, ETag)."""
    name = f"backend/large-{uuid.uuid4().hex}"
    data = os.urandom(NATIVE_PREFIX + 300_000)
    etag = s3_client.put_object(Bucket=s3_bucket, Key=name, Body=data)["ETag"]
    return name, data, etag


def test_a_large_native_body_is_read_past_its_first_chunk_through_the_presigned_path(
    proxy: RecordingProxy, s3_bucket: str, large: tuple[str, bytes, str]
) -> None:
    name, data, etag = large
    fs = _fs(proxy.endpoint)

    info, body = S3Backend(native=True).open(fs, f"{s3_bucket}/{name}", READ_AT_ONCE)
    first = read_exactly(body, NATIVE_PREFIX)
    assert _senders(proxy) == ["GET obstore"], "the first bytes are obstore's"

    assert first == data[:NATIVE_PREFIX]
    assert first + _read(body) == data
    assert info.size == len(data)
    assert _senders(proxy) == ["GET obstore", "GET presigned"]
    assert _ranges(proxy) == [(None, None), (f"bytes={NATIVE_PREFIX}-{len(data) - 1}", etag)]


def test_a_native_span_is_read_past_its_first_chunk_to_its_end(
    proxy: RecordingProxy, s3_bucket: str, large: tuple[str, bytes, str]
) -> None:
    name, data, etag = large
    fs = _fs(proxy.endpoint)
    end = len(data) - 1000

    answer = S3Backend(native=True).open_direct(
        fs, f"{s3_bucket}/{name}", READ_AT_ONCE, (10, end), {}
    )

    assert answer is not None
    assert (answer.status, answer.served) == (206, ByteRange(10, end))
    assert _read(answer.body) == data[10 : end + 1]
    assert _senders(proxy) == ["GET obstore", "GET presigned"]
    assert _ranges(proxy)[1] == (f"bytes={10 + NATIVE_PREFIX}-{end}", etag)


def test_a_large_native_body_replaced_after_its_first_chunk_is_not_spliced(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str, large: tuple[str, bytes, str]
) -> None:
    name, data, _ = large
    fs = _fs(proxy.endpoint)

    _, body = S3Backend(native=True).open(fs, f"{s3_bucket}/{name}", READ_AT_ONCE)
    assert read_exactly(body, NATIVE_PREFIX) == data[:NATIVE_PREFIX]
    s3_client.put_object(Bucket=s3_bucket, Key=name, Body=os.urandom(len(data)))

    with pytest.raises(VersionChanged):
        body.read(100)


def test_a_large_native_body_closed_early_asks_for_no_rest(
    proxy: RecordingProxy, s3_bucket: str, large: tuple[str, bytes, str]
) -> None:
    name, data, _ = large
    fs = _fs(proxy.endpoint)

    _, body = S3Backend(native=True).open(fs, f"{s3_bucket}/{name}", READ_AT_ONCE)
    assert body.read(1000) == data[:1000]
    body.close()

    assert _senders(proxy) == ["GET obstore"]


# --- open_direct ----------------------------------------------------------------------------


def test_open_direct_leaves_filesystems_that_cannot_presign_alone(
    proxy: RecordingProxy, s3_bucket: str, key: str
) -> None:
    fs = _fs(proxy.endpoint, requester_pays=True)
    assert S3Backend().open_direct(fs, f"{s3_bucket}/{key}", TIMEOUTS, None, {}) is None
    assert proxy.requests == []


@pytest.mark.parametrize("native", [False, True])
def test_open_direct_sends_the_span(
    proxy: RecordingProxy, s3_bucket: str, key: str, native: bool
) -> None:
    fs = _fs(proxy.endpoint)
    backend = S3Backend(native)

    tail = backend.open_direct(fs, f"{s3_bucket}/{key}", READ_AT_ONCE, (7, None), {})
    middle = backend.open_direct(fs, f"{s3_bucket}/{key}", READ_AT_ONCE, (3, 4), {})

    assert tail is not None
    assert middle is not None
    assert (tail.status, tail.served, _read(tail.body)) == (206, ByteRange(7, 9), b"789")
    assert (middle.status, middle.served, _read(middle.body)) == (206, ByteRange(3, 4), b"34")
    sender = "obstore" if native else "presigned"
    assert _senders(proxy) == [f"GET {sender}"] * 2


def test_open_direct_with_conditions_asks_the_store_to_judge_them(
    proxy: RecordingProxy, s3_bucket: str, key: str, s3_client: Any
) -> None:
    etag = s3_client.head_object(Bucket=s3_bucket, Key=key)["ETag"]
    fs = _fs(proxy.endpoint)
    backend = S3Backend(native=True)  # obstore reports no validators: the presigned path asks

    same = backend.open_direct(
        fs, f"{s3_bucket}/{key}", READ_AT_ONCE, None, {"If-None-Match": etag}
    )
    ranged = backend.open_direct(fs, f"{s3_bucket}/{key}", READ_AT_ONCE, (0, 1), {"If-Match": etag})

    assert same is not None
    assert (same.status, same.body) == (304, None)
    assert ranged is not None
    assert (ranged.status, _read(ranged.body)) == (206, b"01")
    assert _senders(proxy) == ["GET presigned"] * 2
    sent = {k.lower(): v for k, v in proxy.request_headers[1].items()}
    assert (sent["range"], sent["if-match"]) == ("bytes=0-1", etag)


def test_open_direct_leaves_a_refusal_to_the_careful_path(
    proxy: RecordingProxy, s3_bucket: str, key: str
) -> None:
    proxy.answer(416, {}, b"")
    assert (
        S3Backend().open_direct(_fs(proxy.endpoint), f"{s3_bucket}/{key}", TIMEOUTS, (99, None), {})
        is None
    )


def test_open_direct_leaves_a_whole_answer_to_a_range_to_the_careful_path(
    proxy: RecordingProxy, s3_bucket: str, key: str
) -> None:
    """A store that ignored the Range sent the whole object: not what was asked."""
    fs = _fs(proxy.endpoint)
    proxy.answer(200, {"ETag": '"e"'}, b"abc", methods=("GET",))
    assert S3Backend().open_direct(fs, f"{s3_bucket}/{key}", TIMEOUTS, (0, 1), {}) is None
    whole = S3Backend().open_direct(fs, f"{s3_bucket}/{key}", TIMEOUTS, None, {})
    assert whole is not None
    assert (whole.status, _read(whole.body)) == (200, b"0123456789")


def test_open_direct_counts_obstore_refusals_the_presigned_path_answered(
    proxy: RecordingProxy, s3_bucket: str, key: str
) -> None:
    fs = _fs(proxy.endpoint)
    backend = S3Backend(native=True)
    proxy.answer(*REFUSED, agent="object_store/")

    answer = backend.open_direct(fs, f"{s3_bucket}/{key}", READ_AT_ONCE, None, {})

    assert answer is not None
    assert _read(answer.body) == b"0123456789"
    assert _senders(proxy) == ["GET obstore", "GET presigned"]
    assert _native._refusals[fs][s3_bucket][0] == 1
    missing = backend.open_direct(fs, f"{s3_bucket}/{key}", READ_AT_ONCE, None, {})  # obstore's now
    assert missing is not None
    assert _read(missing.body) == b"0123456789"
    assert s3_bucket not in _native._refusals[fs]


# --- open_part ------------------------------------------------------------------------------


@pytest.mark.parametrize("presigned", [True, False])
def test_a_part_is_read_from_the_same_version(
    proxy: RecordingProxy, s3_bucket: str, key: str, s3_client: Any, presigned: bool
) -> None:
    etag = s3_client.head_object(Bucket=s3_bucket, Key=key)["ETag"]
    fs = _fs(proxy.endpoint, **({} if presigned else {"requester_pays": True}))
    backend, path = S3Backend(), f"{s3_bucket}/{key}"

    body = backend.open_part(fs, path, TIMEOUTS, 4, 8, ObjectInfo(size=10, etag=etag))

    assert _read(body) == b"4567"
    sent = {k.lower(): v for k, v in proxy.request_headers[0].items()}
    assert (sent["range"], sent["if-match"]) == ("bytes=4-7", etag)
    assert _senders(proxy) == ["GET presigned" if presigned else "GET s3fs"]
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"replaced")
    with pytest.raises(VersionChanged):
        backend.open_part(fs, path, TIMEOUTS, 4, 8, ObjectInfo(size=10, etag=etag))


def test_a_part_asks_s3fs_when_the_url_is_refused(
    proxy: RecordingProxy, s3_bucket: str, key: str, s3_client: Any
) -> None:
    etag = s3_client.head_object(Bucket=s3_bucket, Key=key)["ETag"]
    proxy.answer(*REFUSED)

    body = S3Backend().open_part(
        _fs(proxy.endpoint), f"{s3_bucket}/{key}", TIMEOUTS, 0, 2, ObjectInfo(size=10, etag=etag)
    )

    assert _read(body) == b"01"
    assert _senders(proxy) == ["GET presigned", "GET s3fs"]


def test_a_part_of_a_missing_object_is_not_found_through_s3fs(
    proxy: RecordingProxy, s3_bucket: str
) -> None:
    fs = _fs(proxy.endpoint, requester_pays=True)
    with pytest.raises(FileNotFoundError):
        S3Backend().open_part(
            fs, f"{s3_bucket}/backend/none", TIMEOUTS, 0, 2, ObjectInfo(size=10, etag='"e"')
        )


# --- writes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("presigned", [True, False])
def test_a_whole_write_stores_what_was_asked(
    proxy: RecordingProxy, s3_bucket: str, s3_client: Any, presigned: bool
) -> None:
    fs = _fs(proxy.endpoint, **({} if presigned else {"requester_pays": True}))
    name = f"backend/{uuid.uuid4().hex}"
    stored = Representation("text/x-w", {"Cache-Control": "no-store"}, {"who": "me"})

    info = S3Backend().write_whole(fs, f"{s3_bucket}/{name}", b"written", stored, None, TIMEOUTS)

    read = s3_client.get_object(Bucket=s3_bucket, Key=name)
    assert read["Body"].read() == b"written"
    assert (read["ContentType"], read["CacheControl"]) == ("text/x-w", "no-store")
    assert read["Metadata"] == {"who": "me"}
    assert info is not None
    assert (info.size, info.etag) == (7, read["ETag"])
    assert (info.last_modified is not None) is presigned  # s3fs's answer omits it
    assert _senders(proxy) == ["PUT presigned" if presigned else "PUT s3fs"]


def test_a_whole_write_asks_s3fs_when_the_url_is_refused(
    proxy: RecordingProxy, s3_bucket: str, s3_client: Any
) -> None:
    name = f"backend/{uuid.uuid4().hex}"
    proxy.answer(*REFUSED)

    info = S3Backend().write_whole(
        _fs(proxy.endpoint), f"{s3_bucket}/{name}", b"w", Representation("a/b"), None, TIMEOUTS
    )

    assert s3_client.get_object(Bucket=s3_bucket, Key=name)["Body"].read() == b"w"
    assert info is not None
    assert info.etag is not None
    assert _senders(proxy) == ["PUT presigned", "PUT s3fs"]


@pytest.mark.parametrize("status", [409, 412])
def test_a_failed_write_condition_is_412(
    proxy: RecordingProxy, s3_bucket: str, status: int
) -> None:
    proxy.answer(status, {"x-amz-request-id": "r"}, b"")
    with pytest.raises(OSError, match="412") as caught:
        S3Backend().write_whole(
            _fs(proxy.endpoint),
            f"{s3_bucket}/backend/cond",
            b"w",
            Representation("a/b"),
            WriteCondition(create=True),
            TIMEOUTS,
        )
    answer = store_answer(caught.value)
    assert answer is not None
    assert answer.status == 412
    assert answer.headers.get("x-amz-request-id") == "r"
    assert len(proxy.requests) == 1


def test_a_condition_the_store_judges_on_a_write(
    proxy: RecordingProxy, s3_bucket: str, key: str, s3_client: Any
) -> None:
    fs, path = _fs(proxy.endpoint), f"{s3_bucket}/{key}"
    with pytest.raises(OSError, match="412"):
        S3Backend().write_whole(
            fs, path, b"x", Representation("a/b"), WriteCondition(create=True), TIMEOUTS
        )
    etag = s3_client.head_object(Bucket=s3_bucket, Key=key)["ETag"]
    S3Backend().write_whole(
        fs, path, b"y", Representation("a/b"), WriteCondition(etag=etag), TIMEOUTS
    )
    assert s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == b"y"


def test_a_denied_write_is_raised_as_denied(proxy: RecordingProxy, s3_bucket: str) -> None:
    proxy.answer(403, {}, b"")
    with pytest.raises(PermissionError):
        S3Backend().write_whole(
            _fs(proxy.endpoint),
            f"{s3_bucket}/backend/d",
            b"w",
            Representation("a/b"),
            None,
            TIMEOUTS,
        )
    assert len(proxy.requests) == 1


def test_delete_is_one_presigned_request(
    proxy: RecordingProxy, s3_bucket: str, key: str, s3_client: Any
) -> None:
    fs = _fs(proxy.endpoint)

    S3Backend().delete(fs, f"{s3_bucket}/{key}", TIMEOUTS)

    assert _senders(proxy) == ["DELETE presigned"]
    assert s3_client.list_objects_v2(Bucket=s3_bucket, Prefix=key).get("KeyCount") == 0


def test_delete_asks_s3fs_when_the_url_is_refused(
    proxy: RecordingProxy, s3_bucket: str, key: str, s3_client: Any
) -> None:
    proxy.answer(*REFUSED)

    S3Backend().delete(_fs(proxy.endpoint), f"{s3_bucket}/{key}", TIMEOUTS)

    assert _senders(proxy) == ["DELETE presigned", "DELETE s3fs"]
    assert s3_client.list_objects_v2(Bucket=s3_bucket, Prefix=key).get("KeyCount") == 0


def test_delete_if_match_of_nothing_says_nothing_was_there(
    proxy: RecordingProxy, s3_bucket: str
) -> None:
    """A 404 to a delete with If-Match is the store's word; the handler makes it a 412."""
    proxy.answer(404, {}, b"")
    with pytest.raises(FileNotFoundError):
        S3Backend().delete(_fs(proxy.endpoint), f"{s3_bucket}/backend/x", TIMEOUTS, '"e"')
    sent = {k.lower(): v for k, v in proxy.request_headers[0].items()}
    assert sent["if-match"] == '"e"'


def test_delete_forgets_the_listing_it_cached(
    moto_endpoint: str, s3_bucket: str, s3_client: Any
) -> None:
    folder = f"{s3_bucket}/backend/{uuid.uuid4().hex}"
    for name in ("gone", "kept"):
        s3_client.put_object(Bucket=s3_bucket, Key=f"{folder.split('/', 1)[1]}/{name}", Body=b"")
    fs = _fs(moto_endpoint)
    assert fs.ls(folder) == [f"{folder}/gone", f"{folder}/kept"]  # s3fs caches the listing

    S3Backend().delete(fs, f"{folder}/gone", TIMEOUTS)

    assert fs.ls(folder) == [f"{folder}/kept"]


def test_the_part_store_carries_options_and_condition(
    moto_endpoint: str, s3_bucket: str, key: str, s3_client: Any
) -> None:
    fs = _fs(moto_endpoint)
    store = S3Backend().part_store(
        fs, f"{s3_bucket}/{key}", Representation("text/x-p"), TIMEOUTS, WriteCondition(create=True)
    )
    assert isinstance(store, S3Parts)
    store.begin()
    tokens = [store.send(1, b"p")]
    with pytest.raises(FileExistsError):
        store.commit(tokens)
    fresh = f"{s3_bucket}/backend/{uuid.uuid4().hex}"
    store = S3Backend().part_store(fs, fresh, Representation("text/x-p"), TIMEOUTS, None)
    assert store is not None
    store.begin()
    store.commit([store.send(1, b"p")])
    read = s3_client.get_object(Bucket=s3_bucket, Key=fresh.split("/", 1)[1])
    assert (read["ContentType"], read["Body"].read()) == ("text/x-p", b"p")


def test_list_goes_through_s3fs_once(proxy: RecordingProxy, s3_bucket: str, key: str) -> None:
    fs = _fs(proxy.endpoint)
    folder = key.rsplit("/", 1)[0]

    entries = S3Backend().list(fs, f"{s3_bucket}/{folder}", TIMEOUTS)

    assert key.rsplit("/", 1)[1] in [entry["name"] for entry in entries]
    assert all(sender.endswith("s3fs") for sender in _senders(proxy))


# --- versions -------------------------------------------------------------------------------


@pytest.fixture
def versions(moto_endpoint: str, s3_client: Any) -> tuple[Any, str, str]:
    """(version-aware filesystem, versioned bucket, the first version's id) of a key ``k``
    written twice: ``old``, then ``new``."""
    bucket = f"versioned-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3_client.put_object(Bucket=bucket, Key="k", Body=b"old")["VersionId"]
    s3_client.put_object(Bucket=bucket, Key="k", Body=b"new!")
    return _fs(moto_endpoint, version_aware=True), bucket, old


@pytest.mark.parametrize("presigned", [True, False])
def test_a_version_is_read_and_deleted_as_it_was(
    versions: tuple[Any, str, str], s3_client: Any, presigned: bool
) -> None:
    fs, bucket, old = versions
    if not presigned:
        fs = _fs(fs.endpoint_url, version_aware=True, requester_pays=True)
    path = f"{bucket}/k?versionId={old}"
    backend = S3Backend()

    assert backend.stat(fs, path, TIMEOUTS).size == 3
    info, body = backend.open(fs, path, TIMEOUTS)
    assert (info.size, _read(body)) == (3, b"old")
    backend.delete(fs, path, TIMEOUTS)

    listed = s3_client.list_object_versions(Bucket=bucket, Prefix="k")["Versions"]
    assert [v["VersionId"] for v in listed if v["VersionId"] == old] == []
    assert s3_client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"new!"


# --- s3fs's own requests are sent once ------------------------------------------------------


def test_a_redirect_to_s3fs_is_not_followed(
    proxy: RecordingProxy, s3_bucket: str, key: str
) -> None:
    """Another host's answer is not the object (aiohttp would follow the Location)."""
    fs = _fs(proxy.endpoint, requester_pays=True)
    elsewhere = {"Location": f"{proxy.endpoint}/{s3_bucket}/{key}-elsewhere"}
    proxy.answer(307, elsewhere, b"", times=None)

    with pytest.raises(Exception):  # noqa: B017, PT011 (what s3fs makes of it)
        S3Backend().stat(fs, f"{s3_bucket}/{key}", TIMEOUTS)
    with pytest.raises(Exception):  # noqa: B017, PT011
        S3Backend().list(fs, f"{s3_bucket}/backend", TIMEOUTS)

    assert [path for _, path in proxy.requests if "elsewhere" in path] == []
