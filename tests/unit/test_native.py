"""The native path's own rules, on obstore's real errors: which keys it sends, how a failure
is classified, how metadata becomes headers, when a bucket pauses obstore."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import obstore
import pytest
import s3fs
from obstore.store import S3Store

from objstore_adapter._backends.s3 import native as _native
from objstore_adapter._backends.s3.native import _object_info, _plain_key, _transport_failure
from objstore_adapter._body import LoadedBody, StoreGet
from objstore_adapter._errors import BodyCut, store_answer
from objstore_adapter._http import ByteRange, Timeouts

from .._proxy import RecordingProxy
from ..conftest import S3_KEY, S3_SECRET, free_port

if TYPE_CHECKING:
    from obstore.store import ClientConfig


@pytest.mark.parametrize(
    ("key", "plain"),
    [
        ("a/b.csv", True),
        ("a b+c%d.csv", True),
        ("données/été.parquet", True),
        ("a//b", False),
        ("/a", False),
        ("a/", False),
        ("a/./b", False),
        ("a/../b", False),
        ("a\tb", False),
        ("a\nb", False),
        ("", False),
    ],
)
def test_only_keys_obstore_sends_unchanged_are_plain(key: str, plain: bool) -> None:
    assert _plain_key(key) is plain


def _store(endpoint: str, read_timeout: float | None = None) -> S3Store:
    client: ClientConfig = {"allow_http": True}
    if read_timeout is not None:
        client["read_timeout"] = dt.timedelta(seconds=read_timeout)
    return S3Store(
        "bucket",
        config={"endpoint": endpoint, "region": "us-east-1", "skip_signature": True},
        client_options=client,
        retry_config={"max_retries": 0},
    )


def _failure(store: S3Store, key: str) -> BaseException:
    with pytest.raises(obstore.exceptions.BaseError) as caught:
        obstore.get(store, key)
    return caught.value


@pytest.fixture
def answering() -> Iterator[str]:
    """A server that answers every GET with 503, quoting the path back as its body."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"<Error>{self.path} kind: Timeout, status: 200,</Error>".encode()
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_answered_error_is_not_a_transport_failure(answering: str) -> None:
    """The store answered (503): the presigned path is asked, even though the answer's body
    and the key mimic a timeout."""
    failure = _failure(_store(answering), "kind: Timeout, status: 200,")

    assert _transport_failure(failure) is None


def test_a_refused_connection_is_a_connection_error() -> None:
    failure = _failure(_store(f"http://127.0.0.1:{free_port()}"), "k")

    found = _transport_failure(failure)
    assert type(found) is ConnectionError
    assert str(found) == "the connection to the object store failed (Connect)"


def test_a_store_that_never_answers_is_a_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        store = _store(endpoint, read_timeout=0.3)
        failure = _failure(store, "a key with timeout in it")
    finally:
        listener.close()

    found = _transport_failure(failure)
    assert type(found) is TimeoutError
    assert str(found) == "the object store did not answer in time"
    assert "timeout in it" not in str(found), "obstore's text (the URL) is not passed on"


def test_metadata_becomes_the_headers_the_presigned_path_sends() -> None:
    modified = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    meta = {"size": 7, "e_tag": '"abc"', "last_modified": modified, "version": None}
    attributes = {
        "Content-Type": "text/csv",
        "Cache-Control": "max-age=60",
        "Content-Language": "fr-CA",
        "Storage-Class": "STANDARD",
        "owner": "team-data",
        "Cache-Control-Note": "user metadata that looks like a header",
    }

    info = _object_info(meta, attributes)

    assert (info.size, info.etag, info.last_modified) == (7, '"abc"', modified)
    assert info.content_type == "text/csv"
    assert dict(info.headers) == {
        "Cache-Control": "max-age=60",
        "Content-Language": "fr-CA",
        "X-Object-Meta-owner": "team-data",
        "X-Object-Meta-cache-control-note": "user metadata that looks like a header",
    }


def test_three_refusals_in_a_row_pause_a_bucket_and_the_pause_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class FileSystem:  # weakly referenced, as filesystems are
        pass

    fs = FileSystem()
    now = [1000.0]
    monkeypatch.setattr(
        "objstore_adapter._backends.s3.native.time", SimpleNamespace(monotonic=lambda: now[0])
    )

    for _ in range(_native.MAX_REFUSALS - 1):
        _native.presigned_answered(fs, "b")
    assert not _native._paused(fs, "b")
    _native.presigned_answered(fs, "b")
    assert _native._paused(fs, "b")
    assert not _native._paused(fs, "other")
    now[0] += _native.REFUSAL_PAUSE + 1
    assert not _native._paused(fs, "b")


# --- open_native on moto ----------------------------------------------------------------------

#: As for a GET read at once (``stream=False``), the only kind obstore is asked.
TIMEOUTS = Timeouts(request=10, read=10, connect=5, whole=_native.WHOLE_BODY)


def _fs(endpoint: str, **options: Any) -> Any:
    # A filesystem equal to none before it (s3fs compares them by their options): the caches
    # keyed by filesystem must not hand this one what an earlier test left.
    config = {"user_agent_extra": uuid.uuid4().hex, **options.pop("config_kwargs", {})}
    return s3fs.S3FileSystem(
        endpoint_url=endpoint,
        key=S3_KEY,
        secret=S3_SECRET,
        skip_instance_cache=True,
        config_kwargs=config,
        **options,
    )


def _duration(value: dt.timedelta) -> Any:
    """``value`` as obstore reports a client option it was given."""
    store = S3Store("b", config={"region": "us-east-1"}, client_options={"timeout": value})
    options = store.client_options
    assert options is not None
    return options["timeout"]


def _body(answer: StoreGet | None) -> bytes:
    assert answer is not None
    assert answer.body is not None
    chunks = []
    while chunk := answer.body.read(2**20):
        chunks.append(chunk)
    answer.body.close()
    return b"".join(chunks)


def test_a_whole_object_and_its_spans(moto_endpoint: str, s3_client: Any, s3_bucket: str) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="native/spans", Body=b"0123456789")
    fs = _fs(moto_endpoint)

    def get(span: tuple[int, int | None] | None) -> StoreGet:
        answer = _native.open_native(fs, s3_bucket, "native/spans", None, TIMEOUTS, span)
        assert answer is not None
        return answer

    whole = get(None)
    assert (whole.status, whole.served, whole.info.size) == (200, None, 10)
    assert whole.info.etag is not None
    assert whole.info.etag.startswith('"')
    assert _body(whole) == b"0123456789"
    middle = get((2, 4))
    assert (middle.status, middle.served, middle.info.size) == (206, ByteRange(2, 4), 10)
    assert _body(middle) == b"234"
    first = get((0, 0))
    assert (first.status, first.served) == (206, ByteRange(0, 0))
    assert _body(first) == b"0"
    rest = get((7, None))
    assert (rest.status, rest.served) == (206, ByteRange(7, 9))
    assert _body(rest) == b"789"


def test_a_version_is_read_as_it_was(moto_endpoint: str, s3_client: Any) -> None:
    bucket = f"versioned-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3_client.put_object(Bucket=bucket, Key="k", Body=b"old")["VersionId"]
    s3_client.put_object(Bucket=bucket, Key="k", Body=b"new")
    fs = _fs(moto_endpoint)

    assert _body(_native.open_native(fs, bucket, "k", old, TIMEOUTS)) == b"old"
    assert _body(_native.open_native(fs, bucket, "k", None, TIMEOUTS)) == b"new"


def test_a_missing_object_is_file_not_found(moto_endpoint: str, s3_bucket: str) -> None:
    from objstore_adapter._errors import store_answer

    fs = _fs(moto_endpoint)
    with pytest.raises(FileNotFoundError, match=f"{s3_bucket}/native/missing") as caught:
        _native.open_native(fs, s3_bucket, "native/missing", None, TIMEOUTS)
    answer = store_answer(caught.value)
    assert answer is not None
    assert answer.status == 404


def test_a_refused_get_is_native_refused_and_a_dead_store_a_connection_error(
    moto_endpoint: str, s3_bucket: str
) -> None:
    port = int(moto_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        fs = _fs(proxy.endpoint)
        proxy.answer(400, {}, b"")
        with pytest.raises(_native.NativeRefused):
            _native.open_native(fs, s3_bucket, "native/refused", None, TIMEOUTS)
    nobody = _fs(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ConnectionError):
        _native.open_native(nobody, s3_bucket, "native/refused", None, TIMEOUTS)


@pytest.mark.parametrize(
    ("status", "body", "raised"),
    [
        (403, b"<Error><Code>AccessDenied</Code></Error>", PermissionError),
        (401, b"", PermissionError),
        (403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>", _native.NativeRefused),
        (429, b"", _native.NativeRefused),
        (500, b"", _native.NativeRefused),
    ],
)
def test_a_denial_is_taken_at_its_word_other_answers_are_refusals(
    moto_endpoint: str, s3_bucket: str, status: int, body: bytes, raised: type[Exception]
) -> None:
    port = int(moto_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        fs = _fs(proxy.endpoint)
        proxy.answer(status, {}, body)
        with pytest.raises(raised) as caught:
            _native.open_native(fs, s3_bucket, "native/denied", None, TIMEOUTS)

    if raised is PermissionError:
        assert str(caught.value) == f"{s3_bucket}/native/denied", "obstore's text is not passed on"
        answer = store_answer(caught.value)
        assert answer is not None
        assert answer.status == status
        assert caught.value.__context__ is None


def test_keys_obstore_would_change_are_not_asked(moto_endpoint: str, s3_bucket: str) -> None:
    fs = _fs(moto_endpoint)
    assert _native.open_native(fs, s3_bucket, "a//b", None, TIMEOUTS) is None
    assert _native.open_native(fs, s3_bucket, "a/b\x7f", None, TIMEOUTS) is None


def test_a_forked_process_leaves_obstore_alone(
    moto_endpoint: str, s3_client: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="native/forked", Body=b"x")
    fs = _fs(moto_endpoint)
    monkeypatch.setattr(_native, "_runtime_pid", None)
    assert _body(_native.open_native(fs, s3_bucket, "native/forked", None, TIMEOUTS)) == b"x"
    assert _native._runtime_pid == os.getpid()  # this process's runtime serves GETs now
    assert _body(_native.open_native(fs, s3_bucket, "native/forked", None, TIMEOUTS)) == b"x"
    monkeypatch.setattr(_native, "_runtime_pid", os.getpid() + 1)  # as a child sees it
    assert _native.open_native(fs, s3_bucket, "native/forked", None, TIMEOUTS) is None


def test_a_success_starts_the_refusal_count_again(
    moto_endpoint: str, s3_client: Any, s3_bucket: str
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="native/count", Body=b"x")
    fs = _fs(moto_endpoint)
    for _ in range(_native.MAX_REFUSALS - 1):
        _native.presigned_answered(fs, s3_bucket)

    assert _body(_native.open_native(fs, s3_bucket, "native/count", None, TIMEOUTS)) == b"x"
    _native.presigned_answered(fs, s3_bucket)

    assert not _native._paused(fs, s3_bucket)
    for _ in range(_native.MAX_REFUSALS - 1):
        _native.presigned_answered(fs, s3_bucket)
    assert _native._paused(fs, s3_bucket)
    assert _native.open_native(fs, s3_bucket, "native/count", None, TIMEOUTS) is None


def test_a_streamed_get_is_not_asked_of_obstore(
    moto_endpoint: str, s3_client: Any, s3_bucket: str
) -> None:
    """The presigned path hands a streamed body on faster (see open_native)."""
    s3_client.put_object(Bucket=s3_bucket, Key="native/streamed", Body=b"0123456789")
    port = int(moto_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        streamed = Timeouts(request=10, read=10, connect=5)  # no ``whole``: stream=True

        answer = _native.open_native(
            _fs(proxy.endpoint), s3_bucket, "native/streamed", None, streamed
        )

        assert answer is None
        assert proxy.requests == []


PART = 4 * 2**20


def test_a_body_up_to_the_part_read_at_once_comes_in_one_call(
    moto_endpoint: str, s3_client: Any, s3_bucket: str
) -> None:
    data = os.urandom(PART - 1000)
    s3_client.put_object(Bucket=s3_bucket, Key="native/part", Body=data)
    port = int(moto_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        at_once = Timeouts(request=10, read=10, connect=5, whole=PART)

        answer = _native.open_native(_fs(proxy.endpoint), s3_bucket, "native/part", None, at_once)

        assert answer is not None
        assert isinstance(answer.body, LoadedBody)
        assert _body(answer) == data
        assert len(proxy.requests) == 1


def test_a_body_read_at_once_that_breaks_off_is_handed_on_as_far_as_it_came(
    moto_endpoint: str, s3_client: Any, s3_bucket: str
) -> None:
    """Past the first chunk, read chunk by chunk: the transfer policy heals it from where it
    broke off, not from its first byte."""
    data = os.urandom(PART - 1000)
    s3_client.put_object(Bucket=s3_bucket, Key="native/broken", Body=data)
    port = int(moto_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        proxy.cut_body_after = 3_000_000
        at_once = Timeouts(request=10, read=10, connect=5, whole=PART)

        answer = _native.open_native(_fs(proxy.endpoint), s3_bucket, "native/broken", None, at_once)

        assert answer is not None
        assert answer.body is not None
        came: list[bytes] = []
        with pytest.raises(BodyCut):
            _read_into(answer.body, came)
    assert _native.WHOLE_BODY <= sum(map(len, came)) <= 3_000_000
    assert b"".join(came) == data[: sum(map(len, came))]


def _read_into(body: Any, chunks: list[bytes]) -> None:
    while chunk := body.read(2**20):
        chunks.append(chunk)


def test_a_large_body_streams_in_chunks(moto_endpoint: str, s3_client: Any, s3_bucket: str) -> None:
    data = os.urandom(_native.WHOLE_BODY + 1000)
    s3_client.put_object(Bucket=s3_bucket, Key="native/large", Body=data)
    fs = _fs(moto_endpoint)

    whole = _native.open_native(fs, s3_bucket, "native/large", None, TIMEOUTS)
    assert whole is not None
    assert isinstance(whole.body, _native.NativeBody)
    assert whole.body.read(10) == data[:10]
    assert whole.body.read(5) == data[10:15]
    assert _body(whole) == data[15:]
    assert whole.body.read(10) == b""

    at_the_limit = _native.open_native(
        fs, s3_bucket, "native/large", None, TIMEOUTS, (0, _native.WHOLE_BODY - 1)
    )
    assert at_the_limit is not None
    assert isinstance(at_the_limit.body, LoadedBody)
    assert at_the_limit.status == 206
    assert _body(at_the_limit) == data[: _native.WHOLE_BODY]

    span = _native.open_native(fs, s3_bucket, "native/large", None, TIMEOUTS, (5, None))
    assert span is not None
    assert isinstance(span.body, _native.NativeBody)
    assert (span.status, span.served) == (206, ByteRange(5, len(data) - 1))
    assert span.body.read(3) == data[5:8]
    span.body.close()
    assert span.body.read(3) == b""


def test_a_broken_body_raises_on_its_first_read_only() -> None:
    failure = BodyCut("cut")
    body = _native._Broken(failure)
    with pytest.raises(BodyCut) as caught:
        body.read(10)
    assert caught.value is failure
    assert body.read(10) == b""
    closed = _native._Broken(TimeoutError("late"))
    closed.close()
    assert closed.read(10) == b""


# --- the native client's configuration -------------------------------------------------------


def test_stores_are_kept_per_bucket_and_timeouts(moto_endpoint: str) -> None:
    fs = _fs(moto_endpoint)
    store = _native._store(fs, "b", TIMEOUTS)

    assert _native._store(fs, "b", TIMEOUTS) is store
    assert _native._store(fs, "c", TIMEOUTS) is not store
    assert _native._store(fs, "b", Timeouts(request=10, read=3, connect=5)) is not store
    assert _native._store(fs, "b", Timeouts(request=10, read=10, connect=2)) is not store
    assert _native._store(fs, "b", Timeouts(request=1, read=10, connect=5)) is store


def test_the_stores_used_last_are_kept(moto_endpoint: str) -> None:
    fs = _fs(moto_endpoint)
    first = _native._store(fs, "bucket-0", TIMEOUTS)
    second = _native._store(fs, "bucket-1", TIMEOUTS)
    for n in range(2, _native.MAX_STORES):
        _native._store(fs, f"bucket-{n}", TIMEOUTS)
    assert _native._store(fs, "bucket-0", TIMEOUTS) is first  # used last now

    _native._store(fs, "one-more", TIMEOUTS)  # the one used longest ago goes

    assert _native._store(fs, "bucket-0", TIMEOUTS) is first
    assert _native._store(fs, "bucket-1", TIMEOUTS) is not second


def test_the_client_connects_as_botocore_would(moto_endpoint: str) -> None:
    store = _native._store(_fs(moto_endpoint), "b", Timeouts(request=1, read=2.5, connect=1.5))

    assert store.config["endpoint"] == moto_endpoint
    assert store.config["region"] == "us-east-1"
    assert store.config["bucket"] == "b"
    assert store.config.get("virtual_hosted_style_request") in (None, False, "false")
    assert store.config.get("skip_signature") in (None, False, "false")
    options = store.client_options
    assert options["allow_http"] in (True, "true")
    assert options["connect_timeout"] == _duration(dt.timedelta(seconds=1.5))
    assert options["read_timeout"] == _duration(dt.timedelta(seconds=2.5))
    assert options["timeout"] == _duration(dt.timedelta(days=365))
    assert "allow_invalid_certificates" not in options
    assert store.retry_config is not None
    assert store.retry_config["max_retries"] == 0
    assert store.credential_provider is not None


def test_no_timeouts_wait_as_long_as_it_takes(moto_endpoint: str) -> None:
    store = _native._store(_fs(moto_endpoint), "b", Timeouts())

    assert store.client_options["connect_timeout"] == _duration(dt.timedelta(days=365))
    assert "read_timeout" not in store.client_options


@pytest.mark.parametrize("region", ["eu-west-1", "ap-east-1"])
def test_the_region_is_the_one_urls_are_signed_for(
    region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):  # a bundle keeps https from obstore
        monkeypatch.delenv(name, raising=False)
    fs = s3fs.S3FileSystem(
        key=S3_KEY,
        secret=S3_SECRET,
        client_kwargs={"region_name": region},
        skip_instance_cache=True,
    )
    store = _native._store(fs, "a-bucket", TIMEOUTS)

    assert store.config["region"] == region
    assert store.config["endpoint"] == f"https://a-bucket.s3.{region}.amazonaws.com"
    assert store.client_options["allow_http"] in (False, "false")


def test_an_anonymous_filesystem_sends_unsigned_gets(moto_endpoint: str) -> None:
    fs = s3fs.S3FileSystem(
        endpoint_url=moto_endpoint,
        anon=True,
        client_kwargs={"region_name": "eu-west-2"},
        skip_instance_cache=True,
    )
    store = _native._store(fs, "b", TIMEOUTS)

    assert store.config["skip_signature"] in (True, "true")
    assert store.config["region"] == "eu-west-2"
    assert store.credential_provider is None


@pytest.mark.parametrize(("verify", "kept"), [(False, True), ("/etc/own-ca.pem", None)])
def test_tls_verification_follows_botocores(verify: bool | str, kept: bool | None) -> None:
    fs = s3fs.S3FileSystem(
        key=S3_KEY,
        secret=S3_SECRET,
        endpoint_url="https://127.0.0.1:9",
        client_kwargs={"verify": verify},
        skip_instance_cache=True,
    )
    store = _native._store(fs, "b", TIMEOUTS)

    if kept is None:
        assert store is None  # botocore trusts that bundle alone, obstore would add it
    else:
        assert store.client_options["allow_invalid_certificates"] in (True, "true")


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_ca_bundle_botocore_found_for_itself_keeps_https_from_obstore(
    scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore trusts ``AWS_CA_BUNDLE`` alone; obstore could only add it to its roots. Over
    plain HTTP there is nothing to verify."""
    monkeypatch.setenv("AWS_CA_BUNDLE", "/etc/own-ca.pem")
    fs = s3fs.S3FileSystem(
        key=S3_KEY,
        secret=S3_SECRET,
        endpoint_url=f"{scheme}://127.0.0.1:9",
        skip_instance_cache=True,
    )
    fs.connect()

    store = _native._store(fs, "b", TIMEOUTS)

    assert (store is None) == (scheme == "https")


def test_static_credentials_never_expire(moto_endpoint: str) -> None:
    fs = _fs(moto_endpoint)  # _Credentials holds it weakly, as the route's filesystem does
    credentials = _native._Credentials(fs)()

    assert credentials["access_key_id"] == S3_KEY
    assert credentials["secret_access_key"] == S3_SECRET
    assert credentials["token"] is None
    assert credentials["expires_at"] is None
    assert repr(_native._Credentials(fs)) == "_Credentials(<from s3fs>)"


def _refreshable_fs(endpoint: str, expiry: dt.datetime) -> Any:
    from aiobotocore.credentials import AioRefreshableCredentials
    from aiobotocore.session import AioSession

    async def refresh() -> dict[str, str]:
        raise AssertionError("not due")

    metadata = {
        "access_key": S3_KEY,
        "secret_key": S3_SECRET,
        "token": "a-session-token",
        "expiry_time": expiry.isoformat(),
    }
    session = AioSession()
    session._credentials = AioRefreshableCredentials.create_from_metadata(metadata, refresh, "test")
    return s3fs.S3FileSystem(endpoint_url=endpoint, session=session, skip_instance_cache=True)


def test_temporary_credentials_expire_when_botocore_says(moto_endpoint: str) -> None:
    expiry = dt.datetime.now(dt.timezone(dt.timedelta(hours=2))) + dt.timedelta(hours=3)

    fs = _refreshable_fs(moto_endpoint, expiry)  # held: _Credentials keeps a weak reference

    credentials = _native._Credentials(fs)()

    assert credentials["token"] == "a-session-token"
    assert credentials["expires_at"] == expiry
    assert credentials["expires_at"] is not None
    assert credentials["expires_at"].utcoffset() == dt.timedelta(0)


def test_temporary_credentials_without_an_expiry_are_kept_a_while(moto_endpoint: str) -> None:
    fs = _refreshable_fs(moto_endpoint, dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3))
    fs.connect()
    fs._s3._request_signer._credentials._expiry_time = None
    before = dt.datetime.now(dt.timezone.utc)

    credentials = _native._Credentials(fs)()

    after = dt.datetime.now(dt.timezone.utc)
    expires = credentials["expires_at"]
    assert expires is not None
    assert before + _native.CREDENTIALS_TTL <= expires <= after + _native.CREDENTIALS_TTL


@pytest.mark.parametrize("size", [100, _native.WHOLE_BODY + 100])
def test_a_body_that_stops_coming_is_a_timeout(
    moto_endpoint: str, s3_client: Any, s3_bucket: str, size: int
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="native/stalled", Body=os.urandom(size))
    port = int(moto_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        proxy.hold_body = threading.Event()  # the head, then nothing until the test ends
        fs = _fs(proxy.endpoint)
        quick = Timeouts(request=10, read=0.3, connect=5, whole=_native.WHOLE_BODY)

        answer = _native.open_native(fs, s3_bucket, "native/stalled", None, quick)

        assert answer is not None
        assert answer.body is not None
        with pytest.raises(TimeoutError, match="stopped sending the body"):
            answer.body.read(size)


def test_a_cut_large_body_is_a_body_cut(moto_endpoint: str, s3_client: Any, s3_bucket: str) -> None:
    data = os.urandom(_native.WHOLE_BODY + 100)
    s3_client.put_object(Bucket=s3_bucket, Key="native/cut", Body=data)
    port = int(moto_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        proxy.cut_body_after = 1000
        answer = _native.open_native(_fs(proxy.endpoint), s3_bucket, "native/cut", None, TIMEOUTS)

        assert answer is not None
        assert answer.body is not None
        with pytest.raises(BodyCut, match="broke"):
            _body(answer)


def test_sigv2_urls_mean_a_signed_client_in_the_clients_region(moto_endpoint: str) -> None:
    fs = _fs(
        moto_endpoint + "/a/prefix",
        config_kwargs={"signature_version": "s3"},
        client_kwargs={"region_name": "eu-west-3"},
    )
    store = _native._store(fs, "b", TIMEOUTS)

    assert store.config["endpoint"] == moto_endpoint + "/a/prefix"
    assert store.config["region"] == "eu-west-3"
    assert store.config.get("skip_signature") in (None, False, "false")
    assert store.credential_provider is not None


def test_the_region_is_the_buckets_own_with_cache_regions(
    moto_endpoint: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """s3fs's client is in us-east-1, the bucket in eu-west-1: obstore signs for the
    bucket's region, as the URL botocore presigns for it does."""
    bucket = f"eu-{uuid.uuid4().hex[:12]}"
    where = {"LocationConstraint": "eu-west-1"}
    s3_client.create_bucket(Bucket=bucket, CreateBucketConfiguration=where)
    s3_client.put_object(Bucket=bucket, Key="k.txt", Body=b"from eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    fs = s3fs.S3FileSystem(
        key=S3_KEY,
        secret=S3_SECRET,
        cache_regions=True,
        skip_instance_cache=True,
        config_kwargs={"user_agent_extra": uuid.uuid4().hex},
    )
    fs.connect()
    assert fs._s3.meta.region_name == "us-east-1"

    store = _native._store(fs, bucket, TIMEOUTS)

    assert store.config["region"] == "eu-west-1"
    assert _body(_native.open_native(fs, bucket, "k.txt", None, TIMEOUTS)) == b"from eu-west-1"


def test_a_small_span_far_into_a_large_object_is_read_in_one_call(
    moto_endpoint: str, s3_client: Any, s3_bucket: str
) -> None:
    data = os.urandom(2 * _native.WHOLE_BODY + 10)
    s3_client.put_object(Bucket=s3_bucket, Key="native/far", Body=data)
    at = 2 * _native.WHOLE_BODY

    answer = _native.open_native(
        _fs(moto_endpoint), s3_bucket, "native/far", None, TIMEOUTS, (at, at + 9)
    )

    assert answer is not None
    assert isinstance(answer.body, LoadedBody)
    assert answer.served == ByteRange(at, at + 9)
    assert _body(answer) == data[at:]
