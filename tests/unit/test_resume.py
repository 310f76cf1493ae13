"""A body cut mid-stream heals: the rest is asked for from the offset delivered, as often as the
route's attempts allow, and what cannot heal (another version, a definite answer) surfaces.

Driven with in-memory sources and an opener that records what it was asked for.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from objstore_adapter import TransferConfig
from objstore_adapter._body import ChunkSource
from objstore_adapter._transfer import VersionChanged
from objstore_adapter._transfer.resume import ResumingSource

DATA = os.urandom(1000)
#: No waits between tries: these tests pin counts and offsets, not time.
QUICK = TransferConfig(max_attempts=3, backoff_base=0.0)


@dataclass
class Source:
    """``data`` read in chunks of at most ``n`` bytes; after ``cut`` bytes it raises
    ``failure`` (or, without one, ends early)."""

    data: bytes
    cut: int | None = None
    failure: Exception | None = None
    close_failure: Exception | None = None
    closes: int = 0
    log: list[str] = field(default_factory=list)
    position: int = 0
    reads_past_end: int = 0

    def read(self, n: int) -> bytes:
        limit = len(self.data) if self.cut is None else self.cut
        if self.position >= limit:
            self.reads_past_end += 1
            if self.reads_past_end > 10:  # a reader that never gives up: fail, not hang
                raise AssertionError("read past its end again and again")
            if self.failure is not None and self.cut is not None:
                raise self.failure
            return b""
        chunk = self.data[self.position : min(self.position + n, limit)]
        self.position += len(chunk)
        return chunk

    def close(self) -> None:
        self.closes += 1
        self.log.append("close")
        if self.close_failure is not None:
            raise self.close_failure


class Opener:
    """``open_rest``: each call answers the next of ``answers`` (a failure to raise, or a
    cut to give the source it opens); past them, the rest whole."""

    def __init__(self, data: bytes, *answers: Any, log: list[str] | None = None) -> None:
        self.data = data  # the whole object: offsets are absolute
        self.answers = list(answers)
        self.asked: list[tuple[int, int]] = []
        self.opened: list[Source] = []
        self.log = log if log is not None else []

    def __call__(self, start: int, stop: int) -> ChunkSource:
        self.asked.append((start, stop))
        self.log.append(f"open {start}")
        if len(self.asked) > 10:
            raise AssertionError("opened again and again")
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        source = Source(self.data[start:stop], log=self.log)
        if isinstance(answer, tuple):
            source.cut, source.failure = answer
        self.opened.append(source)
        return source


def read_all(body: ResumingSource, n: int = 64) -> bytes:
    chunks: list[bytes] = []
    for _ in range(100):
        chunk = body.read(n)
        if not chunk:
            return b"".join(chunks)
        assert len(chunk) <= n
        chunks.append(chunk)
    raise AssertionError("the body never ended")


def reset() -> ConnectionResetError:
    return ConnectionResetError(errno.ECONNRESET, "reset by peer")


def test_an_uncut_body_is_read_from_its_source_alone() -> None:
    source = Source(DATA[100:900])
    opener = Opener(DATA)
    body = ResumingSource(source, opener, 100, 900, QUICK)

    assert read_all(body) == DATA[100:900]
    assert body.read(64) == b"", "the end stays the end"
    assert opener.asked == []
    assert source.closes == 0, "the caller closes the body"


def test_a_body_cut_by_a_failure_resumes_from_the_offset_delivered() -> None:
    source = Source(DATA[100:900], cut=250, failure=reset())
    opener = Opener(DATA)
    body = ResumingSource(source, opener, 100, 900, QUICK)

    assert read_all(body) == DATA[100:900]
    assert opener.asked == [(350, 900)]
    assert source.closes == 1, "the broken source was closed"


def test_a_body_that_ends_early_resumes_from_the_offset_delivered() -> None:
    source = Source(DATA[0:1000], cut=333)
    opener = Opener(DATA)
    body = ResumingSource(source, opener, 0, 1000, QUICK)

    assert read_all(body, 100) == DATA
    assert opener.asked == [(333, 1000)]


def test_the_old_source_is_closed_before_the_rest_is_opened() -> None:
    log: list[str] = []
    source = Source(DATA, cut=10, failure=reset(), log=log)
    body = ResumingSource(source, Opener(DATA, log=log), 0, len(DATA), QUICK)

    assert read_all(body) == DATA
    assert log == ["close", "open 10"]


def test_a_source_that_fails_to_close_does_not_stop_the_healing() -> None:
    source = Source(DATA, cut=10, failure=reset(), close_failure=reset())
    opener = Opener(DATA)
    body = ResumingSource(source, opener, 0, len(DATA), QUICK)

    assert read_all(body) == DATA
    assert source.closes == 1


def test_each_piece_resumes_where_the_last_one_broke() -> None:
    opener = Opener(DATA, (100, reset()))
    body = ResumingSource(Source(DATA, cut=40, failure=reset()), opener, 0, len(DATA), QUICK)

    assert read_all(body) == DATA
    assert opener.asked == [(40, 1000), (140, 1000)]


def test_resuming_is_bounded_by_max_attempts_then_the_failure_is_raised() -> None:
    last = reset()
    opener = Opener(DATA, (1, reset()), (1, last))
    body = ResumingSource(Source(DATA, cut=1, failure=reset()), opener, 0, len(DATA), QUICK)

    delivered = [body.read(64), body.read(64), body.read(64)]
    with pytest.raises(ConnectionResetError) as raised:
        body.read(64)

    assert delivered == [DATA[0:1], DATA[1:2], DATA[2:3]]
    assert raised.value is last
    assert opener.asked == [(1, 1000), (2, 1000)], "max_attempts 3: two resumptions"


def test_a_body_still_ending_early_after_max_attempts_ends() -> None:
    opener = Opener(DATA, (1, None), (1, None))
    body = ResumingSource(Source(DATA, cut=1), opener, 0, len(DATA), QUICK)

    assert read_all(body) == DATA[:3]
    assert len(opener.asked) == 2
    assert body.read(64) == b"", "the length guard above reports the short body"


def test_with_one_attempt_a_cut_is_raised() -> None:
    failure = reset()
    opener = Opener(DATA)
    settings = TransferConfig(max_attempts=1)
    body = ResumingSource(Source(DATA, cut=5, failure=failure), opener, 0, len(DATA), settings)

    assert body.read(64) == DATA[:5]
    with pytest.raises(ConnectionResetError) as raised:
        body.read(64)
    assert raised.value is failure
    assert opener.asked == []


def test_a_failure_no_retry_can_heal_is_raised_without_resuming() -> None:
    denied = ClientError(
        {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "Get"
    )
    opener = Opener(DATA)
    body = ResumingSource(Source(DATA, cut=5, failure=denied), opener, 0, len(DATA), QUICK)

    assert body.read(64) == DATA[:5]
    with pytest.raises(ClientError) as raised:
        body.read(64)
    assert raised.value is denied
    assert opener.asked == []


def test_an_object_replaced_since_surfaces_and_is_not_asked_again() -> None:
    opener = Opener(DATA, VersionChanged("bucket/key"))
    body = ResumingSource(Source(DATA, cut=5, failure=reset()), opener, 0, len(DATA), QUICK)

    assert body.read(64) == DATA[:5]
    with pytest.raises(VersionChanged):
        body.read(64)
    assert opener.asked == [(5, 1000)]


def test_reopening_is_retried_within_the_budget() -> None:
    opener = Opener(DATA, reset())
    body = ResumingSource(Source(DATA, cut=5, failure=reset()), opener, 0, len(DATA), QUICK)

    assert read_all(body) == DATA
    assert opener.asked == [(5, 1000), (5, 1000)]


def test_a_spent_budget_stops_the_reopening_retries() -> None:
    failure = reset()
    opener = Opener(DATA, failure)
    settings = TransferConfig(max_attempts=3, backoff_base=0.001)
    body = ResumingSource(Source(DATA, cut=5, failure=reset()), opener, 0, len(DATA), settings, 0)

    assert body.read(64) == DATA[:5]
    with pytest.raises(ConnectionResetError) as raised:
        body.read(64)
    assert raised.value is failure
    assert opener.asked == [(5, 1000)]


def test_close_closes_the_current_source_once() -> None:
    source = Source(DATA)
    opener = Opener(DATA)
    body = ResumingSource(source, opener, 0, len(DATA), QUICK)
    assert body.read(64) == DATA[:64]

    body.close()
    body.close()

    assert source.closes == 1
    assert opener.asked == []


def test_close_closes_the_resumed_source_and_swallows_its_failure() -> None:
    opener = Opener(DATA)
    body = ResumingSource(Source(DATA, cut=5, failure=reset()), opener, 0, len(DATA), QUICK)
    body.read(64)
    body.read(64)  # from the reopened source
    opener.opened[0].close_failure = reset()

    body.close()

    assert opener.opened[0].closes == 1


def test_a_closed_body_read_to_its_end_stays_ended() -> None:
    source = Source(DATA[:10])
    opener = Opener(DATA)
    body = ResumingSource(source, opener, 0, 10, QUICK)
    assert read_all(body) == DATA[:10]

    body.close()

    assert body.read(64) == b""
    assert opener.asked == []


def test_a_body_closed_before_its_end_opens_nothing_more() -> None:
    source = Source(DATA)
    opener = Opener(DATA)
    body = ResumingSource(source, opener, 0, len(DATA), QUICK)
    assert body.read(64) == DATA[:64]

    body.close()

    assert body.read(64) == b"", "the length guard above reports the short body"
    assert opener.asked == [], "no new connection to the store"
    assert source.closes == 1
