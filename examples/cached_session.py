"""requests-cache in front of an object store: unchanged objects come back as 304s.

python examples/cached_session.py
"""

from __future__ import annotations

from requests_cache import CachedSession

import objstore_adapter
from objstore_adapter import SchemeRegistry
from objstore_adapter.testing import ensure_bucket, s3_endpoint, s3_registry


# --8<-- [start:cache]
def main(registry: SchemeRegistry, url: str) -> list[bool]:
    """Fetch ``url`` twice through a cache that revalidates; return ``from_cache`` for each."""
    session = CachedSession(backend="memory", always_revalidate=True)
    objstore_adapter.mount(session, objstore_adapter.ObjectStoreAdapter(registry))
    first = session.get(url)
    second = session.get(url)  # If-None-Match with the ETag: a 304, no body transferred
    print(f"first from cache: {first.from_cache}, second from cache: {second.from_cache}")
    return [first.from_cache, second.from_cache]


# --8<-- [end:cache]


if __name__ == "__main__":
    with s3_endpoint() as endpoint:
        registry = s3_registry(endpoint)
        ensure_bucket(registry, "examples")
        objstore_adapter.session(registry).put("s3://examples/cached.json", data=b'{"v": 1}')
        main(registry, "s3://examples/cached.json")
