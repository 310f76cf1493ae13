"""Parallel ranged GETs behind one streaming body.

Object stores cap what one connection carries (tens of MiB/s is common) and charge a round
trip per request; a large object arrives faster over several connections at once, as
s3transfer and obstore fetch it. :class:`ParallelSource` starts from the stream the GET
already opened, so the time to the first byte stays that of one request, and measures it:
if the first part arrived fast enough, the stream goes on alone (a fast local link gains
nothing from more connections, and some servers copy the whole object for every range);
otherwise the rest is fetched in parts of ``download_part_size``, ``max_concurrency`` at a
time, each pinned to the version being read, and handed to the reader in order. Memory stays
bounded by ``max_concurrency`` parts.
"""

from __future__ import annotations

import collections
import time
from concurrent.futures import Future, ThreadPoolExecutor

from ._body import ChunkSource
from ._transfer import OpenRest, ResumingSource, TransferConfig, call_with_retries

#: How much of the one stream is read before judging its speed.
JUDGE_AFTER = 4 * 2**20


class ParallelSource:
    """Bytes ``start`` to ``stop - 1`` of one version, as one in-order stream.

    Args:
        first: the stream already open at ``start`` (it may run to ``stop``).
        open_part: opens ``[a, b)`` of the same version (raising when it changed).
        start: where ``first`` begins.
        stop: the end of what is read.
        config: ``download_part_size``, ``max_concurrency``, ``parallel_below`` and the retry
            settings each part heals with.
    """

    def __init__(
        self,
        first: ChunkSource,
        open_part: OpenRest,
        start: int,
        stop: int,
        config: TransferConfig,
        budget: float | None = None,
    ) -> None:
        self._stream: ChunkSource | None = first
        self._budget = budget
        self._open_part = open_part
        self._start = start
        self._offset = start
        self._stop = stop
        self._config = config
        # Judged early: a slow link shows itself within a few MiB.
        self._decide_at = min(stop, start + min(config.download_part_size, JUDGE_AFTER))
        self._started = time.monotonic()
        self._pool: ThreadPoolExecutor | None = None
        self._parts: collections.deque[Future[bytes]] = collections.deque()
        self._next_part = 0  # where the next part to schedule starts
        self._decided = False
        self._part = b""  # the part being handed over, from _position on
        self._position = 0

    def read(self, n: int) -> bytes:
        if self._pool is None:
            return self._read_stream(n)
        return self._read_parts(n)

    def _read_stream(self, n: int) -> bytes:
        assert self._stream is not None
        limit = self._decide_at - self._offset if self._offset < self._decide_at else n
        data = self._stream.read(min(n, limit))
        self._offset += len(data)
        if not self._decided and self._offset == self._decide_at and self._offset < self._stop:
            self._decided = True
            self._decide()
        return data

    def _decide(self) -> None:
        """At the end of the first part: go on with the stream, or fetch the rest in parts."""
        seconds = max(time.monotonic() - self._started, 1e-9)
        if (self._offset - self._start) / seconds >= self._config.parallel_below:
            return  # the one stream is fast enough
        assert self._stream is not None
        self._stream.close()
        self._stream = None
        self._pool = ThreadPoolExecutor(
            max_workers=self._config.max_concurrency, thread_name_prefix="objstore-part"
        )
        self._next_part = self._offset
        for _ in range(self._config.max_concurrency):
            self._schedule()

    def _schedule(self) -> None:
        if self._next_part >= self._stop or self._pool is None:
            return
        first = self._next_part
        last = min(self._stop, first + self._config.download_part_size)
        self._next_part = last
        self._parts.append(self._pool.submit(self._fetch, first, last))

    def _fetch(self, first: int, last: int) -> bytes:
        """One part, whole, healed as the route allows."""
        opened = call_with_retries(self._config, lambda: self._open_part(first, last), self._budget)
        source = ResumingSource(opened, self._open_part, first, last, self._config, self._budget)
        try:
            pieces, wanted = [], last - first
            while wanted > 0:
                piece = source.read(wanted)
                if not piece:
                    break  # short: the reader's length guard reports it
                pieces.append(piece)
                wanted -= len(piece)
            return b"".join(pieces)
        finally:
            source.close()

    def _read_parts(self, n: int) -> bytes:
        if self._position >= len(self._part):
            if not self._parts:
                return b""
            self._part, self._position = self._parts.popleft().result(), 0
            self._schedule()  # the part handed over frees a place
        if self._position == 0 and n >= len(self._part):
            data = self._part  # the whole part, uncopied
        else:
            data = self._part[self._position : self._position + n]
        self._position += len(data)
        self._offset += len(data)
        return data

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        pool, self._pool = self._pool, None
        if pool is not None:
            for part in self._parts:
                part.cancel()
            self._parts.clear()
            pool.shutdown(wait=False)
        self._part, self._position = b"", 0
