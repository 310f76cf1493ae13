"""S3 through s3fs: HeadObject for metadata, one streaming GetObject for metadata plus bytes,
writes and deletes sent as one signed request each.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from fsspec.asyn import sync
from fsspec.spec import AbstractFileSystem

from ... import _info
from ..._body import ChunkSource, StoreGet
from ..._errors import status_error, store_answer
from ..._http import ByteRange, Timeouts, WriteCondition
from ..._info import ObjectInfo, Representation
from ..._transfer import TransferConfig, VersionChanged
from ..._transfer.parallel import JUDGE_AFTER
from ..._transfer.upload import PartStore
from .. import Backend, bucket_key, written
from .._aio import LoopBody, no_resend, widen_read_buffer
from .native import WHOLE_BODY, NativeBody, NativeRefused, open_native, presigned_answered
from .parts import S3Parts
from .presigned import (
    PresignedRefused,
    can_presign,
    open_presigned,
    presigned_request,
    raise_definite,
)


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


#: How much of a large body obstore streams before the presigned path takes over: the bytes
#: a parallel download judges the one stream's speed on, so that it judges one stream, not
#: the round trip of the request that takes over.
NATIVE_PREFIX = max(WHOLE_BODY, JUDGE_AFTER)


class _NativeThenPresigned:
    """A large body obstore answered: its first :data:`NATIVE_PREFIX` bytes from obstore,
    the rest through the presigned path (``open_rest(start, stop)``, pinned to the version).

    obstore hands a streamed body over chunk by chunk, each copied on its way into Python,
    where urllib3 reads into place: 588 against 740 MiB/s for 128 MiB on SeaweedFS. The
    first request stays obstore's, whose answer costs little GIL; the bytes after it come
    at the presigned path's speed, for one more request.
    """

    def __init__(
        self,
        first: ChunkSource,
        start: int,
        stop: int,
        open_rest: Callable[[int, int], ChunkSource],
    ) -> None:
        self._source = first
        self._at = start
        self._native_until = start + NATIVE_PREFIX
        self._stop = stop
        self._open_rest: Callable[[int, int], ChunkSource] | None = open_rest

    def read(self, n: int) -> bytes:
        if self._open_rest is not None:
            if self._at < self._native_until:
                data = self._source.read(min(n, self._native_until - self._at))
                self._at += len(data)
                return data
            open_rest, self._open_rest = self._open_rest, None
            self._source.close()  # obstore's request ends here; its rest is not read
            self._source = open_rest(self._at, self._stop)
        data = self._source.read(n)
        self._at += len(data)
        return data

    def close(self) -> None:
        self._open_rest = None
        self._source.close()


class S3Backend(Backend):
    """s3fs: HeadObject for metadata, one streaming GetObject for metadata plus bytes.

    Args:
        native: send GETs through obstore's Rust client first (``native_gets``).
    """

    atomic_writes = True  # a PUT, or a multipart upload completed once every part is stored

    def __init__(self, native: bool = False) -> None:
        self.native = native

    def bound(self, transfer: TransferConfig) -> S3Backend:
        return self if transfer.native_gets == self.native else S3Backend(transfer.native_gets)

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
    ) -> tuple[ObjectInfo, ChunkSource]:
        refused = False
        if self.native and can_presign(fs):
            bucket, key, version = bucket_key(fs, path)
            span = (byte_range.start, byte_range.end) if byte_range else None
            answer, refused = _native_first(fs, bucket, key, version, timeouts, span)
            if answer is not None and answer.body is not None:
                return answer.info, self._handed_over(fs, path, timeouts, answer, answer.body)
        opened = self._open(fs, path, timeouts, byte_range)
        if refused:
            presigned_answered(fs, bucket)
        return opened

    def _open(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts, byte_range: ByteRange | None
    ) -> tuple[ObjectInfo, ChunkSource]:
        if can_presign(fs):
            bucket, key, version = bucket_key(fs, path)
            header = {"Range": f"bytes={byte_range.start}-{byte_range.end}"} if byte_range else {}
            with contextlib.suppress(PresignedRefused):
                answer = open_presigned(fs, bucket, key, version, timeouts, header)
                if answer.body is not None:
                    return answer.info, answer.body
        extra = {"Range": f"bytes={byte_range.start}-{byte_range.end}"} if byte_range else {}
        response = self._call(fs, "get_object", path, timeouts, **extra)
        body = response["Body"]
        widen_read_buffer(getattr(body, "raw_stream", None))
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
    ) -> StoreGet | None:
        if not can_presign(fs):
            return None
        bucket, key, version = bucket_key(fs, path)
        refused = False
        if self.native and not conditions:  # 304 and 412 need validators obstore does not report
            native_answer, refused = _native_first(fs, bucket, key, version, timeouts, span)
            if native_answer is not None and native_answer.body is not None:
                body = self._handed_over(fs, path, timeouts, native_answer, native_answer.body)
                return dataclasses.replace(native_answer, body=body)
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

    def _handed_over(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        answer: StoreGet,
        body: ChunkSource,
    ) -> ChunkSource:
        """``body`` of a native ``answer``, read past its first chunk through the presigned
        path when it is streamed (see :class:`_NativeThenPresigned`) and its version can be
        pinned."""
        info = answer.info
        if not isinstance(body, NativeBody) or not self.can_resume(fs, info):
            return body
        served = answer.served
        start, stop = (served.start, served.end + 1) if served else (0, info.size)

        def open_rest(first: int, end: int) -> ChunkSource:
            return self.open_part(fs, path, timeouts, first, end, info)

        return _NativeThenPresigned(body, start, stop, open_rest)

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
            bucket, key, version = bucket_key(fs, path)
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
        widen_read_buffer(getattr(body, "raw_stream", None))
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
            return written(len(data), answer.get("ETag"), answer.get("Last-Modified"))
        response = self._call(fs, "put_object", path, timeouts, Body=data, **extra)
        return written(len(data), response.get("ETag"), response.get("LastModified"))

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
        bucket, key, version = bucket_key(fs, path)
        where = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
        response = presigned_request(fs, operation, {**where, **params}, timeouts, body=body)
        if response.status < 300:
            return response.headers
        if response.status in (409, 412):  # a condition failed (409: a concurrent write)
            raise status_error(412, path, response.headers)
        raise_definite(response, path)
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
        bucket, key, version = bucket_key(fs, path)
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


def s3_condition(condition: WriteCondition | None) -> dict[str, str]:
    """``condition`` as S3's PutObject and CompleteMultipartUpload parameters."""
    if condition is None:
        return {}
    if condition.create:
        return {"IfNoneMatch": "*"}
    assert condition.etag is not None
    return {"IfMatch": condition.etag}
