"""A body cut mid-stream heals: the rest of the *same version* is asked for, pinned by ETag."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from .._body import ChunkSource, Filled, read_into
from . import TransferConfig, call_with_retries, retryable

#: Opens bytes ``start`` to ``stop - 1`` of the version being read; raises
#: :class:`VersionChanged` when the store holds another version now.
OpenRest = Callable[[int, int], ChunkSource]


class ResumingSource:
    """A body that, cut short, asks the store for the rest of the same version.

    Reads go to ``source`` until it fails or ends before ``stop``; then ``open_rest`` is asked
    for ``[offset, stop)`` and reading goes on there, as long as ``config`` allows. What
    cannot be healed is raised (or ends the body early), and the body's length guard turns it
    into the ``ChunkedEncodingError`` requests raises for a cut HTTP body. Once closed, it
    opens nothing more: a read then returns ``b""``.
    """

    def __init__(
        self,
        source: ChunkSource,
        open_rest: OpenRest,
        start: int,
        stop: int,
        config: TransferConfig,
        budget: float | None = None,
    ) -> None:
        self._source: ChunkSource | None = source
        self._budget = budget  # seconds for each reopening, retries included (the timeout)
        self._open_rest = open_rest
        self._offset = start
        self._stop = stop
        self._config = config
        self._resumed = 0
        self._closed = False

    def read(self, n: int) -> bytes:
        return self._next(lambda source: source.read(n), b"")

    def readinto(self, view: memoryview) -> int:
        """Up to ``len(view)`` bytes into ``view``, healed as ``read`` is."""
        return len(self._next(lambda source: view[: read_into(source, view)], view[:0]))

    def _next(self, pull: Callable[[ChunkSource], Filled], nothing: Filled) -> Filled:
        while True:
            failure: Exception | None = None
            try:
                data = pull(self._source) if self._source is not None else nothing
            except Exception as exc:
                failure, data = exc, nothing
            if data or self._offset >= self._stop:
                self._offset += len(data)
                return data
            if failure is not None and not retryable(failure):
                raise failure
            if not self._resume():
                if failure is not None:
                    raise failure
                return nothing  # ended early: the length guard reports it

    def _resume(self) -> bool:
        if self._closed or self._resumed + 1 >= self._config.max_attempts:
            return False  # closed: a read opens no new connection to the store
        self._resumed += 1
        self._close_current()
        time.sleep(self._config.delay(self._resumed))
        self._source = call_with_retries(
            self._config, lambda: self._open_rest(self._offset, self._stop), self._budget
        )
        return True

    def _close_current(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            with contextlib.suppress(Exception):  # the connection is broken already
                source.close()

    def close(self) -> None:
        self._closed = True
        self._close_current()
