"""HTTPie transport plugins: ``http s3://bucket/key``, ``http gs://...``, ``http az://...``.

``pip install 'objstore-adapter[httpie]'`` registers these classes under HTTPie's
``httpie.plugins.transport.v1`` entry points; HTTPie then mounts one adapter on ``s3://``,
``gs://`` and ``az://``. Endpoints and credentials come from fsspec's own configuration
(``FSSPEC_S3_ENDPOINT_URL=...``, or JSON/INI files in ``~/.config/fsspec/``), which fsspec
applies whenever the registry builds a filesystem.

Nothing else in this package imports this module: it exists for HTTPie alone.
"""

from __future__ import annotations

import functools

try:
    from httpie.plugins import TransportPlugin  # type: ignore[import-untyped]
except ImportError as exc:
    raise ImportError(
        "objstore_adapter.httpie holds HTTPie plugins: pip install 'objstore-adapter[httpie]'"
    ) from exc

from . import ObjectStoreAdapter, SchemeRegistry

__all__ = ["AzureTransportPlugin", "GSTransportPlugin", "S3TransportPlugin", "shared_adapter"]


@functools.cache
def shared_adapter() -> ObjectStoreAdapter:
    """The one adapter, and so one registry and its filesystems, for every plugin here.

    Returns:
        An :class:`~objstore_adapter.ObjectStoreAdapter` with the default
        :class:`~objstore_adapter.SchemeRegistry`, built on first call.
    """
    return ObjectStoreAdapter(SchemeRegistry())


class _ObjectStorePlugin(TransportPlugin):  # type: ignore[misc]  # HTTPie ships no types
    prefix: str

    def get_adapter(self) -> ObjectStoreAdapter:
        return shared_adapter()


class S3TransportPlugin(_ObjectStorePlugin):
    """Serves ``s3://bucket/key`` (fsspec configuration: ``FSSPEC_S3_*``)."""

    name = "objstore-adapter s3://"
    description = "Amazon S3 and compatible stores through s3fs"
    prefix = "s3://"


class GSTransportPlugin(_ObjectStorePlugin):
    """Serves ``gs://bucket/key`` (fsspec configuration: ``FSSPEC_GS_*`` or ``FSSPEC_GCS_*``)."""

    name = "objstore-adapter gs://"
    description = "Google Cloud Storage through gcsfs"
    prefix = "gs://"


class AzureTransportPlugin(_ObjectStorePlugin):
    """Serves ``az://container/blob`` (fsspec configuration: ``FSSPEC_AZ_*`` or
    ``FSSPEC_ABFS_*``)."""

    name = "objstore-adapter az://"
    description = "Azure Blob Storage through adlfs"
    prefix = "az://"
