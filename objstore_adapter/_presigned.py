"""S3 bodies read in the caller's own thread, through a presigned GET.

s3fs speaks S3 through aiohttp on fsspec's event-loop thread, so a streamed body crosses
threads for every chunk and the two threads take turns. Signing a GetObject URL with s3fs's
own client (local work, no request) and fetching it with urllib3 in the calling thread reads
the socket where the bytes are consumed, as boto3 does: still one request per GET.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

import urllib3
from fsspec.asyn import sync
from fsspec.spec import AbstractFileSystem
from urllib3.exceptions import MaxRetryError

from . import _info
from ._body import StoreGet
from ._errors import status_error
from ._http import ByteRange, Timeouts

#: Signed URLs live only as long as one request needs them to.
EXPIRES_SECONDS = 900

_pools: weakref.WeakKeyDictionary[AbstractFileSystem, urllib3.PoolManager] = (
    weakref.WeakKeyDictionary()
)
_pools_lock = threading.Lock()


def can_presign(fs: Any) -> bool:
    """True when a presigned GET asks exactly what ``get_object`` would.

    Extra request parameters (SSE-C keys, requester-pays) and proxies would have to travel as
    signed headers or through botocore's own transport: those filesystems keep the s3fs path.
    """
    config = getattr(fs, "config_kwargs", None) or {}
    return not (
        getattr(fs, "s3_additional_kwargs", None)
        or getattr(fs, "requester_pays", False)
        or config.get("proxies")
    )


def pool_for(fs: Any) -> urllib3.PoolManager:
    """The urllib3 pool that presigned requests for ``fs`` share (GETs and upload parts)."""
    pool = _pools.get(fs)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(fs)
            if pool is None:
                verify = (getattr(fs, "client_kwargs", None) or {}).get("verify", True)
                tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED" if verify else "CERT_NONE"}
                if isinstance(verify, str):
                    tls["ca_certs"] = verify
                pool = _pools[fs] = urllib3.PoolManager(maxsize=32, **tls)
    return pool


async def _sign(fs: Any, bucket: str, key: str, version: str | None) -> str:
    await fs.set_session()
    client = await fs.get_s3(bucket)
    params = {"Bucket": bucket, "Key": key}
    if version:
        params["VersionId"] = version
    url: str = await client.generate_presigned_url(
        "get_object", Params=params, ExpiresIn=EXPIRES_SECONDS
    )
    return url


def _sign_here(fs: Any, bucket: str, key: str, version: str | None) -> str | None:
    """Sign in the calling thread, skipping the hop to fsspec's event loop.

    Signing is local work: with credentials at hand, aiobotocore's coroutine finishes without
    ever waiting, so it is run to its end here. Where it would wait (credentials to refresh,
    a client not built yet, per-bucket region clients), ``None``: sign on the loop instead.
    """
    client = getattr(fs, "_s3", None)
    if client is None or getattr(fs, "cache_regions", False):
        return None
    params = {"Bucket": bucket, "Key": key}
    if version:
        params["VersionId"] = version
    coroutine = client.generate_presigned_url(
        "get_object", Params=params, ExpiresIn=EXPIRES_SECONDS
    )
    try:
        coroutine.send(None)
    except StopIteration as done:
        url: str = done.value
        return url
    coroutine.close()  # it waited on something: nothing was signed
    return None


class PresignedRefused(Exception):
    """The store answered a presigned GET with an error that may be the URL's, not the
    object's (a 400 from an emulator that does not take query-string auth, a redirect to
    another region): worth one more try through s3fs, whose botocore client reports S3's
    errors precisely. Denials, failures and throttling are raised as what they are."""

    def __init__(self, status: int) -> None:
        super().__init__(f"presigned GET answered {status}")
        self.status = status


class PresignedBody:
    """A urllib3 response body, read in the caller's thread."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response

    def read(self, n: int) -> bytes:
        data: bytes = self._response.read(n, decode_content=False)
        return data

    def close(self) -> None:
        if self._response.length_remaining:  # unread bytes: this connection cannot be reused
            self._response.close()
        self._response.release_conn()


def open_presigned(
    fs: Any,
    bucket: str,
    key: str,
    version: str | None,
    timeouts: Timeouts,
    headers: Mapping[str, str],
) -> StoreGet:
    """GetObject through a presigned URL, with ``headers`` (``Range``, preconditions) sent
    as they are: the store's answer, with the streaming body."""
    url = _sign_here(fs, bucket, key, version) or sync(
        fs.loop, _sign, fs, bucket, key, version, timeout=timeouts.request
    )
    failure: BaseException | None = None
    try:
        response = pool_for(fs).request(
            "GET",
            url,
            headers=dict(headers),
            preload_content=False,
            decode_content=False,
            redirect=False,
            retries=urllib3.Retry(
                total=2,
                connect=2,
                read=0,
                status=0,
                redirect=0,
                backoff_factor=0.1,
                respect_retry_after_header=False,  # a 503's Retry-After is the caller's to see
            ),
            timeout=urllib3.Timeout(connect=timeouts.connect, read=timeouts.read),
        )
    except MaxRetryError as exc:  # report what failed, not that retrying did
        failure = exc.reason or exc
    if failure is not None:
        # Raised outside the except block: chaining it to the MaxRetryError that holds it
        # would make a cycle, which exception pickling (tblib, Dask) recurses on forever.
        raise failure
    if response.status >= 300:
        response.read()
        response.release_conn()
        if response.status in (304, 412):
            return StoreGet(response.status, _info.from_http_headers(response.headers), None, None)
        if response.status == 404:
            raise status_error(404, f"{bucket}/{key}", response.headers)
        if response.status in (401, 403, 429, 503):
            # Denied or throttling: the transfer policy decides whether to try again (and
            # when: Retry-After). Other errors get a second opinion from s3fs (moto, for one,
            # answers 500 to a presigned GET whose credentials it refuses).
            raise status_error(response.status, f"{bucket}/{key}", response.headers)
        raise PresignedRefused(response.status)
    fields = response.headers
    served = _served_range(fields.get("Content-Range")) if response.status == 206 else None
    return StoreGet(
        response.status, _info.from_http_headers(fields), PresignedBody(response), served
    )


def _served_range(content_range: str | None) -> ByteRange | None:
    """``bytes a-b/size`` → ByteRange(a, b)."""
    if not content_range or not content_range.startswith("bytes "):
        return None
    span = content_range[len("bytes ") :].split("/", 1)[0]
    first, _, last = span.partition("-")
    if not (first.isdigit() and last.isdigit()):
        return None
    return ByteRange(int(first), int(last))
