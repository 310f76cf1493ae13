"""FTP through fsspec's FTPFileSystem, one filesystem per thread.

ftplib holds one control connection per filesystem, and a transfer occupies it: threads
sharing a filesystem interleave their commands and replies, and the connection is left
broken. The registry builds a filesystem for each thread that uses an FTP route.

A block is read with one ``RETR`` from its offset, collected whole before it is returned,
and fsspec reads one block ahead: 2 MiB blocks keep a stream's memory within a few MiB.
"""

from __future__ import annotations

import contextlib
import ftplib

from fsspec.spec import AbstractFileSystem

from .._http import Timeouts
from . import Backend, close_when_dropped


class FTPBackend(Backend):
    """fsspec's FTPFileSystem: plain fsspec calls, on a connection of the calling thread's."""

    per_thread = True

    renames_into_place = True

    read_block = 2 * 2**20

    def configure(self, fs: AbstractFileSystem) -> None:
        fs._route_timeout = fs.timeout  # the route's own (fsspec's 30 s)
        close_when_dropped(fs, "ftp")  # the control connection of a thread that ended

    def limit_waits(self, fs: AbstractFileSystem, timeouts: Timeouts) -> None:
        wait = timeouts.each_wait(fs._route_timeout)
        fs.timeout = wait  # a connection opened again (reopen)
        fs.ftp.timeout = wait  # each data connection opened from now on
        if fs.ftp.sock is not None:  # the control connection
            fs.ftp.sock.settimeout(wait)

    def reopen(self, fs: AbstractFileSystem, timeouts: Timeouts) -> None:
        with contextlib.suppress(OSError, EOFError):
            fs.ftp.close()
        fs._connect()  # a new control connection, logged in, with fs.timeout

    def delete(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts, etag: str | None = None
    ) -> None:
        try:
            super().delete(fs, path, timeouts, etag)
        except ftplib.error_perm as exc:  # fsspec's rm_file passes the server's reply on
            if str(exc).startswith("550"):  # "550 No such file or directory."
                raise FileNotFoundError(path) from exc
            raise
