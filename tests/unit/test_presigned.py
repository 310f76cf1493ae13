"""S3 requests through presigned URLs: signed with SigV4 for the bucket's region, with every
header the operation needs, and sent once.

The stores here are moto (which does not check signatures) and SeaweedFS (which does): an
operation whose signed headers were not sent as signed fails on SeaweedFS, and a header the
store did not apply shows in what boto3 reads back.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import certifi
import pytest
import s3fs
import urllib3

import objstore_adapter
from objstore_adapter import SchemeRegistry, TransferConfig
from objstore_adapter._backends.s3 import presigned as _presigned
from objstore_adapter._http import Timeouts

from .._proxy import RecordingProxy, serving, until_head
from ..conftest import S3_KEY, S3_SECRET, Store, read_exactly, s3_registry

TIMEOUTS = Timeouts(request=10, read=10, connect=5)


def _fs(endpoint: str, **options: Any) -> Any:
    return s3fs.S3FileSystem(
        endpoint_url=endpoint, key=S3_KEY, secret=S3_SECRET, skip_instance_cache=True, **options
    )


@pytest.fixture(params=["moto", "seaweed"])
def target(request: pytest.FixtureRequest) -> tuple[Any, Any, str]:
    """(filesystem, boto3 client, bucket) of one S3 server."""
    if request.param == "moto":
        endpoint = request.getfixturevalue("moto_endpoint")
        client = request.getfixturevalue("s3_client")
        bucket = request.getfixturevalue("s3_bucket")
    else:
        endpoint = request.getfixturevalue("seaweed_endpoint")
        client = request.getfixturevalue("seaweed_s3_client")
        bucket = request.getfixturevalue("seaweed_bucket")
    return _fs(endpoint), client, bucket


@pytest.fixture
def proxy_to_moto(moto_endpoint: str) -> Iterator[RecordingProxy]:
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        yield proxy


def _query(path: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(path).query)


def _signature(path: str, headers: Mapping[str, str]) -> tuple[str, list[str]] | None:
    """(algorithm, credential scope split at ``/``) of a request signed in its URL or in its
    ``Authorization`` header; ``None`` for an unsigned one. SigV2, in either place, fails."""
    query = _query(path)
    assert "Signature" not in query, path
    assert "AWSAccessKeyId" not in query, path
    if "X-Amz-Signature" in query:
        return query["X-Amz-Algorithm"][0], query["X-Amz-Credential"][0].split("/")
    authorization = {k.lower(): v for k, v in headers.items()}.get("authorization")
    if authorization is None:
        return None
    algorithm, _, fields = authorization.partition(" ")
    assert algorithm != "AWS", path  # SigV2
    credential = fields.split("Credential=", 1)[1].split(",", 1)[0]
    return algorithm, credential.split("/")


# --- presigned_request -------------------------------------------------------------------------


def test_a_put_carries_every_header_the_operation_sets(target: tuple[Any, Any, str]) -> None:
    fs, client, bucket = target
    key = f"signed/{uuid.uuid4().hex}"
    params = {
        "Bucket": bucket,
        "Key": key,
        "ContentType": "text/x-test",
        "CacheControl": "max-age=60",
        "ContentDisposition": 'attachment; filename="a b.txt"',
        "ContentLanguage": "fr",
        "Metadata": {"colour": "blue", "two-words": "a b"},
    }
    response = _presigned.presigned_request(fs, "put_object", params, TIMEOUTS, body=b"payload")
    assert response.status == 200, response.data

    stored = client.get_object(Bucket=bucket, Key=key)
    assert stored["Body"].read() == b"payload"
    assert stored["ContentType"] == "text/x-test"
    assert stored["CacheControl"] == "max-age=60"
    assert stored["ContentDisposition"] == 'attachment; filename="a b.txt"'
    assert stored["ContentLanguage"] == "fr"
    assert stored["Metadata"] == {"colour": "blue", "two-words": "a b"}


def test_conditions_travel_to_the_store(target: tuple[Any, Any, str]) -> None:
    fs, client, bucket = target
    key = f"signed/{uuid.uuid4().hex}"
    create = {"Bucket": bucket, "Key": key, "IfNoneMatch": "*"}

    first = _presigned.presigned_request(fs, "put_object", create, TIMEOUTS, body=b"first")
    again = _presigned.presigned_request(fs, "put_object", create, TIMEOUTS, body=b"second")

    assert (first.status, again.status) == (200, 412)
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"first"


def test_upload_part_get_and_delete(target: tuple[Any, Any, str]) -> None:
    fs, client, bucket = target
    key = f"signed/{uuid.uuid4().hex}"
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part = {"Bucket": bucket, "Key": key, "UploadId": upload, "PartNumber": 1, "ContentLength": 5}
    # An iterable body, its length given: sent as it is, not chunked.
    sent = _presigned.presigned_request(
        fs, "upload_part", part, TIMEOUTS, body=iter([b"he", b"llo"])
    )
    assert sent.status == 200, sent.data
    etag = sent.headers["ETag"]
    client.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )

    where = {"Bucket": bucket, "Key": key}
    read = _presigned.presigned_request(fs, "get_object", where, TIMEOUTS, stream=True)
    assert (read.status, read.read()) == (200, b"hello")
    read.release_conn()
    assert _presigned.presigned_request(fs, "delete_object", where, TIMEOUTS).status == 204
    gone = _presigned.presigned_request(fs, "get_object", where, TIMEOUTS)
    assert gone.status == 404


def test_signing_stays_in_the_calling_thread_once_the_client_is_built(
    moto_endpoint: str, s3_bucket: str
) -> None:
    """The fast path: no hop to fsspec's loop for any operation, once s3fs built its client."""
    fs = _fs(moto_endpoint)
    where = {"Bucket": s3_bucket, "Key": "k"}
    assert _presigned.sign_here(fs, "get_object", where) is None  # no client yet
    fs.connect()
    operations: list[tuple[str, dict[str, Any]]] = [
        ("get_object", {}),
        ("put_object", {"ContentType": "text/plain", "IfNoneMatch": "*"}),
        ("upload_part", {"UploadId": "u", "PartNumber": 3}),
        ("delete_object", {"IfMatch": '"e"'}),
    ]
    for operation, extra in operations:
        signed = _presigned.sign_here(fs, operation, {**where, **extra})
        assert signed is not None, operation
        assert _query(signed.url)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]


def test_a_dropped_connection_is_raised_after_one_request(
    s3_bucket: str, proxy_to_moto: RecordingProxy
) -> None:
    """No retries inside: the adapter's retry policy owns them."""
    fs = _fs(proxy_to_moto.endpoint)
    proxy_to_moto.stall_seconds = 0.01  # then closes without an answer
    with pytest.raises(urllib3.exceptions.ProtocolError):
        _presigned.presigned_request(
            fs, "put_object", {"Bucket": s3_bucket, "Key": "dropped"}, TIMEOUTS, body=b"x"
        )
    assert [method for method, _ in proxy_to_moto.requests] == ["PUT"]


def test_a_redirect_is_answered_not_followed(s3_bucket: str, proxy_to_moto: RecordingProxy) -> None:
    fs = _fs(proxy_to_moto.endpoint)
    proxy_to_moto.answer(301, {"Location": f"{proxy_to_moto.endpoint}/elsewhere"})
    response = _presigned.presigned_request(
        fs, "get_object", {"Bucket": s3_bucket, "Key": "moved"}, TIMEOUTS
    )
    assert response.status == 301
    assert len(proxy_to_moto.requests) == 1


def _refused_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there now


def test_a_refused_connection_is_tried_once(s3_bucket: str) -> None:
    """GETs too: urllib3 no longer retries a connect under the adapter's own retries."""
    endpoint = _refused_endpoint()
    fs = _fs(endpoint)
    with pytest.raises(urllib3.exceptions.NewConnectionError):
        _presigned.open_presigned(fs, s3_bucket, "k", None, TIMEOUTS, {})
    pool = _presigned.pool_for(fs).connection_from_url(endpoint)
    assert pool.num_connections == 1


# --- SigV4 on every S3 path, through the adapter ---------------------------------------------

MiB = 2**20


def _signed_requests(proxy: RecordingProxy) -> list[tuple[str, str, dict[str, str]]]:
    """(method, path, headers in lower case) of each request the adapter signed itself (in
    the URL, or in a header for a request without a body), after checking that every
    request is SigV4 for ``us-east-1``."""
    found = []
    for (method, path), headers in zip(proxy.requests, proxy.request_headers, strict=True):
        signature = _signature(path, headers)
        if signature is None:
            continue
        algorithm, (_key, _day, region, service, end) = signature
        assert algorithm == "AWS4-HMAC-SHA256", path
        assert (region, service, end) == ("us-east-1", "s3", "aws4_request"), path
        lower = {k.lower(): v for k, v in headers.items()}
        if "botocore" not in lower.get("user-agent", "").lower():  # not s3fs's own request
            found.append((method, path, lower))
    return found


@pytest.fixture(params=["moto", "seaweed"])
def upstream(request: pytest.FixtureRequest) -> tuple[int, Any, str]:
    """(port, boto3 client, bucket) of one S3 server: moto, or SeaweedFS, which checks
    signatures (a request whose signed headers were not sent as signed fails there)."""
    name = "moto_endpoint" if request.param == "moto" else "seaweed_endpoint"
    client = "s3_client" if request.param == "moto" else "seaweed_s3_client"
    bucket = "s3_bucket" if request.param == "moto" else "seaweed_bucket"
    port = int(request.getfixturevalue(name).rsplit(":", 1)[1])
    return port, request.getfixturevalue(client), request.getfixturevalue(bucket)


@pytest.mark.parametrize("path", ["get", "ranged parts", "resume", "upload parts"])
def test_every_s3_path_presigns_with_sigv4_for_the_region(
    upstream: tuple[int, Any, str], path: str
) -> None:
    port, client, bucket = upstream
    key = f"sigv4/{uuid.uuid4().hex}.bin"
    data = os.urandom(11 * MiB if path == "upload parts" else 3 * MiB + 17)
    transfer = TransferConfig(part_size=5 * MiB)
    if path == "ranged parts":
        transfer = TransferConfig(
            parallel_below=float("inf"), download_part_size=MiB, download_concurrency=3
        )
    with RecordingProxy(port) as proxy:
        session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=transfer))
        url = f"s3://{bucket}/{key}"
        if path == "upload parts":
            assert session.put(url, data=data, timeout=30).status_code in (200, 201)
            assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == data
        else:
            client.put_object(Bucket=bucket, Key=key, Body=data)
            if path == "resume":
                proxy.cut_body_after, proxy.cuts_left = MiB, 1
            response = session.get(url, stream=True, timeout=30)
            assert b"".join(response.iter_content(MiB)) == data
            assert proxy.cuts_left in (None, 0)

        presigned = _signed_requests(proxy)
        if path == "upload parts":
            parts = [p for method, p, _ in presigned if method == "PUT" and "partNumber" in p]
            assert len(parts) == 3
        elif path == "get":
            assert [method for method, _, _ in presigned] == ["GET"]
        else:  # parts of the same version: a Range, pinned by If-Match
            pinned = [h for method, _, h in presigned if "range" in h and "if-match" in h]
            assert len(pinned) >= (2 if path == "ranged parts" else 1)


#: What S3 answers a request sent to a region its bucket is not in.
_PERMANENT_REDIRECT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code>'
    b"<Message>The bucket you are attempting to access must be addressed using the specified"
    b" endpoint.</Message></Error>"
)


def _get_regions(proxy: RecordingProxy, since: int) -> list[str]:
    """The credential scope's region of each signed GET from request ``since`` on."""
    regions = []
    for (method, path), headers in zip(
        proxy.requests[since:], proxy.request_headers[since:], strict=True
    ):
        signature = _signature(path, headers)
        if method == "GET" and signature:
            regions.append(signature[1][2])
    return regions


def test_a_bucket_outside_the_client_region_is_signed_for_its_own_region(
    s3_client: Any, s3_bucket: str, proxy_to_moto: RecordingProxy
) -> None:
    """The client is in eu-west-1, the bucket in us-east-1: S3 answers the first request
    with a redirect naming the bucket's region (the presigned GET, then s3fs's), botocore
    learns it, and from then on the URLs are signed for it: one request per GET."""
    s3_client.put_object(Bucket=s3_bucket, Key="elsewhere.txt", Body=b"from us-east-1")
    registry = s3_registry(proxy_to_moto.endpoint, client_kwargs={"region_name": "eu-west-1"})
    session = objstore_adapter.session(registry)
    url = f"s3://{s3_bucket}/elsewhere.txt"
    redirect = {"x-amz-bucket-region": "us-east-1", "Content-Type": "application/xml"}
    proxy_to_moto.answer(301, redirect, _PERMANENT_REDIRECT, times=2, methods=("GET",))

    first = session.get(url, timeout=30)
    assert (first.status_code, first.content) == (200, b"from us-east-1")
    assert _get_regions(proxy_to_moto, 0)[0] == "eu-west-1"  # before S3 said where it is

    for _ in range(2):
        since = len(proxy_to_moto.requests)
        again = session.get(url, timeout=30)
        assert (again.status_code, again.content) == (200, b"from us-east-1")
        assert [method for method, _ in proxy_to_moto.requests[since:]] == ["GET"]
        assert _get_regions(proxy_to_moto, since) == ["us-east-1"]


def test_with_cache_regions_urls_are_signed_for_the_bucket_region(
    s3_client: Any, proxy_to_moto: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """s3fs's ``cache_regions`` (on only where no endpoint or region is given: here the
    endpoint comes from the environment) builds a client per bucket region: the URL is
    signed with it, in the calling thread once the bucket's region is known."""
    bucket = f"eu-{uuid.uuid4().hex[:12]}"
    where = {"LocationConstraint": "eu-west-1"}
    s3_client.create_bucket(Bucket=bucket, CreateBucketConfiguration=where)
    s3_client.put_object(Bucket=bucket, Key="k.txt", Body=b"from eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy_to_moto.endpoint)
    registry = SchemeRegistry()
    registry.register(
        "s3", key=S3_KEY, secret=S3_SECRET, cache_regions=True, skip_instance_cache=True
    )
    session = objstore_adapter.session(registry)
    url = f"s3://{bucket}/k.txt"

    for _ in range(2):
        since = len(proxy_to_moto.requests)
        response = session.get(url, timeout=30)
        assert (response.status_code, response.content) == (200, b"from eu-west-1")
        assert _get_regions(proxy_to_moto, since) == ["eu-west-1"]
    fs: Any = registry.filesystem(registry.route_for(url))
    assert fs.cache_regions
    signed = _presigned.sign_here(fs, "get_object", {"Bucket": bucket, "Key": "k.txt"})
    assert signed is not None
    assert "%2Feu-west-1%2Fs3%2F" in signed.url


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "eu-central-1", "ap-east-1"])
def test_aws_urls_name_the_region_they_are_sent_to(region: str) -> None:
    """On AWS (signing is local: nothing is sent here), the URL goes where s3fs sends its own
    requests, signed for that region, whether botocore would presign it with SigV2 (a region
    that still takes it) or not (eu-central-1, or an opt-in region such as ap-east-1)."""
    fs = s3fs.S3FileSystem(
        key=S3_KEY,
        secret=S3_SECRET,
        client_kwargs={"region_name": region},
        skip_instance_cache=True,
    )
    fs.connect()
    signed = _presigned.sign_here(fs, "get_object", {"Bucket": "a-bucket", "Key": "k"})
    assert signed is not None
    parts = urlsplit(signed.url)
    query = parse_qs(parts.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Credential"][0].split("/")[2:] == [region, "s3", "aws4_request"]
    own_host = "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"
    assert parts.netloc == f"a-bucket.{own_host}"


def test_a_signed_url_lives_as_long_as_one_request_needs() -> None:
    fs = s3fs.S3FileSystem(key=S3_KEY, secret=S3_SECRET, skip_instance_cache=True)
    fs.connect()
    signed = _presigned.sign_here(fs, "put_object", {"Bucket": "a-bucket", "Key": "k"})
    assert signed is not None
    assert parse_qs(urlsplit(signed.url).query)["X-Amz-Expires"] == ["900"]


def test_credentials_due_for_refresh_are_refreshed_on_fsspecs_loop(
    moto_endpoint: str, s3_client: Any, s3_bucket: str
) -> None:
    """botocore refreshes credentials with its own I/O, bound to fsspec's event loop: a
    request whose credentials are due signs there, not in the calling thread."""
    import datetime as dt
    import threading

    from aiobotocore.credentials import AioRefreshableCredentials
    from aiobotocore.session import AioSession

    refreshed_on: list[str] = []

    def metadata(minutes: int) -> dict[str, str]:
        expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)
        return {
            "access_key": S3_KEY,
            "secret_key": S3_SECRET,
            "token": "a-session-token",
            "expiry_time": expiry.isoformat(),
        }

    async def refresh() -> dict[str, str]:
        refreshed_on.append(threading.current_thread().name)
        return metadata(60)

    session = AioSession()
    session._credentials = AioRefreshableCredentials.create_from_metadata(
        metadata(1),
        refresh,
        "test",  # expires within botocore's 15 advisory minutes
    )
    fs = s3fs.S3FileSystem(endpoint_url=moto_endpoint, session=session, skip_instance_cache=True)
    fs.connect()
    s3_client.put_object(Bucket=s3_bucket, Key="refreshed.txt", Body=b"fresh")
    where = {"Bucket": s3_bucket, "Key": "refreshed.txt"}

    read = _presigned.presigned_request(fs, "get_object", where, TIMEOUTS)

    assert (read.status, read.data) == (200, b"fresh")
    assert refreshed_on == ["fsspecIO"]
    assert _presigned.sign_here(fs, "get_object", where) is not None  # fresh now: here


# --- the presigned path's own rules ----------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "presigns"),
    [
        ({}, True),
        ({"config_kwargs": {"connect_timeout": 5}}, True),
        ({"s3_additional_kwargs": {"SSECustomerAlgorithm": "AES256"}}, False),
        ({"requester_pays": True}, False),
        ({"config_kwargs": {"proxies": {"https": "http://127.0.0.1:9"}}}, False),
    ],
)
def test_only_filesystems_whose_requests_a_url_can_carry_presign(
    options: dict[str, Any], presigns: bool
) -> None:
    assert _presigned.can_presign(_fs("http://127.0.0.1:9", **options)) is presigns


def test_a_filesystem_without_s3fs_attributes_presigns() -> None:
    class Bare:
        pass

    assert _presigned.can_presign(Bare()) is True


@pytest.mark.parametrize(
    ("verify", "cert_reqs", "ca_certs"),
    [
        (None, "CERT_REQUIRED", certifi.where()),  # botocore's own bundle, not the system's
        (True, "CERT_REQUIRED", certifi.where()),
        (False, "CERT_NONE", None),
        ("/etc/own-ca.pem", "CERT_REQUIRED", "/etc/own-ca.pem"),
        (Path("/etc/own-ca.pem"), "CERT_REQUIRED", "/etc/own-ca.pem"),
    ],
    ids=["default", "true", "false", "a bundle", "a bundle's Path"],
)
def test_the_pool_verifies_tls_as_botocore_was_told(
    verify: bool | str | Path | None,
    cert_reqs: str,
    ca_certs: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    client_kwargs = {} if verify is None else {"verify": verify}
    fs = _fs("https://127.0.0.1:9", client_kwargs=client_kwargs)
    fs.connect()  # the client, whose resolved setting is read

    pool = _presigned.pool_for(fs)

    assert pool.connection_pool_kw["cert_reqs"] == cert_reqs
    assert pool.connection_pool_kw.get("ca_certs") == ca_certs
    assert _presigned.pool_for(fs) is pool  # one pool per filesystem
    assert _presigned.pool_for(_fs("https://127.0.0.1:9")) is not pool


@pytest.mark.parametrize(
    ("content_range", "served"),
    [
        ("bytes 0-9/100", (0, 9)),
        ("bytes 17-17/18", (17, 17)),
        ("bytes 5-9/*", (5, 9)),
        (None, None),
        ("", None),
        ("bytes */100", None),
        ("bytes 5-/100", None),
        ("bytes -5/100", None),
        ("items 0-9/100", None),
        ("bytes=0-9/100", None),
    ],
)
def test_the_range_served_is_read_from_content_range(
    content_range: str | None, served: tuple[int, int] | None
) -> None:
    found = _presigned._served_range(content_range)
    assert (None if found is None else (found.start, found.end)) == served


class _Answer:
    """An answer as raise_definite reads it: a status and headers."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.headers = {"x-amz-request-id": "r"}


@pytest.mark.parametrize(
    ("status", "raised"),
    [
        (401, PermissionError),
        (403, PermissionError),
        (404, FileNotFoundError),
        (429, OSError),
        (503, OSError),
        (400, None),
        (301, None),
        (500, None),
        (501, None),
    ],
)
def test_only_definite_answers_are_raised_as_the_stores(status: int, raised: type | None) -> None:
    from objstore_adapter._errors import store_answer

    answer: Any = _Answer(status)
    if raised is None:
        _presigned.raise_definite(answer, "b/k")  # returns: s3fs is asked
        return
    with pytest.raises(raised) as caught:
        _presigned.raise_definite(answer, "b/k")
    found = store_answer(caught.value)
    assert found is not None
    assert found.status == status
    assert found.headers == {"x-amz-request-id": "r"}  # the store's answer, for diagnosis


# --- open_presigned ---------------------------------------------------------------------------


def test_a_version_is_read_as_it_was(moto_endpoint: str, s3_client: Any) -> None:
    bucket = f"versioned-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3_client.put_object(Bucket=bucket, Key="k", Body=b"old")["VersionId"]
    s3_client.put_object(Bucket=bucket, Key="k", Body=b"new")
    fs = _fs(moto_endpoint)

    for version, expected in [(old, b"old"), (None, b"new")]:
        answer = _presigned.open_presigned(fs, bucket, "k", version, TIMEOUTS, {})
        assert answer.body is not None
        assert (answer.status, answer.body.read(100)) == (200, expected)
        answer.body.close()


def test_a_range_is_served_as_the_store_says(
    moto_endpoint: str, s3_client: Any, s3_bucket: str
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="ranged", Body=b"0123456789")
    fs = _fs(moto_endpoint)

    answer = _presigned.open_presigned(
        fs, s3_bucket, "ranged", None, TIMEOUTS, {"Range": "bytes=2-4"}
    )

    assert answer.body is not None
    assert (answer.status, answer.body.read(100)) == (206, b"234")
    assert answer.served is not None
    assert (answer.served.start, answer.served.end) == (2, 4)
    assert answer.info.size == 10
    answer.body.close()
    whole = _presigned.open_presigned(fs, s3_bucket, "ranged", None, TIMEOUTS, {})
    assert (whole.status, whole.served) == (200, None)
    assert whole.info.size == 10
    assert whole.body is not None
    whole.body.close()


def test_failed_preconditions_come_back_without_a_body(
    moto_endpoint: str, s3_client: Any, s3_bucket: str
) -> None:
    etag = s3_client.put_object(Bucket=s3_bucket, Key="cond", Body=b"x")["ETag"]
    fs = _fs(moto_endpoint)

    same = _presigned.open_presigned(fs, s3_bucket, "cond", None, TIMEOUTS, {"If-None-Match": etag})
    other = _presigned.open_presigned(
        fs, s3_bucket, "cond", None, TIMEOUTS, {"If-Match": '"not-the-etag"'}
    )

    assert (same.status, same.body, same.served, same.info.etag) == (304, None, None, etag)
    assert (other.status, other.body, other.served) == (412, None, None)


def test_a_missing_object_is_raised_and_a_refusal_left_to_s3fs(
    s3_bucket: str, proxy_to_moto: RecordingProxy
) -> None:
    fs = _fs(proxy_to_moto.endpoint)
    with pytest.raises(FileNotFoundError, match=f"{s3_bucket}/missing"):
        _presigned.open_presigned(fs, s3_bucket, "missing", None, TIMEOUTS, {})

    proxy_to_moto.answer(400, {"Content-Type": "application/xml"}, b"<Error/>")
    with pytest.raises(_presigned.PresignedRefused) as caught:
        _presigned.open_presigned(fs, s3_bucket, "missing", None, TIMEOUTS, {})
    assert caught.value.status == 400
    assert "400" in str(caught.value)

    # Both error answers were read to their end: the connection served the next request.
    proxy_to_moto.answer(400, {"Content-Type": "application/xml"}, b"<Error/>")
    with pytest.raises(_presigned.PresignedRefused):
        _presigned.open_presigned(fs, s3_bucket, "missing", None, TIMEOUTS, {})
    assert len(set(proxy_to_moto.clients)) == 1


def test_a_body_read_to_its_end_gives_its_connection_back(
    s3_client: Any, s3_bucket: str, proxy_to_moto: RecordingProxy
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="reuse", Body=b"0123456789")
    fs = _fs(proxy_to_moto.endpoint)

    def read(n: int) -> bytes:
        answer = _presigned.open_presigned(fs, s3_bucket, "reuse", None, TIMEOUTS, {})
        assert answer.body is not None
        data = answer.body.read(n)
        answer.body.close()
        return data

    assert read(100) == b"0123456789"
    assert read(2**20) == b"0123456789"  # a large read of a small body
    assert read(100) == b"0123456789"
    assert len(set(proxy_to_moto.clients)) == 1  # the connection was reused
    assert read(3) == b"012"  # closed with bytes unread: that connection is dropped
    assert read(100) == b"0123456789"
    assert len(set(proxy_to_moto.clients)) == 2


class _HeadAndBody:
    """Answers each GET with its head and ``body`` in one write, so that the client's read of
    the head takes in the first body bytes too. With ``send``, only that many body bytes are
    sent; the connection then stays silent until ``stall`` is set, and closes."""

    def __init__(self, body: bytes, send: int | None = None) -> None:
        self.head = f'HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nETag: "e"\r\n\r\n'.encode()
        self.sent = body[:send]
        self.connections = 0
        self.stall = threading.Event()
        self.stalling = send is not None

    def __call__(self, connection: socket.socket) -> None:
        self.connections += 1
        while until_head(connection) is not None:
            connection.sendall(self.head + self.sent)
            if self.stalling:
                self.stall.wait(10)
                return


def _close_kept(fs: Any, port: int) -> None:
    """Close the connections kept for ``fs`` to 127.0.0.1:``port``: the server's thread,
    waiting for their next request, ends."""
    _presigned.pool_for(fs).connection_from_host("127.0.0.1", port, scheme="http").close()


def test_a_streamed_body_is_read_from_the_socket_into_the_bytes_handed_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past what came with the head, each read asks the socket for exactly what it still
    lacks: none goes through http.client's buffer (a refill, then a copy out of it). The
    connection serves the next GET."""
    body = os.urandom(3 * 2**20 + 12345)
    server = _HeadAndBody(body)
    socket_reads: list[tuple[int, int]] = []  # (bytes asked for, bytes read)
    read_socket = socket.SocketIO.readinto

    def recorded(self: socket.SocketIO, into: Any) -> int | None:
        asked = len(into)
        got = read_socket(self, into)
        socket_reads.append((asked, got or 0))
        return got

    with serving(server) as port:
        fs = _fs(f"http://127.0.0.1:{port}")
        for _ in range(2):
            answer = _presigned.open_presigned(fs, "bucket", "key", None, TIMEOUTS, {})
            assert answer.body is not None
            monkeypatch.setattr(socket.SocketIO, "readinto", recorded)
            received = [answer.body.read(2**20)]  # what came with the head, or one socket read
            assert 0 < len(received[0]) <= 2**20
            while True:
                socket_reads.clear()
                if not (chunk := answer.body.read(2**20)):
                    break
                received.append(chunk)
                wanted = len(chunk)
                for asked, got in socket_reads:
                    assert asked == wanted  # not a buffer's size
                    wanted -= got
                assert wanted == 0
            monkeypatch.undo()
            answer.body.close()
            assert b"".join(received) == body
            assert all(len(chunk) == 2**20 for chunk in received[1:-1])
        _close_kept(fs, port)

    assert server.connections == 1


def test_readinto_fills_the_callers_buffer_from_the_socket(
    s3_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``response.raw.readinto`` hands the caller's buffer down every layer (the body's
    guard, healing, parallel parts' one stream) to the socket: no bytes object between."""
    data = os.urandom(5 * 2**20 + 12345)
    s3_store.write("into.bin", data, None)
    buffer = bytearray(2**20)
    start = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    landed: list[bool] = []  # per socket read: into the caller's buffer?
    read_socket = socket.SocketIO.readinto

    def recorded(self: socket.SocketIO, into: Any) -> int | None:
        at = ctypes.addressof(ctypes.c_char.from_buffer(memoryview(into).cast("B")))
        landed.append(start <= at < start + len(buffer))
        return read_socket(self, into)

    got = []
    with s3_store.session.get(s3_store.url("into.bin"), stream=True, timeout=30) as response:
        monkeypatch.setattr(socket.SocketIO, "readinto", recorded)
        while n := response.raw.readinto(buffer):
            got.append(bytes(buffer[:n]))
        monkeypatch.undo()
        assert response.raw.tell() == len(data)

    assert b"".join(got) == data
    assert landed.count(False) <= 1, "only the first read, of what came with the head"
    assert landed.count(True) >= 5


def test_a_body_cut_while_read_into_a_buffer_raises_as_urllib3s_read_does() -> None:
    """http.client's ``readinto`` returns 0 at a connection's end; a body short of its
    length then raises (urllib3's ``IncompleteRead``), so its connection is never kept."""
    body = os.urandom(3 * 2**20)
    server = _HeadAndBody(body, send=2**20 + 100)
    server.stall.set()  # the server closes the connection after those bytes
    with serving(server) as port:
        fs = _fs(f"http://127.0.0.1:{port}")
        answer = _presigned.open_presigned(fs, "bucket", "key", None, TIMEOUTS, {})
        assert isinstance(answer.body, _presigned.PresignedBody)
        view = memoryview(bytearray(2**20))
        with pytest.raises(urllib3.exceptions.ProtocolError, match="IncompleteRead"):
            _read_into_to_the_end(answer.body, view)
        answer.body.close()


def _read_into_to_the_end(body: _presigned.PresignedBody, view: memoryview) -> None:
    while body.readinto(view):
        pass


def test_a_body_that_came_with_its_head_keeps_its_connection() -> None:
    server = _HeadAndBody(b"0123456789")
    with serving(server) as port:
        fs = _fs(f"http://127.0.0.1:{port}")
        for _ in range(3):
            answer = _presigned.open_presigned(fs, "bucket", "key", None, TIMEOUTS, {})
            assert answer.body is not None
            assert answer.body.read(2**20) == b"0123456789"
            assert answer.body.read(2**20) == b""
            answer.body.close()
        _close_kept(fs, port)

    assert server.connections == 1


@pytest.mark.parametrize("sent", [5000, 2**20 + 5000], ids=["in the first read", "after it"])
def test_a_cut_body_raises(sent: int) -> None:
    body = os.urandom(3 * 2**20)
    server = _HeadAndBody(body, send=sent)
    with serving(server) as port:
        answer = _presigned.open_presigned(
            _fs(f"http://127.0.0.1:{port}"), "bucket", "key", None, TIMEOUTS, {}
        )
        assert answer.body is not None
        server.stall.set()  # the connection closes after what was sent
        assert read_exactly(answer.body, sent) == body[:sent]
        with pytest.raises(urllib3.exceptions.ProtocolError, match="IncompleteRead"):
            answer.body.read(2**20)
        answer.body.close()


def test_a_body_that_stops_coming_after_the_first_read_times_out() -> None:
    body = os.urandom(3 * 2**20)
    server = _HeadAndBody(body, send=2**20 + 5000)
    quick = Timeouts(request=10, read=0.5, connect=5)
    with serving(server) as port:
        answer = _presigned.open_presigned(
            _fs(f"http://127.0.0.1:{port}"), "bucket", "key", None, quick, {}
        )
        assert answer.body is not None
        try:
            assert read_exactly(answer.body, 2**20 + 5000) == body[: 2**20 + 5000]
            with pytest.raises(urllib3.exceptions.ReadTimeoutError):
                answer.body.read(2**20)
        finally:
            server.stall.set()
        answer.body.close()


def test_a_request_without_a_body_is_signed_in_a_header(
    s3_client: Any, s3_bucket: str, proxy_to_moto: RecordingProxy
) -> None:
    """The URL stays short: the signature travels in ``Authorization``, and nothing else
    botocore would add (its User-Agent) is sent."""
    s3_client.put_object(Bucket=s3_bucket, Key="header-signed", Body=b"x")
    fs = _fs(proxy_to_moto.endpoint)
    fs.connect()
    where = {"Bucket": s3_bucket, "Key": "header-signed"}

    signed = _presigned.sign_here(fs, "get_object", where, in_url=False)
    answer = _presigned.presigned_request(fs, "get_object", where, TIMEOUTS)

    assert signed is not None
    assert urlsplit(signed.url).query == ""
    assert signed.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert "User-Agent" not in signed.headers
    assert (answer.status, answer.data) == (200, b"x")
    [(method, path)] = proxy_to_moto.requests
    assert (method, path) == ("GET", f"/{s3_bucket}/header-signed")
    sent = {k.lower(): v for k, v in proxy_to_moto.request_headers[0].items()}
    assert sent["authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert "botocore" not in sent.get("user-agent", "")


def test_an_anonymous_filesystem_sends_unsigned_urls(moto_endpoint: str) -> None:
    fs = s3fs.S3FileSystem(endpoint_url=moto_endpoint, anon=True, skip_instance_cache=True)
    fs.connect()

    signed = _presigned.sign_here(fs, "get_object", {"Bucket": "b", "Key": "k"})

    assert signed is not None
    assert _signature(urlsplit(signed.url).path + "?" + urlsplit(signed.url).query, {}) is None
    assert "Authorization" not in signed.headers


def test_a_store_slower_than_the_read_timeout_raises(
    s3_bucket: str, proxy_to_moto: RecordingProxy
) -> None:
    fs = _fs(proxy_to_moto.endpoint)
    proxy_to_moto.delay_seconds = 1.0
    quick = Timeouts(request=10, read=0.2, connect=5)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        _presigned.presigned_request(fs, "get_object", {"Bucket": s3_bucket, "Key": "k"}, quick)


def test_sigv2_configured_explicitly_signs_in_the_url_and_in_headers(
    target: tuple[Any, Any, str],
) -> None:
    """A SigV2 header signature covers the Date header, which is sent (SeaweedFS refuses the
    request without it); a SigV2 URL carries its expiry, and no Date header goes with it."""
    fs, client, bucket = target
    fs = _fs(fs.endpoint_url, config_kwargs={"signature_version": "s3"})
    key = f"sigv2/{uuid.uuid4().hex}"
    where = {"Bucket": bucket, "Key": key}

    put = _presigned.presigned_request(fs, "put_object", where, TIMEOUTS, body=b"v2")
    get = _presigned.presigned_request(fs, "get_object", where, TIMEOUTS)

    assert put.status == 200, put.data
    assert (get.status, get.data) == (200, b"v2")
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"v2"


def test_sigv2_sends_the_date_only_its_header_signature_covers(
    s3_bucket: str, proxy_to_moto: RecordingProxy
) -> None:
    fs = _fs(proxy_to_moto.endpoint, config_kwargs={"signature_version": "s3"})
    where = {"Bucket": s3_bucket, "Key": "sigv2-date"}

    _presigned.presigned_request(fs, "put_object", where, TIMEOUTS, body=b"v2")
    _presigned.presigned_request(fs, "get_object", where, TIMEOUTS)

    in_url, in_header = (
        {k.lower(): v for k, v in h.items()} for h in proxy_to_moto.request_headers
    )
    assert "date" not in in_url
    assert "signature=" in proxy_to_moto.requests[0][1].lower()
    assert in_header["authorization"].startswith("AWS ")
    assert in_header["date"].endswith(" GMT")


def test_a_compressed_object_is_served_as_stored(
    moto_endpoint: str, s3_client: Any, s3_bucket: str
) -> None:
    """Content-Encoding is the object's: its bytes go to the caller undecoded."""
    import gzip

    packed = gzip.compress(b"a body stored compressed" * 10)
    s3_client.put_object(Bucket=s3_bucket, Key="packed", Body=packed, ContentEncoding="gzip")

    answer = _presigned.open_presigned(_fs(moto_endpoint), s3_bucket, "packed", None, TIMEOUTS, {})

    assert answer.body is not None
    assert answer.body.read(10_000) == packed
    answer.body.close()


def test_any_other_answer_from_300_on_is_left_to_s3fs(
    s3_bucket: str, proxy_to_moto: RecordingProxy
) -> None:
    proxy_to_moto.answer(300, {"Location": "/elsewhere"}, b"choose")
    with pytest.raises(_presigned.PresignedRefused) as caught:
        _presigned.open_presigned(_fs(proxy_to_moto.endpoint), s3_bucket, "k", None, TIMEOUTS, {})
    assert caught.value.status == 300


def test_sign_on_the_loop_signs_in_the_url_unless_told(moto_endpoint: str, s3_bucket: str) -> None:
    """What the native path reads its endpoint, region and credentials from: a URL."""
    from fsspec.asyn import sync

    fs = _fs(moto_endpoint)
    where = {"Bucket": s3_bucket, "Key": "k"}

    in_url = sync(fs.loop, _presigned.sign, fs, "get_object", where)
    in_header = sync(fs.loop, _presigned.sign, fs, "get_object", where, False)

    assert _query(in_url.url)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert "Authorization" not in in_url.headers
    assert urlsplit(in_header.url).query == ""
    assert in_header.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")


# --- transport: connections, TLS, timeouts ---------------------------------------------------


def test_an_answer_read_whole_gives_its_connection_back(
    s3_bucket: str, proxy_to_moto: RecordingProxy
) -> None:
    """A request not streamed is read at once: its connection serves the next request."""
    fs = _fs(proxy_to_moto.endpoint)
    where = {"Bucket": s3_bucket, "Key": "reused"}

    for _ in range(3):
        _presigned.presigned_request(fs, "delete_object", where, TIMEOUTS)

    assert len(proxy_to_moto.requests) == 3
    assert len(set(proxy_to_moto.clients)) == 1


def test_the_connections_of_overlapping_reads_are_kept(
    s3_client: Any, s3_bucket: str, proxy_to_moto: RecordingProxy
) -> None:
    """Threads sharing a session read at once: each read's connection is kept for the next."""
    s3_client.put_object(Bucket=s3_bucket, Key="overlap", Body=b"x" * 100)
    fs = _fs(proxy_to_moto.endpoint)

    for _ in range(2):
        answers = [
            _presigned.open_presigned(fs, s3_bucket, "overlap", None, TIMEOUTS, {})
            for _ in range(4)
        ]
        for answer in answers:
            assert answer.body is not None
            assert answer.body.read(1000) == b"x" * 100
            answer.body.close()

    assert len(set(proxy_to_moto.clients)) == 4


@pytest.fixture
def tls_endpoint(tmp_path: Any) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate: it answers every GET
    with ``secure``."""
    import datetime as dt
    import ipaddress
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"secure")

        def log_message(self, format: str, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("verify", ["off", "bundle", "default"])
def test_https_endpoints_are_verified_as_botocore_is_told(
    tls_endpoint: str, tmp_path: Any, verify: str
) -> None:
    """``verify=False`` takes any certificate, a CA bundle's path trusts it, and by default
    a self-signed certificate is refused."""
    chosen = {"off": False, "bundle": str(tmp_path / "cert.pem"), "default": True}[verify]
    fs = _fs(tls_endpoint, client_kwargs={"verify": chosen})
    where = {"Bucket": "b", "Key": "k"}

    if verify == "default":
        with pytest.raises(urllib3.exceptions.SSLError):
            _presigned.presigned_request(fs, "get_object", where, TIMEOUTS)
        return
    if verify == "off":  # urllib3 says so, as requests does
        with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
            answer = _presigned.presigned_request(fs, "get_object", where, TIMEOUTS)
    else:
        answer = _presigned.presigned_request(fs, "get_object", where, TIMEOUTS)
    assert (answer.status, answer.data) == (200, b"secure")


@pytest.mark.parametrize("variable", ["AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"])
@pytest.mark.parametrize("whole", [0, 2**20], ids=["streamed", "read at once"])
def test_a_ca_bundle_botocore_found_for_itself_is_trusted(
    tls_endpoint: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, variable: str, whole: int
) -> None:
    """botocore takes a CA bundle from ``AWS_CA_BUNDLE`` or ``REQUESTS_CA_BUNDLE`` when it
    is not told one: the presigned pool and the kept sockets of a GET read at once trust
    what s3fs's own requests trust."""
    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):  # the first one set wins
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(tmp_path / "cert.pem"))
    fs = _fs(tls_endpoint)
    where = {"Bucket": "b", "Key": "k"}

    answer = _presigned.presigned_request(
        fs, "get_object", where, dataclasses.replace(TIMEOUTS, whole=whole)
    )

    assert _presigned.tls_verification(fs) == str(tmp_path / "cert.pem")
    assert (answer.status, answer.data) == (200, b"secure")


def test_a_connection_that_is_never_accepted_times_out(s3_bucket: str) -> None:
    """The connect timeout bounds the wait for a store whose listen queue is full."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    waiting = []
    for _ in range(8):  # fill the queue: later handshakes go unanswered
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(listener.getsockname())
        waiting.append(sock)
    fs = _fs(f"http://127.0.0.1:{listener.getsockname()[1]}")
    fs.connect()
    raised: list[BaseException] = []

    def get() -> None:
        try:
            _presigned.presigned_request(
                fs, "get_object", {"Bucket": s3_bucket, "Key": "k"}, Timeouts(10, 10, 0.3)
            )
        except BaseException as exc:
            raised.append(exc)

    try:
        thread = threading.Thread(target=get, daemon=True)
        thread.start()
        thread.join(5)
    finally:
        for sock in waiting:
            sock.close()
        listener.close()
    assert not thread.is_alive(), "no connect timeout"
    assert [type(exc) for exc in raised] == [urllib3.exceptions.ConnectTimeoutError]


def test_signing_on_fsspecs_loop_is_bounded_by_the_request_timeout(
    s3_client: Any, proxy_to_moto: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``cache_regions`` a bucket's first request waits on s3fs asking its region: no
    longer than the caller's timeout."""
    from fsspec.exceptions import FSTimeoutError

    bucket = f"eu-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy_to_moto.endpoint)
    fs = s3fs.S3FileSystem(
        key=S3_KEY, secret=S3_SECRET, cache_regions=True, skip_instance_cache=True
    )
    fs.connect()  # the session and the default client: what is left is the bucket's region
    proxy_to_moto.delay_seconds = 3
    quick = Timeouts(request=0.3, read=10, connect=5)

    with pytest.raises(FSTimeoutError):
        _presigned.presigned_request(fs, "get_object", {"Bucket": bucket, "Key": "k"}, quick)
    assert [method for method, _ in proxy_to_moto.requests] == ["HEAD"]


def test_a_request_does_not_wait_on_fsspecs_loop_once_the_client_is_built(
    s3_client: Any, s3_bucket: str, moto_endpoint: str
) -> None:
    """Threads sharing a session do not take turns on the loop: with fsspec's loop busy, a
    request is signed and sent from the calling thread all the same."""
    import asyncio
    import threading
    import time

    s3_client.put_object(Bucket=s3_bucket, Key="not-waiting", Body=b"here")
    fs = _fs(moto_endpoint)
    fs.connect()
    where = {"Bucket": s3_bucket, "Key": "not-waiting"}
    release = threading.Event()

    async def busy() -> None:
        release.wait(10)  # holds the loop's thread, as a long callback would

    busy_loop = asyncio.run_coroutine_threadsafe(busy(), fs.loop)
    try:
        time.sleep(0.05)
        quick = Timeouts(request=0.5, read=10, connect=5)
        put = _presigned.presigned_request(fs, "put_object", where, quick, body=b"here too")
        get = _presigned.presigned_request(fs, "get_object", where, quick)
    finally:
        release.set()
        busy_loop.result(10)
    assert (put.status, get.status, get.data) == (200, 200, b"here too")


def test_bodies_are_signed_in_the_url_and_the_rest_in_a_header_on_either_thread(
    s3_bucket: str, proxy_to_moto: RecordingProxy
) -> None:
    """A body is streamed unhashed, which only a URL signature allows; a request without
    one is signed in its header, whether signed here or on fsspec's loop (no client yet)."""
    where = {"Bucket": s3_bucket, "Key": "where-signed"}
    for first in ("put_object", "get_object"):  # a new filesystem signs its first on the loop
        fs = _fs(proxy_to_moto.endpoint)
        for operation in (first, "get_object" if first == "put_object" else "put_object"):
            body = b"x" if operation == "put_object" else None
            _presigned.presigned_request(fs, operation, where, TIMEOUTS, body=body)

    sent = [
        (method, "X-Amz-Signature" in _query(path), "authorization" in {k.lower() for k in h})
        for (method, path), h in zip(
            proxy_to_moto.requests, proxy_to_moto.request_headers, strict=True
        )
    ]
    put, get = ("PUT", True, False), ("GET", False, True)
    assert sent == [put, get, get, put]
