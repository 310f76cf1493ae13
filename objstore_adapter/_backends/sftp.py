"""SFTP servers through sshfs (fsspec's ``sftp`` and ``ssh`` once it is installed) or
fsspec's own paramiko filesystem, one connection per thread.

- paramiko's client is not thread-safe (two threads sharing one deadlock), so each thread
  that uses a route gets its own filesystem, as on FTP (sshfs's too: sixteen threads
  mixing reads, writes and listings on one sshfs connection stalled).
- A connection the server closed (it restarted) is never reopened by either filesystem: the
  registry asks :meth:`SFTPBackend.connected` before handing one out, and builds a new one.
- sshfs asks for each block of a file as one SFTP request, whose size servers and clients
  bound (OpenSSH at 256 KiB; asyncssh at 4 MiB, past which a write drops the connection
  and a read fails with "Max packet size exceeded"). A handle reads the file it opened,
  whatever is renamed over it meanwhile.
- paramiko waits for each write request's answer before it sends the next unless the file
  is pipelined: a 9 MiB body took 12 s on 127.0.0.1.
- sshfs waits on fsspec's loop with no deadline, its files too: each call is given the
  caller's (a server that stopped answering held a PUT until it dropped the connection).
- A body is written beside the object and renamed over it: both filesystems rename with
  the server's ``posix-rename@openssh.com``, which replaces the target in one step.
"""

from __future__ import annotations

import asyncio
import functools
import io
from typing import Any

from fsspec.spec import AbstractFileSystem

from .._http import Timeouts
from .._info import Representation
from . import Backend, close_when_dropped


class SFTPBackend(Backend):
    """An SFTP server: plain fsspec calls on a connection of the calling thread's."""

    per_thread = True  # and so built out of fsspec's instance cache, anew when it closed

    renames_into_place = True

    read_block = write_block = 256 * 2**10

    def connected(self, fs: AbstractFileSystem) -> bool:
        """False once the server closed the connection: neither filesystem reconnects."""
        client = getattr(fs, "_client", None)  # sshfs: asyncssh's connection
        if client is not None:
            return not client.is_closed()
        transport = getattr(getattr(fs, "client", None), "get_transport", lambda: None)()
        channel = getattr(getattr(fs, "ftp", None), "sock", None)  # paramiko: SFTP's channel
        return (
            transport is not None
            and transport.is_active()
            and not getattr(channel, "closed", False)
        )

    def configure(self, fs: AbstractFileSystem) -> None:
        if _paramiko(fs):  # the route's own connection settings
            fs._route_ssh_kwargs = dict(fs.ssh_kwargs)
            close_when_dropped(fs, "client")  # the connection of a thread that ended

    def limit_waits(self, fs: AbstractFileSystem, timeouts: Timeouts) -> None:
        # sshfs runs on fsspec's event loop: each call is given its own deadline (the base's
        # calls through ``call``, a file's through _bounded_file).
        if not _paramiko(fs):
            return
        wait = timeouts.each_wait(None)  # paramiko's own: no bound once connected
        fs.ftp.sock.settimeout(wait)  # SFTP's channel
        waits = ("timeout", "banner_timeout", "auth_timeout", "channel_timeout")
        own = fs._route_ssh_kwargs
        fs.ssh_kwargs = own if wait is None else {**own, **dict.fromkeys(waits, wait)}

    def reopen(self, fs: AbstractFileSystem, timeouts: Timeouts) -> None:
        if _paramiko(fs):  # whose replies may be out of step
            fs.client.close()
            fs._connect()  # with fs.ssh_kwargs, which limit_waits bounded
            self.limit_waits(fs, timeouts)

    def open_reader(
        self, fs: AbstractFileSystem, path: str, block: int, size: int, timeouts: Timeouts
    ) -> Any:
        if _paramiko(fs):  # whose channel limit_waits bounded
            return super().open_reader(fs, path, block, size, timeouts)
        return _bounded_file()(fs, path, "rb", block, timeouts.each_wait(None))

    def open_writer(
        self,
        fs: AbstractFileSystem,
        path: str,
        stored: Representation,
        autocommit: bool,
        timeouts: Timeouts,
    ) -> Any:
        if not _paramiko(fs):  # sshfs's
            return _bounded_file()(fs, path, "wb", self.write_block, timeouts.each_wait(None))
        file = super().open_writer(fs, path, stored, autocommit, timeouts)
        file.set_pipelined(True)
        return file

    def send_whole(
        self,
        fs: AbstractFileSystem,
        path: str,
        data: bytes,
        stored: Representation,
        timeouts: Timeouts,
    ) -> None:
        with self.open_writer(fs, path, stored, True, timeouts) as file:  # paramiko's pipelined
            file.write(data)


def _paramiko(fs: AbstractFileSystem) -> bool:
    """True for fsspec's paramiko filesystem, false for sshfs's."""
    return hasattr(fs, "ssh_kwargs")


@functools.cache
def _bounded_file() -> type:
    """sshfs's file, each of whose calls waits at most ``wait`` seconds (``None``: forever):
    sshfs's own wait on fsspec's loop with no deadline, so a server that stopped answering
    held a request until it dropped the connection."""
    from sshfs.file import SSHFile

    class BoundedFile(SSHFile):  # type: ignore[misc]
        _closed: bool

        def __init__(
            self, fs: AbstractFileSystem, path: str, mode: str, block: int, wait: float | None
        ) -> None:
            self._wait = wait
            super().__init__(fs, path, mode, block_size=block)

        async def _open_file(self) -> Any:
            return await asyncio.wait_for(super()._open_file(), self._wait)

        def read(self, size: int = -1) -> bytes:
            data: bytes = super().read(size, timeout=self._wait)
            return data

        def write(self, data: bytes) -> int:
            written: int = super().write(data, timeout=self._wait)
            return written

        def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
            position: int = super().seek(offset, whence, timeout=self._wait)
            return position

        def close(self) -> None:
            if self._closed:
                return
            try:
                self._close(timeout=self._wait)
            finally:  # never again, nor by the garbage collector (see Backend.open)
                self._closed = True

    return BoundedFile
