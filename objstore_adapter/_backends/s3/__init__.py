"""Amazon S3 (and S3-compatible servers) through s3fs.

- :mod:`.backend`: :class:`S3Backend`, which s3fs call or signed request serves each method.
- :mod:`.presigned`: requests signed with s3fs's own client, sent from the caller's thread.
- :mod:`.native`: GETs through obstore's Rust client (``TransferConfig(native_gets=True)``).
- :mod:`.parts`: multipart uploads, their parts sent as signed requests.
"""

from __future__ import annotations

from .backend import S3Backend

__all__ = ["S3Backend"]
