"""Faults between the backend client and a real S3 server: cuts, stalls, dead servers."""

from __future__ import annotations

import collections
import os
import random
from typing import Any

import pytest
import requests

import objstore_adapter

from ._proxy import RecordingProxy
from .conftest import s3_registry


def test_hundred_cuts_at_random_offsets_never_return_a_short_body(
    proxy: RecordingProxy, s3_client: Any, s3_bucket: str
) -> None:
    data = os.urandom(256 * 1024)
    s3_client.put_object(Bucket=s3_bucket, Key="faults/cut.bin", Body=data)
    url = f"s3://{s3_bucket}/faults/cut.bin"
    session = objstore_adapter.session(s3_registry(proxy.endpoint))
    rng = random.Random(20261125)
    outcomes: collections.Counter[str] = collections.Counter()

    for _ in range(100):
        proxy.cut_body_after = rng.randrange(0, len(data))
        try:
            response = session.get(url, stream=True, timeout=10)
            body = b"".join(response.iter_content(64 * 1024))
        except requests.exceptions.RequestException as exc:
            outcomes[type(exc).__name__] += 1
            continue
        assert body == data, "a cut body was returned as if it were complete"
        outcomes["complete and correct"] += 1

    print(f"100 cuts: {dict(outcomes)}")
    assert sum(outcomes.values()) == 100
    assert set(outcomes) <= {"ChunkedEncodingError", "ConnectionError", "complete and correct"}


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
