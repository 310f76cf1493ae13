"""Which fsspec filesystem serves a URL, with which storage options.

A :class:`SchemeRegistry` holds routes: a prefix (a scheme such as ``"s3"``, or a URL prefix
such as ``"s3://bucket/team/"``) mapped to an fsspec protocol and storage options. The longest
matching prefix wins, so buckets can have their own endpoints or credentials. Filesystems are
built lazily, once per route, and reused by every request and thread.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib
import inspect
import os
import re
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import fsspec
from fsspec.registry import known_implementations
from fsspec.registry import registry as fsspec_classes
from fsspec.spec import AbstractFileSystem
from requests.exceptions import InvalidSchema, InvalidURL

from . import _settings
from ._backends import Backend
from ._backends.archive import ArchiveBackend
from ._backends.azure import AzureBackend
from ._backends.cache import CheckedCacheBackend, UnversionedCacheBackend
from ._backends.ftp import FTPBackend
from ._backends.gcs import GCSBackend
from ._backends.local import LocalBackend, MemoryBackend
from ._backends.s3 import S3Backend
from ._backends.sftp import SFTPBackend
from ._backends.web import WebBackend
from ._backends.webdav import WebDAVBackend
from ._diagnose import configuration_error
from ._errors import BackendConfigError, BackendNotInstalled, ConnectFailed, reaching_failed
from ._fileurl import local_path, resolves_within, within
from ._http import Timeouts
from ._redact import install_log_filter, redact_url, remember, secret_values
from ._settings import TransferSettingError
from ._transfer import DEFAULT_TRANSFER, Attempts, TransferConfig


@dataclass(frozen=True)
class Protocol:
    """How the stores of one fsspec protocol are served.

    Args:
        names: the protocol's fsspec names, aliases included.
        backend: the backend that serves its filesystems.
        schemes: the URL schemes served with it out of the box.
        extra: the pip extra that installs its fsspec backend.
        fs_class: the filesystem class chosen over fsspec's default for it.
    """

    names: tuple[str, ...]
    backend: Backend
    schemes: tuple[str, ...] = ()
    extra: str | None = None
    fs_class: str | None = None


#: Plain fsspec calls: the backend of every protocol the table does not name.
_GENERIC = Backend()

#: The one table of protocols: what serves each, which schemes are served out of the box (local
#: ones, file and memory, must be registered), what to install. gcsfs >= 2026.10 defaults to an
#: experimental class that first tries a gRPC API; its stable class speaks plain JSON/HTTP,
#: which every GCS endpoint (emulators included) answers.
PROTOCOLS: tuple[Protocol, ...] = (
    Protocol(("s3", "s3a"), S3Backend(), ("s3", "s3a"), "s3"),
    Protocol(("gcs", "gs"), GCSBackend(), ("gs", "gcs"), "gcs", "gcsfs.core.GCSFileSystem"),
    Protocol(("abfs", "az", "abfss"), AzureBackend(), ("az", "abfs", "abfss"), "azure"),
    Protocol(("adl",), _GENERIC, extra="azure"),
    Protocol(("memory",), MemoryBackend()),
    Protocol(("file", "local"), LocalBackend()),
    Protocol(("http", "https"), WebBackend()),
    Protocol(("ftp",), FTPBackend()),
    Protocol(("sftp", "ssh"), SFTPBackend()),
    Protocol(("webdav",), WebDAVBackend()),
    Protocol(("zip", "tar", "libarchive"), ArchiveBackend()),
    Protocol(("filecache", "blockcache", "cached"), CheckedCacheBackend()),
    Protocol(("simplecache",), UnversionedCacheBackend()),
)

_BY_NAME: Mapping[str, Protocol] = {name: p for p in PROTOCOLS for name in p.names}

#: Cloud schemes served out of the box, and their protocols.
DEFAULT_SCHEMES: Mapping[str, str] = {scheme: p.names[0] for p in PROTOCOLS for scheme in p.schemes}


def backend_for(protocol: str, cls: type[AbstractFileSystem]) -> Backend:
    """The backend serving a filesystem of class ``cls`` built for ``protocol``: the table's
    for the protocol, else for a protocol the class claims; else plain fsspec calls."""
    claimed = (cls.protocol,) if isinstance(cls.protocol, str) else tuple(cls.protocol)
    for name in (protocol, *claimed):
        if name in _BY_NAME:
            return _BY_NAME[name].backend
    return _GENERIC


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

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


@dataclass(frozen=True)
class Route:
    """One registered prefix: the protocol and storage options it is served with.

    For a URL prefix these are its own settings over its scheme's, as they stand now.
    """

    prefix: str
    protocol: str
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    transfer: TransferConfig = DEFAULT_TRANSFER
    follow_symlinks: bool = False
    #: A transfer setting in fsspec's configuration that cannot be taken, raised when the
    #: route is used (``transfer`` is then what the route has without it).
    problem: TransferSettingError | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def scheme(self) -> str:
        return self.prefix.split("://", 1)[0].lower()

    @functools.cached_property
    def _after_scheme(self) -> str:
        return self.prefix.split("://", 1)[1]

    def matches(self, url: str) -> bool:
        scheme, separator, rest = url.partition("://")
        if "://" not in self.prefix:
            return scheme.lower() == self.prefix
        # requests keeps the case of a non-HTTP scheme as written: S3:// is s3://.
        if not separator or scheme.lower() != self.scheme:
            return False
        if _serves_files(self):
            # Compare decoded paths: file:///srv/a%20b/, file://localhost/srv/a b/ and
            # Path("/srv/a b").as_uri() all name the same directory.
            try:
                return within(local_path(url), local_path(self.prefix))
            except InvalidURL:
                return False
        own = self._after_scheme
        if not rest.startswith(own):
            return False
        # "s3://bucket" must not claim "s3://bucket2/key".
        return own.endswith("/") or len(rest) == len(own) or rest[len(own)] == "/"


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
    """A URL resolved to the filesystem, path and backend that serve it."""

    url: str
    fs: AbstractFileSystem
    path: str
    route: Route
    backend: Backend

    @property
    def is_prefix(self) -> bool:
        """True for a URL that names a "directory" (ends with ``/``)."""
        return self.url.endswith("/")

    def attempts(self, timeouts: Timeouts) -> Attempts:
        """The one retry budget of a request to this target: ``timeouts.request`` at most,
        and a connection that fails is opened again before the next try (see
        :meth:`Backend.reopen`)."""
        return Attempts(
            self.route.transfer,
            timeouts.request,
            reopen=functools.partial(self.backend.reopen, self.fs, timeouts),
        )

    @property
    def percent_encoded(self) -> bool:
        """True where the URL's path is percent-encoded (file:// per RFC 8089); object-store
        keys are taken literally."""
        return _serves_files(self.route)


@dataclass(frozen=True)
class _Registration:
    """What one ``register`` call said, before its scheme's settings are merged in."""

    prefix: str
    protocol: str | None  # None: the scheme's (a URL prefix only)
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    transfer: TransferConfig | Mapping[str, Any] | None = None
    follow_symlinks: bool = False


def _derive(registrations: Mapping[str, _Registration]) -> dict[str, Route]:
    """The routes that ``registrations`` make: each URL prefix over its scheme's settings as
    they are now, so the order of ``register`` calls decides nothing.

    Raises:
        TransferSettingError: a transfer setting registered by name is refused (one in
            fsspec's configuration becomes the route's ``problem``).
    """
    routes = {}
    for prefix, own in registrations.items():
        if "://" not in prefix:
            transfer, problem = _transfer_of(prefix, own.transfer, DEFAULT_TRANSFER, None)
            routes[prefix] = Route(
                prefix, own.protocol or prefix, own.options, transfer, problem=problem
            )
    for prefix, own in registrations.items():
        if "://" not in prefix:
            continue
        scheme = prefix.split("://", 1)[0]
        parent = routes.get(scheme)
        protocol = own.protocol
        if protocol is None:
            protocol = parent.protocol if parent is not None else scheme
        options = own.options
        if parent is not None and parent.protocol == protocol:
            options = {**parent.options, **own.options}
        if parent is not None:
            base, inherited = parent.transfer, parent.problem
        else:
            base, inherited = _transfer_of(scheme, None, DEFAULT_TRANSFER, None)
        transfer, problem = _transfer_of(prefix, own.transfer, base, inherited)
        routes[prefix] = Route(
            prefix, protocol, options, transfer, own.follow_symlinks, problem=problem
        )
    return routes


def _transfer_of(
    prefix: str,
    own: TransferConfig | Mapping[str, Any] | None,
    base: TransferConfig,
    problem: TransferSettingError | None,
) -> tuple[TransferConfig, TransferSettingError | None]:
    """A route's transfer settings: those it was registered with; else ``base`` (its
    scheme's, or the defaults) with what fsspec's configuration sets for the prefix, then
    the settings registered by name. With the first problem met in the configuration."""
    if isinstance(own, TransferConfig):
        return own, problem
    try:
        configured = _settings.configured(prefix)
        base = _settings.transfer(base, configured, _settings.where(prefix))
    except TransferSettingError as exc:
        problem = problem or exc
    if own:
        base = _settings.transfer(base, own, f"registered for {prefix!r}")
    return base, problem


def _merged(
    previous: TransferConfig | Mapping[str, Any] | None,
    given: TransferConfig | Mapping[str, Any] | None,
) -> TransferConfig | Mapping[str, Any] | None:
    """A scheme's transfer settings registered again: what is ``given`` over what it had."""
    if given is None or isinstance(given, TransferConfig):
        return previous if given is None else given
    if isinstance(previous, TransferConfig):
        return _settings.transfer(previous, given, "registered")
    return {**(previous or {}), **given}


def _known_protocol(protocol: str) -> bool:
    """True when fsspec can build ``protocol``: known by name (its import deferred, as for
    entry points) or registered as a class. Nothing is imported to tell."""
    return protocol in known_implementations or protocol in fsspec_classes


def _has_local_root(route: Route) -> bool:
    """True for a URL prefix served by the local filesystem: a root that links may not leave."""
    return "://" in route.prefix and route.protocol in _LOCAL_FILE_PROTOCOLS


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
        self._registrations: dict[str, _Registration] = {
            scheme: _Registration(scheme, protocol) for scheme, protocol in DEFAULT_SCHEMES.items()
        }
        with contextlib.suppress(TransferSettingError):  # reported by the routes, when used
            for prefix in _settings.configured_prefixes():  # transfer settings of their own
                self._registrations[prefix] = _Registration(prefix, None)
        self._routes = _derive(self._registrations)
        self._filesystems: dict[str, tuple[AbstractFileSystem, Backend]] = {}
        self._per_thread = threading.local()  # routes whose filesystem one thread owns
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def register(
        self,
        prefix: str,
        protocol: str | None = None,
        *,
        transfer: TransferConfig | Mapping[str, Any] | None = None,
        follow_symlinks: bool = False,
        **storage_options: Any,
    ) -> None:
        """Serve URLs starting with ``prefix`` through fsspec ``protocol``.

        Args:
            prefix: a scheme (``"s3"``, ``"minio"``) or a URL prefix (``"s3://bucket"``,
                ``"s3://bucket/team/"``). For a URL, the longest registered prefix wins. The
                scheme's case does not matter (``S3://bucket`` is ``s3://bucket``).
            protocol: the fsspec protocol: one fsspec knows by name or one registered with
                ``fsspec.register_implementation``. Defaults to the protocol the prefix's
                scheme maps to, else the scheme itself; a URL prefix without one follows its
                scheme's, even one registered later.
            transfer: how requests on this route retry and heal: a :class:`TransferConfig`,
                or a mapping of some of its fields by name (values as text, like ``"16MiB"``,
                taken too) applied over what the route would have without it. A route
                without a ``TransferConfig`` starts from its scheme's settings (for a URL
                prefix) or the defaults, with those fsspec's configuration sets for it (its
                ``objstore`` section: see the transfers guide).
            follow_symlinks: for a route with a root on the local filesystem
                (``"file:///srv/data/"``), let symbolic links inside the root lead out of it.
                By default a request whose path resolves, links followed, outside the root is
                refused with 403 before any read or write. Not a storage option: it is never
                passed to fsspec.
            **storage_options: passed to ``fsspec.filesystem(protocol, ...)``. A URL prefix
                starts from the options of its scheme, whenever either was registered, and
                overrides them.

        Raises:
            ValueError: the prefix is not a scheme or URL, fsspec knows no such protocol,
                ``follow_symlinks`` is given to a route without a local root, or a transfer
                setting is refused (:class:`TransferSettingError`, naming it).
        """
        if "://" in prefix:
            scheme, rest = prefix.split("://", 1)
            scheme = scheme.lower()
            prefix = f"{scheme}://{rest}"
        else:
            scheme = prefix = prefix.lower()
        if not _SCHEME.fullmatch(scheme):
            raise ValueError(f"{prefix!r} is neither a URL scheme nor a URL prefix")
        with self._lock:
            parent = self._routes.get(scheme)
            if "://" in prefix:
                registration = _Registration(
                    prefix, protocol, dict(storage_options), transfer, follow_symlinks
                )
            else:
                # Registering a scheme again keeps its protocol and transfer settings unless
                # given: "s3a" stays s3, whatever options it is now registered with.
                own_protocol = protocol
                if own_protocol is None:
                    own_protocol = parent.protocol if parent is not None else scheme
                previous = self._registrations.get(prefix)
                own_transfer = _merged(previous.transfer if previous else None, transfer)
                registration = _Registration(
                    prefix, own_protocol, dict(storage_options), own_transfer, follow_symlinks
                )
            registrations = {**self._registrations, prefix: registration}
            routes = _derive(registrations)
            route = routes[prefix]
            if not _known_protocol(route.protocol):
                raise ValueError(
                    f"fsspec knows no protocol {route.protocol!r} (for {prefix!r}); "
                    "pass protocol= with one of fsspec.available_protocols()"
                )
            if follow_symlinks and not _has_local_root(route):
                raise ValueError(
                    f"follow_symlinks is for a route with a root on the local filesystem "
                    f"(like 'file:///srv/data/'), not {prefix!r}"
                )
            # Replaced, not changed in place: route_for reads the routes without the lock.
            self._registrations = registrations
            self._routes = routes
            # Routes derived from this one may have changed: rebuild filesystems lazily.
            self._filesystems.clear()
            self._per_thread = threading.local()

    def schemes(self) -> list[str]:
        """The URL schemes with at least one route, sorted."""
        return sorted({route.scheme for route in self._routes.values()})

    def prefixes(self) -> dict[str, str]:
        """Every registered prefix and the fsspec protocol serving it (no options: they may
        hold credentials)."""
        return {prefix: route.protocol for prefix, route in sorted(self._routes.items())}

    def route_for(self, url: str) -> Route:
        """The route with the longest prefix matching ``url``; the scheme's case is ignored.

        Raises:
            requests.exceptions.InvalidSchema: no route serves the URL's scheme, or the URL
                lies outside every prefix registered for it.
        """
        routes = self._routes
        scheme = url.split("://", 1)[0].lower()
        matches = [r for r in routes.values() if r.scheme == scheme and r.matches(url)]
        if not matches:
            prefixes = sorted(p for p, r in routes.items() if r.scheme == scheme)
            if prefixes:
                # Only prefixes serve this scheme: name them, and never suggest widening them.
                raise InvalidSchema(
                    f"{redact_url(url)!r} is outside every prefix registered for {scheme}:// URLs: "
                    f"{', '.join(prefixes)}"
                )
            raise InvalidSchema(
                f"No object store registered for {scheme!r} URLs; known schemes: "
                f"{', '.join(self.schemes())}. Use SchemeRegistry.register({scheme!r}, ...)."
            )
        return max(matches, key=_specificity)

    def filesystem(self, route: Route) -> AbstractFileSystem:
        """The filesystem serving ``route``, built on first use and then shared."""
        return self._served(route)[0]

    def _served(self, route: Route) -> tuple[AbstractFileSystem, Backend]:
        """The filesystem serving ``route`` and its backend, bound to the route's settings."""
        if self._pid != os.getpid():  # fsspec async filesystems do not survive a fork
            with self._lock:
                self._filesystems.clear()
                self._per_thread = threading.local()
                self._pid = os.getpid()
        built = False
        served = self._filesystems.get(route.prefix)
        if served is None or not served[1].connected(served[0]):
            with self._lock:  # a connection the server closed is replaced, as a missing one
                served = self._filesystems.get(route.prefix)
                if served is None or not served[1].connected(served[0]):
                    served = self._filesystems[route.prefix] = _build(route)
                    built = True
        if not served[1].per_thread:
            return served
        # The backend _build bound says its filesystem is one thread's: the thread that built
        # it keeps it, every other thread builds its own.
        mine: dict[str, tuple[AbstractFileSystem, Backend]]
        mine = self._per_thread.__dict__.setdefault("filesystems", {})
        if built:
            mine[route.prefix] = served
        if route.prefix not in mine or not served[1].connected(mine[route.prefix][0]):
            mine[route.prefix] = _build(route)
        return mine[route.prefix]

    def resolve(self, url: str) -> Target:
        """Resolve ``url`` to the filesystem and backend path that serve it.

        Object-store keys are taken literally; ``file://`` paths (and those of any scheme
        served by the local filesystem) are percent-decoded, as RFC 8089 has it. Under a
        local root, the path is checked here, links followed, so that no method reads or
        writes outside it.

        Raises:
            requests.exceptions.InvalidSchema: no route for the URL's scheme.
            requests.exceptions.InvalidURL: the URL names no bucket or container, or a file
                URL names another host or a segment that is refused.
            PermissionError: the path leads out of its route's local root through a symbolic
                link (and the route does not follow links out of it): a 403.
            BackendNotInstalled: the backend package for the route is missing.
        """
        if "://" not in url:
            raise InvalidURL(
                f"{redact_url(url)!r} is not a URL with a scheme (like s3://bucket/key)"
            )
        scheme = url.split("://", 1)[0].lower()
        serves_files = any(
            _serves_files(route) for route in self._routes.values() if route.scheme == scheme
        )
        # Checked before routing: a refused host is an invalid URL, not one outside a root.
        file_path = local_path(url) if serves_files else None
        route = self.route_for(url)
        if route.problem is not None:
            raise TransferSettingError(*route.problem.args)
        fs, backend = self._served(route)
        rest = url.split("://", 1)[1]
        if _has_dot_segment(rest):
            raise InvalidURL(f"{redact_url(url)!r}: '.' and '..' path segments are refused")
        if file_path is not None:
            if (
                _has_local_root(route)
                and not route.follow_symlinks
                and not resolves_within(file_path, local_path(route.prefix))
            ):
                raise PermissionError(
                    errno.EACCES, "a symbolic link leads out of the route's root", file_path
                )
            path = fs._strip_protocol(file_path)
            return Target(url=url, fs=fs, path=path, route=route, backend=backend)
        if not fs.root_marker and (not rest or rest.startswith("/")):
            raise InvalidURL(
                f"{redact_url(url)!r} names no bucket or container: use {route.scheme}://BUCKET/KEY"
            )
        path = fs._strip_protocol(f"{route.protocol}://{rest}")
        _check_taken_as_written(url, rest, path, route, backend)
        return Target(url=url, fs=fs, path=path, route=route, backend=backend)

    def _disconnected(self, url: str) -> None:
        """The calling thread's connection for ``url``'s route failed or timed out (it may be
        out of step with its server): where the route keeps a filesystem per thread (FTP,
        SFTP, WebDAV), forget it, so the next request opens another."""
        mine = self._per_thread.__dict__.get("filesystems", {})
        mine.pop(self.route_for(url).prefix, None)

    def clear_cache(self) -> None:
        """Forget built filesystems; the next request builds them again."""
        with self._lock:
            self._filesystems.clear()
            self._per_thread = threading.local()

    def __repr__(self) -> str:
        return f"SchemeRegistry({self.prefixes()!r})"

    def __getstate__(self) -> dict[str, Any]:
        # Filesystems hold event loops and locks; the receiving process builds its own.
        return {"registrations": self._registrations}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._registrations = state["registrations"]
        self._routes = _derive(self._registrations)
        self._filesystems = {}
        self._per_thread = threading.local()
        self._pid = os.getpid()
        self._lock = threading.Lock()


def _check_taken_as_written(url: str, rest: str, path: str, route: Route, backend: Backend) -> None:
    """Refuse a URL whose host or key the route's filesystem would read as another.

    Filesystems that connect to one server (FTP, SFTP: a ``host`` storage option) read only
    the path of a URL: another host's URL would be served by the route's server, and a key's
    query or fragment (``report?draft=1``) dropped, so that a PUT replaced ``report``. A
    backend names the characters its protocol cannot carry in a key.
    """
    refused = sorted({mark for mark in backend.refused_in_keys if mark in path})
    if refused:
        raise InvalidURL(
            f"{redact_url(url)!r}: a key on {route.protocol} cannot hold "
            + " or ".join(repr(mark) for mark in refused)
        )
    host = route.options.get("host")
    if isinstance(host, str):
        netloc = rest.split("/", 1)[0].rpartition("@")[2]
        named = urllib.parse.urlsplit(f"//{netloc}")
        port = route.options.get("port")
        other_port = named.port is not None and port is not None and named.port != int(port)
        if (named.hostname or "") != host.lower() or other_port:
            served = f"{host}:{port}" if port is not None else host
            raise InvalidURL(
                f"{redact_url(url)!r} names the host {netloc!r}; its route serves {served!r}"
            )
    for mark in ("?", "#"):
        if mark in rest and not path.endswith(rest[rest.index(mark) :]):
            raise InvalidURL(
                f"{redact_url(url)!r}: the {route.protocol} filesystem would read this key "
                f"without its {'query' if mark == '?' else 'fragment'}, as another object"
            )


def _has_dot_segment(rest: str) -> bool:
    """True when the path a backend may use holds a ``.`` or ``..`` segment. Clients and local
    paths resolve them: they could leave a registered prefix (or the directory a file:// route
    was given) for a sibling. Judged as written and as the backend may read it: an HTTP
    client decodes ``%2e`` (and a server ``%2f``), FTP and SFTP cut the query and fragment."""
    return bool(_DOT_SEGMENT.search(rest)) or (
        "%" in rest and bool(_DOT_SEGMENT.search(urllib.parse.unquote(rest)))
    )


#: A ``.`` or ``..`` segment: one between two of ``/?#`` (or the text's start and end).
_DOT_SEGMENT = re.compile(r"(?:^|[/?#])\.\.?(?=[/?#]|\Z)")  # \Z: "$" also ends before "\n"


def _build(route: Route) -> tuple[AbstractFileSystem, Backend]:
    remember(secret_values(route.options))
    failure: BackendConfigError | None = None
    known = _BY_NAME.get(route.protocol)
    try:
        if known is not None and known.fs_class is not None:
            cls = _import(known.fs_class)
        else:
            cls = fsspec.get_filesystem_class(route.protocol)
        install_log_filter()  # the backend's modules are imported: so are their loggers
        backend = backend_for(route.protocol, cls).bound(route.transfer)
        if backend.drops_unknown_options:
            for name in _not_taken(cls, route.options):
                raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {name!r}")
        fs: AbstractFileSystem = cls(**backend.storage_options(route.options))
        backend.configure(fs)
    except ImportError as exc:
        extra = known.extra if known is not None else None
        hint = (
            f"pip install 'objstore-adapter[{extra}]'"
            if extra
            else f"install the fsspec backend for {route.protocol!r}"
        )
        raise BackendNotInstalled(
            f"{route.scheme}:// URLs need a backend that is not installed: {hint}"
        ) from exc
    except Exception as exc:  # bad options, unreadable credentials, a server not reached
        if reaching_failed(exc):  # where building connects (FTP, SFTP): the server's answer
            raise ConnectFailed(exc) from None
        failure = configuration_error(route.prefix, route.protocol, route.options, exc)
    if failure is not None:
        raise failure  # outside the except block: only the redacted copy is chained
    return fs, backend


#: Options every fsspec filesystem takes through its base classes.
_FSSPEC_OPTIONS = frozenset(
    {"skip_instance_cache", "use_listings_cache", "listings_expiry_time", "max_paths"}
)


_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _not_taken(cls: type, options: Mapping[str, Any]) -> list[str]:
    """The ``options`` that no constructor along ``cls``'s bases names."""
    names = set(_FSSPEC_OPTIONS)
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            try:
                parameters = inspect.signature(init).parameters.values()
            except (TypeError, ValueError):  # a builtin's: nothing to learn
                continue
            names.update(p.name for p in parameters if p.kind in _NAMED)
    return sorted(name for name in options if name not in names)


def _import(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)
