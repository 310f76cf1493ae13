"""One table from backend exceptions to what the caller sees.

Storage outcomes (no such object, access denied) become HTTP statuses; transport failures become
``requests`` exceptions, raised with ``request=`` and chained from the backend exception::

    requests.RequestException
    ├── InvalidSchema ── BackendNotInstalled (a backend package is missing)
    ├── InvalidURL
    ├── ConnectionError ── ConnectTimeout (also Timeout)
    ├── Timeout ── ReadTimeout
    └── ChunkedEncodingError        (a body cut short while streaming)

Classes are named by dotted path so that the table imports no optional backend. The first class
in an exception's MRO that the table names decides, so the most specific entry wins.
"""

from __future__ import annotations

from typing import TypeAlias

from requests import exceptions as rex

#: An HTTP status for the error response, or the requests exception to raise.
Outcome: TypeAlias = "int | type[rex.RequestException]"

EXCEPTION_TABLE: dict[str, Outcome] = {
    # Storage outcomes.
    "builtins.FileNotFoundError": 404,
    "builtins.NotADirectoryError": 404,
    "builtins.IsADirectoryError": 404,
    "builtins.PermissionError": 403,
    "builtins.FileExistsError": 412,
    "botocore.exceptions.NoCredentialsError": 401,
    "botocore.exceptions.PartialCredentialsError": 401,
    "botocore.exceptions.ParamValidationError": 400,
    "builtins.ValueError": 400,
    "azure.core.exceptions.ResourceNotFoundError": 404,
    "azure.core.exceptions.ClientAuthenticationError": 403,
    "azure.core.exceptions.ResourceExistsError": 412,
    "azure.core.exceptions.ResourceModifiedError": 412,
    "azure.core.exceptions.HttpResponseError": 502,
    "gcsfs.retry.HttpError": 502,
    # The store answered with an error the table does not know more precisely.
    "builtins.OSError": 502,
    # Transport failures.
    # The adapter's own deadline for a request to the store: fsspec cannot tell whether it
    # was spent connecting or waiting, so the exception is both ConnectionError and Timeout.
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
    "aiohttp.client_exceptions.ServerTimeoutError": rex.ReadTimeout,
    "aiohttp.client_exceptions.ClientError": rex.ConnectionError,
    "azure.core.exceptions.ServiceRequestTimeoutError": rex.ConnectTimeout,
    "azure.core.exceptions.ServiceResponseTimeoutError": rex.ReadTimeout,
    "azure.core.exceptions.IncompleteReadError": rex.ChunkedEncodingError,
    "azure.core.exceptions.ServiceRequestError": rex.ConnectionError,
    "azure.core.exceptions.ServiceResponseError": rex.ConnectionError,
    "builtins.ConnectionError": rex.ConnectionError,
    # urllib3, for S3 bodies fetched through presigned URLs.
    "urllib3.exceptions.NewConnectionError": rex.ConnectionError,  # a ConnectTimeoutError too
    "urllib3.exceptions.ConnectTimeoutError": rex.ConnectTimeout,
    "urllib3.exceptions.ReadTimeoutError": rex.ReadTimeout,
    "urllib3.exceptions.ProtocolError": rex.ConnectionError,
    "urllib3.exceptions.HTTPError": rex.ConnectionError,
}

#: Short, credential-free explanations for the JSON body of error responses.
STATUS_MESSAGES = {
    400: "the object store rejected the request",
    401: "no credentials for the object store",
    403: "access denied by the object store",
    404: "no such object",
    405: "method not allowed",
    412: "precondition failed",
    416: "range not satisfiable",
    502: "the object store answered with an error",
}


class BackendNotInstalled(rex.InvalidSchema):
    """A registered scheme needs a backend package that is not installed."""


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
    """The table's outcome for ``exc``, or ``None`` when no class in its MRO is listed."""
    for cls in type(exc).__mro__:
        outcome = EXCEPTION_TABLE.get(_dotted(cls))
        if outcome is not None:
            return outcome
    return None


def describe(exc: BaseException) -> str:
    """Name an exception without its text, which may quote signed URLs or keys."""
    return type(exc).__name__
