"""Which fsspec filesystem serves a URL, with which storage options.

A :class:`SchemeRegistry` holds routes: a prefix (a scheme such as ``"s3"``, or a URL prefix
such as ``"s3://bucket/team/"``) mapped to an fsspec protocol and storage options. The longest
matching prefix wins, so buckets can have their own endpoints or credentials. Filesystems are
built lazily, once per route, and reused by every request and thread.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import fsspec
from fsspec.spec import AbstractFileSystem
from requests.exceptions import InvalidSchema, InvalidURL

from ._backends import backend_for_protocol
from ._errors import BackendConfigError, BackendNotInstalled, configuration_error
from ._fileurl import local_path, within
from ._redact import install_log_filter, remember, secret_values
from ._transfer import DEFAULT_TRANSFER, TransferConfig

#: Cloud schemes served out of the box. Local ones (file, memory) must be registered.
DEFAULT_SCHEMES: Mapping[str, str] = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "abfs",
    "abfs": "abfs",
    "abfss": "abfs",
}

#: fsspec protocols that reach this machine's own files or memory: never a redirect target.
LOCAL_PROTOCOLS = frozenset(
    {
        "file",
        "local",
        "memory",
        "zip",
        "tar",
        "dir",
        "cached",
        "simplecache",
        "filecache",
        "blockcache",
        "reference",
    }
)

#: The pip extra that installs each protocol's backend.
_EXTRAS: Mapping[str, str] = {
    "s3": "s3",
    "s3a": "s3",
    "gcs": "gcs",
    "gs": "gcs",
    "abfs": "azure",
    "az": "azure",
    "abfss": "azure",
    "adl": "azure",
}

#: Filesystem classes chosen over fsspec's default for a protocol. gcsfs >= 2026.10 defaults to
#: an experimental class that first tries a gRPC API; the stable class speaks plain JSON/HTTP,
#: which every GCS endpoint (emulators included) answers.
_FS_CLASSES: Mapping[str, str] = {
    "gcs": "gcsfs.core.GCSFileSystem",
    "gs": "gcsfs.core.GCSFileSystem",
}

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


@dataclass(frozen=True)
class Route:
    """One registered prefix: the protocol and storage options it is served with."""

    prefix: str
    protocol: str
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    transfer: TransferConfig = DEFAULT_TRANSFER

    @functools.cached_property
    def scheme(self) -> str:
        return self.prefix.split("://", 1)[0]

    def matches(self, url: str) -> bool:
        if "://" not in self.prefix:
            return url.split("://", 1)[0].lower() == self.prefix
        if _serves_files(self):
            # Compare decoded paths: file:///srv/a%20b/, file://localhost/srv/a b/ and
            # Path("/srv/a b").as_uri() all name the same directory.
            if url.split("://", 1)[0].lower() != self.scheme:
                return False
            try:
                return within(local_path(url), local_path(self.prefix))
            except InvalidURL:
                return False
        if not url.startswith(self.prefix):
            return False
        # "s3://bucket" must not claim "s3://bucket2/key".
        return (
            self.prefix.endswith("/")
            or len(url) == len(self.prefix)
            or (url[len(self.prefix)] == "/")
        )


#: fsspec protocols of the local filesystem, whose paths are decoded like file:// URLs.
_LOCAL_FILE_PROTOCOLS = frozenset({"file", "local"})


def _serves_files(route: Route) -> bool:
    """True for a route whose URLs name local files: they follow RFC 8089, not key rules."""
    return route.scheme == "file" or route.protocol in _LOCAL_FILE_PROTOCOLS


def _specificity(route: Route) -> tuple[int, int]:
    """Which matching route wins: any prefix over a bare scheme, then the longest prefix,
    measured on the decoded path for file routes (spelling must not decide)."""
    if "://" not in route.prefix:
        return (0, len(route.prefix))
    if _serves_files(route):
        return (1, len(local_path(route.prefix)))
    return (1, len(route.prefix))


@dataclass(frozen=True)
class Target:
    """A URL resolved to the filesystem and path that serve it."""

    url: str
    fs: AbstractFileSystem
    path: str
    route: Route

    @property
    def is_prefix(self) -> bool:
        """True for a URL that names a "directory" (ends with ``/``)."""
        return self.url.endswith("/")

    @property
    def percent_encoded(self) -> bool:
        """True where the URL's path is percent-encoded (file:// per RFC 8089); object-store
        keys are taken literally."""
        return _serves_files(self.route)


class SchemeRegistry:
    """Map URL schemes and prefixes to fsspec filesystems.

    Starts with ``s3``/``s3a`` → s3, ``gs``/``gcs`` → gcs and ``az``/``abfs``/``abfss`` →
    abfs. Local schemes such as ``file`` and ``memory`` are served only once registered.

    Example:
        >>> registry = SchemeRegistry()
        >>> registry.register("minio", protocol="s3", endpoint_url="http://127.0.0.1:9000")
        >>> registry.register("s3://team-bucket", anon=True)
        >>> "minio" in registry.schemes()
        True
    """

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {
            scheme: Route(scheme, protocol) for scheme, protocol in DEFAULT_SCHEMES.items()
        }
        self._filesystems: dict[str, AbstractFileSystem] = {}
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def register(
        self,
        prefix: str,
        protocol: str | None = None,
        *,
        transfer: TransferConfig | None = None,
        **storage_options: Any,
    ) -> None:
        """Serve URLs starting with ``prefix`` through fsspec ``protocol``.

        Args:
            prefix: a scheme (``"s3"``, ``"minio"``) or a URL prefix (``"s3://bucket"``,
                ``"s3://bucket/team/"``). For a URL, the longest registered prefix wins.
            protocol: the fsspec protocol. Defaults to the protocol the prefix's scheme
                already maps to, else the scheme itself.
            transfer: how requests on this route retry and heal (a :class:`TransferConfig`);
                a URL prefix inherits its scheme's, else the defaults.
            **storage_options: passed to ``fsspec.filesystem(protocol, ...)``. A URL prefix
                starts from the options of its scheme and overrides them.

        Raises:
            ValueError: the prefix is not a scheme or URL, or fsspec knows no such protocol.
        """
        if "://" in prefix:
            scheme, rest = prefix.split("://", 1)
            scheme = scheme.lower()
            prefix = f"{scheme}://{rest}"
        else:
            scheme = prefix = prefix.lower()
        if not _SCHEME.fullmatch(scheme):
            raise ValueError(f"{prefix!r} is neither a URL scheme nor a URL prefix")
        parent = self._routes.get(scheme)
        if protocol is None:
            protocol = parent.protocol if parent is not None else scheme
        if protocol not in fsspec.available_protocols():
            raise ValueError(
                f"fsspec knows no protocol {protocol!r} (for {prefix!r}); "
                "pass protocol= with one of fsspec.available_protocols()"
            )
        options = dict(storage_options)
        if "://" in prefix and parent is not None and parent.protocol == protocol:
            options = {**parent.options, **options}
        if transfer is None:
            transfer = parent.transfer if parent is not None else DEFAULT_TRANSFER
        with self._lock:
            self._routes[prefix] = Route(prefix, protocol, options, transfer)
            # Routes derived from this one may have changed: rebuild filesystems lazily.
            self._filesystems.clear()

    def schemes(self) -> list[str]:
        """The URL schemes with at least one route, sorted."""
        return sorted({route.scheme for route in self._routes.values()})

    def prefixes(self) -> dict[str, str]:
        """Every registered prefix and the fsspec protocol serving it (no options: they may
        hold credentials)."""
        return {prefix: route.protocol for prefix, route in sorted(self._routes.items())}

    def route_for(self, url: str) -> Route:
        """The route with the longest prefix matching ``url``.

        Raises:
            requests.exceptions.InvalidSchema: no route serves the URL's scheme, or the URL
                lies outside every prefix registered for it.
        """
        matches = [route for route in self._routes.values() if route.matches(url)]
        if not matches:
            scheme = url.split("://", 1)[0] if "://" in url else url
            prefixes = sorted(p for p, r in self._routes.items() if r.scheme == scheme.lower())
            if prefixes:
                # Only prefixes serve this scheme: name them, and never suggest widening them.
                raise InvalidSchema(
                    f"{url!r} is outside every prefix registered for {scheme}:// URLs: "
                    f"{', '.join(prefixes)}"
                )
            raise InvalidSchema(
                f"No object store registered for {scheme!r} URLs; known schemes: "
                f"{', '.join(self.schemes())}. Use SchemeRegistry.register({scheme!r}, ...)."
            )
        return max(matches, key=_specificity)

    def filesystem(self, route: Route) -> AbstractFileSystem:
        """The filesystem serving ``route``, built on first use and then shared."""
        if self._pid != os.getpid():  # fsspec async filesystems do not survive a fork
            with self._lock:
                self._filesystems.clear()
                self._pid = os.getpid()
        fs = self._filesystems.get(route.prefix)
        if fs is None:
            with self._lock:
                fs = self._filesystems.get(route.prefix)
                if fs is None:
                    fs = self._filesystems[route.prefix] = _build(route)
        return fs

    def resolve(self, url: str) -> Target:
        """Resolve ``url`` to the filesystem and backend path that serve it.

        Object-store keys are taken literally; ``file://`` paths (and those of any scheme
        served by the local filesystem) are percent-decoded, as RFC 8089 has it.

        Raises:
            requests.exceptions.InvalidSchema: no route for the URL's scheme.
            requests.exceptions.InvalidURL: the URL names no bucket or container, or a file
                URL names another host or a segment that is refused.
            BackendNotInstalled: the backend package for the route is missing.
        """
        if "://" not in url:
            raise InvalidURL(f"{url!r} is not a URL with a scheme (like s3://bucket/key)")
        scheme = url.split("://", 1)[0].lower()
        serves_files = any(
            _serves_files(route) for route in self._routes.values() if route.scheme == scheme
        )
        # Checked before routing: a refused host is an invalid URL, not one outside a root.
        file_path = local_path(url) if serves_files else None
        route = self.route_for(url)
        fs = self.filesystem(route)
        rest = url.split("://", 1)[1]
        if any(segment in (".", "..") for segment in rest.split("/")):
            # Clients and local paths resolve dot segments: they could leave a registered
            # prefix (or the directory a file:// route was given) for a sibling.
            raise InvalidURL(f"{url!r}: '.' and '..' path segments are refused")
        if file_path is not None:
            return Target(url=url, fs=fs, path=fs._strip_protocol(file_path), route=route)
        if not fs.root_marker and (not rest or rest.startswith("/")):
            raise InvalidURL(
                f"{url!r} names no bucket or container: use {route.scheme}://BUCKET/KEY"
            )
        path = fs._strip_protocol(f"{route.protocol}://{rest}")
        return Target(url=url, fs=fs, path=path, route=route)

    def clear_cache(self) -> None:
        """Forget built filesystems; the next request builds them again."""
        with self._lock:
            self._filesystems.clear()

    def __repr__(self) -> str:
        return f"SchemeRegistry({self.prefixes()!r})"

    def __getstate__(self) -> dict[str, Any]:
        # Filesystems hold event loops and locks; the receiving process builds its own.
        return {"routes": self._routes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._routes = state["routes"]
        self._filesystems = {}
        self._pid = os.getpid()
        self._lock = threading.Lock()


def _build(route: Route) -> AbstractFileSystem:
    remember(secret_values(route.options))
    failure: BackendConfigError | None = None
    try:
        if route.protocol in _FS_CLASSES:
            cls = _import(_FS_CLASSES[route.protocol])
        else:
            cls = fsspec.get_filesystem_class(route.protocol)
        install_log_filter()  # the backend's modules are imported: so are their loggers
        backend = backend_for_protocol(route.protocol)
        fs: AbstractFileSystem = cls(**backend.storage_options(route.options))
        backend.configure(fs)
    except ImportError as exc:
        extra = _EXTRAS.get(route.protocol)
        hint = (
            f"pip install 'objstore-adapter[{extra}]'"
            if extra
            else f"install the fsspec backend for {route.protocol!r}"
        )
        raise BackendNotInstalled(
            f"{route.scheme}:// URLs need a backend that is not installed: {hint}"
        ) from exc
    except Exception as exc:  # bad options, unreadable credentials, a token refused
        failure = configuration_error(route.prefix, route.protocol, route.options, exc)
    if failure is not None:
        raise failure  # outside the except block: only the redacted copy is chained
    return fs


def _import(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)
