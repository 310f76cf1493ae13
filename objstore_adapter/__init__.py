"""objstore_adapter: object stores (s3://, gs://, az://, any fsspec protocol) for requests.

Example:
    >>> import objstore_adapter
    >>> s = objstore_adapter.session()
    >>> r = s.get("s3://bucket/big.parquet", stream=True)  # doctest: +SKIP
"""

from ._adapter import ObjectStoreAdapter
from ._errors import BackendConfigError, BackendNotInstalled
from ._registry import SchemeRegistry
from ._session import ObjectStoreSession, mount, session
from ._settings import TransferSettingError
from ._transfer import TransferConfig

__version__ = "0.1.0"

__all__ = [
    "BackendConfigError",
    "BackendNotInstalled",
    "ObjectStoreAdapter",
    "ObjectStoreSession",
    "SchemeRegistry",
    "TransferConfig",
    "TransferSettingError",
    "__version__",
    "mount",
    "session",
]
