"""A conda plugin: channels on ``s3://``, ``gs://`` and ``az://`` (and any scheme configured).

``pip install 'objstore-adapter[s3]'`` (or ``[gcs]``, ``[azure]``, ``[all]``) into conda's own
environment registers this module under conda's ``conda`` entry-point group; nothing else in
this package imports it. conda has no hook for transport adapters, so the plugin does the
least it can:

- its ``conda_pre_commands`` hook, which conda runs before every command once plugins are
  loaded (never under ``--no-plugins`` or ``CONDA_NO_PLUGINS=true``), calls :func:`install`;
- :func:`install` wraps ``CondaSession.__init__`` so that every new session also mounts one
  shared :class:`~objstore_adapter.ObjectStoreAdapter` on ``s3://``, ``gs://``, ``az://`` and
  the other schemes it serves (conda's own ``http``, ``https``, ``ftp`` and ``file`` adapters
  stay), or, in offline mode, conda's own ``EnforceUnusedAdapter``; then it empties conda's
  session caches (``get_session``'s and every thread's ``CondaSession``), so no session built
  before keeps conda's ``S3Adapter``.

conda then reads channels through the adapter exactly as over HTTP: ``Range`` resumes of
``.partial`` downloads, conditional requests answered 304, 404s and 403s.

Storage options come from fsspec's own configuration (``FSSPEC_S3_ENDPOINT_URL=...``, JSON or
INI files in ``~/.config/fsspec/``), and per scheme or URL prefix from ``.condarc``::

    plugins:
      objstore_storage_options:
        s3://my-bucket/channel:      # the longest matching prefix wins
          endpoint_url: https://minio.example.com
        gs:
          project: my-project
        minio:                       # a scheme of its own: minio://bucket/channel
          protocol: s3
          endpoint_url: https://minio.example.com
          transfer.max_attempts: 3   # a transfer setting (a TransferConfig field)

Credentials stay with the backends' own chains (environment, profiles, ``gcloud``, ``az``).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

try:
    from conda import plugins  # type: ignore[import-not-found]
    from conda.base.context import context  # type: ignore[import-not-found]
    from conda.common.configuration import (  # type: ignore[import-not-found]
        MapParameter,
        PrimitiveParameter,
    )
    from conda.exceptions import (  # type: ignore[import-not-found]
        CondaDependencyError,
        CondaError,
        CondaValueError,
    )
    from conda.gateways.connection import session as conda_session  # type: ignore[import-not-found]
    from conda.plugins.types import (  # type: ignore[import-not-found]
        CondaPreCommand,
        CondaSetting,
    )
except ImportError as exc:
    raise ImportError(
        "objstore_adapter.conda is a conda plugin: it is loaded by conda, in conda's environment"
    ) from exc

import requests
from requests.exceptions import RequestException

from . import BackendConfigError, BackendNotInstalled, ObjectStoreAdapter, SchemeRegistry

__all__ = [
    "SETTING",
    "CondaObjectStoreAdapter",
    "conda_pre_commands",
    "conda_settings",
    "install",
    "registry_from_settings",
]

#: The ``.condarc`` setting, under ``plugins:``: URL prefix or scheme → storage options.
SETTING = "objstore_storage_options"

#: The prefix of a transfer setting's name in a ``.condarc`` entry (``transfer.max_attempts``):
#: no storage option holds a dot.
TRANSFER = "transfer."

#: Schemes conda serves itself: never taken over, even when the configuration names them.
CONDA_SCHEMES = frozenset({"http", "https", "ftp", "file"})


class _EveryCommand(frozenset[str]):
    """``run_for`` of the pre-command: conda asks ``command in run_for``; the answer is yes."""

    def __contains__(self, command: object) -> bool:
        return True


@plugins.hookimpl  # type: ignore[untyped-decorator]
def conda_pre_commands() -> Iterable[Any]:
    """Mount the adapter on conda's sessions before any command runs."""
    yield CondaPreCommand(
        name="objstore-adapter",
        action=lambda command: install(),
        run_for=_EveryCommand(),
    )


@plugins.hookimpl  # type: ignore[untyped-decorator]
def conda_settings() -> Iterable[Any]:
    """``plugins.objstore_storage_options`` in ``.condarc``."""
    yield CondaSetting(
        name=SETTING,
        description=(
            "Storage options for object-store channels, per scheme (s3, gs, az) or URL prefix "
            "(s3://bucket/channel): endpoint_url, anon, profile, ... as fsspec takes them. "
            "'protocol' maps a scheme of your own to an fsspec protocol; 'transfer.<name>' "
            "sets a transfer setting (transfer.max_attempts, transfer.part_size, ...)."
        ),
        parameter=MapParameter(MapParameter(PrimitiveParameter("", element_type=str))),
    )


def registry_from_settings(settings: Mapping[str, Mapping[str, Any]]) -> SchemeRegistry:
    """The :class:`~objstore_adapter.SchemeRegistry` that ``.condarc`` describes.

    Values arrive as text: ``true``/``false``/``none`` and JSON (numbers, objects) are
    decoded as fsspec decodes its ``FSSPEC_<PROTOCOL>_<OPTION>`` variables.

    Args:
        settings: scheme or URL prefix → storage options (``protocol`` picks the fsspec
            protocol; ``transfer.<name>`` sets a field of the route's ``TransferConfig``).
            Schemes come before URL prefixes, which start from their scheme's options and
            transfer settings.

    Raises:
        conda.exceptions.CondaValueError: a prefix, protocol or transfer setting that the
            registry refuses (one in fsspec's configuration is raised when a URL it applies
            to is used, as a ``CondaValueError`` too).
    """
    registry = SchemeRegistry()
    # A scheme's options must be in place before the URL prefixes that inherit them.
    for prefix in sorted(settings, key=lambda p: ("://" in p, p)):
        options = {name: _decoded(value) for name, value in settings[prefix].items()}
        protocol = options.pop("protocol", None)
        transfer = {
            name.removeprefix(TRANSFER): options.pop(name)
            for name in list(options)
            if name.startswith(TRANSFER)
        }
        try:
            registry.register(prefix, protocol, transfer=transfer, **options)
        except ValueError as exc:
            raise CondaValueError(_literal(f"plugins.{SETTING}: {exc}")) from None
    return registry


def _decoded(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    words = {"true": True, "false": False, "none": None, "null": None}
    if value.strip().lower() in words:
        return words[value.strip().lower()]
    try:
        return json.loads(value)
    except ValueError:
        return value


def _literal(message: str) -> str:
    """``message`` as a CondaError message, which conda %-formats."""
    return message.replace("%", "%%")


class CondaObjectStoreAdapter(ObjectStoreAdapter):
    """The adapter as conda sees it: failures of its own are conda errors, not crash reports.

    A missing backend is a ``CondaDependencyError`` naming the pip extra, a bad setting a
    ``CondaValueError``, an unexpected backend failure a ``CondaError``. Connection failures
    and timeouts stay ``requests`` exceptions, which conda reports as it does over HTTP.

    Args:
        registry: the schemes and prefixes served.
        setting_error: raised on first use instead of serving, when ``.condarc`` is wrong;
            deferred so that ``conda config`` can still repair it.
    """

    def __init__(
        self, registry: SchemeRegistry | None = None, setting_error: Exception | None = None
    ) -> None:
        super().__init__(registry)
        self.setting_error = setting_error

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if self.setting_error is not None:
            raise self.setting_error
        try:
            return super().send(request, stream, timeout, verify, cert, proxies)
        except BackendNotInstalled as exc:
            # Install it where conda runs: conda's own Python.
            raise CondaDependencyError(_literal(f"{exc} in conda's environment")) from None
        except BackendConfigError as exc:  # names the route and option, never a value
            raise CondaValueError(_literal(str(exc))) from exc
        except RequestException as exc:
            if type(exc) is not RequestException:
                raise  # conda reports connection failures (and the rest) as it does for HTTP
            # An unexpected backend failure: conda's own error, not a crash report for conda.
            raise CondaError(_literal(str(exc))) from exc


class _Mounting:
    """What :func:`install` put in place: the shared adapter, the schemes it is mounted on and
    conda's own ``__init__``."""

    def __init__(
        self,
        adapter: CondaObjectStoreAdapter,
        schemes: Iterable[str],
        original: Callable[..., None],
    ) -> None:
        self.adapter = adapter
        self.schemes = sorted(set(schemes) - CONDA_SCHEMES)
        self.original = original


_lock = threading.Lock()
_mounting: _Mounting | None = None


def install() -> CondaObjectStoreAdapter:
    """Serve object-store URLs on every ``CondaSession`` from now on.

    Reads ``plugins.objstore_storage_options`` from conda's context, wraps
    ``CondaSession.__init__`` (once; a later call only replaces the adapter) and empties
    conda's session caches. The plugin calls it before every conda command; programs that
    drive conda's Python API call it themselves.

    Returns:
        The adapter now mounted on new sessions.
    """
    global _mounting
    settings = _settings()
    try:
        adapter = CondaObjectStoreAdapter(registry_from_settings(settings))
    except CondaValueError as exc:
        adapter = CondaObjectStoreAdapter(setting_error=exc)
    # Schemes named in a wrong setting too: their URLs then get the setting's error.
    named = {prefix.split("://", 1)[0].lower() for prefix in settings}
    schemes = set(adapter.registry.schemes()) | named
    session_class = conda_session.CondaSession
    with _lock:
        original = _mounting.original if _mounting else session_class.__init__
        _mounting = _Mounting(adapter, schemes, original)

        @functools.wraps(original)
        def __init__(session: requests.Session, *args: Any, **kwargs: Any) -> None:
            original(session, *args, **kwargs)
            _mount(session)

        session_class.__init__ = __init__
        _clear_session_caches(session_class)
    return adapter


def _settings() -> Mapping[str, Mapping[str, Any]]:
    value: Mapping[str, Mapping[str, Any]] = getattr(context.plugins, SETTING, None) or {}
    return value


def _mount(session: requests.Session) -> None:
    mounting = _mounting
    if mounting is None or context.no_plugins:
        return
    adapter = conda_session.EnforceUnusedAdapter() if context.offline else mounting.adapter
    for scheme in mounting.schemes:
        session.mount(f"{scheme}://", adapter)


def _clear_session_caches(session_class: Any) -> None:
    conda_session.get_session.cache_clear()
    # Each thread caches its sessions in this thread-local; a fresh one empties them all.
    session_class._thread_local = threading.local()
