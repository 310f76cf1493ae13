"""A local S3 for demos, examples and your own tests.

:func:`s3_endpoint` yields ``$OBJSTORE_S3_ENDPOINT`` when it is set, else starts moto's S3
server in-process on a free port (``pip install 'objstore-adapter[demo]'``), so code written
against it runs on any machine as it is.

Example:
    >>> with s3_endpoint() as endpoint:  # doctest: +SKIP
    ...     registry = s3_registry(endpoint)
    ...     ensure_bucket(registry, "scratch")
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator

from ._registry import SchemeRegistry

__all__ = ["ensure_bucket", "local_s3", "s3_endpoint", "s3_registry"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def local_s3() -> Iterator[str]:
    """Run moto's S3 server in this process on a free port; yield its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextlib.contextmanager
def s3_endpoint() -> Iterator[str]:
    """``$OBJSTORE_S3_ENDPOINT`` if set, else the endpoint of a :func:`local_s3` server."""
    configured = os.environ.get("OBJSTORE_S3_ENDPOINT")
    if configured:
        yield configured
        return
    with local_s3() as endpoint:
        yield endpoint


def s3_registry(endpoint: str) -> SchemeRegistry:
    """A registry serving ``s3://`` from ``endpoint``, with ``$OBJSTORE_S3_KEY`` and
    ``$OBJSTORE_S3_SECRET`` as credentials (placeholders a local server accepts otherwise)."""
    registry = SchemeRegistry()
    registry.register(
        "s3",
        endpoint_url=endpoint,
        key=os.environ.get("OBJSTORE_S3_KEY", "local-key"),
        secret=os.environ.get("OBJSTORE_S3_SECRET", "local-secret"),
    )
    return registry


def ensure_bucket(registry: SchemeRegistry, bucket: str) -> None:
    """Create ``bucket`` if it does not exist (the adapter itself never creates buckets)."""
    fs = registry.filesystem(registry.route_for(f"s3://{bucket}"))
    if not fs.exists(bucket):
        fs.mkdir(bucket)
