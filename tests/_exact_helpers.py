"""Helpers for ``test_exact``: which requests a store sees per operation, faults on every
request of one method, timed calls, and writers racing from one session."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from ._proxy import Chaos, RecordingProxy

#: The method a store receives for a one-request upload: GCS takes it as a POST
#: (``/upload/storage/v1/...?uploadType=multipart``).
WRITE_METHOD = {"s3": "PUT", "s3_native": "PUT", "gs": "POST", "az": "PUT"}


def wire_method(name: str, operation: str) -> str:
    """The HTTP method backend ``name``'s store receives for the adapter's ``operation``
    (``GET``, ``HEAD``, ``PUT``, ``DELETE``, or ``LIST``: a GET of a prefix)."""
    if operation in ("GET", "LIST"):
        return "GET"
    if operation == "HEAD":  # GCS's metadata is the JSON API's object resource, read by GET
        return "GET" if name == "gs" else "HEAD"
    if operation == "PUT":
        return WRITE_METHOD[name]
    return operation


def sent(proxy: RecordingProxy, method: str) -> list[str]:
    """The paths of the requests with ``method`` the store was sent, in order."""
    return [path for seen_method, path in proxy.requests if seen_method == method]


def seen(proxy: RecordingProxy) -> list[str]:
    """Every request the proxy saw, short enough to print (signatures are long)."""
    return [f"{method} {path[:90]}" for method, path in proxy.requests]


def query(path: str) -> dict[str, str]:
    """The query parameters of a recorded path, the first value of each."""
    parsed = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query, keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


def fail_every(proxy: RecordingProxy, method: str, fault: str, skip: int = 0) -> None:
    """Make every request with ``method`` fail from now on, after the first ``skip``:
    ``"503"`` answers 503 in the store's place, ``"reset"`` drops the connection (FIN and RST
    by turns) once the request is read; neither reaches the store."""
    if fault == "503":
        proxy.answer(503, {}, b"", times=None, methods=(method,), skip=skip)
    elif fault == "reset" and skip == 0:
        proxy.chaos = Chaos(0, reset={method: 1.0}, deck=1)
    else:
        raise ValueError(f"no such fault: {fault} (skip {skip})")


def lose_first_answer(proxy: RecordingProxy, method: str, kind: str) -> None:
    """Drop the answer to the next ``method`` request after the store did it (a FIN or an
    RST, as ``kind`` says); every later request is forwarded as it is."""
    chaos = Chaos(0, lost_answer={method: 1.0}, deck=1)
    if kind == "RST":  # the proxy alternates FIN, RST: spend the FIN turn
        chaos.second_kind("lost_answer")
    arrived = 0

    def on_request(seen_method: str, path: str) -> None:
        nonlocal arrived
        if seen_method == method:
            arrived += 1
            if arrived > 1:
                proxy.chaos = None  # read by the proxy after this hook, for this request too

    proxy.on_request = on_request
    proxy.chaos = chaos


@dataclass
class Outcome:
    """How one call through the adapter ended: a response, or the exception it raised."""

    response: requests.Response | None
    error: BaseException | None

    @property
    def failed(self) -> bool:
        """True when the call reported the store's failure: a 5xx, or a requests exception."""
        if self.response is not None:
            return self.response.status_code >= 500
        return isinstance(self.error, requests.RequestException)

    def __str__(self) -> str:
        if self.response is not None:
            return str(self.response.status_code)
        return f"{type(self.error).__name__}: {str(self.error)[:160]}"


def timed(call: Callable[[], requests.Response]) -> tuple[Outcome, float]:
    """``call()``'s outcome and the seconds it took.

    Run in the calling thread, to its end: a call left running in another thread would go
    on formatting tracebacks (the SDKs log their retries) while pytest reports, which
    Python 3.11 does not survive ("AST constructor recursion depth mismatch").
    """
    started = time.monotonic()
    try:
        outcome = Outcome(call(), None)
    except Exception as exc:  # kept for the test to judge
        outcome = Outcome(None, exc)
    return outcome, time.monotonic() - started


def race(
    pool: ThreadPoolExecutor,
    session: requests.Session,
    url: str,
    bodies: list[bytes],
    headers: dict[str, str],
) -> list[int | str]:
    """PUT each of ``bodies`` to ``url`` from its own thread of ``pool``, all started together
    (a barrier), through one shared ``session``; the statuses in ``bodies``' order (an
    exception's class name where one was raised)."""
    barrier = threading.Barrier(len(bodies))

    def put(body: bytes) -> int | str:
        barrier.wait(timeout=30)
        try:
            return session.put(url, data=body, headers=headers, timeout=60).status_code
        except requests.RequestException as exc:
            return type(exc).__name__

    return list(pool.map(put, bodies))
