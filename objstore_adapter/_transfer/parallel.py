"""Parallel ranged GETs behind one streaming body.

Object stores cap what one connection carries (tens of MiB/s is common) and charge a round
trip per request; a large object arrives faster over several connections at once, as
s3transfer fetches it. :class:`ParallelSource` starts from the stream the GET already opened,
so the time to the first byte stays that of one request, and measures it: if its first bytes
arrived fast enough, the stream goes on alone (a fast local link gains nothing from more
connections, and some servers copy the whole object for every range). Otherwise the stream
goes on for one more part while the rest is fetched in parts of ``download_part_size``, each
pinned to the version being read, over at most ``download_concurrency`` connections in all.
Each part hands its bytes to the reader as they arrive, in order; a part is scheduled only
when one is used up, so memory stays bounded by ``download_concurrency`` parts. After the
first few parts the gain is checked: parts that came slower than the one stream did (a
server that pays for every range) give way to one stream for the rest.
"""

from __future__ import annotations

import collections
import queue
import time
from concurrent.futures import ThreadPoolExecutor

from urllib3.exceptions import ProtocolError

from .._body import ChunkSource, copied_into, read_into
from . import TransferConfig, call_with_retries
from .resume import OpenRest, ResumingSource

#: How much of the one stream is read before judging its speed.
JUDGE_AFTER = 2 * 2**20

#: Parts read before their speed is compared with the one stream's: enough to span their
#: first round trip, few enough that a server slow with ranges is left early.
REVIEW_AFTER = 4

#: The size of one read from a part's connection, handed to the reader as it is.
PIECE = 2**20

_Item = bytes | Exception | None  # a piece, the failure that ended the part, or its end


class _Part:
    """``[first, last)`` being fetched by a worker, its pieces queued for the reader."""

    def __init__(self, first: int, last: int) -> None:
        self.first = first
        self.last = last
        self.pieces: queue.SimpleQueue[_Item] = queue.SimpleQueue()


class ParallelSource:
    """Bytes ``start`` to ``stop - 1`` of one version, as one in-order stream.

    Args:
        first: the stream already open at ``start`` (it may run to ``stop``).
        open_part: opens ``[a, b)`` of the same version (raising when it changed).
        start: where ``first`` begins.
        stop: the end of what is read.
        config: ``download_part_size``, ``download_concurrency``, ``parallel_below`` and the
            retry settings each part heals with.
        budget: seconds each part's opening may take, retries included (the timeout).
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
        self._offset = start
        self._stop = stop
        self._config = config
        # Judged early: a slow link shows itself within a few MiB.
        self._judge_from = start
        self._judged_at = min(stop, start + min(config.download_part_size, JUDGE_AFTER))
        # Judged in two halves, and called slow only when both were: a pause of this
        # process (a busy machine) slows one of them, a slow link both.
        self._decide_at = (start + self._judged_at) // 2
        self._fastest = 0.0  # bytes per second, the faster half so far
        self._mark = (time.monotonic(), start)
        self._stream_stop = stop  # where the one stream hands over to the parts
        self._started = time.monotonic()
        self._pool: ThreadPoolExecutor | None = None
        self._parts: collections.deque[_Part] = collections.deque()
        self._next_part = stop  # where the next part to schedule starts
        self._closed = False
        # Set when the parts go: how fast the one stream was, and since when and where the
        # parts are measured against it.
        self._one_stream_rate = 0.0
        self._parallel_since = 0.0
        self._parallel_from = 0
        self._parts_used = 0
        self._back_to_one_stream = False
        self._piece = b""  # the piece being handed over, from _position on
        self._position = 0

    def read(self, n: int) -> bytes:
        if self._position < len(self._piece):
            return self._take(n)
        if self._stream is not None:
            return self._read_stream(n)
        while self._parts:
            item = self._parts[0].pieces.get()
            if item is None:  # that part is used up: its place goes to the next one
                self._parts.popleft()
                self._parts_used += 1
                self._review()
                self._schedule()
                continue
            if isinstance(item, Exception):
                raise item
            self._piece, self._position = item, 0
            return self._take(n)
        if self._next_part < self._stop and not self._closed:
            self._open_the_rest()
            return self._read_stream(n)
        return b""

    def readinto(self, view: memoryview) -> int:
        """As ``read``; from the one stream straight into ``view`` (parts' pieces, queued
        as bytes, are copied in)."""
        if self._position >= len(self._piece) and self._stream is not None:
            until = self._decide_at if self._offset < self._decide_at else self._stream_stop
            n = read_into(self._stream, view[: max(0, until - self._offset)])
            self._after_stream_read(n)
            return n
        return copied_into(view, self.read(len(view)))

    def _take(self, n: int) -> bytes:
        if self._position == 0 and n >= len(self._piece):
            data = self._piece  # the whole piece, uncopied
        else:
            data = self._piece[self._position : self._position + n]
        self._position += len(data)
        self._offset += len(data)
        return data

    def _read_stream(self, n: int) -> bytes:
        assert self._stream is not None
        until = self._decide_at if self._offset < self._decide_at else self._stream_stop
        data = self._stream.read(min(n, until - self._offset))
        self._after_stream_read(len(data))
        return data

    def _after_stream_read(self, n: int) -> None:
        """Count ``n`` bytes of the one stream; judge its speed or hand over to the parts
        where they end a stretch."""
        assert self._stream is not None
        self._offset += n
        if self._offset == self._decide_at and self._pool is None and self._offset < self._stop:
            self._judge()
        elif self._offset >= self._stream_stop and self._offset < self._stop:
            self._stream.close()  # its part is done: the parts take over
            self._stream = None
            self._schedule()

    def _judge(self) -> None:
        """At the end of each half: note its speed; after the second, decide."""
        now, (then, offset) = time.monotonic(), self._mark
        self._fastest = max(self._fastest, (self._offset - offset) / max(now - then, 1e-9))
        self._mark = (now, self._offset)
        if self._offset < self._judged_at:
            self._decide_at = self._judged_at
        else:
            self._decide()

    def _decide(self) -> None:
        """After the first bytes: go on with the stream alone, or fetch the rest in parts."""
        seconds = max(time.monotonic() - self._started, 1e-9)
        if self._fastest >= self._config.parallel_below:
            self._decide_at = -1  # the one stream is fast enough
            return
        size = self._config.download_part_size
        if self._stop - self._offset <= size:
            self._decide_at = -1  # what is left is one part: the stream it is
            return
        self._one_stream_rate = (self._offset - self._judge_from) / seconds
        self._parallel_since, self._parallel_from = time.monotonic(), self._offset
        self._stream_stop = min(self._stop, self._offset + size)
        self._next_part = self._stream_stop
        self._pool = ThreadPoolExecutor(
            max_workers=self._config.download_concurrency, thread_name_prefix="objstore-part"
        )
        for _ in range(self._config.download_concurrency - 1):  # the stream is one connection
            self._schedule()

    def _review(self) -> None:
        """After the first few parts: if they came slower than the one stream did (a server
        that pays for each range, as moto copies the whole object for each), no more parts
        are started, and the rest comes as one stream once those in flight are read."""
        if self._parts_used != min(REVIEW_AFTER, self._config.download_concurrency):
            return
        if self._config.parallel_below == float("inf"):
            return  # parts always, as asked
        seconds = max(time.monotonic() - self._parallel_since, 1e-9)
        if (self._offset - self._parallel_from) / seconds < self._one_stream_rate:
            self._back_to_one_stream = True

    def _open_the_rest(self) -> None:
        first, self._next_part = self._next_part, self._stop
        opened = call_with_retries(
            self._config, lambda: self._open_part(first, self._stop), self._budget
        )
        self._stream = ResumingSource(
            opened, self._open_part, first, self._stop, self._config, self._budget
        )
        self._stream_stop = self._stop

    def _schedule(self) -> None:
        if self._next_part >= self._stop or self._pool is None or self._closed:
            return
        if self._back_to_one_stream:
            return
        size = self._config.download_part_size
        part = _Part(self._next_part, min(self._stop, self._next_part + size))
        self._next_part = part.last
        self._parts.append(part)
        self._pool.submit(self._fetch, part)

    def _fetch(self, part: _Part) -> None:
        """One part, healed as the route allows, queued piece by piece."""
        try:
            opened = call_with_retries(
                self._config, lambda: self._open_part(part.first, part.last), self._budget
            )
            source = ResumingSource(
                opened, self._open_part, part.first, part.last, self._config, self._budget
            )
            try:
                wanted = part.last - part.first
                while wanted > 0 and not self._closed:
                    piece = source.read(min(wanted, PIECE))
                    if not piece:
                        raise ProtocolError(
                            f"bytes {part.first}-{part.last - 1} ended after "
                            f"{part.last - part.first - wanted} bytes"
                        )
                    part.pieces.put(piece)
                    wanted -= len(piece)
            finally:
                source.close()
        except Exception as exc:
            part.pieces.put(exc)
        part.pieces.put(None)

    def close(self) -> None:
        self._closed = True  # workers stop after the piece they are reading
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        self._parts.clear()
        self._piece, self._position = b"", 0
