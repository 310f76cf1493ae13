"""Transfer policy: when a failed request is tried again, and how a cut body heals.

One place decides, for every backend, in the spirit of botocore's retry handler:

- a request that is safe to repeat (GET, HEAD, DELETE) is tried again after a connection
  error, a reset, a timeout or a 500/502/503/504/429 from the store, with exponential backoff
  and full jitter, honouring the store's ``Retry-After``;
- a body cut mid-stream resumes from the offset already delivered, asking the store for the
  rest of the *same version* (``Range: bytes=N-`` pinned by ETag); if the object changed in
  between, the reader gets an error, never bytes from two versions.

Its settings live in one dataclass, :class:`TransferConfig`, given per route.

- this module: :class:`TransferConfig` and :class:`Attempts`, the one retry loop;
- :mod:`.resume`: a body cut mid-stream heals (:class:`ResumingSource`);
- :mod:`.parallel`: a large GET as parallel ranged parts behind one body;
- :mod:`.upload`: a large PUT as parallel parts, committed once all are stored.
"""

from __future__ import annotations

import email.utils
import importlib.util
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from requests import exceptions as rex

from .._errors import outcome_for, refused_connection, store_answer

T = TypeVar("T")

#: Statuses a store answers for a passing fault or throttling: worth another try.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class TransferConfig:
    """How requests to one route heal, like boto3's ``TransferConfig`` and retry config.

    Args:
        max_attempts: tries per request, the first included; 1 turns retries and resuming
            off (a cut body then raises, as it does over HTTP).
        backoff_base: seconds before the first retry; doubled each time, with full jitter.
        backoff_max: the longest single wait, in seconds.
        retry_deadline: seconds a request may spend retrying in all; the caller's
            ``timeout=`` bounds each attempt as well.
        part_size: bytes per part of a parallel upload (S3 multipart, Azure blocks); a body
            no larger is stored in one request. S3's smallest part is 5 MiB.
        max_concurrency: parts of one upload sent at once; an upload holds at most
            ``max_concurrency + 1`` parts in memory.
        parallel_below: bytes per second. A GET's first bytes (2 MiB at most) come from one
            stream; if they came slower than this, the rest of a larger object (or range)
            is fetched in parts over ``download_concurrency`` connections; faster, the one
            stream goes on. After the first few parts, parts that came slower than the one
            stream did give way to one stream for the rest. ``0`` keeps one stream always;
            ``float("inf")`` fetches parts always.
        download_part_size: bytes per part of a parallel download.
        download_concurrency: connections one parallel download uses at once, the stream
            it started from included; it holds at most that many parts in memory.
        native_gets: S3 only: send GETs read at once (``stream=False``) through obstore's
            Rust client (the ``native`` extra), which releases the GIL while it signs, sends
            and waits; streamed GETs keep the presigned path, which hands a body on faster.
            The response then carries no ``Expires`` header, which obstore does not report.
    """

    max_attempts: int = 5
    backoff_base: float = 0.1
    backoff_max: float = 5.0
    retry_deadline: float = 60.0
    part_size: int = 6 * 2**20
    max_concurrency: int = 8
    parallel_below: float = 128 * 2**20
    download_part_size: int = 4 * 2**20
    download_concurrency: int = 12
    native_gets: bool = False

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts counts the first try: it must be at least 1")
        if self.backoff_base < 0 or self.backoff_max < 0 or self.retry_deadline < 0:
            raise ValueError("backoff and deadline seconds cannot be negative")
        if self.part_size < 5 * 2**20:
            raise ValueError("part_size must be at least 5 MiB, S3's smallest multipart part")
        if self.max_concurrency < 1 or self.download_concurrency < 1:
            raise ValueError("max_concurrency and download_concurrency must be at least 1")
        if self.native_gets and importlib.util.find_spec("obstore") is None:
            raise ValueError("native_gets needs obstore: pip install 'objstore-adapter[native]'")

    @property
    def one_stream_up_to(self) -> int:
        """The largest body (or range) never fetched in parallel parts: any, when
        ``parallel_below`` is 0."""
        return self.download_part_size if self.parallel_below > 0 else sys.maxsize

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        backoff = random.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))
        if retry_after is not None:
            return max(backoff, min(retry_after, self.backoff_max))
        return backoff


DEFAULT_TRANSFER = TransferConfig()


def retryable(exc: BaseException) -> bool:
    """True for a failure a later try may not meet: the store unreachable, slow, cut off,
    failing or throttling; never a definite answer (404, 403, 412, a bad request)."""
    if refused_connection(exc):
        return False  # nothing listens there: another try cannot help
    outcome = outcome_for(exc)
    if isinstance(outcome, type) and issubclass(
        outcome, (rex.ConnectionError, rex.Timeout, rex.ChunkedEncodingError)
    ):
        return True  # a transport failure, whatever status the SDK's exception may carry
    answer = store_answer(exc)
    return answer is not None and answer.status in RETRY_STATUSES


def retry_after(exc: BaseException) -> float | None:
    """The store's ``Retry-After`` on ``exc``, in seconds, if it sent one."""
    answer = store_answer(exc)
    value = answer.headers.get("retry-after", "").strip() if answer else ""
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Attempts:
    """The one retry budget of one call to the store: ``config.max_attempts`` requests at
    most, and no retry that would start past the deadline.

    Every request the adapter makes goes through :meth:`call` exactly once, and nothing under
    it retries (the SDKs are built to try once, see ``Backend.storage_options``), so
    ``max_attempts`` is the number of requests a store sees for one failing operation.

    Args:
        config: the route's retry settings.
        budget: seconds the retrying may take in all (the caller's timeout), bounded by
            ``config.retry_deadline``; counted from now.
        reopen: called before the request that follows a retryable failure, as part of it:
            a connection the failure left out of step with its server (an FTP reply that
            timed out and may still come) is opened again.
    """

    def __init__(
        self,
        config: TransferConfig,
        budget: float | None = None,
        reopen: Callable[[], None] | None = None,
    ) -> None:
        seconds = config.retry_deadline if budget is None else min(config.retry_deadline, budget)
        self.config = config
        self.deadline = time.monotonic() + seconds
        self._reopen = reopen
        self._failure: Exception | None = None  # the last retryable one, not yet reopened after

    def call(
        self,
        call: Callable[[], T],
        settled: Callable[[], T | None] | None = None,
    ) -> T:
        """``call()``, tried again on :func:`retryable` failures as the budget allows.

        ``settled`` is asked, before a retry, whether a request whose answer was lost (a
        transport failure, not an answer) in fact took effect: it returns the result the
        lost answer would have given, or ``None`` to send the request again. A write is
        never sent again once the store holds it.
        """
        attempt = 1
        while True:
            try:
                self._reopened()
                return call()
            except Exception as exc:
                if not retryable(exc):
                    raise
                self._failure = exc
                if attempt >= self.config.max_attempts:
                    raise
                pause = self.config.delay(attempt, retry_after(exc))
                if time.monotonic() + pause > self.deadline:
                    raise
                lost = exc if settled is not None and store_answer(exc) is None else None
            time.sleep(pause)
            if lost is not None:
                assert settled is not None
                if (result := self._settle(settled, lost)) is not None:
                    return result
            attempt += 1

    def _reopened(self) -> None:
        """The connection opened again after a retryable failure, where ``reopen`` was given.
        Where opening it fails for now (a server that stopped answering does not answer a
        new connection either), the request's own failure is raised: it says what happened
        to the request."""
        if self._failure is None or self._reopen is None:
            return
        failure: Exception | None = None
        try:
            self._reopen()
        except Exception as exc:
            if not retryable(exc):
                raise
            failure = self._failure
        if failure is not None:
            raise failure  # outside the except block: its chain stays its own
        self._failure = None

    def _settle(self, settled: Callable[[], T | None], lost: Exception) -> T | None:
        # The question is asked within the same budget; where the store cannot answer it
        # either, the request is not sent again blindly: its own failure is what is raised.
        failure: Exception | None = None
        try:
            return self.call(settled)
        except Exception:
            failure = lost
        raise failure


def call_with_retries(
    config: TransferConfig, call: Callable[[], T], budget: float | None = None
) -> T:
    """``call()``, tried again on :func:`retryable` failures as ``config`` allows, and for at
    most ``budget`` seconds in all (the caller's timeout) where one is given."""
    return Attempts(config, budget).call(call)


class VersionChanged(Exception):
    """The object was replaced while its body was being read: the rest cannot be fetched."""
