"""Mounting the adapter on sessions, and the session this library builds."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.exceptions import InvalidSchema

from ._adapter import ObjectStoreAdapter
from ._registry import LOCAL_PROTOCOLS, SchemeRegistry

if TYPE_CHECKING:
    from requests.sessions import _Settings


def mount(session: requests.Session, adapter: ObjectStoreAdapter | None = None) -> requests.Session:
    """Mount ``adapter`` on ``"<scheme>://"`` for every scheme its registry serves.

    Schemes registered after mounting are not mounted: call ``mount`` again. A plain
    ``requests.Session`` follows redirects from http(s) into these schemes; the session that
    :func:`session` builds does not.

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


class ObjectStoreSession(requests.Session):
    """A ``requests.Session`` that keeps web servers from redirecting into object stores.

    A redirect from an ``http(s)`` URL to a local scheme (``file``, ``memory``, ...) is never
    followed; one to an object-store scheme only with ``follow_redirects_to_object_stores``.
    The caller gets the 3xx response instead, ``Location`` included.
    """

    # requests pickles the attributes listed here.
    __attrs__ = [  # noqa: RUF012 - requests declares it a plain list
        *requests.Session.__attrs__,
        "registry",
        "follow_redirects_to_object_stores",
    ]

    def __init__(
        self, registry: SchemeRegistry, follow_redirects_to_object_stores: bool = False
    ) -> None:
        super().__init__()
        self.registry = registry
        self.follow_redirects_to_object_stores = follow_redirects_to_object_stores

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        """requests' settings for ``url``, without the environment's proxies and CA bundle
        for object-store URLs: the adapter reaches stores through their clients' own
        settings, and the lookup (``os.environ`` walked twice) cost a seventh of a small GET.
        """
        if self._serves(url):
            return {
                "proxies": {**self.proxies, **(proxies or {})},
                "stream": self.stream if stream is None else stream,
                "verify": self.verify if verify is None else verify,
                "cert": self.cert if cert is None else cert,
            }
        return super().merge_environment_settings(url, proxies, stream, verify, cert)

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """requests' preparation, without the ``~/.netrc`` lookup for object-store URLs: the
        adapter never sends an ``Authorization`` header, and the lookup (two ``stat`` calls)
        ran on every request."""
        if request.auth is None and self.auth is None and self._serves(request.url):
            request = copy.copy(request)  # the caller's request is left as it was
            request.auth = _no_auth
        return super().prepare_request(request)

    def _serves(self, url: str | bytes | None) -> bool:
        text = url.decode() if isinstance(url, bytes) else url or ""
        return text.split(":", 1)[0].lower() in self.registry.schemes()

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is None or resp.request is None or resp.request.url is None:
            return target
        source = resp.request.url.split(":", 1)[0].lower()
        # A Location with a scheme but no '//' (file:/etc/passwd) is absolute too: requests
        # would follow it into that scheme, so it is judged by its scheme like any other.
        scheme = urlsplit(target).scheme.lower() or source
        if source in ("http", "https") and scheme in self.registry.schemes():
            try:
                protocol = self.registry.route_for(target).protocol
            except InvalidSchema:  # a served scheme, but outside every route (a file:// root)
                return None
            if protocol in LOCAL_PROTOCOLS or not self.follow_redirects_to_object_stores:
                return None
        return target


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


def session(
    registry: SchemeRegistry | None = None, *, follow_redirects_to_object_stores: bool = False
) -> requests.Session:
    """A new session with every scheme of ``registry`` mounted.

    Args:
        registry: which schemes and prefixes are served; defaults to the cloud schemes.
        follow_redirects_to_object_stores: let an ``http(s)`` server redirect this session to
            an object-store URL. Redirects to local schemes are never followed.

    Example:
        >>> s = session()
        >>> s.get("s3://bucket/key.csv").status_code  # doctest: +SKIP
        200
    """
    adapter = ObjectStoreAdapter(registry)
    built = ObjectStoreSession(adapter.registry, follow_redirects_to_object_stores)
    return mount(built, adapter)
