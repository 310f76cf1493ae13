"""Archives (zip, tar) through fsspec's archive filesystems: served read-only.

fsspec opens an archive for reading or for writing, never both, and a tar not at all for
writing; a route that serves an archive's members reads it, so writes are refused (405)
rather than failing part way inside zipfile or tarfile.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fsspec.spec import AbstractFileSystem

from .._errors import Unsupported
from .._http import Timeouts, WriteCondition
from .._info import ObjectInfo, Representation
from .._transfer import Attempts
from . import Backend


class ArchiveBackend(Backend):
    """An archive's members, read with plain fsspec calls; PUT and DELETE refused."""

    def delete(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts, etag: str | None = None
    ) -> None:
        raise _read_only(fs)

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
        raise _read_only(fs)


def _read_only(fs: Any) -> Unsupported:
    return Unsupported(f"a {type(fs).__name__} archive is served read-only")
