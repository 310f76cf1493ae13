"""Mounting the adapter on sessions."""

from __future__ import annotations

import requests

from ._adapter import ObjectStoreAdapter
from ._registry import SchemeRegistry


def mount(session: requests.Session, adapter: ObjectStoreAdapter | None = None) -> requests.Session:
    """Mount ``adapter`` on ``"<scheme>://"`` for every scheme its registry serves.

    Schemes registered after mounting are not mounted: call ``mount`` again.

    Args:
        session: the session to mount on; it is changed in place and returned.
        adapter: defaults to an :class:`ObjectStoreAdapter` with the default registry.

    Returns:
        The same ``session``.
    """
    adapter = adapter if adapter is not None else ObjectStoreAdapter()
    for scheme in adapter.registry.schemes():
        session.mount(f"{scheme}://", adapter)
    return session


def session(registry: SchemeRegistry | None = None) -> requests.Session:
    """A new ``requests.Session`` with every scheme of ``registry`` mounted.

    Example:
        >>> s = session()
        >>> s.get("s3://bucket/key.csv").status_code  # doctest: +SKIP
        200
    """
    return mount(requests.Session(), ObjectStoreAdapter(registry))
