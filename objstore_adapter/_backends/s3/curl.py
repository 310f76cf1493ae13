"""Signed S3 GETs and HEADs read whole by libcurl (pycurl), with the GIL released.

A GET through urllib3 and http.client holds the GIL while it builds the request, parses the
answer's head and copies its body: threads sharing one session take turns. When the caller
reads the body at once (``stream=False``), nothing is gained by streaming it, and libcurl
sends the signed request and reads the whole answer in one call that lets other threads
run. The answer is handed on as a urllib3 response over the bytes received, so it is read,
judged and healed exactly as one from urllib3: a body cut short raises ``ProtocolError``
where its bytes end, a stalled one ``ReadTimeoutError``; failures to connect are urllib3's
own exceptions.

A body larger than ``timeouts.whole`` (the route's download part size: a larger one may be
fetched in parallel parts) is not read here: libcurl stops after the head, and the caller
streams it with urllib3.
"""

from __future__ import annotations

import functools
import io
import math
import os
import threading
from collections.abc import Mapping
from typing import Any

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from ..._http import Timeouts

try:
    import pycurl
except ImportError:  # installed with the ``s3`` extra; without it, urllib3 reads every GET
    pycurl = None  # type: ignore[assignment]

#: Sent with each GET read here (pycurl would send its own version and its libraries').
USER_AGENT = "objstore-adapter libcurl"

_handles = threading.local()

#: libcurl's failures to set up TLS: a certificate it does not trust, a bundle it cannot read.
_TLS_FAILURES = (
    frozenset()
    if pycurl is None
    else frozenset(
        getattr(pycurl, name)
        for name in (
            "E_SSL_CONNECT_ERROR",
            "E_PEER_FAILED_VERIFICATION",
            "E_SSL_CACERT",
            "E_SSL_CACERT_BADFILE",
            "E_SSL_CERTPROBLEM",
            "E_SSL_ISSUER_ERROR",
            "E_SSL_PINNEDPUBKEYNOTMATCH",
        )
        if hasattr(pycurl, name)
    )
)


class TooLarge(Exception):
    """The answer's body is larger than ``timeouts.whole``: nothing was read of it."""


def available(timeouts: Timeouts) -> bool:
    """True when the caller reads the body at once, pycurl is installed, and it can keep
    ``timeouts``: libcurl times a stall in whole seconds, so a read timeout under one second
    stays with urllib3.

    libcurl measures a stall as a speed under one byte a second, averaged over its last five
    seconds: a server that stops before any byte of the body is noticed at the read timeout
    (rounded up to a second), one that stops after some bytes up to five seconds later."""
    return (
        pycurl is not None and timeouts.whole > 0 and (timeouts.read is None or timeouts.read >= 1)
    )


def fetch(
    method: str, url: str, headers: Mapping[str, str], timeouts: Timeouts, verify: bool | str
) -> Whole:
    """``method`` (GET or HEAD) ``url`` with ``headers``, read whole: the answer, whatever
    its status.

    Raises:
        TooLarge: the body is larger than ``timeouts.whole``.
        urllib3.exceptions.HTTPError: no answer: ``NewConnectionError``,
            ``ConnectTimeoutError``, ``ReadTimeoutError`` (before the head), ``ProtocolError``.
    """
    curl = _handle()
    head: list[bytes] = []
    chunks: list[bytes] = []
    curl.setopt(pycurl.URL, url)
    if method == "HEAD":
        curl.setopt(pycurl.NOBODY, 1)
    else:
        curl.setopt(pycurl.HTTPGET, 1)  # and not HEAD's NOBODY, should the last one have been
    # Header text is Latin-1 (the adapter checked it): pycurl would encode str as ASCII.
    lines = [f"{name}: {value}".encode("latin-1") for name, value in headers.items()]
    curl.setopt(pycurl.HTTPHEADER, lines)
    curl.setopt(pycurl.HEADERFUNCTION, head.append)
    curl.setopt(pycurl.WRITEFUNCTION, chunks.append)
    curl.setopt(pycurl.CONNECTTIMEOUT_MS, _milliseconds(timeouts.connect))
    # A larger body stops the transfer after its head (Content-Length) or at that size. A
    # HEAD has no body: its Content-Length is the object's.
    curl.setopt(pycurl.MAXFILESIZE_LARGE, 0 if method == "HEAD" else timeouts.whole)
    # A stall: below one byte a second for the read timeout. No Python callback times it:
    # each would wait for the GIL, which threads sharing a session hold most of the time.
    stall = 0 if timeouts.read is None else math.ceil(timeouts.read)
    curl.setopt(pycurl.LOW_SPEED_LIMIT, 1 if stall else 0)
    curl.setopt(pycurl.LOW_SPEED_TIME, stall)
    _set_tls(curl, verify)
    failure: urllib3.exceptions.HTTPError | None = None
    try:
        curl.perform()
    except pycurl.error as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        if code == pycurl.E_FILESIZE_EXCEEDED:
            raise TooLarge from None
        failure = _failure(code, curl, bool(head))
        if not head or head[-1] != b"\r\n":  # no answer, or not all of its head
            raise failure from None
    status = int(curl.getinfo(pycurl.RESPONSE_CODE))
    fields = urllib3.HTTPHeaderDict()
    starts = [i for i, line in enumerate(head) if line.startswith(b"HTTP/")]
    for line in head[starts[-1] if starts else 0 :]:  # not an interim answer's (100 Continue)
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            fields.add(name.strip(), value.strip())
    data = b"".join(chunks)
    chunks.clear()  # the handle keeps its callbacks (and so this list) until the next GET
    received = io.BytesIO(data)
    body: io.IOBase = received
    if failure is not None:  # the head came, the body broke off: raise where its bytes end
        body = _EndsIn(received, failure)
    complete = (
        method == "GET" and failure is None and fields.get("Content-Length") == str(len(data))
    )
    answer = Whole(
        body=body,
        headers=fields,
        status=status,
        version=11,
        preload_content=complete,  # then ``data`` is the body, read without a copy
        decode_content=False,
        enforce_content_length=True,
        request_method=method,
    )
    answer.complete = complete
    return answer


class Whole(urllib3.HTTPResponse):
    """An answer read by :func:`fetch`. When its body came whole (as long as its
    ``Content-Length`` says), it is loaded: ``complete`` is true and ``data`` holds it."""

    complete = False


def _handle() -> Any:
    """This thread's curl handle (it keeps its connections), made anew in a forked child."""
    curl: Any = getattr(_handles, "curl", None)
    if curl is None or _handles.pid != os.getpid():
        curl = pycurl.Curl()
        curl.setopt(pycurl.NOSIGNAL, 1)  # threads: no SIGALRM-based timeouts
        curl.setopt(pycurl.PROXY, "")  # as urllib3's pool: no proxy from the environment
        curl.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        curl.setopt(pycurl.FOLLOWLOCATION, 0)  # a redirect is the store's answer
        curl.setopt(pycurl.USERAGENT, USER_AGENT)
        _handles.curl, _handles.pid = curl, os.getpid()
    return curl


def _milliseconds(seconds: float | None) -> int:
    return 0 if seconds is None else max(1, round(seconds * 1000))


def _set_tls(curl: Any, verify: bool | str) -> None:
    """Verify as botocore was told (``client_kwargs['verify']``): its CA bundle, or certifi's
    as requests and botocore use by default, or not at all."""
    curl.setopt(pycurl.SSL_VERIFYPEER, 1 if verify else 0)
    curl.setopt(pycurl.SSL_VERIFYHOST, 2 if verify else 0)
    if verify:
        curl.setopt(pycurl.CAINFO, verify if isinstance(verify, str) else _default_bundle())


@functools.cache
def _default_bundle() -> str:
    import certifi

    return str(certifi.where())


def _failure(code: int, curl: Any, answered: bool) -> urllib3.exceptions.HTTPError:
    """libcurl's error as the urllib3 exception it stands for (its message names no URL)."""
    message = curl.errstr() or f"libcurl error {code}"
    if code in (pycurl.E_COULDNT_CONNECT, pycurl.E_COULDNT_RESOLVE_HOST):
        return NewConnectionError(None, f"Failed to establish a new connection: {message}")  # type: ignore[arg-type]
    if code in _TLS_FAILURES:
        return SSLError(message)
    if code == pycurl.E_OPERATION_TIMEDOUT:
        if not answered and curl.getinfo(pycurl.CONNECT_TIME) == 0:
            return ConnectTimeoutError(None, f"Connection timed out: {message}")
        return ReadTimeoutError(None, None, "Read timed out.")  # type: ignore[arg-type]
    return ProtocolError(f"Connection broken: {message}")


class _EndsIn(io.RawIOBase):
    """The bytes that came, then the failure that stopped them, raised as urllib3 would meet
    it on a socket (urllib3 turns an ``OSError`` into ``ProtocolError``, a socket timeout
    into ``ReadTimeoutError``)."""

    def __init__(self, received: io.BytesIO, failure: Exception) -> None:
        self._received = received
        self._failure = failure

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._received.readinto(buffer)
        if n == 0 and len(memoryview(buffer)):
            if isinstance(self._failure, ReadTimeoutError):
                raise TimeoutError("read timed out")
            raise ConnectionResetError(str(self._failure))
        return n
