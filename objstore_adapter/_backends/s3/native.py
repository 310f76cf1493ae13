"""S3 GETs through obstore's Rust client, for routes whose transfer settings ask for it.

A GET through urllib3 and http.client holds the GIL for most of its cost (signing, building
the request, parsing the answer), so threads sharing one session take turns: 16 threads
manage about what one does. obstore signs and speaks HTTP in Rust with the GIL released, and
threads overlap. Its answer carries no ``Expires`` (object_store does not report it), which
is why a route opts in with ``TransferConfig(native_gets=True)``. Streamed GETs stay on the
presigned path, which hands a body on faster (see :func:`open_native`).

The Rust client is configured from what s3fs's own botocore client resolved (endpoint,
addressing style, signing region, credentials), so a route is still configured once,
through fsspec. A store's answer is taken at its word where the presigned path would take
it (no such object, a denial), and raised as what it is, as are a timeout and a broken
connection; any other error answer (throttling, whose Retry-After obstore does not keep, a
failure of the store, a refusal of the request) is asked again through the presigned path,
whose answer is the one reported.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import re
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from fsspec.asyn import sync
from fsspec.spec import AbstractFileSystem

from ..._body import ChunkSource, LoadedBody, StoreGet
from ..._errors import BodyCut, status_error
from ..._http import ByteRange, Timeouts
from ..._info import META_PREFIX, STORED_HEADERS, ObjectInfo, quote_etag, stored_type
from .presigned import sign, sign_here, tls_verification

try:
    import obstore
    from obstore.exceptions import (
        BaseError,
        NotFoundError,
        PermissionDeniedError,
        UnauthenticatedError,
    )
except ImportError:  # the ``native`` extra is not installed: routes cannot ask for it
    obstore = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from obstore import GetOptions
    from obstore.store import ClientConfig, S3Config, S3Credential

#: A body read at once up to this size comes in one call; a larger one in chunks this big.
WHOLE_BODY = 2**20

#: How long the Rust client may keep refreshable credentials whose expiry botocore does not
#: say (botocore refreshes them itself before they run out).
CREDENTIALS_TTL = dt.timedelta(minutes=30)

#: obstore bounds each request by a total time (30 s unless told): a streamed body may take
#: longer, and the caller's timeouts bound connecting and each wait for bytes instead.
_NO_TOTAL = dt.timedelta(days=365)

#: Native GETs refused in a row, each then answered by the presigned path, after which a
#: bucket's GETs skip obstore for :data:`REFUSAL_PAUSE` seconds: a store that refuses only
#: obstore's requests (a bucket outside the client's region) would cost two per GET.
MAX_REFUSALS = 3
REFUSAL_PAUSE = 300.0

#: In obstore's error text (which carries no attributes for them): the status a store
#: answered, and an HTTP failure's kind. Both sit in its debug dump, where the request URL is
#: percent-encoded, so a key cannot fake them.
_STATUS = re.compile(r"\bstatus: (\d{3}),")

#: A denial of obstore's own signature, not of the caller: asked again through the
#: presigned path (the store's code, in the body obstore quotes).
_NOT_THE_CALLERS = "<Code>SignatureDoesNotMatch</Code>"
_HTTP_KIND = re.compile(r"HttpError \{\s*kind: (\w+),")

#: Clients kept per filesystem (one per bucket and timeouts; each holds its own connections).
MAX_STORES = 16

_PROBE_KEY = "objstore-adapter-probe"

#: The attributes obstore names itself; every other attribute is user metadata.
_ATTRIBUTES = frozenset(
    {"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Type"}
    | {"Cache-Control", "Storage-Class"}
)

_stores: weakref.WeakKeyDictionary[
    AbstractFileSystem, collections.OrderedDict[tuple[Any, ...], Any]
] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()
#: Per filesystem and bucket: refusals in a row, and until when obstore is skipped.
_refusals: weakref.WeakKeyDictionary[AbstractFileSystem, dict[str, tuple[int, float]]] = (
    weakref.WeakKeyDictionary()
)

#: The process whose obstore runtime (Tokio, with its threads) serves native GETs: a process
#: forked from it inherits the runtime without its threads, and a request there would hang.
_runtime_pid: int | None = None


class NativeRefused(Exception):
    """The store answered obstore's GET with an error obstore cannot report precisely (it
    keeps no status or headers): the presigned path should ask, and answer."""


def open_native(
    fs: Any,
    bucket: str,
    key: str,
    version: str | None,
    timeouts: Timeouts,
    span: tuple[int, int | None] | None = None,
) -> StoreGet | None:
    """GetObject (the ``span`` ``(start, end or None)`` of it, when given) through obstore.

    Returns ``None`` where obstore should not be asked: a streamed body (see below), no
    native client for this filesystem or bucket, a key obstore would read as another path, a
    forked process.

    Only a GET whose caller reads the body at once (``timeouts.read_at_once``) is asked of
    obstore, and a body up to ``timeouts.whole`` comes in one call. obstore hands a streamed
    body over chunk by chunk, copying each twice on its way into Python, where the presigned
    path reads from the socket into the bytes handed on: a 128 MiB stream came at 0.51x
    (moto) and 0.89x (SeaweedFS) of the presigned path's speed.

    Raises:
        NativeRefused: the store answered with an error the presigned path should report.
        FileNotFoundError: no such object (as :func:`status_error` builds it).
        PermissionError: the store denied the request (401, 403).
        TimeoutError: no answer in time.
        ConnectionError: the connection failed.
    """
    global _runtime_pid
    if _runtime_pid not in (None, os.getpid()):
        return None  # a forked child: obstore's runtime threads stayed in the parent
    if not timeouts.read_at_once or not _plain_key(key) or _paused(fs, bucket):
        return None
    store = _store(fs, bucket, timeouts)
    if store is None:
        return None
    _runtime_pid = os.getpid()
    options: GetOptions = {}
    if version:
        options["version"] = version
    if span is not None:
        start, end = span
        options["range"] = {"offset": start} if end is None else (start, end + 1)
    failure: Exception | None = None
    # The answers taken at their word, told by type (obstore's text quotes the store's body),
    # as the presigned path takes them (DEFINITE_OR_THROTTLED) but throttling: obstore keeps
    # no Retry-After, so a 429 or 503 is asked again through the presigned path, which has it.
    try:
        result = obstore.get(store, key, options=options)
    except (NotFoundError, FileNotFoundError):  # obstore raises the built-in one for a 404
        failure = status_error(404, f"{bucket}/{key}", {})
    except (PermissionDeniedError, UnauthenticatedError) as exc:
        status = 401 if isinstance(exc, UnauthenticatedError) else 403
        denied = _NOT_THE_CALLERS not in str(exc)
        failure = status_error(status, f"{bucket}/{key}", {}) if denied else NativeRefused()
    except BaseError as exc:
        failure = _transport_failure(exc) or NativeRefused()
    except ValueError:  # obstore does not take the key as a path after all
        return None
    if failure is not None:  # raised outside the except block: obstore's text quotes URLs
        raise failure
    _refusals.get(fs, {}).pop(bucket, None)
    info = _object_info(result.meta, result.attributes)
    first, stop = result.range
    served = ByteRange(first, stop - 1) if span is not None and stop > first else None
    length = stop - first
    body = NativeBody(result) if length > timeouts.whole else _read_now(result, length)
    return StoreGet(206 if served else 200, info, body, served)


def presigned_answered(fs: Any, bucket: str) -> None:
    """Note that the presigned path answered a GET obstore's was refused for."""
    refusals = _refusals.setdefault(fs, {})
    count = refusals.get(bucket, (0, 0.0))[0] + 1
    if count >= MAX_REFUSALS:
        refusals[bucket] = (0, time.monotonic() + REFUSAL_PAUSE)
    else:
        refusals[bucket] = (count, 0.0)


def _paused(fs: Any, bucket: str) -> bool:
    return time.monotonic() < _refusals.get(fs, {}).get(bucket, (0, 0.0))[1]


def _plain_key(key: str) -> bool:
    """True for a key obstore sends as it is: it parses keys as paths, dropping empty
    segments (``a//b``, a leading ``/``) and refusing ``.``, ``..`` and control characters."""
    return (
        bool(key)
        and key.isprintable()
        and not key.startswith("/")
        and not key.endswith("/")
        and "//" not in key
        and all(part not in (".", "..") for part in key.split("/"))
    )


def _transport_failure(exc: BaseException) -> Exception | None:
    """The built-in error for an obstore failure that no store answered (a timeout, a
    broken connection); ``None`` when the store answered (or the cause is unknown). The
    store's words are not passed on: they may quote the request URL."""
    text = str(exc)
    if _STATUS.search(text):
        return None
    kind = _HTTP_KIND.search(text)
    if kind is None:
        return None
    if kind[1] == "Timeout":
        return TimeoutError("the object store did not answer in time")
    return ConnectionError(f"the connection to the object store failed ({kind[1]})")


class NativeBody:
    """An obstore body streamed in chunks, read in the caller's thread with the GIL released
    while it waits."""

    def __init__(self, result: Any) -> None:
        self._chunks: Any = iter(result.stream(min_chunk_size=WHOLE_BODY))
        self._pending = memoryview(b"")

    def read(self, n: int) -> bytes:
        if not self._pending:
            chunk = _guarded(next, self._chunks, None)
            if chunk is None:
                return b""
            self._pending = memoryview(chunk)
        data = bytes(self._pending[:n])
        self._pending = self._pending[n:]
        return data

    def close(self) -> None:
        self._chunks = iter(())
        self._pending = memoryview(b"")


class _Broken:
    """A body that hands on the bytes that came, then raises the failure met while reading
    it, where a reader over HTTP would meet it."""

    def __init__(self, failure: Exception, came: bytes = b"") -> None:
        self._failure: Exception | None = failure
        self._came = LoadedBody(came)

    def read(self, n: int) -> bytes:
        data = self._came.read(n)
        if data or self._failure is None:
            return data
        failure, self._failure = self._failure, None
        raise failure

    def close(self) -> None:
        self._failure = None
        self._came.close()


def _read_now(result: Any, length: int) -> ChunkSource:
    """The body of a GET read at once, read now: up to :data:`WHOLE_BODY` in one call (a cut
    one is asked again whole), a larger one chunk by chunk, so that one that breaks off is
    handed on as far as it came and healed from there by the transfer policy."""
    if length <= WHOLE_BODY:
        try:
            return LoadedBody(bytes(_guarded(result.bytes)))
        except (BodyCut, TimeoutError) as exc:
            return _Broken(exc)
    chunks: list[bytes] = []
    stream = NativeBody(result)
    try:
        while chunk := stream.read(WHOLE_BODY):
            chunks.append(chunk)
    except (BodyCut, TimeoutError) as exc:
        return _Broken(exc, b"".join(chunks))
    return LoadedBody(b"".join(chunks))


def _guarded(call: Any, *args: Any) -> Any:
    """``call(*args)`` on a body, with obstore's failures raised as the built-in errors they
    are: a timeout, else a body that broke off."""
    failure: Exception | None = None
    try:
        return call(*args)
    except BaseError as exc:
        failure = _transport_failure(exc)
    if isinstance(failure, TimeoutError):
        raise TimeoutError("the object store stopped sending the body")
    raise BodyCut("the body stream from the object store broke")


def _object_info(meta: Any, attributes: Any) -> ObjectInfo:
    """ObjectInfo from obstore's metadata and attributes (user metadata: the attributes
    that are not representation headers)."""
    headers: dict[str, str] = {}
    for name, value in attributes.items():
        if name in STORED_HEADERS:
            headers[name] = value
        elif name not in _ATTRIBUTES:  # user metadata, named as the store sent it
            headers[f"{META_PREFIX}{name.lower()}"] = value
    return ObjectInfo(
        size=int(meta["size"]),
        content_type=stored_type(attributes.get("Content-Type")),
        last_modified=meta.get("last_modified"),
        etag=quote_etag(meta.get("e_tag")),
        headers=headers,
    )


def _store(fs: Any, bucket: str, timeouts: Timeouts) -> Any:
    """The obstore S3Store for ``bucket`` with these timeouts, built once per filesystem
    (the :data:`MAX_STORES` used last are kept); ``None`` where there can be none."""
    cache_key = (bucket, timeouts.connect, timeouts.read)
    with _stores_lock:
        stores = _stores.setdefault(fs, collections.OrderedDict())
        if cache_key in stores:
            stores.move_to_end(cache_key)
            return stores[cache_key]
    store = _build_store(fs, bucket, timeouts)
    with _stores_lock:
        while len(stores) >= MAX_STORES:
            stores.popitem(last=False)
        return stores.setdefault(cache_key, store)


def _build_store(fs: Any, bucket: str, timeouts: Timeouts) -> Any:
    """An S3Store that sends what botocore would: its endpoint, addressing style, region.

    They are read from a URL botocore presigns (local work, no request), which reflects every
    setting that shapes it (``endpoint_url``, region, ``addressing_style``, FIPS, dual-stack).
    ``None`` where the URL has a shape this does not recognise.
    """
    from obstore.store import S3Store

    probe = {"Bucket": bucket, "Key": _PROBE_KEY}
    signed = sign_here(fs, "get_object", probe) or sync(
        fs.loop, sign, fs, "get_object", probe, timeout=timeouts.request
    )
    parts = urlsplit(signed.url)
    config: S3Config = {}
    if parts.path.endswith(f"/{bucket}/{_PROBE_KEY}"):
        base = parts.path[: -len(f"/{bucket}/{_PROBE_KEY}")]
        config["endpoint"] = f"{parts.scheme}://{parts.netloc}{base}"
    elif parts.path == f"/{_PROBE_KEY}" and parts.netloc.startswith(f"{bucket}."):
        config["endpoint"] = f"{parts.scheme}://{parts.netloc}"
        config["virtual_hosted_style_request"] = True
    else:
        return None
    query = parse_qs(parts.query)
    credential = query.get("X-Amz-Credential", [""])[0].split("/")  # SigV4: key/day/region/..
    client = getattr(fs, "_s3", None)
    region = getattr(getattr(client, "meta", None), "region_name", None)
    config["region"] = credential[2] if len(credential) == 5 else region or "us-east-1"
    client_options: ClientConfig = {"allow_http": parts.scheme == "http", "timeout": _NO_TOTAL}
    if timeouts.connect is not None:
        client_options["connect_timeout"] = dt.timedelta(seconds=timeouts.connect)
    else:
        client_options["connect_timeout"] = _NO_TOTAL
    if timeouts.read is not None:
        client_options["read_timeout"] = dt.timedelta(seconds=timeouts.read)
    verify = tls_verification(fs) if parts.scheme == "https" else True
    if isinstance(verify, str):
        return None  # obstore adds a CA bundle to the system's roots; botocore trusts it alone
    if verify is False:
        client_options["allow_invalid_certificates"] = True
    unsigned = "X-Amz-Signature" not in query and "Signature" not in query  # SigV4, SigV2
    if unsigned:
        config["skip_signature"] = True
    return S3Store(
        bucket,
        config=config,
        client_options=client_options,
        retry_config={"max_retries": 0},  # the route's transfer settings retry
        credential_provider=None if unsigned else _Credentials(fs),
    )


class _Credentials:
    """The credentials s3fs signs with, for obstore: the filesystem's own key, else what its
    botocore session resolves (profiles, environment, SSO; refreshed by botocore).

    obstore keeps what this returns until five minutes before ``expires_at``: static keys
    never expire, temporary ones when botocore says (it refreshes them earlier than that).
    """

    def __init__(self, fs: Any) -> None:
        self._fs = weakref.proxy(fs)

    def __call__(self) -> S3Credential:
        frozen, expiry = sync(self._fs.loop, _frozen_credentials, self._fs)
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            "expires_at": expiry,
        }

    def __repr__(self) -> str:
        return "_Credentials(<from s3fs>)"


async def _frozen_credentials(fs: Any) -> tuple[Any, dt.datetime | None]:
    await fs.set_session()
    client = await fs.get_s3()
    credentials = client._request_signer._credentials  # what botocore signs with
    frozen = await credentials.get_frozen_credentials()
    if not hasattr(credentials, "refresh_needed"):  # static credentials: they do not expire
        return frozen, None
    expiry = getattr(credentials, "_expiry_time", None)
    if isinstance(expiry, dt.datetime) and expiry.tzinfo is not None:
        return frozen, expiry.astimezone(dt.timezone.utc)
    return frozen, dt.datetime.now(dt.timezone.utc) + CREDENTIALS_TTL
