"""WebDAV servers through webdav4's filesystem (``protocol="webdav"``).

A WebDAV server writes a PUT's body into the file as it arrives, and webdav4 uploads a file
when it is closed, even one abandoned part way: so a body is written beside the object and
moved over it with one ``MOVE`` (``Overwrite: T``; fsspec's ``mv`` copies and refuses to
replace). A ``DELETE`` of a collection removes everything in it, so a key that is a folder
is no object to delete.
"""

from __future__ import annotations

from fsspec.spec import AbstractFileSystem

from .._http import Timeouts
from . import Backend


class WebDAVBackend(Backend):
    """webdav4's filesystem: writes staged and moved into place, folders never deleted."""

    # webdav4 puts a key into the request's URL as written: "?" and "#" end its path, and
    # the server decodes "%41" as "A", so such a key would be stored as another.
    refused_in_keys = "?#%"

    renames_into_place = True

    # webdav4 reads a file with one GET, in chunks of the block size that httpx buffers.
    read_block = 256 * 2**10

    def move_into_place(self, fs: AbstractFileSystem, staging: str, path: str) -> None:
        fs.client.move(staging, path, overwrite=True)

    def delete(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts, etag: str | None = None
    ) -> None:
        if self.stat(fs, path, timeouts).is_dir:
            raise IsADirectoryError(path)
        super().delete(fs, path, timeouts, etag)
