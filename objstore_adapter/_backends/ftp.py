"""FTP through fsspec's FTPFileSystem, one filesystem per thread.

ftplib holds one control connection per filesystem, and a transfer occupies it: threads
sharing a filesystem interleave their commands and replies, and the connection is left
broken. The registry builds a filesystem for each thread that uses an FTP route.
"""

from __future__ import annotations

from . import Backend


class FTPBackend(Backend):
    """fsspec's FTPFileSystem: plain fsspec calls, on a connection of the calling thread's."""

    per_thread = True
