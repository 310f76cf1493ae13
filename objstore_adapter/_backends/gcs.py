"""Google Cloud Storage through gcsfs, with the GET, uploads and deletes sent through its
aiohttp session directly (gcsfs reads every response whole, and retries each call itself).
"""

from __future__ import annotations

import json
import types
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from fsspec.asyn import sync
from fsspec.spec import AbstractFileSystem

from .. import _info
from .._body import ChunkSource
from .._errors import status_error
from .._http import ByteRange, Timeouts, WriteCondition
from .._info import ObjectInfo, Representation
from .._transfer import VersionChanged
from . import Backend, bucket_key
from ._aio import LoopBody, no_resend, widen_read_buffer


class GCSBackend(Backend):
    """gcsfs: the JSON API's object resource for metadata, one streaming media GET for bytes.

    gcsfs reads every response whole, so the GET goes through its aiohttp session and
    credentials directly and the response stays open for streaming.
    """

    atomic_writes = True  # an upload is finalised once whole

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
        bucket, key, generation = bucket_key(fs, path)
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
    ) -> tuple[ObjectInfo, ChunkSource]:
        bucket_key(fs, path)
        # The stored bytes, as S3 and Azure serve them: GCS decompresses a gzip object for
        # clients that do not accept gzip, and aiohttp would decompress it for us.
        extra = {"Accept-Encoding": "gzip"}
        if byte_range:
            extra["Range"] = f"bytes={byte_range.start}-{byte_range.end}"
        response = sync(fs.loop, _gcs_get, fs, fs.url(path), path, extra, timeout=timeouts.request)
        widen_read_buffer(response)
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
        widen_read_buffer(response)
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
        bucket, key, _ = bucket_key(fs, path)
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
        bucket, key, _ = bucket_key(fs, path)
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


def _status_error(status: int, path: str, headers: Any = None) -> OSError:
    # The backend contract's exception, chained from the status and headers (Retry-After).
    return status_error(status, path, headers)


def _aclose(response: Any) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        response.close()

    return close
