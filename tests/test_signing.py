"""S3 requests through presigned URLs: signed with SigV4 for the bucket's region, with every
header the operation needs, and sent once.

The stores here are moto (which does not check signatures) and SeaweedFS (which does): an
operation whose signed headers were not sent as signed fails on SeaweedFS, and a header the
store did not apply shows in what boto3 reads back.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import s3fs
import urllib3

from objstore_adapter import _presigned
from objstore_adapter._http import Timeouts

from ._proxy import RecordingProxy
from .conftest import S3_KEY, S3_SECRET

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
    assert _presigned._sign_here(fs, "get_object", where) is None  # no client yet
    fs.connect()
    operations: list[tuple[str, dict[str, Any]]] = [
        ("get_object", {}),
        ("put_object", {"ContentType": "text/plain", "IfNoneMatch": "*"}),
        ("upload_part", {"UploadId": "u", "PartNumber": 3}),
        ("delete_object", {"IfMatch": '"e"'}),
    ]
    for operation, extra in operations:
        signed = _presigned._sign_here(fs, operation, {**where, **extra})
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
