"""The requests transport adapter: URL → registry → method handler → Response."""

from __future__ import annotations

import copy
import dataclasses
import io
import logging
from collections.abc import Mapping
from typing import Any

import requests
from requests import exceptions as rex
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.exceptions import ReadTimeoutError

from ._body import iterator_stream, raw_response
from ._diagnose import configuration_error, rejected_option
from ._errors import (
    BackendConfigError,
    BodySourceError,
    ConnectFailed,
    describe,
    error_headers,
    outcome_for,
    redirect_detail,
)
from ._handlers import HANDLERS, Reply, error_reply
from ._http import BadHeader, Timeouts, reason, text_headers
from ._redact import redact, redact_url, stand_in, without_own_frames
from ._registry import SchemeRegistry

logger = logging.getLogger("objstore_adapter")

_ALLOW = ", ".join(sorted(HANDLERS))


class ObjectStoreAdapter(BaseAdapter):
    """Serve object-store URLs (``s3://``, ``gs://``, ``az://``, ...) to a ``requests.Session``.

    Mount it with :func:`objstore_adapter.mount`, or build a ready session with
    :func:`objstore_adapter.session`. One adapter may be shared by many threads; the
    filesystems behind it are built once per registered route and reused.

    Args:
        registry: which schemes and prefixes are served, and how. Defaults to a new
            :class:`SchemeRegistry` with the cloud schemes.
    """

    def __init__(self, registry: SchemeRegistry | None = None) -> None:
        super().__init__()
        self.registry = registry if registry is not None else SchemeRegistry()

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Answer ``request`` from the object store.

        Storage outcomes are statuses (404 no such object, 403 denied, 405 unsupported
        method); transport failures raise ``requests`` exceptions. With ``stream=False`` the
        body is read here, so a failure while reading raises from this call.

        Raises:
            requests.exceptions.InvalidSchema: no route serves the URL's scheme.
            requests.exceptions.InvalidURL: the URL names no bucket.
            requests.exceptions.ConnectionError: the store could not be reached.
            requests.exceptions.Timeout: the store did not answer within ``timeout``.
        """
        try:
            return self._send(request, stream, timeout)
        except Exception as exc:
            # Raised from this frame, whose locals hold no secret: the adapter's frames below
            # hold the URL's userinfo, the route and the backend exception being mapped.
            raise without_own_frames(exc)  # noqa: B904 - the same exception, not a new one

    def _send(
        self, request: requests.PreparedRequest, stream: bool, timeout: Any
    ) -> requests.Response:
        url = redact_url(request.url or "")  # as it is echoed: bodies, messages, log lines
        method = (request.method or "GET").upper()
        handler = HANDLERS.get(method)
        if handler is None:
            reply = error_reply(405, url, {"Allow": _ALLOW})
        else:
            failure: Exception | None = None
            try:
                target = self.registry.resolve(request.url or "")
            except rex.RequestException as exc:  # InvalidURL, InvalidSchema, BackendConfigError
                exc.request = request  # as on every exception requests raises for a request
                # Their messages may quote the URL as given, userinfo and all.
                exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
                raise
            except PermissionError as exc:  # a path that links out of its file:// root: 403
                failure = exc
            except ConnectFailed as exc:  # a server to connect to, refused or not reached
                failure = exc.failure
            if failure is None:
                timeouts = Timeouts.from_requests(timeout)
                if not stream:  # read whole below anyway: a transport may read it at once
                    whole = target.route.transfer.one_stream_up_to
                    timeouts = dataclasses.replace(timeouts, whole=whole)
                try:
                    target.backend.limit_waits(target.fs, timeouts)
                    prepared = _with_text_headers(request)
                    reply = handler(target, prepared, timeouts)  # it retries each store request
                except BadHeader as exc:
                    reply = error_reply(400, url, detail=str(exc))
                except BodySourceError as exc:
                    raise exc.original from None  # the caller's body broke: theirs to see
                except Exception as exc:
                    failure = exc
            if failure is not None:  # outside the except block: no unredacted __context__
                reply = self._error_reply(failure, request)
        logger.debug("%s %s -> %d", method, url, reply.status)
        response = self.build_response(request, reply)
        loaded = reply.body if isinstance(reply.body, bytes) and method != "HEAD" else None
        if not stream and loaded is not None and "Content-Encoding" not in response.headers:
            # Whole already, and nothing for requests to decode: its fields for a body read.
            response._content, response._content_consumed = loaded, True  # type: ignore[attr-defined]
        elif not stream:
            self._preload(response, request)
        return response

    def _error_reply(self, exc: Exception, request: requests.PreparedRequest) -> Reply:
        url = redact_url(request.url or "")
        outcome = outcome_for(exc)
        if isinstance(outcome, type) and issubclass(outcome, (rex.ConnectionError, rex.Timeout)):
            # A connection that failed or stopped mid-answer is out of step with its server.
            self.registry._disconnected(request.url or "")
        if isinstance(outcome, int):
            detail = redirect_detail(exc)  # a redirect (where to, host only), or an Unsupported
            return error_reply(outcome, url, error_headers(exc, outcome), detail=detail)
        route = self.registry.route_for(request.url or "")
        if outcome is None and rejected_option(exc, route.options):
            outcome = BackendConfigError  # an option the backend does not take
        if outcome is BackendConfigError:  # a setting the backend reads only when it connects
            error = configuration_error(route.prefix, route.protocol, route.options, exc)
            error.request = request
            raise error from error.__cause__
        # Chained as a redacted copy: SDK exceptions quote signed URLs and tokens, and
        # tracebacks print every exception in the chain.
        cause = stand_in(exc)
        if outcome is None:
            raise rex.RequestException(
                f"{request.method} {url} failed: unexpected {describe(exc)} from the backend",
                request=request,
            ) from cause
        message = f"{request.method} {url} failed: {describe(exc)}"
        raise outcome(message, request=request) from cause

    def build_response(self, request: requests.PreparedRequest, reply: Reply) -> requests.Response:
        """Turn a :class:`Reply` into a ``requests.Response`` whose body is read lazily."""
        method = (request.method or "GET").upper()
        body: io.BufferedIOBase
        if isinstance(reply.body, bytes):
            body = io.BytesIO(reply.body)
        elif isinstance(reply.body, io.BufferedIOBase):
            body = reply.body
        else:
            body = iterator_stream(reply.body)
        if method == "HEAD":
            body.close()
            body = io.BytesIO(b"")
        response = requests.Response()
        response.status_code = reply.status
        response.reason = reason(reply.status)
        response.headers = CaseInsensitiveDict(reply.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = raw_response(
            body,
            status=reply.status,
            reason=response.reason,
            headers=reply.headers,
            method=method,
            url=redact_url(request.url or ""),  # as urllib3's raw for HTTP: no userinfo
        )
        response.url = request.url or ""
        response.request = request
        response.connection = self  # type: ignore[assignment]  # typeshed narrows to HTTPAdapter
        return response

    @staticmethod
    def _preload(response: requests.Response, request: requests.PreparedRequest) -> None:
        """Read the whole body now, raising requests' exceptions from ``send()``."""
        try:
            response.content  # noqa: B018 - reading .content loads the body
        except rex.RequestException as exc:
            cause = exc.args[0] if exc.args else None
            if isinstance(cause, ReadTimeoutError):  # requests reports these as ConnectionError
                raise rex.ReadTimeout(str(cause), request=request) from exc
            exc.request = request
            raise

    def close(self) -> None:
        """Forget the filesystems built for this adapter (they are rebuilt when needed)."""
        self.registry.clear_cache()

    def __repr__(self) -> str:
        return f"ObjectStoreAdapter(schemes={self.registry.schemes()!r})"


def _with_text_headers(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """The request as the handlers read it: every header value as text (see ``text_headers``).

    The caller's request is left as it was; it is what ``Response.request`` shows.
    """
    shallow = copy.copy(request)  # its cookies and hooks are shared: handlers read neither
    shallow.headers = text_headers(request.headers)
    return shallow
