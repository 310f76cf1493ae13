"""How one filesystem is asked for an object's metadata and bytes.

:class:`Backend` works with any fsspec filesystem: ``info()`` for metadata, ``open()`` for the
bytes. Where a backend's own API can do better, a subclass says so in a few lines: S3's
``GetObject`` returns the metadata *and* a streaming body in one request, where ``fs.open``
would cost an ``info()`` call plus one ranged GET per block.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fsspec.asyn import AsyncFileSystem, sync
from fsspec.spec import AbstractFileSystem

from . import _info
from ._body import ChunkSource
from ._http import Timeouts
from ._info import ObjectInfo

#: Block size for generic ``fs.open`` reads: big enough that a sequential read costs few
#: backend requests, small enough to stay well inside the memory budget of one stream.
READ_BLOCK = 8 * 2**20


class Backend:
    """Metadata and streaming reads through plain fsspec calls."""

    def stat(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> ObjectInfo:
        """One metadata request for ``path``."""
        if isinstance(fs, AsyncFileSystem):
            info = sync(fs.loop, fs._info, path, timeout=timeouts.request)
        else:
            info = fs.info(path)
        return _info.from_fsspec(info)

    def open(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts
    ) -> tuple[ObjectInfo, ChunkSource]:
        """Metadata and a lazily read body for ``path``; raises if it is not an object."""
        info = self.stat(fs, path, timeouts)
        if info.is_dir:
            raise IsADirectoryError(path)
        return info, fs.open(path, "rb", block_size=READ_BLOCK)


class S3Backend(Backend):
    """s3fs: HeadObject for metadata, one streaming GetObject for metadata plus bytes."""

    def stat(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> ObjectInfo:
        response = self._call(fs, "head_object", path, timeouts)
        return _info.from_s3_response(response)

    def open(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts
    ) -> tuple[ObjectInfo, ChunkSource]:
        response = self._call(fs, "get_object", path, timeouts)
        return _info.from_s3_response(response), _AsyncBody(fs, response["Body"], timeouts.read)

    @staticmethod
    def _call(fs: Any, method: str, path: str, timeouts: Timeouts) -> Any:
        bucket, key, version = fs.split_path(path)
        if not key:
            raise IsADirectoryError(path)
        kwargs = {"Bucket": bucket, "Key": key}
        if version:
            kwargs["VersionId"] = version
        return sync(fs.loop, fs._call_s3, method, timeout=timeouts.request, **kwargs)


class _AsyncBody:
    """An aiohttp-backed body read from another thread through the filesystem's loop."""

    def __init__(self, fs: AsyncFileSystem, body: Any, timeout: float | None) -> None:
        self._loop = fs.loop
        self._body = body
        self._timeout = timeout

    def read(self, n: int) -> bytes:
        # One hop to the loop per call, so fill the whole chunk there.
        data: bytes = sync(self._loop, _read_up_to, self._body, n, timeout=self._timeout)
        return data

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:  # garbage collection can run a close on the loop's own thread
            self._body.close()
        else:
            sync(self._loop, self._body.aclose)


async def _read_up_to(body: Any, n: int) -> bytes:
    parts = []
    while n > 0:
        part = await body.read(n)
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


_BACKENDS: dict[str, Backend] = {"s3": S3Backend(), "s3a": S3Backend()}
_GENERIC = Backend()


def backend_for(fs: AbstractFileSystem) -> Backend:
    """The backend that serves ``fs`` best, chosen by the protocols the filesystem claims."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
    for protocol in protocols:
        backend = _BACKENDS.get(protocol)
        if backend is not None:
            return backend
    return _GENERIC
