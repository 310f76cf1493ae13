"""WebDAV servers through webdav4's filesystem (``protocol="webdav"``).

A WebDAV server writes a PUT's body into the file as it arrives, and webdav4 uploads a file
when it is closed, even one abandoned part way: so a body is written beside the object and
moved over it with one ``MOVE`` (``Overwrite: T``; fsspec's ``mv`` copies and refuses to
replace). A ``DELETE`` of a collection removes everything in it, so a key that is a folder
is no object to delete.
"""

from __future__ import annotations

import io
import weakref
from collections.abc import Mapping
from typing import Any

from fsspec.spec import AbstractFileSystem

from .._http import Timeouts
from .._info import Representation
from . import Backend


class WebDAVBackend(Backend):
    """webdav4's filesystem: writes staged and moved into place, folders never deleted."""

    # httpx takes a request's timeouts from its client, which a thread's requests then set.
    per_thread = True

    # webdav4 puts a key into the request's URL as written: "?" and "#" end its path, and
    # the server decodes "%41" as "A", so such a key would be stored as another.
    refused_in_keys = "?#%"

    renames_into_place = True

    # webdav4 reads a file with one GET, in chunks of the block size that httpx buffers.
    read_block = 256 * 2**10

    def storage_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        # webdav4 tries again 3 times on 5xx and transport errors, waiting 1 s and 2 s.
        return {**super().storage_options(options), "retry": False}

    def configure(self, fs: AbstractFileSystem) -> None:
        fs._route_timeout = fs.client.http.timeout  # the route's own (httpx's 5 s)
        # webdav4 never closes its httpx client: a thread's filesystem, once dropped (the
        # thread ended, its connection failed), closes it, leaving no socket open.
        weakref.finalize(fs, fs.client.http.close)

    def limit_waits(self, fs: AbstractFileSystem, timeouts: Timeouts) -> None:
        import httpx

        if timeouts == Timeouts():
            fs.client.http.timeout = fs._route_timeout
        else:
            connect, read = timeouts.connect, timeouts.read
            fs.client.http.timeout = httpx.Timeout(
                connect=connect, read=read, write=read, pool=connect
            )

    def send_whole(
        self,
        fs: AbstractFileSystem,
        path: str,
        data: bytes,
        stored: Representation,
        timeouts: Timeouts,
    ) -> None:
        # webdav4's pipe_file makes the folder first, and checks it with a PROPFIND of depth
        # 1, which lists it: wsgidav answers 500 when a file in it is renamed meanwhile (a
        # third of them, with sixteen writers in one folder). The folder is made already.
        fs.client.upload_fileobj(
            io.BytesIO(data), fs._strip_protocol(path), overwrite=True, size=len(data)
        )

    def move_into_place(
        self, fs: AbstractFileSystem, staging: str, path: str, timeouts: Timeouts
    ) -> None:
        fs.client.move(staging, path, overwrite=True)

    def delete(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts, etag: str | None = None
    ) -> None:
        if self.stat(fs, path, timeouts).is_dir:
            raise IsADirectoryError(path)
        super().delete(fs, path, timeouts, etag)
