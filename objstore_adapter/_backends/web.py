"""Web servers through fsspec's HTTP filesystem (``protocol="http"``): redirects refused as
every store's are, and a failure reported as what it is, not as a missing object."""

from __future__ import annotations

import io
from typing import Any

from fsspec.spec import AbstractFileSystem

from .._errors import Unsupported
from .._http import Timeouts
from .._info import ObjectInfo, Representation
from . import WRITE_BLOCK, Backend
from ._aio import no_resend, redirect_refusal


class WebBackend(Backend):
    """fsspec's HTTP filesystem: metadata from HEAD (else GET), bodies in ranged GETs."""

    atomic_writes = True  # a PUT is one request, which the server applies as a whole

    # A block is one ranged GET that aiohttp reads whole, and fsspec reads one ahead: 2 MiB
    # blocks keep a stream's memory within a few MiB (8 MiB ones peaked at 50 MB).
    read_block = 2 * 2**20

    def open_reader(
        self, fs: AbstractFileSystem, path: str, block: int, size: int, timeouts: Timeouts
    ) -> Any:
        # Each block is a GET of its own, which waits as long as aiohttp's session does (5
        # minutes) unless told otherwise; fsspec hands a file's keywords to each. The size
        # given spares the HEAD that fsspec would send without the caller's timeout.
        import aiohttp

        if size == 0:  # nothing to fetch (fsspec would send the HEAD again for a size of 0)
            return io.BytesIO()
        wait = aiohttp.ClientTimeout(sock_connect=timeouts.connect, sock_read=timeouts.read)
        bounded = {} if timeouts == Timeouts() else {"timeout": wait}
        return fs.open(path, "rb", block_size=block, size=size, **bounded)

    def open_writer(
        self,
        fs: AbstractFileSystem,
        path: str,
        stored: Representation,
        autocommit: bool,
        timeouts: Timeouts,
    ) -> Any:
        raise Unsupported(
            "fsspec's HTTP filesystem sends a body only whole, in one PUT: a body over "
            f"{WRITE_BLOCK // 2**20} MiB, which would be streamed, cannot be sent"
        )

    def configure(self, fs: AbstractFileSystem) -> None:
        # aiohttp follows a redirect to any host by default, and fsspec asks it to: another
        # host's answer (a metadata address, say) would be served as the object. The session
        # is built on first use, from these keywords.
        options: dict[str, Any] = dict(getattr(fs, "client_kwargs", None) or {})
        traces = list(options.get("trace_configs") or [])
        if redirect_refusal() not in traces:
            options["trace_configs"] = [*traces, redirect_refusal()]
        fs.client_kwargs = options
        no_resend(getattr(fs, "_session", None))  # one built already (fsspec's instance cache)

    def stat(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> ObjectInfo:
        try:
            return super().stat(fs, path, timeouts)
        except FileNotFoundError as exc:
            # fsspec raises FileNotFoundError from whatever failed its metadata requests: a
            # refused connection, a timeout, a redirect, a 500. The failure is the answer
            # (a 404 too: the server's own status).
            cause = exc.__cause__
            if cause is None:
                raise
            raise cause from None
