"""GetObject signed without botocore's per-request machinery: the same signature botocore
makes, byte for byte, or botocore's own.

Each bucket's template is read from botocore's signature of a probe key and checked by
signing that same request here; these tests compare what is signed here with what botocore
signs at the same second, and send it to SeaweedFS, which checks signatures.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import time
import uuid
from typing import Any

import pytest
import s3fs

import objstore_adapter
from objstore_adapter._backends.s3 import presigned as _presigned
from objstore_adapter._backends.s3 import sigv4

from ..conftest import S3_KEY, S3_SECRET, s3_registry

#: Keys that botocore quotes in every way it can: reserved and unreserved marks, spaces,
#: characters beyond ASCII, what a query or fragment would start with.
ODD_KEYS = [
    "plain.txt",
    "a b/c+d%e~f.x",
    "x?y#z&w=v",
    "日本/語.csv",
    "q'\"<>|^`{}[]",
    "~!*()$,;:@",
    "trailing/",
]
VERSIONS = [None, "v1", "3/L4kqtJl+a==", "null"]


def _fs(endpoint: str, **options: Any) -> Any:
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True, **options)
    fs.connect()
    return fs


def _static(endpoint: str, token: str | None = None) -> Any:
    return _fs(endpoint, key=S3_KEY, secret=S3_SECRET, token=token)


def _refreshed(endpoint: str) -> Any:
    """Refreshable credentials, with a session token, not due for refresh."""
    from aiobotocore.credentials import AioRefreshableCredentials
    from aiobotocore.session import AioSession

    expiry = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    metadata = {
        "access_key": S3_KEY,
        "secret_key": S3_SECRET,
        "token": "a-session-token/with+marks=",
        "expiry_time": expiry,
    }

    async def refresh() -> dict[str, str]:
        return metadata

    session = AioSession()
    session._credentials = AioRefreshableCredentials.create_from_metadata(metadata, refresh, "test")
    return _fs(endpoint, session=session)


def _lowered(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _reference(client: Any) -> Any:
    return functools.partial(_presigned._sign_now, client)


def _both(fs: Any, params: dict[str, Any], operation: str = "get_object") -> tuple[Any, Any]:
    """(signed here, signed by botocore), for the same second: botocore's."""
    client = _presigned._client_here(fs, params["Bucket"])
    ours = sigv4.sign_read(client, operation, params, _reference(client))
    theirs = _presigned._sign_now(client, operation, params)
    assert theirs is not None
    if ours is None:
        return None, theirs
    stamp = "%Y%m%dT%H%M%SZ"
    when = time.strptime(theirs.headers["X-Amz-Date"], stamp)
    ours_when = time.strptime(ours.headers["X-Amz-Date"], stamp)
    assert abs(calendar.timegm(when) - calendar.timegm(ours_when)) <= 2, (ours, theirs)
    credentials = sigv4._credentials(client)
    assert credentials is not None
    method = sigv4.READS[operation]
    bucket = params["Bucket"]
    template = sigv4._template(client, operation, method, bucket, credentials, lambda o, p: None)
    assert template is not None  # kept from sign_get's first call
    return sigv4._sign(template, params["Key"], params.get("VersionId"), when), theirs


@pytest.mark.parametrize("operation", ["get_object", "head_object"])
@pytest.mark.parametrize("credentials", ["static", "static with a token", "refreshed"])
def test_a_read_is_signed_here_as_botocore_signs_it(
    moto_endpoint: str, credentials: str, operation: str
) -> None:
    fs = {
        "static": lambda: _static(moto_endpoint),
        "static with a token": lambda: _static(moto_endpoint, token="a-token=="),
        "refreshed": lambda: _refreshed(moto_endpoint),
    }[credentials]()
    for key in ODD_KEYS:
        for version in VERSIONS:
            params = {"Bucket": "a-bucket", "Key": key} | (
                {"VersionId": version} if version else {}
            )
            ours, theirs = _both(fs, params, operation)
            assert ours is not None, (key, version)
            assert (ours.method, ours.url) == (theirs.method, theirs.url)
            assert _lowered(ours.headers) == _lowered(theirs.headers)


@pytest.mark.parametrize(
    "params",
    [
        {"Bucket": "a-bucket", "Key": "a/./b"},
        {"Bucket": "a-bucket", "Key": "a//b"},
        {"Bucket": "a-bucket", "Key": "/leading"},
        {"Bucket": "a-bucket", "Key": "tab\there"},
        {"Bucket": "a-bucket", "Key": "k", "Range": "bytes=0-1"},
    ],
)
def test_what_an_endpoint_may_read_as_another_request_is_left_to_botocore(
    moto_endpoint: str, params: dict[str, Any]
) -> None:
    fs = _static(moto_endpoint)
    client = _presigned._client_here(fs, "a-bucket")
    assert sigv4.sign_read(client, "get_object", params, _reference(client)) is None
    # ...and sign_here still signs it, through botocore
    assert _presigned.sign_here(fs, "get_object", params, in_url=False) is not None


def test_an_anonymous_client_is_left_to_botocore(moto_endpoint: str) -> None:
    fs = _fs(moto_endpoint, anon=True)
    client = _presigned._client_here(fs, "a-bucket")
    params = {"Bucket": "a-bucket", "Key": "k"}
    assert sigv4.sign_read(client, "get_object", params, _reference(client)) is None


def _probe(fs: Any) -> Any:
    client = _presigned._client_here(fs, "a-bucket")
    signed = _presigned._sign_now(
        client, "get_object", {"Bucket": "a-bucket", "Key": sigv4.PROBE_KEY}
    )
    assert signed is not None
    return signed


@pytest.mark.parametrize(
    "change",
    [
        "nothing",
        "another signature",
        "another header",
        "a query",
        "the key elsewhere",
        "another access key",
    ],
)
def test_a_template_is_used_only_if_its_signature_is_botocores(
    moto_endpoint: str, change: str
) -> None:
    """The check that guards every template: any difference from botocore's probe request
    leaves the bucket to botocore's signer."""
    fs = _static(moto_endpoint)
    signed = _probe(fs)
    headers = dict(signed.headers)
    url = signed.url
    if change == "another signature":
        headers["Authorization"] = headers["Authorization"][:-4] + "0000"
    elif change == "another header":
        headers["X-Amz-Checksum-Mode"] = "ENABLED"
    elif change == "a query":
        url += "?x-id=GetObject"
    elif change == "the key elsewhere":
        url = url.replace("/a-bucket/", "/other/")
    credentials = sigv4.Credentials(S3_KEY, S3_SECRET, None)
    if change == "another access key":
        credentials = sigv4.Credentials("AKIAOTHER", S3_SECRET, None)
    template = sigv4._checked(signed._replace(url=url, headers=headers), credentials, "GET")
    assert (template is not None) == (change == "nothing")


def test_gets_signed_here_are_taken_by_a_store_that_checks_signatures(
    seaweed_endpoint: str, seaweed_s3_client: Any, seaweed_bucket: str
) -> None:
    """SeaweedFS checks every signature: each odd key is served, and its GETs were signed
    here (the bucket's template was checked and kept)."""
    session = objstore_adapter.session(s3_registry(seaweed_endpoint))
    prefix = f"sigv4-{uuid.uuid4().hex[:8]}/"
    for i, key in enumerate(ODD_KEYS):
        seaweed_s3_client.put_object(Bucket=seaweed_bucket, Key=prefix + key, Body=b"%d" % i)
    for i, key in enumerate(ODD_KEYS):
        if set(key) & set("%?#") or key.endswith("/"):  # spelled as is; a folder's listing
            continue
        response = session.get(f"s3://{seaweed_bucket}/{prefix}{key}", timeout=30)
        assert (response.status_code, response.content) == (200, b"%d" % i), key
    kept = [
        t
        for per in sigv4._templates.values()
        for (b, _, _), t in per.items()
        if b == seaweed_bucket
    ]
    assert kept
    assert all(t is not None for t in kept)


def test_a_template_never_shows_a_secret(moto_endpoint: str) -> None:
    """Templates are kept per credentials; printing them names the access key only."""
    fs = _static(moto_endpoint, token="a-session-token==")
    params = {"Bucket": "a-bucket", "Key": "k"}
    ours, _ = _both(fs, params)
    assert ours is not None
    client = _presigned._client_here(fs, "a-bucket")
    kept = sigv4._templates[client]
    text = repr(kept) + str(kept) + repr(list(kept.values()))
    assert S3_KEY in text
    assert S3_SECRET not in text
    assert "a-session-token==" not in text
