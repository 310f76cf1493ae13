"""A local S3 for demos, examples and your own tests.

:func:`s3_endpoint` yields ``$OBJSTORE_S3_ENDPOINT`` when it is set, else starts moto's S3
server in-process on a free port (``pip install 'objstore-adapter[demo]'``), so code written
against it runs on any machine as it is.

Example:
    >>> with s3_endpoint() as endpoint:  # doctest: +SKIP
    ...     registry = s3_registry(endpoint)
    ...     ensure_bucket(registry, "scratch")

Other local servers (moto in a process of its own, SeaweedFS, fake-gcs-server, Azurite) start
from :mod:`objstore_adapter.testing.servers`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from .._registry import SchemeRegistry
from .servers import moto_in_process

__all__ = ["ensure_bucket", "local_s3", "s3_endpoint", "s3_registry"]


@contextlib.contextmanager
def local_s3() -> Iterator[str]:
    """Run moto's S3 server in this process on a free port; yield its endpoint URL."""
    with moto_in_process() as endpoint:
        yield endpoint


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
