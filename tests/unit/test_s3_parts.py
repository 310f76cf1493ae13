"""S3Parts on moto: a multipart upload's parts go as presigned UploadPart requests, the rest
through s3fs; a store that refuses the URLs gets the parts through s3fs, and what the
upload stored (headers, metadata, condition, ETag) is read back with boto3."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import s3fs

from objstore_adapter._backends.s3.parts import S3Parts
from objstore_adapter._http import Timeouts
from objstore_adapter._transfer.upload import FileSlice

from .._proxy import RecordingProxy
from ..conftest import S3_KEY, S3_SECRET

TIMEOUTS = Timeouts(request=10, read=10, connect=5)
MiB = 2**20
PART = os.urandom(5 * MiB)  # S3's smallest part but the last


def _fs(endpoint: str, **options: Any) -> Any:
    return s3fs.S3FileSystem(
        endpoint_url=endpoint, key=S3_KEY, secret=S3_SECRET, skip_instance_cache=True, **options
    )


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[RecordingProxy]:
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        yield proxy


def _agents(proxy: RecordingProxy, method: str) -> list[str]:
    """Who sent each request with ``method``: ``botocore`` (s3fs) or ``urllib3`` (presigned)."""
    found = []
    for (sent, _), headers in zip(proxy.requests, proxy.request_headers, strict=True):
        if sent == method:
            agent = {k.lower(): v for k, v in headers.items()}.get("user-agent", "")
            found.append("botocore" if "botocore" in agent.lower() else "urllib3")
    return found


def _multipart_etag(*parts: bytes) -> str:
    digests = b"".join(hashlib.md5(part, usedforsecurity=False).digest() for part in parts)
    return f'"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(parts)}"'


def test_a_bucket_is_no_object(moto_endpoint: str, s3_bucket: str) -> None:
    with pytest.raises(IsADirectoryError, match=s3_bucket):
        S3Parts(_fs(moto_endpoint), s3_bucket, {}, TIMEOUTS)


def test_parts_are_presigned_and_the_object_keeps_its_options(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str, tmp_path: Path
) -> None:
    key = f"parts/{uuid.uuid4().hex}"
    options = {"ContentType": "text/x-parts", "CacheControl": "no-cache", "Metadata": {"a": "b"}}
    upload = S3Parts(_fs(proxy.endpoint), f"{s3_bucket}/{key}", options, TIMEOUTS)
    file = tmp_path / "tail"
    file.write_bytes(b"unread" + b"the tail")

    upload.begin()
    with file.open("rb") as handle:
        tokens = [
            upload.send(1, PART),
            upload.send(2, FileSlice(handle.fileno(), 6, 8)),
        ]
    info = upload.commit(tokens)

    stored = s3_client.get_object(Bucket=s3_bucket, Key=key)
    assert stored["Body"].read() == PART + b"the tail"
    assert (stored["ContentType"], stored["CacheControl"]) == ("text/x-parts", "no-cache")
    assert stored["Metadata"] == {"a": "b"}
    assert tokens == [f'"{hashlib.md5(p).hexdigest()}"' for p in (PART, b"the tail")]
    assert info is not None
    assert (info.size, info.etag) == (0, stored["ETag"])
    assert stored["ETag"] == _multipart_etag(PART, b"the tail")
    assert _agents(proxy, "PUT") == ["urllib3", "urllib3"]
    assert _agents(proxy, "POST") == ["botocore", "botocore"]  # create, complete
    assert upload.committed(tokens) == info


def test_a_store_refusing_the_urls_gets_the_parts_through_s3fs(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str, tmp_path: Path
) -> None:
    key = f"parts/{uuid.uuid4().hex}"
    upload = S3Parts(_fs(proxy.endpoint), f"{s3_bucket}/{key}", {}, TIMEOUTS)
    file = tmp_path / "tail"
    file.write_bytes(b"the tail")
    upload.begin()
    proxy.answer(400, {}, b"", methods=("PUT",))

    with file.open("rb") as handle:
        tokens = [upload.send(1, PART), upload.send(2, FileSlice(handle.fileno(), 0, 8))]
    upload.commit(tokens)

    assert s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == PART + b"the tail"
    # The refused part again through s3fs, and every part after it.
    assert _agents(proxy, "PUT") == ["urllib3", "botocore", "botocore"]


def test_an_answer_without_an_etag_is_sent_again_through_s3fs(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    key = f"parts/{uuid.uuid4().hex}"
    upload = S3Parts(_fs(proxy.endpoint), f"{s3_bucket}/{key}", {}, TIMEOUTS)
    upload.begin()
    proxy.answer(200, {}, b"", methods=("PUT",))

    upload.commit([upload.send(1, b"one part")])

    assert s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == b"one part"
    assert _agents(proxy, "PUT") == ["urllib3", "botocore"]


def test_without_presigning_every_part_goes_through_s3fs(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    key = f"parts/{uuid.uuid4().hex}"
    fs = _fs(proxy.endpoint, requester_pays=True)
    upload = S3Parts(fs, f"{s3_bucket}/{key}", {}, TIMEOUTS)

    upload.begin()
    upload.commit([upload.send(1, PART), upload.send(2, b"end")])

    assert s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == PART + b"end"
    assert _agents(proxy, "PUT") == ["botocore", "botocore"]


def test_the_condition_goes_with_the_commit(
    moto_endpoint: str, s3_client: Any, s3_bucket: str
) -> None:
    key = f"parts/{uuid.uuid4().hex}"
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"already there")
    upload = S3Parts(_fs(moto_endpoint), f"{s3_bucket}/{key}", {}, TIMEOUTS, {"IfNoneMatch": "*"})
    upload.begin()
    tokens = [upload.send(1, b"new")]

    with pytest.raises(FileExistsError):
        upload.commit(tokens)

    assert s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == b"already there"


def test_committed_recognises_only_its_own_object(
    moto_endpoint: str, s3_client: Any, s3_bucket: str
) -> None:
    key = f"parts/{uuid.uuid4().hex}"
    upload = S3Parts(_fs(moto_endpoint), f"{s3_bucket}/{key}", {}, TIMEOUTS)
    upload.begin()
    tokens = [upload.send(1, PART), upload.send(2, b"end")]

    assert upload.committed(tokens) is None  # not committed: no object yet
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"someone else's")
    assert upload.committed(tokens) is None
    upload.commit(tokens)
    found = upload.committed(tokens)
    assert found is not None
    assert found.etag == _multipart_etag(PART, b"end")
    assert found.size == 0


def test_an_aborted_upload_is_gone(moto_endpoint: str, s3_bucket: str) -> None:
    key = f"parts/{uuid.uuid4().hex}"
    fs = _fs(moto_endpoint)
    upload = S3Parts(fs, f"{s3_bucket}/{key}", {}, TIMEOUTS)
    upload.begin()
    upload.send(1, PART)
    assert key in sync_uploads(fs, s3_bucket)

    upload.abort()

    assert key not in sync_uploads(fs, s3_bucket)


def test_a_part_of_an_upload_s3_no_longer_has_is_not_found(
    proxy: RecordingProxy, s3_bucket: str
) -> None:
    """S3 answers 404 NoSuchUpload to a part of an aborted upload: raised as it is, not
    sent again through s3fs."""
    key = f"parts/{uuid.uuid4().hex}"
    upload = S3Parts(_fs(proxy.endpoint), f"{s3_bucket}/{key}", {}, TIMEOUTS)
    upload.begin()
    proxy.answer(404, {"Content-Type": "application/xml"}, b"<Error/>", methods=("PUT",))

    with pytest.raises(FileNotFoundError, match=f"{s3_bucket}/{key}"):
        upload.send(1, b"late")
    assert _agents(proxy, "PUT") == ["urllib3"]


def sync_uploads(fs: Any, bucket: str) -> list[str]:
    """The keys of the bucket's multipart uploads in progress."""
    from fsspec.asyn import sync

    listed = sync(fs.loop, fs._call_s3, "list_multipart_uploads", Bucket=bucket)
    return [upload["Key"] for upload in listed.get("Uploads", [])]


def test_the_calls_s3fs_makes_are_bounded_by_the_request_timeout(
    proxy: RecordingProxy, s3_bucket: str
) -> None:
    """Creating, checking and aborting an upload wait at most the caller's timeout."""
    from fsspec.exceptions import FSTimeoutError

    quick = Timeouts(request=0.3, read=10, connect=5)
    upload = S3Parts(_fs(proxy.endpoint), f"{s3_bucket}/parts/slow", {}, quick)
    proxy.delay_seconds = 2
    with pytest.raises(FSTimeoutError):
        upload.begin()
    with pytest.raises(FSTimeoutError):
        upload.committed([hashlib.md5(b"").hexdigest()])
    with pytest.raises(FSTimeoutError):
        upload.abort()
