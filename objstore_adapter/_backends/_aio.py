"""The loop-to-thread bridge the cloud backends share: their SDKs speak aiohttp on fsspec's
event-loop thread, the caller reads in its own.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from fsspec.asyn import sync

from .._errors import StoreRedirected

#: How much of a streamed body aiohttp may buffer ahead of the reader (it pauses at twice this).
STREAM_CHUNK = 2**20


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
    refusal = redirect_refusal()
    if isinstance(traces, list) and refusal not in traces:
        session._trace_configs = [*traces, refusal]  # a copy: the list may be the caller's


@functools.cache
def redirect_refusal() -> Any:
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


def widen_read_buffer(response: Any) -> None:
    """Let aiohttp buffer a whole chunk before it pauses the socket.

    Its default (64 KiB, paused at 128 KiB) stops and restarts the transport many times per
    MiB; the loop thread, not the network, then bounds a streamed GET.
    """
    setter = getattr(getattr(response, "content", None), "set_read_chunk_size", None)
    if setter is not None:  # aiohttp >= 3.12
        setter(STREAM_CHUNK)


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
