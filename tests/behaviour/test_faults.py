"""Faults between the backend client and a real S3 server: cuts, stalls, dead servers."""

from __future__ import annotations

import collections
import os
import random
from pathlib import Path
from typing import Any

import pytest
import requests

import objstore_adapter
from objstore_adapter import SchemeRegistry, TransferConfig

from .._proxy import RecordingProxy
from ..conftest import s3_registry


@pytest.mark.parametrize("max_attempts", [5, 1], ids=["resuming", "retries-off"])
def test_hundred_cuts_at_random_offsets_never_return_a_short_body(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str, max_attempts: int
) -> None:
    """The proxy cuts each of 100 GETs once at a random offset. Resuming (the default), every
    body comes back whole; with retries off, every one raises as a cut body does over HTTP."""
    data = os.urandom(256 * 1024)
    s3_client.put_object(Bucket=s3_bucket, Key="faults/cut.bin", Body=data)
    url = f"s3://{s3_bucket}/faults/cut.bin"
    transfer = TransferConfig(max_attempts=max_attempts)
    session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=transfer))
    rng = random.Random(20261125)
    outcomes: collections.Counter[str] = collections.Counter()
    cuts = 0

    for _ in range(100):
        proxy.cut_body_after = rng.randrange(0, len(data))
        proxy.cuts_left = 1  # this GET's first answer, not the resumed rest
        try:
            response = session.get(url, stream=True, timeout=10)
            body = b"".join(response.iter_content(64 * 1024))
        except requests.exceptions.RequestException as exc:
            outcomes[type(exc).__name__] += 1
        else:
            assert body == data, "a cut body was returned as if it were complete"
            outcomes["complete and correct"] += 1
        cuts += proxy.cuts_left == 0

    print(f"100 cuts ({max_attempts} attempts): {dict(outcomes)}")
    assert cuts == 100, "the proxy did not cut every body"
    if max_attempts > 1:
        assert outcomes == {"complete and correct": 100}
    else:
        assert outcomes == {"ChunkedEncodingError": 100}


def test_a_cut_upload_leaves_no_object_and_raises(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    registry = s3_registry(proxy.endpoint, config_kwargs={"retries": {"max_attempts": 2}})
    session = objstore_adapter.session(registry)
    proxy.cut_request_after = 2**20

    for key, body in (
        ("faults/small-put.bin", os.urandom(3 * 2**20)),  # one PutObject
        ("faults/multipart-put.bin", os.urandom(20 * 2**20)),  # parts of a multipart upload
    ):
        with pytest.raises(requests.exceptions.ConnectionError):
            session.put(f"s3://{s3_bucket}/{key}", data=iter([body]), timeout=30)
        with pytest.raises(s3_client.exceptions.ClientError):
            s3_client.head_object(Bucket=s3_bucket, Key=key)
        uploads = s3_client.list_multipart_uploads(Bucket=s3_bucket, Prefix=key)
        assert uploads.get("Uploads", []) == [], "an aborted multipart upload was left behind"


@pytest.mark.parametrize("max_attempts", [1, 5])
def test_a_body_that_ends_short_raises_where_no_transport_checks_it(
    tmp_path: Path, max_attempts: int
) -> None:
    # A local file has no transport to count its bytes: only the adapter's own length guard
    # stands between a file truncated mid-read and a short body returned as complete.
    registry = SchemeRegistry()
    registry.register("file", transfer=TransferConfig(max_attempts=max_attempts))
    session = objstore_adapter.session(registry)
    target = tmp_path / "shrinks.bin"
    target.write_bytes(os.urandom(8 * 2**20))

    response = session.get(target.as_uri(), stream=True)
    assert response.headers["Content-Length"] == str(8 * 2**20)
    with target.open("r+b") as handle:
        handle.truncate(1000)

    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="ended after"):
        b"".join(response.iter_content(64 * 1024))
