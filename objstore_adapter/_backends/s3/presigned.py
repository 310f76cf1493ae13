"""S3 requests signed with s3fs's own client and sent from the caller's own thread.

s3fs speaks S3 through aiohttp on fsspec's event-loop thread, so a streamed body crosses
threads for every chunk and the two threads take turns. Signing the operation with s3fs's
own client (local work, no request) and sending it with urllib3 in the calling thread reads
and writes the socket where the bytes are, as boto3 does: still one request per call.

It is signed as s3fs signs its own requests: SigV4, for the region of the endpoint the
request goes to (not botocore's default for presigned S3 URLs, SigV2, which names no
region); in the URL when a body is streamed (its payload unsigned), else in a header.
Nothing here retries: one call, one request; the adapter's transfer policy owns retries.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import io
import os
import threading
import urllib.parse
import weakref
from collections.abc import Mapping
from typing import Any

import urllib3
from fsspec.asyn import sync
from fsspec.spec import AbstractFileSystem
from urllib3.exceptions import IncompleteRead, MaxRetryError

from ... import _info
from ..._body import ChunkSource, LoadedBody, StoreGet, copied_into, counted_as_urllib3
from ..._errors import status_error
from ..._http import ByteRange, Timeouts
from . import sigv4, wire
from .sigv4 import Signed

#: Signed URLs live only as long as one request needs them to.
EXPIRES_SECONDS = 900

#: One request per call: the adapter's retry policy decides whether to send another.
_ONE_TRY = urllib3.Retry(total=0, connect=0, read=0, status=0, other=0, redirect=0)

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
                from botocore.httpsession import get_cert_path

                verify = tls_verification(fs)
                tls: dict[str, Any] = {"cert_reqs": "CERT_NONE"}
                if verify is not False:  # the bundle botocore loads, alone
                    tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": get_cert_path(verify)}
                pool = _pools[fs] = urllib3.PoolManager(maxsize=32, **tls)
    return pool


def tls_verification(fs: Any) -> bool | str:
    """How the botocore client of ``fs`` verifies TLS: ``False``, ``True`` (against
    botocore's own bundle, ``get_cert_path(True)``: certifi's) or a CA bundle's path.

    botocore decides it when it builds the client: ``client_kwargs['verify']``, else
    ``AWS_CA_BUNDLE`` or the profile's ``ca_bundle``, else ``REQUESTS_CA_BUNDLE``. Every
    other path to the store (urllib3's pool, the kept sockets of :mod:`.wire`, obstore)
    trusts what it trusts. Every caller signs a request first, which builds the client;
    before that, only ``client_kwargs`` is known.
    """
    session = getattr(getattr(getattr(fs, "_s3", None), "_endpoint", None), "http_session", None)
    verify = getattr(session, "_verify", None)
    if verify is None:
        verify = (getattr(fs, "client_kwargs", None) or {}).get("verify", True)
    if isinstance(verify, os.PathLike):  # botocore takes a Path as well
        verify = os.fspath(verify)
    return verify if isinstance(verify, str) else bool(verify)


@functools.cache
def _own_signer_class() -> type[Any]:
    """aiobotocore's request signer, presigning with the scheme the client signs its own
    requests with (SigV4 for S3) rather than botocore's default for presigned S3 URLs,
    SigV2, which names no region and which AWS refuses in SigV4-only regions, for buckets
    created since June 2020 and for SSE-KMS objects. Built on first use: aiobotocore comes
    with the ``s3`` extra."""
    from aiobotocore.signers import AioRequestSigner
    from botocore import UNSIGNED

    class OwnSigner(AioRequestSigner):  # type: ignore[misc]
        async def _choose_signer(
            self, operation_name: str, signing_type: str, context: dict[str, Any]
        ) -> Any:
            chosen = await super()._choose_signer(operation_name, "standard", context)
            if signing_type != "presign-url" or chosen is UNSIGNED or chosen.endswith("-query"):
                return chosen
            return f"{chosen}-query"

    return OwnSigner


def _own_signer(client: Any) -> Any:
    own = client._request_signer
    return _own_signer_class()(
        own._service_id,
        own._region_name,
        own._signing_name,
        own._signature_version,
        own._credentials,
        client.meta.events,  # the one the signer holds (through a weak proxy)
        own._auth_token,
    )


async def _presign(
    client: Any, operation: str, params: Mapping[str, Any], in_url: bool = True
) -> Signed:
    """``operation`` with ``params``, signed as ``client`` signs its requests: in its URL,
    or (``in_url=False``, for a request without a body) in an ``Authorization`` header.

    The steps of botocore's ``generate_presigned_url``, but with the client's own signer, the
    signing region of the endpoint the request goes to (as for the client's own requests:
    it follows a bucket region botocore learned from a redirect), and the headers kept.
    A header signature leaves the URL short: urllib3 checks a request target character by
    character, and a signed query full of ``%2F`` costs it more than the signing itself.
    """
    from botocore.signers import create_request_object

    name = client._PY_TO_OP_NAME[operation]
    model = client.meta.service_model.operation_model(name)
    # Not botocore's "use_global_endpoint" for presigned URLs: s3.amazonaws.com serves SigV2
    # URLs of any region, SigV4 ones are sent where the client sends its own requests.
    context: dict[str, Any] = {"is_presign_request": in_url}
    api_params = await client._emit_api_params(
        api_params=dict(params), operation_model=model, context=context
    )
    endpoint_url, endpoint_headers, _ = await client._resolve_endpoint_ruleset(
        model, api_params, context
    )
    request_dict = await client._convert_to_request_dict(
        api_params=api_params,
        operation_model=model,
        endpoint_url=endpoint_url,
        context=context,
        headers=endpoint_headers,
        set_user_agent_header=False,
    )
    request = create_request_object(request_dict)
    if in_url:
        await _own_signer(client).sign(
            name, request, signing_type="presign-url", expires_in=EXPIRES_SECONDS
        )
    else:
        await client._request_signer.sign(name, request)
    # The headers signed, not those prepare() adds (a Content-Length of the empty body), nor
    # the expiry SigV2 (configured explicitly) leaves in a Date header of a URL it signs: the
    # URL carries it. A SigV2 signature in a header covers the Date header: it is sent.
    headers = {
        str(k): str(v) for k, v in request.headers.items() if not (in_url and k.lower() == "date")
    }
    return Signed(str(request.method), str(request.prepare().url), headers)


async def sign(fs: Any, operation: str, params: Mapping[str, Any], in_url: bool = True) -> Signed:
    """Sign on fsspec's loop, with the client for the bucket's region (``cache_regions``)."""
    await fs.set_session()
    client = await fs.get_s3(params.get("Bucket"))
    return await _presign(client, operation, params, in_url)


def sign_here(
    fs: Any, operation: str, params: Mapping[str, Any], in_url: bool = True
) -> Signed | None:
    """Sign in the calling thread, skipping the hop to fsspec's event loop.

    Signing is local work: with a client built and credentials at hand, aiobotocore's
    coroutines finish without ever waiting, so they are run to their end here. Where they
    would wait (no client yet, a bucket whose region is not known yet, credentials to
    refresh), ``None``: sign on the loop instead.
    """
    client = _client_here(fs, params.get("Bucket"))
    if client is None or _credentials_due(client):
        return None
    if not in_url:  # sigv4 decides which operations it signs
        quick = sigv4.sign_read(client, operation, params, functools.partial(_sign_now, client))
        if quick is not None:
            return quick
    return _sign_now(client, operation, params, in_url)


def _sign_now(
    client: Any, operation: str, params: Mapping[str, Any], in_url: bool = False
) -> Signed | None:
    """botocore's signature, made in this thread; ``None`` where it would wait."""
    coroutine = _presign(client, operation, params, in_url)
    try:
        coroutine.send(None)
    except StopIteration as done:
        signed: Signed = done.value
        return signed
    coroutine.close()  # it waited on something: nothing was signed
    return None


def _client_here(fs: Any, bucket: str | None) -> Any:
    """The client ``fs.get_s3(bucket)`` would return, if it can be had without waiting."""
    if getattr(fs, "_s3", None) is None:
        return None
    if not getattr(fs, "cache_regions", False) or bucket is None:
        return fs._s3
    # s3fs's per-region clients, by bucket: a bucket not seen yet needs a HeadBucket first.
    return getattr(getattr(fs, "_s3creator", None), "_buckets", {}).get(bucket)


def _credentials_due(client: Any) -> bool:
    """True when botocore would refresh the client's credentials before signing (a wait)."""
    credentials = client._request_signer._credentials
    refresh_needed = getattr(credentials, "refresh_needed", None)
    if refresh_needed is None:  # static credentials, or none (anonymous)
        return False
    due: bool = refresh_needed(getattr(credentials, "_advisory_refresh_timeout", None))
    return due


def presigned_request(
    fs: Any,
    operation: str,
    params: Mapping[str, Any],
    timeouts: Timeouts,
    body: Any = None,
    stream: bool = False,
    headers: Mapping[str, str] | None = None,
) -> urllib3.BaseHTTPResponse:
    """Send one S3 operation through a URL presigned with ``fs``'s own client, from the
    calling thread, with urllib3: one call, one request to the store.

    The URL is signed with SigV4 for the region of the endpoint it goes to (the bucket's own
    with ``cache_regions``), and the request carries every header the signature covers
    (``Content-Type``, ``x-amz-meta-*``, ``Cache-Control``, ``If-None-Match``, ...), so the
    store applies them as ``operation`` would.

    Args:
        fs: an ``s3fs.S3FileSystem``.
        operation: a botocore operation (``"put_object"``, ``"upload_part"``, ...).
        params: its botocore parameters (``Bucket``, ``Key``, ``ContentType``, ``Metadata``,
            ``IfNoneMatch``, ``UploadId``, ``PartNumber``, ...), ``Body`` excepted.
        timeouts: connect and read timeouts of the request; ``request`` bounds signing on
            fsspec's loop where it cannot be done in this thread.
        body: what to send (bytes, any buffer, an iterable of them with ``ContentLength``).
        stream: leave the body of the answer unread (release it once read); otherwise the
            answer is read and its connection returned to the pool.
        headers: sent as they are, unsigned (``Range``, preconditions of a GET).

    A GET whose caller reads its body at once is sent by :mod:`.wire`, which reads the
    body whole unless it is larger than ``timeouts.whole`` (then it streams it), and so is
    a HEAD.

    Returns:
        The store's answer, whatever its status: redirects are not followed, nothing is
        tried again (the caller's retry policy decides).

    Raises:
        urllib3.exceptions.HTTPError: the transport failed (``NewConnectionError``,
            ``ReadTimeoutError``, ``ProtocolError``...), as urllib3 raised it.
    """
    # A body is sent as it comes (a stream, no hash of it ahead): its request is signed in the
    # URL, whose signature leaves the payload unsigned, as S3 allows for presigned URLs.
    in_url = body is not None
    signed = sign_here(fs, operation, params, in_url) or sync(
        fs.loop, sign, fs, operation, params, in_url, timeout=timeouts.request
    )
    sent = {**signed.headers, **(headers or {})}
    if signed.method in ("GET", "HEAD") and timeouts.read_at_once:
        with contextlib.suppress(wire.TooLarge):  # of no announced length: asked again below
            return wire.fetch(signed.method, signed.url, sent, timeouts, tls_verification(fs))
    # The connection pool of the URL's host, found without urllib3's parse of the whole URL
    # (a presigned query is long, and urllib3 checks it character by character each time).
    url = urllib.parse.urlsplit(signed.url)
    connections = pool_for(fs).connection_from_host(url.hostname, url.port, scheme=url.scheme)
    failure: BaseException | None = None
    try:
        response = connections.urlopen(
            signed.method,
            f"{url.path}?{url.query}" if url.query else url.path,
            body=body,
            headers=sent,
            preload_content=not stream,
            decode_content=False,
            redirect=False,
            assert_same_host=False,
            retries=_ONE_TRY,
            timeout=urllib3.Timeout(connect=timeouts.connect, read=timeouts.read),
        )
    except MaxRetryError as exc:  # report what failed, not that retrying did
        failure = exc.reason or exc
    if failure is not None:
        # Raised outside the except block: chaining it to the MaxRetryError that holds it
        # would make a cycle, which exception pickling (tblib, Dask) recurses on forever.
        raise failure
    return response


#: Error statuses a presigned request's answer is taken at its word for: not found, a denial
#: (the credentials, not the URL's form) or throttling, which the retry policy handles. Any
#: other error may be the URL's (an emulator without query-string auth, a redirect, moto's
#: 500 for a key or credentials it refuses): s3fs, whose botocore client reports S3's errors
#: precisely, is asked.
DEFINITE_OR_THROTTLED = frozenset({401, 403, 404, 429, 503})


def raise_definite(response: urllib3.BaseHTTPResponse, path: str) -> None:
    """Raise the store's error for a presigned request's answer that is taken at its word
    (:data:`DEFINITE_OR_THROTTLED`); return for any other, which s3fs is asked about."""
    if response.status in DEFINITE_OR_THROTTLED:
        raise status_error(response.status, path, response.headers)


class PresignedRefused(Exception):
    """The store answered a presigned GET with an error that may be the URL's, not the
    object's (a 400 from an emulator that does not take query-string auth, a redirect to
    another region): worth one more try through s3fs, whose botocore client reports S3's
    errors precisely. Denials, failures and throttling are raised as what they are."""

    def __init__(self, status: int) -> None:
        super().__init__(f"presigned GET answered {status}")
        self.status = status


class PresignedBody:
    """A urllib3 response body, read in the caller's thread.

    Its reads go from the socket straight into the bytes handed on. http.client reads the
    headers through an 8 KiB buffer, which keeps the first body bytes that came with them;
    every later read of a whole number of such blocks then ends with a refill of that buffer
    and a copy out of it: twice the system calls, and a store that sends faster than it is
    read paces the reader by those small reads (a 128 MiB GET from moto ran 7% slower). So
    the first large read returns what the buffer holds, and the rest is read through a
    reader without one, which fills each read's bytes from the socket directly.
    """

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response
        self._buffered = True

    def read(self, n: int) -> bytes:
        if self._buffered and n >= io.DEFAULT_BUFFER_SIZE:
            self._buffered = False
            return self._read_unbuffered(n)
        data: bytes = self._response.read(n, decode_content=False)
        return data

    def _read_unbuffered(self, n: int) -> bytes:
        """What the header read buffered (or one read of the socket), then no buffer."""
        inner = getattr(self._response, "_fp", None)
        read1 = getattr(self._response, "read1", None)  # urllib3 2.2 and later
        buffered = getattr(inner, "fp", None)
        if (
            not isinstance(inner, http.client.HTTPResponse)
            or inner.chunked  # chunk headers are read line by line: keep the buffer
            or read1 is None
            or type(buffered) is not io.BufferedReader
        ):
            return self.read(n)
        # A read1 no smaller than the buffer returns all it holds, or makes one read of the
        # socket past it: either way the buffer is empty afterwards. (http.client asks for
        # less only when the body ends within it, and then closes its file.)
        head: bytes = read1(n, decode_content=False)
        if inner.fp is buffered:  # not closed: the body goes on
            inner.fp = wire.unbuffered(buffered.detach())
        return head  # perhaps short: the callers ask again for the rest

    def readinto(self, view: memoryview) -> int:
        """Up to ``len(view)`` bytes into ``view``: past the first read, straight from the
        socket (urllib3's own ``readinto`` reads a bytes object and copies it in)."""
        response = self._response
        inner = getattr(response, "_fp", None)
        if (
            self._buffered
            or not isinstance(response, urllib3.HTTPResponse)
            or not isinstance(inner, http.client.HTTPResponse)
            or len(response._decoded_buffer)
        ):
            return copied_into(view, self.read(len(view)))
        with response._error_catcher():  # socket failures named as urllib3 names them
            n = inner.readinto(view)
            if not n and view and response.length_remaining:  # cut: never a kept connection
                raise IncompleteRead(response._fp_bytes_read, response.length_remaining)
        counted_as_urllib3(response, n)
        return n

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
    params = {"Bucket": bucket, "Key": key}
    if version:
        params["VersionId"] = version
    response = presigned_request(fs, "get_object", params, timeouts, stream=True, headers=headers)
    if response.status >= 300:
        response.read()
        response.release_conn()
        if response.status in (304, 412):
            return StoreGet(response.status, _info.from_http_headers(response.headers), None, None)
        raise_definite(response, f"{bucket}/{key}")
        sigv4.forget(bucket)  # botocore, asked next, may learn where the bucket is
        raise PresignedRefused(response.status)
    fields = response.headers
    served = _served_range(fields.get("Content-Range")) if response.status == 206 else None
    body: ChunkSource = PresignedBody(response)
    if isinstance(response, wire.Whole) and response.loaded is not None:
        body = LoadedBody(response.loaded)
    return StoreGet(response.status, _info.from_http_headers(fields), body, served)


def _served_range(content_range: str | None) -> ByteRange | None:
    """``bytes a-b/size`` → ByteRange(a, b)."""
    if not content_range or not content_range.startswith("bytes "):
        return None
    span = content_range[len("bytes ") :].split("/", 1)[0]
    first, _, last = span.partition("-")
    if not (first.isdigit() and last.isdigit()):
        return None
    return ByteRange(int(first), int(last))
