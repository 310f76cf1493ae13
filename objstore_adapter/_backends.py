"""How one filesystem is asked for an object's metadata and bytes.

:class:`Backend` works with any fsspec filesystem: ``info()`` for metadata, ``open()`` for the
bytes. Where a backend's own API can do better, a subclass says so in a few lines: S3's
``GetObject`` returns the metadata *and* a streaming body in one request, where ``fs.open``
would cost an ``info()`` call plus one ranged GET per block.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import inspect
import itertools
import json
import os
import stat
import threading
import types
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from fsspec.asyn import AsyncFileSystem, sync
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from . import _info
from ._body import ChunkSource, LoadedBody, StoreGet
from ._errors import StoreRedirected, status_error, store_answer
from ._http import ByteRange, Timeouts, WriteCondition
from ._info import ObjectInfo, Representation
from ._listing import hides_keys, listing_entries
from ._native import NativeRefused, open_native, presigned_answered
from ._presigned import (
    DEFINITE_OR_THROTTLED,
    PresignedRefused,
    can_presign,
    open_presigned,
    presigned_request,
)
from ._transfer import Attempts, VersionChanged
from ._upload import AzureBlocks, FileSlice, PartStore, S3Parts, upload_parts

#: Block size for generic ``fs.open`` reads: big enough that a sequential read costs few
#: backend requests, small enough to stay well inside the memory budget of one stream.
READ_BLOCK = 8 * 2**20

#: Block size of streamed uploads: what one upload holds in memory, and the multipart part
#: size where the backend has multipart uploads (S3's minimum part is 5 MiB).
WRITE_BLOCK = 8 * 2**20

#: How much of a streamed body aiohttp may buffer ahead of the reader (it pauses at twice this).
STREAM_CHUNK = 2**20

#: Size of each ranged GET the Azure SDK makes while streaming a blob.
AZURE_CHUNK = 4 * 2**20


class Backend:
    """Metadata and streaming reads through plain fsspec calls."""

    #: True where the filesystem class accepts any keyword and drops those it does not take
    #: (gcsfs, adlfs, fsspec's memory and local): a misspelt option would be lost silently,
    #: so the registry refuses options no constructor names.
    drops_unknown_options = False

    def storage_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options a route's filesystem is built with: the route's own, with whatever
        the backend's SDK needs to try each request once (the handlers retry, see
        :class:`Attempts`; a retry layer under them would multiply the attempts)."""
        return dict(options)

    def configure(self, fs: AbstractFileSystem) -> None:
        """Tell a filesystem just built for a route to try each request once, where it can
        only be told after it is built."""

    def stat(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> ObjectInfo:
        """One metadata request for ``path``."""
        if isinstance(fs, AsyncFileSystem):
            info = sync(fs.loop, fs._info, path, timeout=timeouts.request)
        else:
            info = fs.info(path)
        return _info.from_fsspec(info)

    def open(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        byte_range: ByteRange | None = None,
        native: bool = False,
    ) -> tuple[ObjectInfo, ChunkSource]:
        """The whole object's metadata and a lazily read body: the whole object, or only
        ``byte_range`` (absolute, already checked against the size) when one is given.
        ``native``: through the backend's native client where it has one (S3: obstore)."""
        info = self.stat(fs, path, timeouts)
        if info.is_dir:
            raise IsADirectoryError(path)
        if byte_range is None:
            return info, fs.open(path, "rb", block_size=READ_BLOCK)
        file = fs.open(path, "rb", block_size=min(READ_BLOCK, byte_range.length))
        file.seek(byte_range.start)
        return info, file

    def open_direct(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        span: tuple[int, int | None] | None,
        conditions: Mapping[str, str],
        native: bool = False,
    ) -> StoreGet | None:
        """One request for a GET whose range (``bytes=start-[end]``) and preconditions the
        store resolves itself.

        Returns the store's answer, or ``None`` when the backend cannot (or the store would
        not) answer that way; then the caller reads the metadata, judges, and asks
        :meth:`open` for an absolute range.
        """
        return None

    def can_resume(self, fs: AbstractFileSystem, info: ObjectInfo) -> bool:
        """True when :meth:`open_part` can fetch more of the version ``info`` describes."""
        return False

    def open_part(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        start: int,
        stop: int,
        info: ObjectInfo,
    ) -> ChunkSource:
        """Bytes ``start`` to ``stop - 1`` of the version ``info`` describes, streamed.

        Raises:
            VersionChanged: the store holds another version of the object now.
        """
        raise NotImplementedError

    def list(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> list[dict[str, Any]]:
        """Listing entries for what lies directly under the prefix ``path``."""
        fs.invalidate_cache(path)  # a listing must see writes made by anyone since the last
        try:
            if isinstance(fs, AsyncFileSystem):
                found = sync(fs.loop, fs._ls, path, detail=True, timeout=timeouts.request)
            else:
                found = fs.ls(path, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        if any(hides_keys(path, item) for item in found):
            found = [*found, *_under_empty_segment(fs, path, timeouts)]
        return listing_entries(path, found)

    def delete(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts, etag: str | None = None
    ) -> None:
        """Remove the object at ``path`` in one request; with ``etag``, only that version.

        Raises:
            FileNotFoundError: there was nothing to remove (where the store says so).
            OSError: chained from a 412 ``StoreStatusError`` when ``etag`` no longer matches.
        """
        with self._judged(fs, path, timeouts, None if etag is None else WriteCondition(etag=etag)):
            if isinstance(fs, AsyncFileSystem):
                sync(fs.loop, fs._rm_file, path, timeout=timeouts.request)
            else:
                fs.rm_file(path)
        fs.invalidate_cache(path)

    @contextlib.contextmanager
    def _judged(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        condition: WriteCondition | None,
    ) -> Iterator[None]:
        """Judge ``condition`` and write, for a store that cannot judge it itself: the check
        and the write hold a lock, so they are atomic among the threads of this process (the
        whole store, for memory://), not against other processes."""
        if condition is None:
            yield
            return
        with _LOCAL_WRITES[hash(path) % len(_LOCAL_WRITES)]:
            fs.invalidate_cache(path)
            try:
                current: ObjectInfo | None = self.stat(fs, path, timeouts)
            except FileNotFoundError:
                current = None
            if not condition_holds(condition, current):
                raise status_error(412, path)
            yield

    def write_options(self, stored: Representation) -> dict[str, Any]:
        """Options for ``fs.open(path, "wb", ...)`` and ``fs.pipe_file`` that store the type,
        the stored headers and the metadata, as far as the backend keeps them."""
        return {}

    def write_whole(
        self,
        fs: AbstractFileSystem,
        path: str,
        data: bytes,
        stored: Representation,
        condition: WriteCondition | None,
        timeouts: Timeouts,
    ) -> ObjectInfo | None:
        """Store a body that fits in one block with one request, if ``condition`` holds.

        Returns the validators the store's answer gave (``None``: it gave none).
        """
        with self._judged(fs, path, timeouts, condition):
            fs.pipe_file(path, data, **self.write_options(stored))
        return None

    def part_store(
        self,
        fs: AbstractFileSystem,
        path: str,
        stored: Representation,
        timeouts: Timeouts,
        condition: WriteCondition | None,
    ) -> PartStore | None:
        """Where a body larger than one part is sent in parallel parts, committed only if
        ``condition`` holds; ``None`` when the backend has no such form (the body is then
        streamed block by block)."""
        return None

    def write(
        self,
        fs: AbstractFileSystem,
        path: str,
        chunks: Iterable[bytes],
        stored: Representation,
        timeouts: Timeouts,
        attempts: Attempts,
        condition: WriteCondition | None = None,
    ) -> ObjectInfo | None:
        """Stream ``chunks`` to ``path``, committing only once every chunk is written and only
        if ``condition`` holds. Returns the validators the store's answer gave, if any.

        A body of one block is one request, tried again as ``attempts`` allows; a request
        whose answer was lost is not sent again once the store holds the body. A larger
        body goes in parts (each part tried again) or, where the store has no parts, as one
        stream opened without autocommit, so a failure part way (the caller's body or the
        store) discards what was written: no object, no partial object.
        """
        config = attempts.config
        if getattr(fs, "local_file", False):  # keys have no folders to create; files do
            fs.makedirs(fs._parent(path), exist_ok=True)
        parts = self.part_store(fs, path, stored, timeouts, condition)
        large_file = isinstance(chunks, FileSlice) and chunks.length > config.part_size
        if parts is not None and large_file:  # each part read from the file as it is sent
            try:
                return upload_parts(parts, chunks, attempts)
            finally:
                fs.invalidate_cache(path)
        body = iter(chunks)
        block = config.part_size if parts is not None else WRITE_BLOCK
        first, size = [], 0
        for chunk in body:
            first.append(chunk)
            size += len(chunk)
            if size > block:
                break
        else:  # the whole body fits in one block: one request, nothing to clean up
            try:
                return self._write_once(
                    fs, path, b"".join(first), stored, condition, timeouts, attempts
                )
            finally:
                fs.invalidate_cache(path)
        if parts is not None:  # parts sent in parallel, committed once all are stored
            try:
                return upload_parts(parts, itertools.chain(first, body), attempts)
            finally:
                fs.invalidate_cache(path)
        with self._judged(fs, path, timeouts, condition):
            file = fs.open(
                path, "wb", autocommit=False, block_size=WRITE_BLOCK, **self.write_options(stored)
            )
            try:
                for chunk in itertools.chain(first, body):
                    file.write(chunk)
                file.close()
                file.commit()
            except BaseException:
                _abandon(file)
                raise
            finally:
                fs.invalidate_cache(path)
        return None

    def _write_once(
        self,
        fs: AbstractFileSystem,
        path: str,
        data: bytes,
        stored: Representation,
        condition: WriteCondition | None,
        timeouts: Timeouts,
        attempts: Attempts,
    ) -> ObjectInfo | None:
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()

        def send() -> ObjectInfo | None:
            return self.write_whole(fs, path, data, stored, condition, timeouts)

        def settled() -> ObjectInfo | None:
            # The answer was lost: the write took effect if the store holds these bytes now.
            try:
                info = self.stat(fs, path, timeouts)
            except FileNotFoundError:
                return None
            return info if info.md5 == digest else None

        return attempts.call(send, settled)


def _under_empty_segment(
    fs: AbstractFileSystem, path: str, timeouts: Timeouts
) -> list[dict[str, Any]]:
    """The keys under ``path + "//"`` (``a//b``), which ``ls`` folds into a directory
    named like ``path`` itself: asked for with the stem filter of ``find`` where the
    filesystem has one (s3fs, gcsfs, adlfs); nothing where it has none."""
    find = fs._find if isinstance(fs, AsyncFileSystem) else fs.find
    if "prefix" not in inspect.signature(find).parameters:
        return []
    if isinstance(fs, AsyncFileSystem):
        found = sync(fs.loop, find, path, detail=True, prefix="/", timeout=timeouts.request)
    else:
        found = find(path, detail=True, prefix="/")
    return list(found.values())


#: Locks for writes whose conditions the adapter judges itself, striped by path.
_LOCAL_WRITES = tuple(threading.Lock() for _ in range(64))


def condition_holds(condition: WriteCondition, current: ObjectInfo | None) -> bool:
    """Whether a write under ``condition`` may replace ``current`` (``None``: no object)."""
    if condition.create:
        return current is None
    return current is not None and current.etag == condition.etag


def _bucket_key(fs: Any, path: str) -> tuple[str, str, str | None]:
    """Bucket (or container), key and version of a cloud path; a bucket alone is no object."""
    bucket, key, version = fs.split_path(path)
    if not key:
        raise IsADirectoryError(path)
    return bucket, key, version


def _native_first(
    fs: Any,
    bucket: str,
    key: str,
    version: str | None,
    timeouts: Timeouts,
    span: tuple[int, int | None] | None,
) -> tuple[StoreGet | None, bool]:
    """obstore's answer (``None``: ask the presigned path), and whether obstore's request was
    refused, which the presigned path's answer then reports (:func:`presigned_answered`)."""
    try:
        return open_native(fs, bucket, key, version, timeouts, span), False
    except NativeRefused:
        return None, True


def _abandon(file: Any) -> None:
    """Throw away an unfinished upload without committing any of it."""
    if isinstance(file, AbstractBufferedFile):
        with contextlib.suppress(Exception):
            file.discard()
        # close() on a buffered file flushes the last block and, for some backends (adlfs),
        # commits what was staged: mark it closed so neither we nor __del__ call it.
        file.closed = True
    else:  # local and memory files: close the temporary, then drop it
        with contextlib.suppress(Exception):
            file.close()
        with contextlib.suppress(Exception):
            file.discard()


class S3Backend(Backend):
    """s3fs: HeadObject for metadata, one streaming GetObject for metadata plus bytes."""

    def storage_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        # s3fs hands these to botocore only when it connects, where a value that is not a
        # mapping fails far from the option (AttributeError, or no message at all).
        for name in ("config_kwargs", "client_kwargs", "s3_additional_kwargs"):
            if not isinstance(options.get(name) or {}, Mapping):
                raise TypeError(f"the option {name} must be a mapping (a dict of keywords)")
        config = dict(options.get("config_kwargs") or {})
        if not isinstance(config.get("retries") or {}, Mapping):
            raise TypeError("the option config_kwargs['retries'] must be a mapping")
        retries = dict(config.get("retries") or {})
        retries.pop("max_attempts", None)  # botocore reads it as retries after the first
        config["retries"] = {**retries, "total_max_attempts": 1}
        return {**options, "config_kwargs": config}

    def configure(self, fs: AbstractFileSystem) -> None:
        fs.retries = 1  # s3fs' own loop around botocore's

    def stat(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> ObjectInfo:
        headers = self._presigned(fs, "head_object", path, timeouts, {})
        if headers is not None:
            return _info.from_http_headers(headers)
        response = self._call(fs, "head_object", path, timeouts)
        return _info.from_s3_response(response)

    def list(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> list[dict[str, Any]]:
        bucket = fs.split_path(path)[0]
        sync(fs.loop, _s3_sends_once, fs, bucket, timeout=timeouts.request)
        return super().list(fs, path, timeouts)

    def open(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        byte_range: ByteRange | None = None,
        native: bool = False,
    ) -> tuple[ObjectInfo, ChunkSource]:
        refused = False
        if native and can_presign(fs):
            bucket, key, version = _bucket_key(fs, path)
            span = (byte_range.start, byte_range.end) if byte_range else None
            answer, refused = _native_first(fs, bucket, key, version, timeouts, span)
            if answer is not None and answer.body is not None:
                return answer.info, answer.body
        opened = self._open(fs, path, timeouts, byte_range)
        if refused:
            presigned_answered(fs, bucket)
        return opened

    def _open(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts, byte_range: ByteRange | None
    ) -> tuple[ObjectInfo, ChunkSource]:
        if can_presign(fs):
            bucket, key, version = _bucket_key(fs, path)
            header = {"Range": f"bytes={byte_range.start}-{byte_range.end}"} if byte_range else {}
            with contextlib.suppress(PresignedRefused):
                answer = open_presigned(fs, bucket, key, version, timeouts, header)
                if answer.body is not None:
                    return answer.info, answer.body
        extra = {"Range": f"bytes={byte_range.start}-{byte_range.end}"} if byte_range else {}
        response = self._call(fs, "get_object", path, timeouts, **extra)
        body = response["Body"]
        _widen_read_buffer(getattr(body, "raw_stream", None))
        return _info.from_s3_response(response), LoopBody(
            fs.loop, body.read, body.aclose, timeouts.read
        )

    def open_direct(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        span: tuple[int, int | None] | None,
        conditions: Mapping[str, str],
        native: bool = False,
    ) -> StoreGet | None:
        if not can_presign(fs):
            return None
        bucket, key, version = _bucket_key(fs, path)
        refused = False
        if native and not conditions:  # 304 and 412 need validators obstore does not report
            native_answer, refused = _native_first(fs, bucket, key, version, timeouts, span)
            if native_answer is not None:
                return native_answer
        headers = dict(conditions)
        if span is not None:
            start, end = span
            headers["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            answer = open_presigned(fs, bucket, key, version, timeouts, headers)
        except PresignedRefused:  # 416 among others: the careful path answers it
            return None
        if span is not None and answer.body is not None and answer.served is None:
            answer.body.close()  # the whole object came back: let the careful path decide
            return None
        if refused and answer.body is not None:
            presigned_answered(fs, bucket)
        return answer

    def can_resume(self, fs: AbstractFileSystem, info: ObjectInfo) -> bool:
        return info.etag is not None

    def open_part(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        start: int,
        stop: int,
        info: ObjectInfo,
    ) -> ChunkSource:
        assert info.etag is not None  # can_resume said so
        span = f"bytes={start}-{stop - 1}"
        if can_presign(fs):
            bucket, key, version = _bucket_key(fs, path)
            with contextlib.suppress(PresignedRefused):
                headers = {"Range": span, "If-Match": info.etag}
                answer = open_presigned(fs, bucket, key, version, timeouts, headers)
                if answer.body is None:
                    raise VersionChanged(path)
                return answer.body
        try:
            response = self._call(fs, "get_object", path, timeouts, Range=span, IfMatch=info.etag)
        except Exception as exc:
            refused = store_answer(exc)
            if refused is not None and refused.status == 412:
                raise VersionChanged(path) from None
            raise
        body = response["Body"]
        _widen_read_buffer(getattr(body, "raw_stream", None))
        return LoopBody(fs.loop, body.read, body.aclose, timeouts.read)

    def write_options(self, stored: Representation) -> dict[str, Any]:
        options: dict[str, Any] = {"ContentType": stored.content_type}
        for name, value in stored.headers.items():
            options[name.replace("-", "")] = value  # Cache-Control → CacheControl, ...
        if stored.metadata:
            options["Metadata"] = dict(stored.metadata)
        return options

    def write_whole(
        self,
        fs: AbstractFileSystem,
        path: str,
        data: bytes,
        stored: Representation,
        condition: WriteCondition | None,
        timeouts: Timeouts,
    ) -> ObjectInfo | None:
        extra = {**self.write_options(stored), **s3_condition(condition)}
        answer = self._presigned(fs, "put_object", path, timeouts, extra, data)
        if answer is not None:
            return _written(len(data), answer.get("ETag"), answer.get("Last-Modified"))
        response = self._call(fs, "put_object", path, timeouts, Body=data, **extra)
        return _written(len(data), response.get("ETag"), response.get("LastModified"))

    def delete(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts, etag: str | None = None
    ) -> None:
        extra = {"IfMatch": etag} if etag is not None else {}
        try:
            if self._presigned(fs, "delete_object", path, timeouts, extra) is None:
                self._call(fs, "delete_object", path, timeouts, **extra)
        finally:
            fs.invalidate_cache(path)

    def _presigned(
        self,
        fs: Any,
        operation: str,
        path: str,
        timeouts: Timeouts,
        params: Mapping[str, Any],
        body: bytes | None = None,
    ) -> Mapping[str, str] | None:
        """One write request sent from this thread through a presigned URL, as reads are
        (fsspec's loop thread would make threads sharing a session take turns): the headers
        of the store's answer; ``None`` where the URL itself may be what the store refused
        (then s3fs asks, and reports S3's error precisely)."""
        if not can_presign(fs):
            return None
        bucket, key, version = _bucket_key(fs, path)
        where = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
        response = presigned_request(fs, operation, {**where, **params}, timeouts, body=body)
        if response.status < 300:
            return response.headers
        if response.status in (409, 412):  # a condition failed (409: a concurrent write)
            raise status_error(412, path, response.headers)
        if response.status == 404:
            if "IfMatch" in params:  # no such version to replace
                raise status_error(412, path, response.headers)
            raise status_error(404, path, response.headers)
        if response.status in DEFINITE_OR_THROTTLED:
            raise status_error(response.status, path, response.headers)
        return None  # another error: s3fs' second opinion (moto answers 500 to bad keys)

    def part_store(
        self,
        fs: AbstractFileSystem,
        path: str,
        stored: Representation,
        timeouts: Timeouts,
        condition: WriteCondition | None,
    ) -> PartStore | None:
        return S3Parts(fs, path, self.write_options(stored), timeouts, s3_condition(condition))

    def _call(self, fs: Any, method: str, path: str, timeouts: Timeouts, **extra: Any) -> Any:
        bucket, key, version = _bucket_key(fs, path)
        kwargs = {"Bucket": bucket, "Key": key, **extra}
        if version:
            kwargs["VersionId"] = version
        return sync(fs.loop, _call_s3_once, fs, method, timeout=timeouts.request, **kwargs)


async def _call_s3_once(fs: Any, method: str, **kwargs: Any) -> Any:
    await _s3_sends_once(fs, kwargs.get("Bucket"))
    return await fs._call_s3(method, **kwargs)


async def _s3_sends_once(fs: Any, bucket: str | None) -> None:
    """Stop the aiohttp session under the bucket's botocore client from resending."""
    await fs.set_session()
    client = await fs.get_s3(bucket)
    http = getattr(getattr(client, "_endpoint", None), "http_session", None)
    get_session = getattr(http, "_get_session", None)
    if get_session is not None:
        no_resend(await get_session(None))


def no_resend(session: Any) -> None:
    """Stop an aiohttp session from sending a request again on its own.

    Not when its kept-alive connection drops (RFC 9112 §9.3.1 allows it for an idempotent
    request): that would be a second request of one attempt under the adapter's retries,
    which count every request the store sees. Nor to a redirect's ``Location``: another
    host's answer is not the object, and a write sent there is not stored (the SDKs call
    with aiohttp's default, ``allow_redirects=True``). The redirect is raised as
    :class:`StoreRedirected` instead.
    """
    if session is None:
        return
    if getattr(session, "_retry_connection", False):
        session._retry_connection = False
    traces = getattr(session, "_trace_configs", None)
    refusal = _redirect_refusal()
    if isinstance(traces, list) and refusal not in traces:
        session._trace_configs = [*traces, refusal]  # a copy: the list may be the caller's


@functools.cache
def _redirect_refusal() -> Any:
    """The one aiohttp trace that stops a session following a redirect (aiohttp has no
    per-session switch): it raises before the session sends anything to the ``Location``."""
    import aiohttp

    trace = aiohttp.TraceConfig()
    trace.on_request_redirect.append(_refuse_redirect)
    trace.freeze()
    return trace


async def _refuse_redirect(session: Any, context: Any, params: Any) -> None:
    response = params.response
    location = response.headers.get("Location") or response.headers.get("URI")
    if location is None:
        # aiohttp returns such an answer as it is: botocore reads S3's redirect to the
        # bucket's region from it (x-amz-bucket-region) and asks that region's endpoint.
        return
    response.close()
    raise StoreRedirected(response.status, location, str(params.url))


def s3_condition(condition: WriteCondition | None) -> dict[str, str]:
    """``condition`` as S3's PutObject and CompleteMultipartUpload parameters."""
    if condition is None:
        return {}
    if condition.create:
        return {"IfNoneMatch": "*"}
    assert condition.etag is not None
    return {"IfMatch": condition.etag}


def _written(size: int, etag: Any, last_modified: Any = None) -> ObjectInfo:
    """The validators a store's answer to a write gave."""
    return ObjectInfo(
        size=size,
        etag=_info.quote_etag(etag) if isinstance(etag, str) else None,
        last_modified=_info.to_datetime(last_modified),
        md5=_info.md5_of(etag),
    )


class GCSBackend(Backend):
    """gcsfs: the JSON API's object resource for metadata, one streaming media GET for bytes.

    gcsfs reads every response whole, so the GET goes through its aiohttp session and
    credentials directly and the response stays open for streaming.
    """

    drops_unknown_options = True

    def configure(self, fs: AbstractFileSystem) -> None:
        # gcsfs wraps every request in six tries, fixed when the class is defined: this
        # filesystem's requests go through the function it wraps instead.
        request = getattr(type(fs), "_request", None)
        unwrapped = getattr(request, "__wrapped__", None)
        if unwrapped is not None:
            fs._request = types.MethodType(unwrapped, fs)
        sync(fs.loop, _gcs_session, fs)  # gcsfs' own calls (listing) share the session

    def stat(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> ObjectInfo:
        bucket, key, generation = _bucket_key(fs, path)
        url = f"{fs._location}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(key, safe='')}"
        if generation:
            url += f"?generation={generation}"
        response = sync(fs.loop, _gcs_get, fs, url, path, timeout=timeouts.request)
        resource = sync(fs.loop, response.json, timeout=timeouts.read)
        return _info.from_fsspec({**resource, "size": int(resource.get("size") or 0)})

    def open(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        byte_range: ByteRange | None = None,
        native: bool = False,
    ) -> tuple[ObjectInfo, ChunkSource]:
        _bucket_key(fs, path)
        # The stored bytes, as S3 and Azure serve them: GCS decompresses a gzip object for
        # clients that do not accept gzip, and aiohttp would decompress it for us.
        extra = {"Accept-Encoding": "gzip"}
        if byte_range:
            extra["Range"] = f"bytes={byte_range.start}-{byte_range.end}"
        response = sync(fs.loop, _gcs_get, fs, fs.url(path), path, extra, timeout=timeouts.request)
        _widen_read_buffer(response)
        info = _info.from_http_headers(response.headers)
        return info, LoopBody(fs.loop, response.content.read, _aclose(response), timeouts.read)

    def can_resume(self, fs: AbstractFileSystem, info: ObjectInfo) -> bool:
        return info.generation is not None

    def open_part(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        start: int,
        stop: int,
        info: ObjectInfo,
    ) -> ChunkSource:
        # Pinned by generation: that version's bytes, or 404 once it is gone (replaced).
        url = f"{fs.url(path)}&generation={info.generation}"
        headers = {"Accept-Encoding": "gzip", "Range": f"bytes={start}-{stop - 1}"}
        try:
            response = sync(fs.loop, _gcs_get, fs, url, path, headers, timeout=timeouts.request)
        except FileNotFoundError:
            raise VersionChanged(path) from None
        _widen_read_buffer(response)
        return LoopBody(fs.loop, response.content.read, _aclose(response), timeouts.read)

    def write_options(self, stored: Representation) -> dict[str, Any]:
        # GCS keeps no Expires; the other stored headers are its "fixed-key metadata".
        fixed = {
            name.lower().replace("-", "_"): value
            for name, value in stored.headers.items()
            if name != "Expires"
        }
        return {
            "content_type": stored.content_type,
            "fixed_key_metadata": fixed or None,
            "metadata": dict(stored.metadata) or None,
        }

    def write_whole(
        self,
        fs: AbstractFileSystem,
        path: str,
        data: bytes,
        stored: Representation,
        condition: WriteCondition | None,
        timeouts: Timeouts,
    ) -> ObjectInfo | None:
        # One multipart upload, the condition as ifGenerationMatch, which GCS judges itself.
        bucket, key, _ = _bucket_key(fs, path)
        query: dict[str, str] = {"uploadType": "multipart"}
        if condition is not None:
            query["ifGenerationMatch"] = self._generation(fs, path, condition, timeouts)
        resource: dict[str, Any] = {"name": key, "contentType": stored.content_type}
        for name, value in stored.headers.items():
            if name != "Expires":  # GCS keeps no Expires
                first, *rest = name.lower().split("-")
                resource[first + "".join(word.title() for word in rest)] = value
        if stored.metadata:
            resource["metadata"] = dict(stored.metadata)
        boundary = f"objstore-{uuid.uuid4().hex}"
        head = (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
            f"{json.dumps(resource)}\r\n--{boundary}\r\n"
            f"Content-Type: {stored.content_type}\r\n\r\n"
        )
        body = b"".join((head.encode(), data, f"\r\n--{boundary}--\r\n".encode()))
        url = f"{fs._location}/upload/storage/v1/b/{quote(bucket, safe='')}/o?{urlencode(query)}"
        headers = {"Content-Type": f'multipart/related; boundary="{boundary}"'}
        answer = sync(
            fs.loop, _gcs_call, fs, "POST", url, path, headers, body, timeout=timeouts.request
        )
        written = json.loads(answer)
        return _info.from_fsspec({**written, "size": int(written.get("size") or len(data))})

    def delete(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts, etag: str | None = None
    ) -> None:
        bucket, key, _ = _bucket_key(fs, path)
        url = f"{fs._location}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(key, safe='')}"
        if etag is not None:
            generation = self._generation(fs, path, WriteCondition(etag=etag), timeouts)
            url += f"?ifGenerationMatch={generation}"
        try:
            sync(fs.loop, _gcs_call, fs, "DELETE", url, path, timeout=timeouts.request)
        finally:
            fs.invalidate_cache(path)

    def _generation(
        self, fs: AbstractFileSystem, path: str, condition: WriteCondition, timeouts: Timeouts
    ) -> str:
        """``condition`` as GCS's ifGenerationMatch: 0 for "must not exist", else the
        generation whose ETag is the one named (GCS pins writes by generation, not ETag)."""
        if condition.create:
            return "0"
        try:
            current = self.stat(fs, path, timeouts)
        except FileNotFoundError:
            current = None
        if current is None or current.etag != condition.etag or current.generation is None:
            raise status_error(412, path)
        return current.generation


async def _gcs_session(fs: Any) -> Any:
    await fs._set_session()
    no_resend(fs.session)
    return fs.session


async def _gcs_get(fs: Any, url: str, path: str, headers: dict[str, str] | None = None) -> Any:
    await _gcs_session(fs)
    # Bodies are passed on as stored; the reader applies any Content-Encoding.
    response = await fs.session.get(url, headers=fs._get_headers(headers), auto_decompress=False)
    if response.status >= 400:
        await response.read()
        response.release()
        raise _status_error(response.status, path, response.headers)
    return response


async def _gcs_call(
    fs: Any,
    method: str,
    url: str,
    path: str,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> bytes:
    """One request through gcsfs' session and credentials, and its whole answer (gcsfs' own
    calls retry six times, under the adapter's retries)."""
    await _gcs_session(fs)
    async with fs.session.request(
        method, url, headers=fs._get_headers(headers), data=data
    ) as response:
        body: bytes = await response.read()
        if response.status >= 400:
            raise _status_error(response.status, path, response.headers)
        return body


def _widen_read_buffer(response: Any) -> None:
    """Let aiohttp buffer a whole chunk before it pauses the socket.

    Its default (64 KiB, paused at 128 KiB) stops and restarts the transport many times per
    MiB; the loop thread, not the network, then bounds a streamed GET.
    """
    setter = getattr(getattr(response, "content", None), "set_read_chunk_size", None)
    if setter is not None:  # aiohttp >= 3.12
        setter(STREAM_CHUNK)


def _status_error(status: int, path: str, headers: Any = None) -> OSError:
    # The backend contract's exception, chained from the status and headers (Retry-After).
    return status_error(status, path, headers)


def _aclose(response: Any) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        response.close()

    return close


def _no_redirects(policies: Iterable[Any]) -> None:
    """Turn off azure-core's redirect policy among ``policies``, the pipeline's (shared by
    every container and blob client made from its service client): a store's 3xx is then
    raised as the ``HttpResponseError`` it is, a 502 naming the ``Location``."""
    from azure.core.pipeline.policies import AsyncRedirectPolicy, RedirectPolicy

    for policy in policies:
        if isinstance(policy, (AsyncRedirectPolicy, RedirectPolicy)):
            policy.allow = False


class AzureBackend(Backend):
    """adlfs: blob properties for metadata; the bytes in ranged GETs of :data:`AZURE_CHUNK`.

    The Azure SDK streams a blob as a series of ranged GETs anyway, and its default first
    request buffers 32 MiB; asking for the ranges here keeps memory at one chunk. The first
    range carries the blob's properties and the caller's preconditions, so a GET of a blob
    up to one chunk is one request; every later range is conditional on the first one's ETag,
    so a blob replaced mid-stream fails the read instead of splicing two versions.
    """

    drops_unknown_options = True

    def list(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> list[dict[str, Any]]:
        # The blob service's own listing by delimiter: adlfs' ls drops keys under an empty
        # segment (a//b is not listed under a/), which the service reports as the prefix a//.
        container, _, prefix = path.strip("/").partition("/")
        if not container:
            return super().list(fs, path, timeouts)
        client = fs.service_client.get_container_client(container)
        prefix = prefix + "/" if prefix else ""
        try:
            found = sync(fs.loop, _azure_walk, client, container, prefix, timeout=timeouts.request)
            if any(item["name"] == f"{container}/{prefix}/" for item in found):
                # Keys under an empty segment (prefix//...): listed with their leading "/".
                found += sync(
                    fs.loop, _azure_walk, client, container, prefix + "/", timeout=timeouts.request
                )
        except FileNotFoundError:
            return []
        return listing_entries(path, found)

    def configure(self, fs: AbstractFileSystem) -> None:
        # The SDK's retry policy (3 retries, up to 81 s) is not an adlfs option.
        client = getattr(fs, "service_client", None)
        policy = getattr(client, "_config", None)
        if policy is not None and getattr(policy, "retry_policy", None) is not None:
            policy.retry_policy.total_retries = 0
        pipeline = getattr(client, "_pipeline", None)
        _no_redirects(getattr(pipeline, "_impl_policies", ()))
        transport = getattr(pipeline, "_transport", None)
        if transport is not None and hasattr(transport, "open"):
            sync(fs.loop, transport.open)  # every blob client of this filesystem shares it
            no_resend(getattr(transport, "session", None))

    def stat(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> ObjectInfo:
        return _azure_info(self._properties(fs, path, timeouts))

    def open(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        byte_range: ByteRange | None = None,
        native: bool = False,
    ) -> tuple[ObjectInfo, ChunkSource]:
        span = (byte_range.start, byte_range.end) if byte_range else None
        answer = self.open_direct(fs, path, timeouts, span, {})
        if answer is None or answer.body is None:  # an empty blob has no range to ask for
            props = self._properties(fs, path, timeouts)
            return _azure_info(props), LoopBody(fs.loop, _no_bytes, _noop_close, None)
        return answer.info, answer.body

    def open_direct(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        span: tuple[int, int | None] | None,
        conditions: Mapping[str, str],
        native: bool = False,
    ) -> StoreGet | None:
        from azure.core import MatchConditions

        options: dict[str, Any] = {}
        if "If-Match" in conditions and "If-None-Match" in conditions:
            return None  # the SDK takes one ETag condition
        if "If-Match" in conditions:
            options.update(
                etag=conditions["If-Match"], match_condition=MatchConditions.IfNotModified
            )
        if "If-None-Match" in conditions:
            options.update(
                etag=conditions["If-None-Match"], match_condition=MatchConditions.IfModified
            )
        for header, option in (
            ("If-Modified-Since", "if_modified_since"),
            ("If-Unmodified-Since", "if_unmodified_since"),
        ):
            if header in conditions:
                options[option] = _info.to_datetime(conditions[header])
        start, end = span if span is not None else (0, None)
        length = AZURE_CHUNK if end is None else min(AZURE_CHUNK, end - start + 1)
        blob = self._blob_client(fs, path)
        found = sync(
            fs.loop,
            _azure_first_range,
            blob,
            path,
            start,
            length,
            options,
            timeout=timeouts.request,
        )
        if isinstance(found, StoreGet):
            return found
        if found is None:
            return None
        props, first = found
        # A ranged download's properties give the range's size; Content-Range the blob's.
        size = _info.total_size(getattr(props, "content_range", None), props.size)
        info = dataclasses.replace(_azure_info(props), size=size)
        if start >= info.size:  # Azurite serves an empty range here; HTTP says 416
            return None
        stop = info.size if end is None else min(end + 1, info.size)
        chunks = _AzureChunks(blob, start + len(first), stop, props.etag, first)
        body = LoopBody(fs.loop, chunks.read, _noop_close, timeouts.read)
        served = ByteRange(start, stop - 1) if span is not None else None
        return StoreGet(206 if served else 200, info, body, served)

    def can_resume(self, fs: AbstractFileSystem, info: ObjectInfo) -> bool:
        return info.etag is not None

    def open_part(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        start: int,
        stop: int,
        info: ObjectInfo,
    ) -> ChunkSource:
        assert info.etag is not None  # can_resume said so
        chunks = _AzureChunks(self._blob_client(fs, path), start, stop, info.etag)
        return LoopBody(fs.loop, chunks.read, _noop_close, timeouts.read)

    def write_options(self, stored: Representation) -> dict[str, Any]:
        # Azure keeps no Expires; the other stored headers are its content settings.
        settings = {"content_type": stored.content_type}
        for name, value in stored.headers.items():
            if name != "Expires":
                settings[name.lower().replace("-", "_")] = value
        return {"content_settings": settings, "metadata": dict(stored.metadata) or None}

    def write_whole(
        self,
        fs: AbstractFileSystem,
        path: str,
        data: bytes,
        stored: Representation,
        condition: WriteCondition | None,
        timeouts: Timeouts,
    ) -> ObjectInfo | None:
        # adlfs' pipe_file sets the blob's metadata itself: upload through the blob client.
        from azure.storage.blob import ContentSettings

        options = self.write_options(stored)
        answer = sync(
            fs.loop,
            self._blob_client(fs, path).upload_blob,
            data,
            overwrite=True,
            content_settings=ContentSettings(**options["content_settings"]),
            metadata=options["metadata"],
            **azure_condition(condition),
            timeout=timeouts.request,
        )
        return _written(len(data), answer.get("etag"), answer.get("last_modified"))

    def delete(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts, etag: str | None = None
    ) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        condition = None if etag is None else WriteCondition(etag=etag)
        try:
            sync(
                fs.loop,
                self._blob_client(fs, path).delete_blob,
                **azure_condition(condition),
                timeout=timeouts.request,
            )
        except ResourceNotFoundError as exc:  # the backend contract: missing is FileNotFoundError
            raise FileNotFoundError(path) from exc
        finally:
            fs.invalidate_cache(path)

    def part_store(
        self,
        fs: AbstractFileSystem,
        path: str,
        stored: Representation,
        timeouts: Timeouts,
        condition: WriteCondition | None,
    ) -> PartStore | None:
        options = self.write_options(stored)
        return AzureBlocks(fs, path, options, timeouts, azure_condition(condition))

    def _properties(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        blob = self._blob_client(fs, path)
        try:
            return sync(fs.loop, blob.get_blob_properties, timeout=timeouts.request)
        except ResourceNotFoundError as exc:  # the backend contract: missing is FileNotFoundError
            raise FileNotFoundError(path) from exc

    @staticmethod
    def _blob_client(fs: Any, path: str) -> Any:
        container, blob, version = _bucket_key(fs, path)
        return fs.service_client.get_blob_client(container, blob, version_id=version)


async def _azure_first_range(
    blob: Any, path: str, start: int, length: int, options: dict[str, Any]
) -> tuple[Any, bytes] | StoreGet | None:
    """The first range of a blob with its properties; a 304/412 answer when a precondition
    stopped it; ``None`` when the range is not satisfiable (the careful path answers)."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    try:
        download = await blob.download_blob(
            offset=start, length=length, max_concurrency=1, decompress=False, **options
        )
        first: bytes = await download.readall()
    except ResourceNotFoundError as exc:
        raise FileNotFoundError(path) from exc
    except HttpResponseError as exc:
        if exc.status_code in (304, 412):  # the SDK's class differs by condition: not the status
            info = _info.from_http_headers(getattr(exc.response, "headers", None) or {})
            if exc.status_code == 304 and info.etag is None:
                return None  # a 304 must name the validators (Azurite's does not): ask them
            return StoreGet(exc.status_code, info, None, None)
        if exc.status_code == 416:
            return None
        if exc.status_code is None:  # the SDK's wrapping of a cut or failed transfer
            raise ConnectionError(f"reading {path} from the store failed") from exc
        raise
    return download.properties, first


async def _no_bytes(n: int) -> bytes:
    return b""


class _AzureChunks:
    def __init__(self, blob: Any, start: int, stop: int, etag: str, first: bytes = b"") -> None:
        self._blob = blob
        self._offset = start
        self._stop = stop
        self._etag = etag
        self._first = first  # read with the properties, before any further range

    async def read(self, n: int) -> bytes:
        if self._first:
            part, self._first = self._first[:n], self._first[n:]
            return part
        length = min(n, AZURE_CHUNK, self._stop - self._offset)
        if length <= 0:
            return b""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError

        try:
            download = await self._blob.download_blob(
                offset=self._offset,
                length=length,
                etag=self._etag,
                match_condition=MatchConditions.IfNotModified,
                max_concurrency=1,
                decompress=False,  # the stored bytes: Content-Encoding is the reader's to apply
            )
        except ResourceModifiedError as exc:
            raise VersionChanged(self._blob.blob_name) from exc
        data: bytes = await download.readall()
        self._offset += len(data)
        return data


async def _azure_walk(client: Any, container: str, prefix: str) -> list[dict[str, Any]]:
    """What lies directly under ``prefix`` in ``container``, as fsspec's ``ls`` entries."""
    from azure.core.exceptions import ResourceNotFoundError

    found: list[dict[str, Any]] = []
    try:
        async for item in client.walk_blobs(name_starts_with=prefix, delimiter="/"):
            name = f"{container}/{item.name}"
            if not hasattr(item, "size"):  # a BlobPrefix: what lies deeper
                found.append({"name": name, "type": "directory", "size": 0})
                continue
            metadata = item.metadata or {}
            if metadata.get("is_directory") == "true" or metadata.get("hdi_isfolder") == "true":
                found.append({"name": name.rstrip("/"), "type": "directory", "size": 0})
                continue
            found.append(
                {
                    "name": name,
                    "type": "file",
                    "size": item.size,
                    "last_modified": item.last_modified,
                    "etag": item.etag,
                }
            )
    except ResourceNotFoundError as exc:
        raise FileNotFoundError(container) from exc
    return found


def azure_condition(condition: WriteCondition | None) -> dict[str, Any]:
    """``condition`` as the Azure SDK's ``etag``/``match_condition`` keywords."""
    from azure.core import MatchConditions

    if condition is None:
        return {}
    if condition.create:
        return {"match_condition": MatchConditions.IfMissing}
    return {"etag": condition.etag, "match_condition": MatchConditions.IfNotModified}


def _azure_info(props: Any) -> ObjectInfo:
    settings = props.content_settings
    return ObjectInfo(
        md5=_info.md5_of(None, getattr(settings, "content_md5", None)),
        size=int(props.size),
        content_type=_info.stored_type(getattr(settings, "content_type", None)),
        last_modified=_info.to_datetime(props.last_modified),
        etag=_info.quote_etag(props.etag),
        headers=_info.stored_headers({"content_settings": settings, "metadata": props.metadata}),
    )


async def _noop_close() -> None:
    return None


_CLOSING: set[asyncio.Future[None]] = set()


class LoopBody:
    """A body read from another thread through the filesystem's event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        read: Callable[[int], Awaitable[bytes]],
        close: Callable[[], Awaitable[None]],
        timeout: float | None,
    ) -> None:
        self._loop = loop
        self._read = read
        self._close = close
        self._timeout = timeout

    def read(self, n: int) -> bytes:
        # One hop to the loop per call, so fill the whole chunk there.
        data: bytes = sync(self._loop, _read_up_to, self._read, n, timeout=self._timeout)
        return data

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:  # garbage collection can run a close on the loop's own thread
            task = asyncio.ensure_future(self._close(), loop=self._loop)
            _CLOSING.add(task)  # the loop keeps only a weak reference to its tasks
            task.add_done_callback(_CLOSING.discard)
        else:
            sync(self._loop, self._close)


async def _read_up_to(read: Callable[[int], Awaitable[bytes]], n: int) -> bytes:
    parts = []
    while n > 0:
        part = await read(n)
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class MemoryBackend(Backend):
    """fsspec's memory filesystem: a dict of paths to file objects (``fs.store``).

    It publishes a file when it is opened for writing, so an upload is gathered first (the
    store holds every byte in memory anyway) and stored whole, as a new file object that
    replaces the old one in one assignment. A read takes the file object once and answers
    from it alone, bytes and validators, so a GET or a listing racing writes and deletes
    describes one version of each object (the store's own ``info``/``open``/``ls`` look the
    path up several times, and the file object ``open`` returns is shared by all readers).
    """

    drops_unknown_options = True

    def stat(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> ObjectInfo:
        stored = fs.store.get(path)
        if stored is not None:
            return _memory_info(path, stored, stored.size)
        try:
            return super().stat(fs, path, timeouts)  # a directory, or nothing
        except KeyError as exc:  # removed between the store's own two looks
            raise FileNotFoundError(path) from exc

    def open(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        byte_range: ByteRange | None = None,
        native: bool = False,
    ) -> tuple[ObjectInfo, ChunkSource]:
        stored = fs.store.get(path)
        if stored is None:
            if self.stat(fs, path, timeouts).is_dir:
                raise IsADirectoryError(path)
            raise FileNotFoundError(path)
        data = stored.getvalue()
        info = _memory_info(path, stored, len(data))
        if byte_range is not None:
            data = data[byte_range.start : byte_range.end + 1]
        return info, LoadedBody(data)

    def list(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> list[dict[str, Any]]:
        base = path.rstrip("/") + "/"
        found = [
            {"name": name, "size": stored.size, "type": "file", "created": stored.created}
            for name, stored in tuple(fs.store.items())  # one look: deletes cannot race it
            if name.startswith(base)
        ]
        found += [
            {"name": name, "size": 0, "type": "directory"}
            for name in tuple(fs.pseudo_dirs)
            if name.startswith(base)
        ]
        return listing_entries(path, found)

    def write(
        self,
        fs: AbstractFileSystem,
        path: str,
        chunks: Iterable[bytes],
        stored: Representation,
        timeouts: Timeouts,
        attempts: Attempts,
        condition: WriteCondition | None = None,
    ) -> ObjectInfo | None:
        data = b"".join(chunks)
        with self._judged(fs, path, timeouts, condition):
            written = fs.open(path, "wb", data=data)  # the file object now in the store
        return _memory_info(path, written, len(data))


def _memory_info(path: str, stored: Any, size: int) -> ObjectInfo:
    """The validators of one file object of fsspec's memory store, as ``info`` gives them."""
    return _info.from_fsspec(
        {"name": path, "size": size, "type": "file", "created": stored.created}
    )


#: Names of the temporary files a local write fills before renaming them into place; never
#: listed. A crash part way can leave one behind (never the target half written).
LOCAL_TEMP_PREFIX = ".objstore-tmp-"


class LocalBackend(Backend):
    """Local files: a write fills a temporary file beside the target, flushes it to disk and
    renames it into place (``os.replace``), so a reader opens the old file or the new one,
    never one half written, and a failure leaves the old file as it was. A read answers
    from the file it opened: validators from ``fstat`` of that file, not of the path."""

    drops_unknown_options = True

    def open(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        byte_range: ByteRange | None = None,
        native: bool = False,
    ) -> tuple[ObjectInfo, ChunkSource]:
        file = open(path, "rb")  # noqa: SIM115 - the body: closed by whoever reads it
        try:
            info = _local_info(path, os.fstat(file.fileno()))
            if info.is_dir:
                raise IsADirectoryError(path)
            if byte_range is not None:
                file.seek(byte_range.start)
        except BaseException:
            file.close()
            raise
        return info, file

    def list(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> list[dict[str, Any]]:
        return [
            entry
            for entry in super().list(fs, path, timeouts)
            if not entry["name"].startswith(LOCAL_TEMP_PREFIX)
        ]

    def write(
        self,
        fs: AbstractFileSystem,
        path: str,
        chunks: Iterable[bytes],
        stored: Representation,
        timeouts: Timeouts,
        attempts: Attempts,
        condition: WriteCondition | None = None,
    ) -> ObjectInfo | None:
        """Write ``chunks`` to a temporary file and rename it to ``path`` once complete.

        Create-only (``If-None-Match: *``) links the temporary file to ``path``, which fails
        if anything is there, so it is exact even against other processes; an ETag condition
        is judged under the lock of :meth:`Backend._judged` (exact among this process's
        threads). Returns the new file's validators, read before the rename, so the answer
        describes this write whatever happens to the path after it.
        """
        if os.path.islink(path):  # write through a link (one the route's root allows)
            path = os.path.realpath(path)
        directory = os.path.dirname(path) or "."
        _make_directories(directory)
        temp = os.path.join(directory, f"{LOCAL_TEMP_PREFIX}{uuid.uuid4().hex}")
        try:
            written = _fill(temp, path, chunks)
            with self._judged(fs, path, timeouts, condition):
                if condition is not None and condition.create:
                    if not _link_new(temp, path):
                        raise status_error(412, path)  # its cause carries the 412
                else:
                    os.replace(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            fs.invalidate_cache(path)
        return written


def _link_new(source: str, target: str) -> bool:
    """Link ``source`` as ``target`` unless ``target`` exists: False then (exact, atomic)."""
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    return True


def _make_directories(directory: str) -> None:
    """``os.makedirs(directory, exist_ok=True)`` without its recursion, which stops past
    about a thousand missing levels (RecursionError) where the filesystem would not."""
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another writer
            os.mkdir(folder)


def _fill(temp: str, target: str, chunks: Iterable[bytes]) -> ObjectInfo:
    """Write ``chunks`` to the new file ``temp``, flushed to disk, with the permissions
    ``target`` has (or a new file's); return its validators."""
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    with open(fd, "wb") as file:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
        for chunk in chunks:
            file.write(chunk)
        file.flush()
        os.fsync(fd)
        return _local_info(target, os.fstat(fd))


def _local_info(path: str, status: os.stat_result) -> ObjectInfo:
    """Validators of a local file from its ``stat``, as ``LocalFileSystem.info`` gives them."""
    kind = "directory" if stat.S_ISDIR(status.st_mode) else "file"
    return _info.from_fsspec(
        {"name": path, "size": status.st_size, "type": kind, "mtime": status.st_mtime}
    )


_GENERIC = Backend()
_LOCAL = LocalBackend()
_S3 = S3Backend()
_GCS = GCSBackend()
_AZURE = AzureBackend()
_BACKENDS: dict[str, Backend] = {
    "s3": _S3,
    "s3a": _S3,
    "gcs": _GCS,
    "gs": _GCS,
    "abfs": _AZURE,
    "az": _AZURE,
    "memory": MemoryBackend(),
    "file": _LOCAL,
    "local": _LOCAL,
}


def backend_for_protocol(protocol: str) -> Backend:
    """The backend that serves filesystems of fsspec ``protocol``."""
    return _BACKENDS.get(protocol, _GENERIC)


def backend_for(fs: AbstractFileSystem) -> Backend:
    """The backend that serves ``fs`` best, chosen by the protocols the filesystem claims."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
    for protocol in protocols:
        backend = _BACKENDS.get(protocol)
        if backend is not None:
            return backend
    return _GENERIC
