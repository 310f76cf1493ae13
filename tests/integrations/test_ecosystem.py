"""The adapter inside tools built on requests."""

from __future__ import annotations

from typing import Any

from requests_cache import CachedSession

import objstore_adapter

from .._proxy import RecordingProxy
from ..conftest import s3_registry


def test_requests_cache_revalidates_with_304s(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="cached/data.csv", Body=b"a,b\n1,2\n")
    url = f"s3://{s3_bucket}/cached/data.csv"
    session = CachedSession(backend="memory", always_revalidate=True)
    objstore_adapter.mount(
        session, objstore_adapter.ObjectStoreAdapter(s3_registry(proxy.endpoint))
    )

    first = session.get(url)
    proxy.requests.clear()
    second = session.get(url)

    assert first.content == second.content == b"a,b\n1,2\n"
    assert not first.from_cache
    assert second.from_cache
    # Revalidation was one conditional GET, which the store answered 304: no body crossed.
    assert [method for method, _ in proxy.requests] == ["GET"]
    sent = {name.lower(): value for name, value in proxy.request_headers[-1].items()}
    assert sent["if-none-match"] == first.headers["ETag"]

    s3_client.put_object(Bucket=s3_bucket, Key="cached/data.csv", Body=b"a,b\n3,4\n")
    third = session.get(url)
    assert third.content == b"a,b\n3,4\n"
    assert not third.from_cache


def test_ranged_get_fetches_only_the_range(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="ranged/blob.bin", Body=b"x" * 100_000)
    session = objstore_adapter.session(s3_registry(proxy.endpoint))

    response = session.get(f"s3://{s3_bucket}/ranged/blob.bin", headers={"Range": "bytes=-10"})

    assert response.status_code == 206
    assert response.content == b"x" * 10
    assert [method for method, _ in proxy.requests] == ["HEAD", "GET"]
    # The suffix was resolved against the size: the store is asked for 10 bytes, no more.
    assert proxy.request_headers[1]["Range"] == "bytes=99990-99999"


def test_plain_range_is_one_request(proxy: RecordingProxy, s3_client: Any, s3_bucket: str) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="ranged/plain.bin", Body=bytes(range(200)))
    session = objstore_adapter.session(s3_registry(proxy.endpoint))
    url = f"s3://{s3_bucket}/ranged/plain.bin"

    response = session.get(url, headers={"Range": "bytes=10-19"})

    assert response.status_code == 206
    assert response.content == bytes(range(10, 20))
    assert response.headers["Content-Range"] == "bytes 10-19/200"
    # The store resolves a plain range itself: one GET, no metadata request first.
    assert [method for method, _ in proxy.requests] == ["GET"]
    assert proxy.request_headers[0]["Range"] == "bytes=10-19"

    # An unsatisfiable one still answers 416 with the size, from the object's metadata.
    beyond = session.get(url, headers={"Range": "bytes=500-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == "bytes */200"
