"""S3, the reference backend: request counts, streaming, faults and sharing, against moto."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

import objstore_adapter
from objstore_adapter import SchemeRegistry, TransferConfig

from .._proxy import RecordingProxy
from ..conftest import S3_KEY, S3_SECRET, free_port, moto_server, s3_registry

NO_RETRIES = TransferConfig(max_attempts=1)


def test_get_costs_one_backend_request(proxy: RecordingProxy, put: Any) -> None:
    url = put("one-request.txt", b"hello")
    session = objstore_adapter.session(s3_registry(proxy.endpoint))

    response = session.get(url)

    assert response.content == b"hello"
    assert [method for method, _ in proxy.requests] == ["GET"]


def test_head_costs_one_metadata_request_and_never_opens(proxy: RecordingProxy, put: Any) -> None:
    url = put("head-only.txt", b"hello")
    session = objstore_adapter.session(s3_registry(proxy.endpoint))

    response = session.head(url)

    assert response.headers["Content-Length"] == "5"
    assert [method for method, _ in proxy.requests] == ["HEAD"]


def test_405_is_answered_before_any_backend_request(proxy: RecordingProxy, put: Any) -> None:
    url = put("no-io.txt", b"x")
    session = objstore_adapter.session(s3_registry(proxy.endpoint))

    assert session.request("PATCH", url).status_code == 405
    assert proxy.requests == []


def test_response_returns_before_the_body_is_sent(proxy: RecordingProxy, put: Any) -> None:
    url = put("gated.bin", b"z" * 100_000)
    session = objstore_adapter.session(s3_registry(proxy.endpoint))
    proxy.hold_body = threading.Event()

    response = session.get(url, stream=True)  # would block here if the body were read eagerly

    assert response.status_code == 200
    proxy.hold_body.set()
    assert response.content == b"z" * 100_000


def test_a_body_closed_unread_gives_its_connection_back(proxy: RecordingProxy, put: Any) -> None:
    empty, full = put("unread/empty.bin", b""), put("unread/full.bin", b"u" * 100_000)
    session = objstore_adapter.session(s3_registry(proxy.endpoint))
    session.get(empty, stream=True).close()  # the client built, one connection in the pool
    held = []  # closed, still referenced: only close() can have given their sockets back

    # Nothing left to read: the connection goes back to the pool and serves the next GET.
    for _ in range(3):
        response = session.get(empty, stream=True)
        response.close()
        held.append(response)
    assert len(set(proxy.clients)) == 1, "a closed body kept its connection from the pool"

    # Bytes left unread: the connection cannot be reused, and closing gives its socket back.
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        response = session.get(full, stream=True)
        response.close()
        held.append(response)
    assert len(os.listdir("/proc/self/fd")) - fds < 5, "closed bodies kept their sockets"
    assert session.get(full).content == b"u" * 100_000


@pytest.mark.parametrize("stream", [True, False])
def test_a_cut_body_raises_instead_of_returning_short(
    proxy: RecordingProxy, put: Any, stream: bool
) -> None:
    """With retries off, as over HTTP (behaviour/test_healing.py: with them on, it resumes)."""
    url = put("cut.bin", os.urandom(3 * 2**20))
    session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=NO_RETRIES))
    proxy.cut_body_after = 2**20

    def read_all() -> int:
        response = session.get(url, stream=stream)
        return sum(len(chunk) for chunk in response.iter_content(2**16))

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        read_all()


def test_stall_before_the_answer_raises_timeout(proxy: RecordingProxy, put: Any) -> None:
    url = put("stall.txt", b"x")
    session = objstore_adapter.session(s3_registry(proxy.endpoint))
    proxy.stall_seconds = 10

    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        session.get(url, timeout=0.5)

    assert time.monotonic() - started < 5


@pytest.mark.parametrize("native", [False, True], ids=["presigned", "native"])
@pytest.mark.parametrize("attempts", [1, 3])
def test_stall_in_the_body_raises_read_timeout(
    proxy: RecordingProxy, put: Any, attempts: int, native: bool
) -> None:
    """A body that never comes raises, with retries off or once they are spent."""
    url = put("stall-body.txt", b"x" * 1000)
    transfer = TransferConfig(max_attempts=attempts, backoff_base=0.01, native_gets=native)
    session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=transfer))
    proxy.hold_body = threading.Event()

    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(url, timeout=(1, 0.5))
    assert time.monotonic() - started < 5

    response = session.get(url, timeout=(1, 0.5), stream=True)
    with pytest.raises(requests.exceptions.ConnectionError):  # as requests does for HTTP
        response.content  # noqa: B018


def test_unreachable_endpoint_raises_connection_error() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    no_retries = s3_registry(dead, config_kwargs={"retries": {"max_attempts": 1}})

    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        objstore_adapter.session(no_retries).get("s3://bucket/key")
    assert caught.value.request is not None
    assert not isinstance(caught.value, requests.exceptions.Timeout), "refused is not a timeout"
    seen: set[int] = set()
    link: BaseException | None = caught.value
    while link is not None:  # a cycle here makes tblib (Dask) recurse forever when pickling
        assert id(link) not in seen, "the exception chain loops"
        seen.add(id(link))
        link = link.__cause__ or link.__context__

    started = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        objstore_adapter.session(s3_registry(dead)).get("s3://bucket/key", timeout=1)
    assert time.monotonic() - started < 5


def test_missing_bucket_is_404(s3_store: Any) -> None:
    assert s3_store.session.get("s3://no-such-bucket-here/key").status_code == 404


@pytest.fixture(scope="module")
def auth_endpoint() -> Iterator[str]:
    """A second moto server that checks credentials: unknown keys are denied."""
    with moto_server({"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as endpoint:
        yield endpoint


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_access_denied_is_403_without_credentials_in_the_answer(
    auth_endpoint: str, method: str
) -> None:
    session = objstore_adapter.session(s3_registry(auth_endpoint))

    response = session.request(method, "s3://some-bucket/key.txt")

    assert response.status_code == 403
    for text in (response.text, str(response.headers), repr(session.adapters["s3://"])):
        assert S3_KEY not in text
        assert S3_SECRET not in text


def test_bad_urls_raise_requests_exceptions(s3_store: Any) -> None:
    for url in ("s3://", "s3:///key"):
        with pytest.raises(requests.exceptions.InvalidURL, match="no bucket"):
            s3_store.session.get(url)
    with pytest.raises(requests.exceptions.InvalidSchema):
        objstore_adapter.session().get("memory://local/not/registered")


def test_one_session_shared_by_threads(s3_store: Any) -> None:
    blobs = {f"t/{i}.bin": os.urandom(1000 + i) for i in range(16)}
    for key, data in blobs.items():
        s3_store.write(key, data, None)

    def fetch(i: int) -> bool:
        key = f"t/{i % 16}.bin"
        if i % 3 == 0:
            head = s3_store.session.head(s3_store.url(key))
            return bool(head.headers["Content-Length"] == str(len(blobs[key])))
        return bool(s3_store.session.get(s3_store.url(key)).content == blobs[key])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(fetch, range(160)))

    assert all(results)
    registry = s3_store.registry
    route = registry.route_for(s3_store.base)
    assert registry.filesystem(route) is registry.filesystem(route)


def _fetch_digest(session: requests.Session, url: str) -> str:
    return hashlib.sha256(session.get(url).content).hexdigest()


def test_pickled_session_works_in_another_process(s3_store: Any) -> None:
    data = os.urandom(50_000)
    s3_store.write("pickled.bin", data, None)
    session = pickle.loads(pickle.dumps(s3_store.session))

    assert session.get(s3_store.url("pickled.bin")).content == data
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        digest = pool.apply(_fetch_digest, (s3_store.session, s3_store.url("pickled.bin")))
    assert digest == hashlib.sha256(data).hexdigest()


def test_registry_prefix_routes_buckets_to_their_own_endpoint(
    moto_endpoint: str, s3_client: Any, s3_bucket: str
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="routed.txt", Body=b"routed")
    registry = SchemeRegistry()
    registry.register(
        "s3", endpoint_url=f"http://127.0.0.1:{free_port()}", key=S3_KEY, secret=S3_SECRET
    )
    registry.register(f"s3://{s3_bucket}", endpoint_url=moto_endpoint)
    registry.register(
        "minio", protocol="s3", endpoint_url=moto_endpoint, key=S3_KEY, secret=S3_SECRET
    )
    session = objstore_adapter.session(registry)

    assert session.get(f"s3://{s3_bucket}/routed.txt").content == b"routed"
    assert session.get(f"minio://{s3_bucket}/routed.txt").content == b"routed"


def test_small_put_is_one_upload_request(proxy: RecordingProxy, s3_bucket: str) -> None:
    session = objstore_adapter.session(s3_registry(proxy.endpoint))

    response = session.put(f"s3://{s3_bucket}/small-put.json", data=b"{}")

    assert response.status_code == 200
    assert response.headers["ETag"]
    # The upload itself, its ETag from the store's answer: no check before, no stat after.
    assert [method for method, _ in proxy.requests] == ["PUT"]


def _digests(session: requests.Session, url: str, count: int) -> list[str]:
    return [hashlib.sha256(session.get(url).content).hexdigest() for _ in range(count)]


def _report_digests(session: requests.Session, url: str, out: Any) -> None:
    out.put(_digests(session, url, 20))


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_children_use_their_own_connections(s3_store: Any) -> None:
    data = os.urandom(256 * 1024)
    s3_store.write("forked.bin", data, None)
    url = s3_store.url("forked.bin")
    expected = hashlib.sha256(data).hexdigest()
    assert _digests(s3_store.session, url, 2) == [expected] * 2  # the parent's pool is warm

    # Forked, not pickled: the children inherit the very session, pools and filesystems.
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    children = [
        context.Process(target=_report_digests, args=(s3_store.session, url, out)) for _ in range(2)
    ]
    for child in children:
        child.start()
    parent = _digests(s3_store.session, url, 20)  # at the same time, in the parent
    results = [out.get(timeout=120) for _ in children]
    for child in children:
        child.join(30)

    assert parent == [expected] * 20
    assert results == [[expected] * 20] * 2
    assert [child.exitcode for child in children] == [0, 0]


@pytest.mark.parametrize(
    ("conditions", "status"),
    [
        ({"If-None-Match": "{etag}"}, 304),
        ({"If-None-Match": "W/{etag}", "If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, 304),
        ({"If-None-Match": '"other"', "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, 200),
        ({"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, 304),
        ({"If-Match": "{etag}", "If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, 200),
        ({"If-Match": '"other"'}, 412),
        ({"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, 412),
        ({"If-Match": '"other"', "If-None-Match": "{etag}"}, 412),  # If-Match first
        ({"If-None-Match": '"other"', "Range": "bytes=1-2"}, 206),
    ],
)
def test_conditional_get_is_one_request_the_store_judges(
    proxy: RecordingProxy, put: Any, conditions: dict[str, str], status: int
) -> None:
    url = put("conditional.txt", b"hello")
    session = objstore_adapter.session(s3_registry(proxy.endpoint))
    etag = session.head(url).headers["ETag"]
    proxy.requests.clear()

    headers = {name: value.format(etag=etag) for name, value in conditions.items()}
    response = session.get(url, headers=headers)

    assert response.status_code == status
    assert [method for method, _ in proxy.requests] == ["GET"]
    if status == 304:
        assert response.headers["ETag"] == etag
        assert response.content == b""
    if status == 200:
        assert response.content == b"hello"
    if status == 206:
        assert response.content == b"el"


@pytest.mark.parametrize(
    ("conditions", "status"),
    [
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"a", "b"'}, 200),
        ({"If-Range": '"x"', "Range": "bytes=0-1"}, 200),
    ],
)
def test_conditionals_a_store_may_judge_differently_are_judged_here(
    proxy: RecordingProxy, put: Any, conditions: dict[str, str], status: int
) -> None:
    url = put("judged-here.txt", b"hello")
    session = objstore_adapter.session(s3_registry(proxy.endpoint))

    response = session.get(url, headers=conditions)

    assert response.status_code == status
    expected = ["HEAD"] if status == 304 else ["HEAD", "GET"]
    assert [method for method, _ in proxy.requests] == expected
