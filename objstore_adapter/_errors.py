"""One table from backend exceptions to what the caller sees.

An error the store answered carries its HTTP status somewhere: botocore's ``ClientError``
(which s3fs turns into an ``OSError`` raised from it), azure's ``HttpResponseError``, gcsfs's
``HttpError``, aiohttp's ``ClientResponseError``, or the :class:`StoreStatusError` the adapter
attaches to its own requests. That status decides, whatever class the SDK raised::

    401, 403 → 403   404 → 404   409, 412 → 412   416 → 416
    429, 503 → 503 with the store's Retry-After   other 4xx → 400   anything else → 502

(S3's ``KeyTooLongError`` is such a 400.) A local filesystem answers with ``errno`` instead:
``ENAMETOOLONG`` (a name or path longer than it takes) is a 414, URI Too Long.

(401 is kept for requests the adapter could not sign at all: no credentials anywhere.)

Every other exception maps by class through :data:`EXCEPTION_TABLE`: storage outcomes become
HTTP statuses; transport failures become ``requests`` exceptions, raised with ``request=`` and
chained from a redacted copy of the backend exception (see ``_redact``)::

    requests.RequestException
    ├── InvalidSchema ── BackendNotInstalled (a backend package is missing)
    ├── InvalidURL
    ├── BackendConfigError (also ValueError: a filesystem cannot be built from its options)
    ├── ConnectionError ── ConnectTimeout (also Timeout)
    ├── Timeout ── ReadTimeout
    └── ChunkedEncodingError        (a body cut short while streaming)

Classes are named by dotted path so that the table imports no optional backend. The first class
in an exception's MRO that the table names decides, so the most specific entry wins. Two
classes say less than the table can, and are judged by what they were raised from:

- the adapter's own deadline (fsspec's ``FSTimeoutError``, asyncio's ``TimeoutError``) cancels
  the request wherever it waits: in aiohttp's connector (DNS, the pool, TCP, TLS) it is a
  ``ConnectTimeout``; anywhere else in aiohttp, on the open connection, a ``ReadTimeout``;
  between an SDK's own tries, the failure it was retrying decides;
- a ``ValueError`` (what backends raise for their own mistakes as well) maps as what it was
  raised from: a 400 only when that was a refusal (botocore's ``ParamValidationError``,
  which s3fs re-raises as a ``ValueError``, or the store's own answer); any other is
  unexpected.

An exception no entry names is a ``BackendConfigError`` when it was raised while botocore
built its client from the route's options (an ``endpoint_url`` that is no URL), since
nothing is sent from there.
"""

from __future__ import annotations

import asyncio
import errno
import ftplib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypeAlias
from urllib.parse import urljoin, urlsplit

from requests import exceptions as rex


class BackendNotInstalled(rex.InvalidSchema):
    """A registered scheme needs a backend package that is not installed."""


class BackendConfigError(rex.RequestException, ValueError):
    """A route's filesystem cannot be built or connected with the options it was given.

    The message names the route and the option to check, never an option's value.
    """


#: An HTTP status for the error response, or the requests exception to raise.
Outcome: TypeAlias = "int | type[rex.RequestException]"

EXCEPTION_TABLE: dict[str, Outcome] = {
    # Storage outcomes.
    "builtins.FileNotFoundError": 404,
    "builtins.NotADirectoryError": 404,
    "builtins.IsADirectoryError": 404,
    "builtins.PermissionError": 403,
    "builtins.FileExistsError": 412,
    "paramiko.ssh_exception.AuthenticationException": 403,  # SFTP: the login refused
    "builtins.NotImplementedError": 405,  # a filesystem without the operation (HTTP's rm)
    "botocore.exceptions.NoCredentialsError": 401,
    "botocore.exceptions.PartialCredentialsError": 401,
    "botocore.exceptions.ParamValidationError": 400,
    "azure.core.exceptions.ResourceNotFoundError": 404,
    "azure.core.exceptions.ClientAuthenticationError": 403,
    "azure.identity._exceptions.CredentialUnavailableError": 401,
    "azure.core.exceptions.ResourceExistsError": 412,
    "azure.core.exceptions.ResourceModifiedError": 412,
    "google.auth.exceptions.RefreshError": 403,  # the token endpoint refused the credentials
    # Answers without a status, that the store did send.
    "azure.core.exceptions.HttpResponseError": 502,
    "gcsfs.retry.HttpError": 502,
    # The store answered with an error the table does not know more precisely.
    "builtins.OSError": 502,
    # Settings that only take effect when the backend first connects (s3fs builds its
    # botocore client on the first request).
    "botocore.exceptions.ProfileNotFound": BackendConfigError,
    "botocore.exceptions.ConfigNotFound": BackendConfigError,
    "botocore.exceptions.ConfigParseError": BackendConfigError,
    "botocore.exceptions.InvalidConfigError": BackendConfigError,
    "botocore.exceptions.CredentialRetrievalError": BackendConfigError,
    "botocore.exceptions.UnknownCredentialError": BackendConfigError,
    "botocore.exceptions.UnknownSignatureVersionError": BackendConfigError,
    "botocore.exceptions.InvalidEndpointConfigurationError": BackendConfigError,
    "botocore.exceptions.EndpointResolutionError": BackendConfigError,  # endpoint_url, region
    "google.auth.exceptions.DefaultCredentialsError": BackendConfigError,
    # Transport failures.
    # Deadlines, refined by where the request was waiting (see _deadline_phase). Without a
    # clue, fsspec's (the adapter's deadline for a whole request) may have been spent
    # connecting: it stays both a ConnectionError and a Timeout.
    "fsspec.exceptions.FSTimeoutError": rex.ConnectTimeout,
    "asyncio.exceptions.TimeoutError": rex.ReadTimeout,
    "builtins.TimeoutError": rex.ReadTimeout,
    "botocore.exceptions.ConnectTimeoutError": rex.ConnectTimeout,
    "botocore.exceptions.ReadTimeoutError": rex.ReadTimeout,
    "botocore.exceptions.ResponseStreamingError": rex.ChunkedEncodingError,
    "botocore.exceptions.IncompleteReadError": rex.ChunkedEncodingError,
    "botocore.exceptions.EndpointConnectionError": rex.ConnectionError,
    "botocore.exceptions.HTTPClientError": rex.ConnectionError,
    "aiohttp.client_exceptions.ClientPayloadError": rex.ChunkedEncodingError,
    "aiohttp.client_exceptions.ConnectionTimeoutError": rex.ConnectTimeout,
    "aiohttp.client_exceptions.ServerTimeoutError": rex.ReadTimeout,
    "aiohttp.client_exceptions.ClientError": rex.ConnectionError,
    "azure.core.exceptions.ServiceRequestTimeoutError": rex.ConnectTimeout,
    "azure.core.exceptions.ServiceResponseTimeoutError": rex.ReadTimeout,
    "azure.core.exceptions.IncompleteReadError": rex.ChunkedEncodingError,
    "azure.core.exceptions.ServiceRequestError": rex.ConnectionError,
    "azure.core.exceptions.ServiceResponseError": rex.ConnectionError,
    "google.auth.exceptions.TransportError": rex.ConnectionError,
    "asyncssh.misc.DisconnectError": rex.ConnectionError,  # sshfs: closed, lost, refused
    "asyncssh.sftp.SFTPNoConnection": rex.ConnectionError,
    "asyncssh.sftp.SFTPConnectionLost": rex.ConnectionError,
    "paramiko.ssh_exception.NoValidConnectionsError": rex.ConnectionError,
    "paramiko.ssh_exception.SSHException": rex.ConnectionError,  # no banner, no session
    "httpx.ConnectTimeout": rex.ConnectTimeout,
    "httpx.PoolTimeout": rex.ConnectTimeout,
    "httpx.ReadTimeout": rex.ReadTimeout,
    "httpx.WriteTimeout": rex.Timeout,
    "httpx.TransportError": rex.ConnectionError,
    "objstore_adapter._errors.BodyCut": rex.ChunkedEncodingError,
    "builtins.ConnectionError": rex.ConnectionError,
    "builtins.EOFError": rex.ConnectionError,  # ftplib, paramiko: the server closed on us
    # urllib3, for S3 bodies fetched through presigned URLs.
    "urllib3.exceptions.NewConnectionError": rex.ConnectionError,  # a ConnectTimeoutError too
    "urllib3.exceptions.ConnectTimeoutError": rex.ConnectTimeout,
    "urllib3.exceptions.ReadTimeoutError": rex.ReadTimeout,
    "urllib3.exceptions.ProtocolError": rex.ConnectionError,
    "urllib3.exceptions.HTTPError": rex.ConnectionError,
}

#: The table's deadlines: what they mean is read from where the request was waiting.
_DEADLINES = frozenset(
    {"fsspec.exceptions.FSTimeoutError", "asyncio.exceptions.TimeoutError", "builtins.TimeoutError"}
)

#: Failures to connect at all: nothing was sent.
_CONNECT_FAILURES = frozenset(
    {
        "builtins.ConnectionRefusedError",
        "aiohttp.client_exceptions.ClientConnectorError",
        "aiohttp.client_exceptions.ConnectionTimeoutError",
        "botocore.exceptions.EndpointConnectionError",
        "botocore.exceptions.ConnectTimeoutError",
        "azure.core.exceptions.ServiceRequestError",
        "urllib3.exceptions.NewConnectionError",
        "urllib3.exceptions.ConnectTimeoutError",
    }
)

#: Where a request cancelled at a deadline was still connecting: aiohttp's connector (DNS,
#: the pool's queue, TCP, TLS; all three SDKs send through aiohttp) and asyncio's socket
#: setup. Cancelled in any other aiohttp frame, it was on an open connection.
_CONNECTING_MODULES = ("aiohttp.connector", "aiohappyeyeballs")
_CONNECTING_CALLS = frozenset(
    {
        ("asyncio.base_events", "create_connection"),
        ("asyncio.base_events", "getaddrinfo"),
        ("asyncio.base_events", "sock_connect"),
        ("asyncio.base_events", "start_tls"),
        ("asyncio.selector_events", "sock_connect"),
    }
)
_CONNECTED_MODULES = ("aiohttp",)

#: Attributes under which SDKs keep the exception they wrap without chaining it: azure-core
#: (``inner_exception``), urllib3's ``MaxRetryError`` (``reason``), aiohttp (``os_error``).
_WRAPPED = ("inner_exception", "reason", "os_error")

#: Short, credential-free explanations for the JSON body of error responses.
STATUS_MESSAGES = {
    400: "the object store rejected the request",
    401: "no credentials for the object store",
    403: "access denied by the object store",
    404: "no such object",
    405: "method not allowed",
    412: "precondition failed",
    414: "the name or path is too long for the object store",
    416: "range not satisfiable",
    502: "the object store answered with an error",
    503: "the object store is unavailable or throttling: retry later",
}


def status_for(store_status: int) -> int:
    """The status the caller gets when the store answered ``store_status``."""
    if store_status in (401, 403):  # the credentials given were refused
        return 403
    if store_status in (404, 416):
        return store_status
    if store_status in (409, 412):
        return 412
    if store_status in (429, 503):
        return 503
    if 400 <= store_status < 500:
        return 400
    return 502


@dataclass(frozen=True)
class StoreAnswer:
    """The HTTP status and headers of an error the store answered."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)


class StoreStatusError(Exception):
    """The store answered ``status`` to a request the adapter made itself.

    Such a request raises ``FileNotFoundError`` (404), ``PermissionError`` (401, 403) or
    ``OSError`` chained from this, as s3fs chains botocore's ``ClientError``.
    """

    def __init__(self, status: int, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"the store answered {status}")
        self.status = status
        self.headers = dict(headers or {})


class StoreRedirected(StoreStatusError):
    """The store answered a redirect to ``location``, which the adapter never follows: another
    host's answer is not the object (a misconfigured endpoint or region, or worse).

    The message names where to only as ``scheme://host:port``: a ``Location`` may carry a
    signed query. Its status makes it a 502 (see :func:`status_for`).
    """

    def __init__(self, status: int, location: str, base: str = "") -> None:
        super().__init__(status, {"location": location})
        self.args = (redirect_message(location, base),)


def redirect_message(location: str, base: str = "") -> str:
    """What a store's redirect to ``location`` (relative to ``base``, the URL asked) says to
    the caller: where it pointed, as ``scheme://host:port``, and what to check."""
    where = "a location that is not a URL"
    try:
        target = urlsplit(urljoin(base, location.strip()))
        if target.scheme and target.hostname:
            port = f":{target.port}" if target.port else ""
            where = f"{target.scheme}://{target.hostname}{port}"
    except ValueError:  # a port that is no number
        pass
    return f"the store redirected to {where}: check the route's endpoint_url or region"


class ConnectFailed(Exception):
    """A route's filesystem, which connects when it is built (FTP, SFTP), could not reach its
    server or was refused the login: no setting to check, but the failure it wraps
    (:attr:`failure`), answered as any request's would be."""

    def __init__(self, failure: Exception) -> None:
        super().__init__(describe(failure))
        self.failure = failure


def reaching_failed(exc: BaseException) -> bool:
    """True when ``exc`` says a server could not be reached (refused, timed out, gone) or
    refused the credentials it was given."""
    outcome = outcome_for(exc)
    if isinstance(outcome, int):
        return outcome in (401, 403)
    return outcome is not None and issubclass(outcome, (rex.ConnectionError, rex.Timeout))


class Unsupported(NotImplementedError):
    """A backend cannot do this operation on its store (a write to an archive): a 405 whose
    error body says why, in this exception's message."""


def redirect_detail(exc: BaseException) -> str | None:
    """Why ``exc`` was raised, for the error body's ``detail``, when that is a redirect the
    store answered or an operation the backend does not support; else ``None``."""
    for link in _links(exc):
        if isinstance(link, (StoreRedirected, Unsupported)):
            return str(link)
    answer = store_answer(exc)  # an SDK that kept the 3xx it did not follow (azure-core)
    if answer is not None and 300 <= answer.status < 400 and "location" in answer.headers:
        return redirect_message(answer.headers["location"])
    return None


def status_error(status: int, path: str, headers: Mapping[str, str] | None = None) -> OSError:
    """The backend contract's exception for an error status the store answered for ``path``."""
    error: OSError
    if status == 404:
        error = FileNotFoundError(path)
    elif status in (401, 403):
        error = PermissionError(path)
    else:
        error = OSError(f"the store answered {status} for {path}")
    error.__cause__ = StoreStatusError(status, headers)
    return error


def store_answer(exc: BaseException) -> StoreAnswer | None:
    """The status (and headers) the store answered, found on ``exc`` or the exceptions it was
    raised from; ``None`` when the failure was not an answer from the store."""
    for link in exception_chain(exc):
        answer = _answer_of(link)
        if answer is not None:
            return answer
    return None


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from (its ``__cause__``, else a context it did
    not suppress), each once: a cycle ends the chain."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)


def _answer_of(exc: BaseException) -> StoreAnswer | None:
    status: object = None
    headers: Any = None
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):  # botocore ClientError
        metadata = response.get("ResponseMetadata") or {}
        status, headers = metadata.get("HTTPStatusCode"), metadata.get("HTTPHeaders")
    elif isinstance(getattr(response, "status_code", None), int):  # httpx's HTTPStatusError
        status, headers = getattr(response, "status_code", None), getattr(response, "headers", None)
    elif getattr(exc, "status_code", None) is not None:  # azure HttpResponseError
        status, headers = getattr(exc, "status_code", None), getattr(response, "headers", None)
    elif getattr(exc, "status", None) is not None:  # aiohttp ClientResponseError, ours
        status, headers = getattr(exc, "status", None), getattr(exc, "headers", None)
    elif isinstance(exc, ftplib.Error):  # an FTP server's reply: "530 Login incorrect."
        code = str(exc)[:3]
        status = _FTP_STATUSES.get(int(code), 502) if code.isdigit() else None
    elif any(_dotted(cls) == "gcsfs.retry.HttpError" for cls in type(exc).__mro__):
        status = getattr(exc, "code", None)  # an int, or its text
        status = int(status) if isinstance(status, str) and status.isdigit() else status
    else:
        status = _gcsfs_validated_status(exc)
    if not isinstance(status, int) or isinstance(status, bool) or not 300 <= status <= 599:
        return None
    return StoreAnswer(status, _header_dict(headers))


#: FTP replies (RFC 959) as the HTTP statuses they mean; any other error reply is a 502.
_FTP_STATUSES: Mapping[int, int] = {
    421: 503,  # service not available, closing the control connection
    450: 503,  # file unavailable (busy)
    451: 503,  # local error in processing
    530: 403,  # not logged in: the credentials refused
    550: 404,  # file unavailable (not found, or no access)
    553: 400,  # file name not allowed
}


def _gcsfs_validated_status(exc: BaseException) -> object:
    """The status gcsfs's ``validate_response(status, ...)`` was judging when it raised
    ``exc``: it turns a 403 into a bare ``OSError("Forbidden: ...")`` that carries none."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return None
    frame = tb.tb_frame
    if frame.f_globals.get("__name__") != "gcsfs.retry":
        return None
    if frame.f_code.co_name != "validate_response":
        return None
    return frame.f_locals.get("status")


def _header_dict(headers: Any) -> dict[str, str]:
    if not headers:
        return {}
    try:
        return {str(name).lower(): str(value) for name, value in headers.items()}
    except (AttributeError, TypeError):
        return {}


_DELAY_SECONDS = re.compile(r"\d{1,10}")


def error_headers(exc: BaseException, status: int) -> dict[str, str]:
    """Headers the error response passes on from the store: its ``Retry-After`` on a 503;
    and on a 405, the ``Allow`` it must carry: the methods that only read, which every
    route serves."""
    if status == 405:
        return {"Allow": "GET, HEAD"}
    answer = store_answer(exc)
    if status != 503 or answer is None:
        return {}
    value = answer.headers.get("retry-after", "").strip()
    if _DELAY_SECONDS.fullmatch(value):
        return {"Retry-After": value}
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return {}  # neither delay-seconds nor an HTTP-date: not worth passing on
    return {"Retry-After": value}


class BodyCut(ConnectionError):
    """A store's body broke off before its length: what requests reports for HTTP as
    ``ChunkedEncodingError``. For clients that report it no more precisely (obstore)."""


class BodySourceError(Exception):
    """The caller's own request body failed while it was being uploaded (not the store).

    The adapter raises the original exception to the caller, as requests does for HTTP.
    """

    def __init__(self, original: Exception) -> None:
        super().__init__(describe(original))
        self.original = original


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def outcome_for(exc: BaseException) -> Outcome | None:
    """What ``exc`` becomes: the store's own status when it answered one, else the table's
    outcome for the first class in its MRO that the table lists (``None``: none is), a
    deadline told by where it struck, a ``ValueError`` by what it wraps."""
    answer = store_answer(exc)
    if answer is not None:
        return status_for(answer.status)
    if any(
        isinstance(link, OSError) and link.errno == errno.ENAMETOOLONG
        for link in exception_chain(exc)
    ):
        return 414  # the local filesystem's limit on a name or a path: the URL is too long
    name, outcome = _listed(exc)
    if name in _DEADLINES:
        return _deadline_phase(exc) or outcome
    if name == "builtins.OSError" and _raised_in(exc, _TRANSPORT_MODULES):
        # paramiko's "Socket is closed": the connection, gone. A socket file's "cannot read
        # from timed out object": ftplib's control connection, after a wait timed out (which
        # fsspec's FTP ``exists`` swallows).
        return rex.ReadTimeout if "timed out" in str(exc) else rex.ConnectionError
    if outcome is None and isinstance(exc, ValueError):
        outcome = _wrapped(exc)
    if outcome is None and _raised_building_client(exc):
        return BackendConfigError
    return outcome


#: Where botocore builds a client from its settings (s3fs does so on the first request):
#: nothing is sent from there, so whatever fails in it is a setting.
_CLIENT_BUILDERS = frozenset(
    {("botocore.client", "create_client"), ("aiobotocore.client", "create_client")}
)


def _raised_building_client(exc: BaseException) -> bool:
    """True when ``exc`` (or what it was raised from) came out of building a botocore
    client: botocore checks ``endpoint_url`` only then (``ValueError: Invalid endpoint``)."""
    for link in exception_chain(exc):
        tb = link.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if (frame.f_globals.get("__name__"), frame.f_code.co_name) in _CLIENT_BUILDERS:
                return True
            tb = tb.tb_next
    return False


def _listed(exc: BaseException) -> tuple[str | None, Outcome | None]:
    """The first class in ``exc``'s MRO that the table names, and its outcome."""
    for cls in type(exc).__mro__:
        name = _dotted(cls)
        outcome = EXCEPTION_TABLE.get(name)
        if outcome is not None:
            return name, outcome
    return None, None


def _wrapped(exc: ValueError) -> Outcome | None:
    """The outcome of what a backend wrapped in ``exc`` (s3fs raises botocore's
    ``ParamValidationError`` on as a ``ValueError``, adlfs the SDK's errors); ``None`` for
    a ``ValueError`` that wraps nothing the table knows."""
    for link in exception_chain(exc):
        outcome = _listed(link)[1]
        if outcome is not None:
            return outcome
    return None


def _deadline_phase(exc: BaseException) -> type[rex.Timeout] | None:
    """Which timeout a deadline was: where the request it cancelled was waiting (connecting,
    or on an open connection), else the failure an SDK was about to retry when it struck
    (a connect that failed, a read that timed out); ``None``: no clue."""
    for link in _links(exc):
        if isinstance(link, asyncio.CancelledError):
            phase = _waiting_in(link.__traceback__)
            if phase is not None:
                return phase
            continue
        names = {_dotted(cls) for cls in type(link).__mro__}
        if names & _CONNECT_FAILURES:
            return rex.ConnectTimeout
        name, outcome = _listed(link)
        if name not in _DEADLINES and outcome is rex.ReadTimeout:
            return rex.ReadTimeout
    return None


def _waiting_in(tb: TracebackType | None) -> type[rex.Timeout] | None:
    """The phase a cancelled task was in, from the frames it was cancelled through."""
    connected = False
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if _within(module, _CONNECTING_MODULES) or (
            (module, tb.tb_frame.f_code.co_name) in _CONNECTING_CALLS
        ):
            return rex.ConnectTimeout
        connected = connected or _within(module, _CONNECTED_MODULES)
        tb = tb.tb_next
    return rex.ReadTimeout if connected else None


#: Modules that carry bytes over a connection (SSH's channels and transport, a socket's
#: file): a bare OSError they raise is the connection failing, not an answer.
_TRANSPORT_MODULES = ("paramiko.channel", "paramiko.transport", "paramiko.packet", "socket")


def _raised_in(exc: BaseException, modules: tuple[str, ...]) -> bool:
    """True when the innermost frame ``exc`` was raised from is in one of ``modules``."""
    tb, module = exc.__traceback__, ""
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        tb = tb.tb_next
    return _within(module, modules)


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in packages)


def refused_connection(exc: BaseException) -> bool:
    """True when ``exc`` is a connection the store's host refused: nothing was sent, and
    trying again at once cannot meet another answer.

    The refusal (``ConnectionRefusedError``, or an ``OSError`` with ``ECONNREFUSED``) may be
    anywhere in the chain ``exc`` was raised from, or kept inside an SDK's wrapper
    (botocore's ``EndpointConnectionError``, azure-core's ``ServiceRequestError``, urllib3's
    ``MaxRetryError``, aiohttp's ``ClientConnectorError``). An answer from the store is never
    a refusal.
    """
    if store_answer(exc) is not None:
        return False
    return any(
        isinstance(link, ConnectionRefusedError)
        or (isinstance(link, OSError) and link.errno == errno.ECONNREFUSED)
        for link in _links(exc)
    )


def _links(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the exceptions it was raised from and those SDK wrappers keep inside."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        for link in exception_chain(pending.pop()):
            if id(link) in seen:
                break
            seen.add(id(link))
            yield link
            wrapped = [getattr(link, name, None) for name in _WRAPPED]
            kwargs = getattr(link, "kwargs", None)  # botocore keeps the cause as error=
            if isinstance(kwargs, Mapping):
                wrapped.append(kwargs.get("error"))
            pending.extend(w for w in wrapped if isinstance(w, BaseException))


def describe(exc: BaseException) -> str:
    """Name an exception without its text, which may quote signed URLs or keys."""
    return type(exc).__name__
