"""fsspec's caching filesystems (``filecache``, ``blockcache``, ``simplecache``) over a route's
store: an answer's validators come from the store, so its bytes must be the same version's.

``filecache`` and ``blockcache`` record the version they copied and, told to
(``check_files``), compare it with the store's at every open, fetching again when it
changed: the adapter always tells them. ``simplecache`` records nothing, and would serve the
old bytes under the new version's ``ETag``: a route through it is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import Backend


class CheckedCacheBackend(Backend):
    """A cache that checks its copy against the store at every open."""

    def storage_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().storage_options(options), "check_files": True}


class UnversionedCacheBackend(Backend):
    """``simplecache``: refused, for it cannot tell an old copy from the store's version."""

    def storage_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        raise ValueError(
            "simplecache keeps no version of what it copied and would serve old bytes under "
            "the store's new ETag: use protocol='filecache', which is checked at every open"
        )
