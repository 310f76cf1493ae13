"""The one retry policy: which failures are tried again, how long it waits, when it gives up,
and how a write whose answer was lost is settled by asking instead of being sent again.

The rules are pinned with plain callables and the SDKs' own exception objects; the clock and
the jitter are replaced (in this module only) so that every wait is exact and no test sleeps.
"""

from __future__ import annotations

import errno
import importlib.util
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

import objstore_adapter._transfer as transfer
from objstore_adapter import TransferConfig
from objstore_adapter._errors import BodyCut, status_error, store_answer
from objstore_adapter._transfer import (
    Attempts,
    VersionChanged,
    call_with_retries,
    retry_after,
    retryable,
)

MiB = 2**20
#: 2015-10-21 07:28:00 GMT, the time the fake clock reports for HTTP-dates.
EPOCH = 1_445_412_480.0


@dataclass
class Clock:
    """Stands in for the module's ``time``: ``sleep`` records the pause and moves the clock."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return EPOCH + self.now - 1000.0

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Jitter:
    """Stands in for the module's ``random``: ``uniform(a, b)`` records its bounds and answers
    the lowest (``top=False``) or the highest (``top=True``) wait they allow."""

    top: bool = True
    bounds: list[tuple[float, float]] = field(default_factory=list)

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return b if self.top else a


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(transfer, "time", fake)
    return fake


@pytest.fixture
def jitter(monkeypatch: pytest.MonkeyPatch) -> Jitter:
    fake = Jitter()
    monkeypatch.setattr(transfer, "random", fake)
    return fake


def answered(status: int, headers: dict[str, str] | None = None) -> ClientError:
    """botocore's exception for a status the store answered (as S3 and moto send it)."""
    return ClientError(
        {
            "Error": {"Code": str(status), "Message": "answered"},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
        },
        "GetObject",
    )


def failure_id(failure: Exception) -> str:
    answer = store_answer(failure)
    return f"{type(failure).__name__}-{answer.status}" if answer else type(failure).__name__


class Calls:
    """A call that raises the failures it is given, in order, then returns ``result``."""

    def __init__(self, *failures: Exception, result: Any = "done", every: bool = False) -> None:
        self.failures = list(failures)
        self.result = result
        self.every = every  # raise the (one) failure every time
        self.count = 0

    def __call__(self) -> Any:
        self.count += 1
        if self.every:
            raise self.failures[0]
        if self.failures:
            raise self.failures.pop(0)
        return self.result


def config(**changes: Any) -> TransferConfig:
    return TransferConfig(**{"backoff_base": 0.1, "backoff_max": 5.0, **changes})


# --- TransferConfig ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_attempts": 0}, "max_attempts counts the first try: it must be at least 1"),
        ({"backoff_base": -0.001}, "backoff and deadline seconds cannot be negative"),
        ({"backoff_max": -0.001}, "backoff and deadline seconds cannot be negative"),
        ({"retry_deadline": -0.001}, "backoff and deadline seconds cannot be negative"),
        (
            {"part_size": 5 * MiB - 1},
            "part_size must be at least 5 MiB, S3's smallest multipart part",
        ),
        ({"max_concurrency": 0}, "max_concurrency and download_concurrency must be at least 1"),
        (
            {"download_concurrency": 0},
            "max_concurrency and download_concurrency must be at least 1",
        ),
    ],
)
def test_settings_out_of_range_are_refused_with_what_to_change(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        TransferConfig(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"max_attempts": 1},
        {"backoff_base": 0.0, "backoff_max": 0.0, "retry_deadline": 0.0},
        {"backoff_base": 0.5, "backoff_max": 0.5, "retry_deadline": 0.5},
        {"part_size": 5 * MiB},
        {"max_concurrency": 1, "download_concurrency": 1},
    ],
)
def test_the_smallest_settings_allowed_are_accepted(changes: dict[str, Any]) -> None:
    settings = TransferConfig(**changes)
    for name, value in changes.items():
        assert getattr(settings, name) == value


def test_native_gets_are_accepted_where_obstore_is_installed() -> None:
    assert importlib.util.find_spec("obstore") is not None, "the test environment has obstore"
    assert TransferConfig(native_gets=True).native_gets
    assert not TransferConfig(native_gets=False).native_gets


def test_native_gets_without_obstore_say_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    find_spec = importlib.util.find_spec

    def without_obstore(name: str, package: str | None = None) -> Any:
        return None if name == "obstore" else find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", without_obstore)

    message = "native_gets needs obstore: pip install 'objstore-adapter[native]'"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        TransferConfig(native_gets=True)
    assert not TransferConfig().native_gets  # not asked for: obstore is not needed


# --- delay ---------------------------------------------------------------------------------


def test_the_backoff_doubles_from_backoff_base_with_full_jitter(jitter: Jitter) -> None:
    settings = config(backoff_base=0.1, backoff_max=5.0)

    waits = [settings.delay(attempt) for attempt in (1, 2, 3, 4)]

    assert waits == [0.1, 0.2, 0.4, 0.8]
    assert jitter.bounds == [(0, 0.1), (0, 0.2), (0, 0.4), (0, 0.8)], "full jitter: from 0"


def test_no_single_wait_is_longer_than_backoff_max(jitter: Jitter) -> None:
    settings = config(backoff_base=0.1, backoff_max=1.5)

    assert settings.delay(5) == 1.5  # 1.6 capped
    assert settings.delay(30) == 1.5


def test_the_jitter_is_random_within_the_backoff() -> None:
    settings = config(backoff_base=0.1, backoff_max=5.0)

    waits = [settings.delay(3) for _ in range(200)]

    assert all(0 <= wait <= 0.4 for wait in waits)
    assert len(set(waits)) > 100


def test_the_stores_retry_after_is_waited_for(jitter: Jitter) -> None:
    jitter.top = False  # the backoff drew no wait: Retry-After alone decides
    settings = config(backoff_base=0.1, backoff_max=5.0)

    assert settings.delay(1, 2.0) == 2.0
    assert settings.delay(1, 0.0) == 0.0
    assert settings.delay(1) == 0.0


def test_a_retry_after_longer_than_backoff_max_is_capped(jitter: Jitter) -> None:
    jitter.top = False
    assert config(backoff_max=5.0).delay(1, 3600.0) == 5.0


def test_a_short_retry_after_does_not_shorten_the_backoff(jitter: Jitter) -> None:
    assert config(backoff_base=0.1, backoff_max=5.0).delay(3, 0.01) == 0.4


# --- retryable -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionResetError(errno.ECONNRESET, "reset by peer"),
        TimeoutError("read timed out"),
        BodyCut("the body broke off"),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
        answered(429),
        answered(500),
        answered(502),
        answered(503),
        answered(504),
        status_error(503, "bucket/key"),
    ],
    ids=failure_id,
)
def test_passing_faults_and_throttling_are_retryable(failure: Exception) -> None:
    assert retryable(failure)


@pytest.mark.parametrize(
    "failure",
    [
        answered(400),
        answered(403),
        answered(404),
        answered(412),
        answered(416),
        answered(501),
        status_error(404, "bucket/key"),
        ValueError("a mistake of the caller's"),
        VersionChanged("bucket/key"),
        ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
        OSError(errno.ECONNREFUSED, "refused"),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1", error=ConnectionRefusedError()),
    ],
    ids=failure_id,
)
def test_definite_answers_and_refused_connections_are_not_retryable(failure: Exception) -> None:
    assert not retryable(failure)


# --- retry_after ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),  # 30 s after the clock's now
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # past: no wait
        ("1.5", None),
        ("-3", None),
        ("soon", None),
        ("", None),
        ("   ", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    clock: Clock, header: str, seconds: float | None
) -> None:
    assert retry_after(answered(503, {"Retry-After": header})) == seconds


def test_no_retry_after_without_the_header_or_without_an_answer() -> None:
    assert retry_after(answered(503)) is None
    assert retry_after(ConnectionResetError()) is None


# --- Attempts: how often, how long ---------------------------------------------------------


def test_a_failing_call_is_made_max_attempts_times(clock: Clock, jitter: Jitter) -> None:
    failure = ConnectionResetError("reset")
    call = Calls(failure, every=True)

    with pytest.raises(ConnectionResetError) as raised:
        Attempts(config(max_attempts=5)).call(call)

    assert raised.value is failure
    assert call.count == 5
    assert clock.slept == [0.1, 0.2, 0.4, 0.8], "a backoff before each retry, none after the last"


def test_one_attempt_means_no_retry(clock: Clock) -> None:
    call = Calls(ConnectionResetError("reset"), every=True)

    with pytest.raises(ConnectionResetError):
        Attempts(config(max_attempts=1)).call(call)

    assert call.count == 1
    assert clock.slept == []


def test_a_call_that_heals_returns_its_result(clock: Clock, jitter: Jitter) -> None:
    call = Calls(ConnectionResetError("reset"), answered(503), result="stored")

    assert Attempts(config(max_attempts=3)).call(call) == "stored"
    assert call.count == 3
    assert clock.slept == [0.1, 0.2]


@pytest.mark.parametrize(
    "failure",
    [answered(404), ValueError("bad"), ConnectionRefusedError(errno.ECONNREFUSED, "refused")],
    ids=failure_id,
)
def test_what_is_not_retryable_is_raised_at_once(clock: Clock, failure: Exception) -> None:
    call = Calls(failure, every=True)

    with pytest.raises(type(failure)) as raised:
        Attempts(config(max_attempts=5)).call(call)

    assert raised.value is failure
    assert call.count == 1
    assert clock.slept == []


def test_each_retry_waits_for_the_stores_retry_after(clock: Clock, jitter: Jitter) -> None:
    jitter.top = False
    call = Calls(answered(503, {"Retry-After": "2"}), answered(429, {"Retry-After": "3"}))

    assert Attempts(config(max_attempts=5)).call(call) == "done"
    assert clock.slept == [2.0, 3.0]


def test_no_retry_starts_past_the_deadline(clock: Clock, jitter: Jitter) -> None:
    jitter.top = False
    # Retries 1 s apart, a deadline 2 s away: the second retry starts exactly at the
    # deadline (still allowed), a third would start past it.
    call = Calls(answered(503, {"Retry-After": "1"}), every=True)

    with pytest.raises(ClientError):
        Attempts(config(max_attempts=10, retry_deadline=2.0)).call(call)

    assert call.count == 3
    assert clock.slept == [1.0, 1.0]


def test_a_wait_longer_than_the_deadline_is_not_started(clock: Clock, jitter: Jitter) -> None:
    jitter.top = False
    call = Calls(answered(503, {"Retry-After": "3"}), every=True)

    with pytest.raises(ClientError):
        Attempts(config(max_attempts=10, retry_deadline=2.0)).call(call)

    assert call.count == 1
    assert clock.slept == []


def test_the_callers_budget_bounds_the_retries(clock: Clock, jitter: Jitter) -> None:
    jitter.top = False
    settings = config(max_attempts=10, retry_deadline=60.0)
    call = Calls(answered(503, {"Retry-After": "1"}), every=True)

    with pytest.raises(ClientError):
        Attempts(settings, budget=2.0).call(call)

    assert call.count == 3


def test_the_deadline_bounds_a_larger_budget(clock: Clock, jitter: Jitter) -> None:
    jitter.top = False
    settings = config(max_attempts=10, retry_deadline=2.0)
    call = Calls(answered(503, {"Retry-After": "1"}), every=True)

    with pytest.raises(ClientError):
        Attempts(settings, budget=600.0).call(call)

    assert call.count == 3


def test_call_with_retries_is_bounded_by_attempts_and_budget(clock: Clock, jitter: Jitter) -> None:
    jitter.top = False
    busy = answered(503, {"Retry-After": "1"})

    assert call_with_retries(config(max_attempts=3), Calls(busy, busy)) == "done"
    bounded = Calls(busy, every=True)
    with pytest.raises(ClientError):
        call_with_retries(config(max_attempts=10), bounded, budget=2.0)
    assert bounded.count == 3
    unbounded = Calls(busy, every=True)
    with pytest.raises(ClientError):
        call_with_retries(config(max_attempts=10), unbounded)
    assert unbounded.count == 10


# --- Attempts: a lost answer is settled by asking ------------------------------------------


class Settled:
    """``settled``: answers in turn what it is given (a result, ``None`` or a failure)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.count = 0

    def __call__(self) -> Any:
        self.count += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_a_lost_answer_is_settled_by_asking_never_resent(clock: Clock, jitter: Jitter) -> None:
    call = Calls(ConnectionResetError("answer lost"), result="sent twice")
    settled = Settled("stored")

    assert Attempts(config(max_attempts=5)).call(call, settled) == "stored"
    assert call.count == 1
    assert settled.count == 1
    assert clock.slept == [0.1], "the question waits the backoff the retry would have"


def test_a_request_that_did_not_take_effect_is_sent_again(clock: Clock, jitter: Jitter) -> None:
    call = Calls(ConnectionResetError("answer lost"), result="sent again")
    settled = Settled(None)

    assert Attempts(config(max_attempts=5)).call(call, settled) == "sent again"
    assert call.count == 2
    assert settled.count == 1


def test_where_the_question_fails_the_lost_requests_failure_is_raised(
    clock: Clock, jitter: Jitter
) -> None:
    lost = ConnectionResetError("answer lost")
    call = Calls(lost, result="sent twice")
    settled = Settled(answered(403))

    with pytest.raises(ConnectionResetError) as raised:
        Attempts(config(max_attempts=5)).call(call, settled)

    assert raised.value is lost
    assert raised.value.__context__ is None, "the question's failure is not chained onto it"
    assert call.count == 1
    assert settled.count == 1


def test_the_question_is_itself_retried(clock: Clock, jitter: Jitter) -> None:
    call = Calls(ConnectionResetError("answer lost"), result="sent twice")
    settled = Settled(ConnectionResetError("question cut"), "stored")

    assert Attempts(config(max_attempts=5)).call(call, settled) == "stored"
    assert call.count == 1
    assert settled.count == 2


def test_an_answered_failure_is_not_settled_but_sent_again(clock: Clock, jitter: Jitter) -> None:
    call = Calls(answered(503), result="sent again")
    settled = Settled("never asked")

    assert Attempts(config(max_attempts=5)).call(call, settled) == "sent again"
    assert call.count == 2
    assert settled.count == 0


def test_without_a_question_a_lost_answer_is_sent_again(clock: Clock, jitter: Jitter) -> None:
    call = Calls(ConnectionResetError("answer lost"), result="sent again")

    assert Attempts(config(max_attempts=5)).call(call) == "sent again"
    assert call.count == 2


def test_a_failure_not_worth_a_retry_is_not_settled(clock: Clock) -> None:
    call = Calls(answered(404), every=True)
    settled = Settled("never asked")

    with pytest.raises(ClientError):
        Attempts(config(max_attempts=5)).call(call, settled)
    assert settled.count == 0


def test_a_call_that_succeeds_is_made_once(clock: Clock) -> None:
    call = Calls(result="first")

    assert Attempts(config()).call(call) == "first"
    assert call.count == 1
    assert clock.slept == []


# --- Attempts: a connection left out of step is opened again ---------------------------------


class Reopens:
    """``reopen``: records each call between requests, failing as it is told in turn."""

    def __init__(self, calls: Calls, *failures: Exception | None) -> None:
        self.calls, self.failures = calls, list(failures)
        self.before: list[int] = []  # how many requests had been made at each reopen

    def __call__(self) -> None:
        self.before.append(self.calls.count)
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure


def test_a_connection_is_reopened_before_each_retry_never_before_the_first_try(
    clock: Clock, jitter: Jitter
) -> None:
    call = Calls(TimeoutError("timed out"), answered(503), result="read")
    reopen = Reopens(call)

    assert Attempts(config(max_attempts=5), reopen=reopen).call(call) == "read"
    assert reopen.before == [1, 2]


def test_no_reopen_after_a_definite_answer(clock: Clock) -> None:
    call = Calls(answered(404), every=True)
    reopen = Reopens(call)

    with pytest.raises(ClientError):
        Attempts(config(max_attempts=5), reopen=reopen).call(call)
    assert reopen.before == []


def test_a_lost_answer_is_settled_on_a_reopened_connection(clock: Clock, jitter: Jitter) -> None:
    call = Calls(TimeoutError("answer lost"), result="sent twice")
    reopen = Reopens(call)

    assert Attempts(config(max_attempts=5), reopen=reopen).call(call, Settled("stored")) == "stored"
    assert reopen.before == [1]


def test_where_reopening_fails_for_now_the_requests_own_failure_is_raised(
    clock: Clock, jitter: Jitter
) -> None:
    stalled = TimeoutError("the server stopped answering")
    call = Calls(stalled, result="never")
    reopen = Reopens(call, *[ConnectionResetError("no handshake")] * 4)

    with pytest.raises(TimeoutError) as raised:
        Attempts(config(max_attempts=5), reopen=reopen).call(call)

    assert raised.value is stalled
    assert call.count == 1, "no request is sent on a connection that could not be opened"
    assert len(reopen.before) == 4


def test_a_reopen_refused_for_good_is_raised_as_it_is(clock: Clock, jitter: Jitter) -> None:
    call = Calls(TimeoutError("timed out"), result="never")
    refused = PermissionError("login refused")
    reopen = Reopens(call, refused)

    with pytest.raises(PermissionError) as raised:
        Attempts(config(max_attempts=5), reopen=reopen).call(call)
    assert raised.value is refused
