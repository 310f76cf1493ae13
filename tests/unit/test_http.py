"""The pure HTTP rules of ``_http``, case by case: Range, conditionals, headers, timeouts.

The conformance suite checks these through every backend; here each rule's edges are pinned
directly (one planted bug in ``_http`` should fail a test here in milliseconds).
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from urllib3.util import Timeout as Urllib3Timeout

from objstore_adapter._http import (
    UNSATISFIABLE,
    BadHeader,
    ByteRange,
    Timeouts,
    content_type_for,
    http_date,
    object_headers,
    parse_range,
    parse_simple_range,
    precondition_status,
    range_applies,
    reason,
    representation,
    store_conditions,
    text_headers,
    valid_media_type,
)
from objstore_adapter._info import ObjectInfo, Representation

UTC = dt.timezone.utc
MODIFIED = dt.datetime(2024, 5, 6, 7, 8, 9, 500_000, tzinfo=UTC)  # HTTP-dates drop the .5 s
AT = "Mon, 06 May 2024 07:08:09 GMT"
BEFORE = "Mon, 06 May 2024 07:08:08 GMT"
AFTER = "Mon, 06 May 2024 07:08:10 GMT"
STAMP = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
INFO = ObjectInfo(size=10, last_modified=MODIFIED, etag='"v1"')
WEAK = ObjectInfo(size=10, last_modified=MODIFIED, etag='W/"v1"')


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("", 10, None),
        ("bytes=0-4", 10, ByteRange(0, 4)),
        ("bytes=5-", 10, ByteRange(5, 9)),
        ("bytes=9-9", 10, ByteRange(9, 9)),
        ("bytes=3-100", 10, ByteRange(3, 9)),
        ("bytes=-3", 10, ByteRange(7, 9)),
        ("bytes=-1", 10, ByteRange(9, 9)),
        ("bytes=-10", 10, ByteRange(0, 9)),
        ("bytes=-100", 10, ByteRange(0, 9)),
        (" Bytes = 2 - 3 ", 10, ByteRange(2, 3)),
        ("BYTES=1-1", 10, ByteRange(1, 1)),
        ("bytes=10-", 10, UNSATISFIABLE),
        ("bytes=10-20", 10, UNSATISFIABLE),
        ("bytes=0-", 0, UNSATISFIABLE),
        ("bytes=-0", 10, UNSATISFIABLE),
        ("bytes=-5", 0, UNSATISFIABLE),
        ("bytes=4-3", 10, None),
        ("bytes=4-4", 10, ByteRange(4, 4)),
        ("bytes=-", 10, None),
        ("bytes=3", 10, None),
        ("bytes=a-3", 10, None),
        ("bytes=1-b", 10, None),
        ("bytes=1-2,4-5", 10, None),
        ("items=1-2", 10, None),
        ("bytes1-2", 10, None),
        ("=1-2", 10, None),
        # RFC 9110's DIGIT is ASCII: other digits make the range malformed, so it is ignored.
        ("bytes=\u00b2-5", 10, None),
        ("bytes=0-\u00b3", 10, None),
        ("bytes=-\u00b9", 10, None),
        ("bytes=\u0663-5", 10, None),
        ("bytes=\uff11-5", 10, None),
        ("bytes=+1-5", 10, None),
        ("bytes=1_0-20", 10, None),
        ("bytes=\u20031-5", 10, None),
        ("bytes=0-" + "9" * 5000, 10, None),  # beyond int()'s 4,300 digits
        ("bytes=" + "1" * 5000 + "-", 10, None),
        ("bytes=-" + "9" * 5000, 10, None),
        ("bytes=0-9223372036854775808", 10, None),  # beyond any store's 64-bit offsets
        ("bytes=0-9223372036854775807", 10, ByteRange(0, 9)),
        ("bytes=" + "0" * 40 + "3-0004", 10, ByteRange(3, 4)),
    ],
)
def test_parse_range(header: str | None, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


#: Positions as a client may write them: ASCII, other Unicode digits, beyond any store's.
_positions = st.one_of(
    st.just(""),
    st.integers(min_value=0, max_value=2**64).map(str),
    st.text(st.characters(categories=("Nd", "No")), min_size=1, max_size=4),
    st.integers(min_value=4200, max_value=6000).map(lambda n: "9" * n),
)
_range_headers = st.one_of(
    st.builds(lambda a, b: f"bytes={a}-{b}", _positions, _positions), st.text(max_size=40)
)


@given(header=_range_headers, size=st.integers(min_value=0, max_value=2**40))
def test_any_range_header_is_served_ignored_or_unsatisfiable_never_an_error(
    header: str, size: int
) -> None:
    resolved = parse_range(header, size)
    simple = parse_simple_range(header)

    if isinstance(resolved, ByteRange):
        assert 0 <= resolved.start <= resolved.end < size
    else:
        assert resolved in (None, UNSATISFIABLE)
    if simple is not None:  # what a store is asked for: ASCII digits, 64-bit offsets
        start, end = simple
        assert 0 <= start <= (start if end is None else end) < 2**63
        assert f"bytes={start}-{'' if end is None else end}".isascii()
    if not header.isascii():
        assert resolved is None
        assert simple is None


def test_http_dates_do_not_depend_on_the_machines_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert http_date(MODIFIED) == AT
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_byte_range_knows_its_length_and_content_range() -> None:
    assert ByteRange(5, 5).length == 1
    assert ByteRange(2, 9).length == 8
    assert ByteRange(2, 9).content_range(10) == "bytes 2-9/10"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-4", (0, 4)),
        ("bytes=7-", (7, None)),
        ("bytes=7-7", (7, 7)),
        (" BYTES = 2 - 3 ", (2, 3)),
        ("bytes=5-4", None),
        ("bytes=-5", None),
        ("bytes=5", None),
        ("bytes=5-x", None),
        ("bytes=x-5", None),
        ("items=1-2", None),
        ("bytes=1-2,4-5", None),
        ("bytes=\u00b2-5", None),
        ("bytes=2-\u00b2", None),
        ("bytes=\u0663-", None),
        ("bytes=" + "1" * 5000 + "-", None),
        ("bytes=0-" + "9" * 5000, None),
        ("bytes=9223372036854775808-", None),
        ("bytes=9223372036854775807-", (9223372036854775807, None)),
    ],
)
def test_parse_simple_range(header: str | None, expected: object) -> None:
    assert parse_simple_range(header) == expected


def _status(headers: Mapping[str, str], info: ObjectInfo | None, method: str = "GET") -> int | None:
    # A plain dict: the rules read the canonical names (requests' CaseInsensitiveDict, which
    # the adapter hands them, would find any spelling).
    return precondition_status(headers, info, method)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"If-Match": '"v1"'}, None),
        ({"If-Match": '"v2"'}, 412),
        ({"If-Match": '"v2", "v1"'}, None),
        ({"If-Match": ' "v2" ,, "v3" '}, 412),
        ({"If-Match": "*"}, None),
        ({"If-Match": 'W/"v1"'}, 412),  # If-Match compares strongly
        ({"If-Unmodified-Since": AT}, None),
        ({"If-Unmodified-Since": AFTER}, None),
        ({"If-Unmodified-Since": BEFORE}, 412),
        ({"If-Unmodified-Since": "not a date"}, None),
        ({"If-Unmodified-Since": "Mon, 06 May 2024 09:08:08 +0200"}, 412),  # 07:08:08 GMT
        ({"If-Unmodified-Since": "Mon, 06 May 2024 09:08:09 +0200"}, None),
        # If-Match wins over If-Unmodified-Since, whatever the date says.
        ({"If-Match": '"v1"', "If-Unmodified-Since": BEFORE}, None),
        ({"If-None-Match": '"v1"'}, 304),
        ({"If-None-Match": 'W/"v1"'}, 304),  # weak comparison
        ({"If-None-Match": '"v2"'}, None),
        ({"If-None-Match": '"v2", "v1"'}, 304),
        ({"If-None-Match": '"v2","v1"'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-Modified-Since": AT}, 304),
        ({"If-Modified-Since": AFTER}, 304),
        ({"If-Modified-Since": BEFORE}, None),
        ({"If-Modified-Since": "garbage"}, None),
        ({"If-Modified-Since": "Mon, 06 May 2024 07:08:09"}, 304),  # no zone: GMT
        # If-None-Match wins over If-Modified-Since.
        ({"If-None-Match": '"v2"', "If-Modified-Since": AFTER}, None),
        # RFC 9110 order: If-Match is judged before If-None-Match (412 before 304).
        ({"If-Match": '"v2"', "If-None-Match": '"v1"'}, 412),
        ({"If-Unmodified-Since": BEFORE, "If-Modified-Since": AFTER}, 412),
    ],
)
def test_preconditions_of_a_get(headers: dict[str, str], expected: int | None) -> None:
    assert _status(headers, INFO) == expected
    assert _status(headers, INFO, "HEAD") == expected


def test_a_weak_stored_tag_never_matches_if_match_but_matches_if_none_match() -> None:
    assert _status({"If-Match": 'W/"v1"'}, WEAK) == 412
    assert _status({"If-Match": '"v1"'}, WEAK) == 412
    assert _status({"If-None-Match": '"v1"'}, WEAK) == 304


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"If-None-Match": '"v1"'}, 412),
        ({"If-None-Match": "*"}, 412),
        ({"If-None-Match": '"v2"'}, None),
        ({"If-Modified-Since": AFTER}, None),  # only GET and HEAD look at it
        ({"If-Match": '"v2"'}, 412),
        ({"If-Unmodified-Since": BEFORE}, 412),
    ],
)
def test_preconditions_of_a_write(headers: dict[str, str], expected: int | None) -> None:
    assert _status(headers, INFO, "PUT") == expected
    assert _status(headers, INFO, "DELETE") == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"If-Match": "*"}, 412),
        ({"If-Match": '"v1"'}, 412),
        ({"If-Unmodified-Since": BEFORE}, None),
        ({"If-None-Match": "*"}, None),
        ({"If-Modified-Since": BEFORE}, None),
    ],
)
def test_preconditions_of_a_missing_object(headers: dict[str, str], expected: int | None) -> None:
    assert _status(headers, None, "PUT") == expected
    assert _status(headers, None) == expected


def test_an_object_without_validators_meets_only_what_needs_none() -> None:
    bare = ObjectInfo(size=1)
    assert _status({"If-Match": '"v1"'}, bare) == 412
    assert _status({"If-Match": "*"}, bare) is None
    assert _status({"If-Unmodified-Since": BEFORE}, bare) is None
    assert _status({"If-None-Match": '"v1"'}, bare) is None
    assert _status({"If-None-Match": "*"}, bare) == 304
    assert _status({"If-Modified-Since": AFTER}, bare) is None


@pytest.mark.parametrize(
    ("if_range", "info", "expected"),
    [
        (None, INFO, True),
        ('"v1"', INFO, True),
        ('"v2"', INFO, False),
        ('W/"v1"', INFO, False),  # If-Range compares strongly
        ('W/"v1"', WEAK, False),
        ('"v1"', ObjectInfo(size=10), False),
        (AT, INFO, True),
        (AFTER, INFO, False),
        (BEFORE, INFO, False),
        ("garbage", INFO, False),
        (AT, ObjectInfo(size=10), False),
    ],
)
def test_if_range(if_range: str | None, info: ObjectInfo, expected: bool) -> None:
    headers = {"If-Range": if_range} if if_range is not None else {}
    assert range_applies(headers, info) is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, {}),
        ({"If-Match": '"v1"'}, {"If-Match": '"v1"'}),
        ({"If-Match": ' "v1" '}, {"If-Match": '"v1"'}),
        ({"If-Match": '"v1"', "If-Unmodified-Since": AT}, {"If-Match": '"v1"'}),
        ({"If-Unmodified-Since": AT}, {"If-Unmodified-Since": AT}),
        ({"If-None-Match": '"v1"'}, {"If-None-Match": '"v1"'}),
        ({"If-None-Match": 'W/"v1"'}, {"If-None-Match": '"v1"'}),
        ({"If-None-Match": '"v1"', "If-Modified-Since": AT}, {"If-None-Match": '"v1"'}),
        ({"If-Modified-Since": AT}, {"If-Modified-Since": AT}),
        (
            {"If-Match": '"a"', "If-None-Match": '"b"'},
            {"If-Match": '"a"', "If-None-Match": '"b"'},
        ),
        (
            {"If-Unmodified-Since": AT, "If-Modified-Since": BEFORE},
            {"If-Unmodified-Since": AT, "If-Modified-Since": BEFORE},
        ),
        # Only the adapter can judge these as RFC 9110 does.
        ({"If-Range": '"v1"'}, None),
        ({"If-Match": "*"}, None),
        ({"If-Match": '"a", "b"'}, None),
        ({"If-Match": '"a","b"'}, None),
        ({"If-Match": 'W/"a"'}, None),
        ({"If-Match": ""}, None),
        ({"If-Unmodified-Since": "garbage"}, None),
        ({"If-None-Match": "*"}, None),
        ({"If-None-Match": '"a", "b"'}, None),
        ({"If-None-Match": ""}, None),
        ({"If-Modified-Since": "garbage"}, None),
    ],
)
def test_store_conditions(headers: dict[str, str], expected: dict[str, str] | None) -> None:
    assert store_conditions(headers) == expected


def test_the_rules_find_headers_in_any_spelling_in_requests_headers() -> None:
    headers = CaseInsensitiveDict({"if-none-match": '"v1"', "IF-RANGE": '"v1"'})

    assert precondition_status(headers, INFO, "GET") == 304
    assert range_applies(headers, INFO)
    assert store_conditions(headers) is None


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("text/csv", True),
        ("text/csv; charset=utf-8", True),
        ("application/vnd.x+json;q=1", True),
        ("text", False),
        ("text/", False),
        ("/csv", False),
        ("text/csv extra", False),
        ("text/csv; \u00e9", False),
        ("a b/c", False),
    ],
)
def test_valid_media_type(value: str, valid: bool) -> None:
    assert valid_media_type(value) is valid


def test_object_headers_carry_every_known_validator_and_stored_header() -> None:
    info = ObjectInfo(
        size=12,
        content_type="text/plain",
        last_modified=MODIFIED,
        etag='"e"',
        headers={"Cache-Control": "no-cache", "X-Object-Meta-owner": "me"},
    )

    assert object_headers(info, "b/k.csv") == {
        "Content-Length": "12",
        "Content-Type": "text/plain",
        "Accept-Ranges": "bytes",
        "Last-Modified": AT,
        "ETag": '"e"',
        "Cache-Control": "no-cache",
        "X-Object-Meta-owner": "me",
    }
    assert object_headers(ObjectInfo(size=1), "b/k.csv")["Content-Type"] == "text/csv"


def test_content_type_guesses_beyond_the_strict_list() -> None:
    # Common types outside IANA's registry (mimetypes' strict list) are guessed too.
    assert content_type_for("image.pict", None) == "image/pict"
    assert content_type_for("song.midi", "") == "audio/midi"


def test_representation_keeps_type_stored_headers_and_metadata() -> None:
    headers = {
        "Content-Type": "text/x; charset=utf-8",
        "Cache-Control": "max-age=60",
        "Content-Language": "",
        "X-Object-Meta-Owner": "me",
        "x-object-meta-team": "data",
        "X-Other": "ignored",
    }

    assert representation(headers, "b/k.csv") == Representation(
        "text/x; charset=utf-8",
        {"Cache-Control": "max-age=60"},
        {"owner": "me", "team": "data"},
    )
    assert representation({}, "b/k.csv") == Representation("text/csv")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Content-Type": "not a type"}, "Content-Type is not a media type"),
        ({"X-Object-Meta-": "v"}, "X-Object-Meta- names no metadata key"),
        ({"X-Object-Meta-a b": "v"}, "X-Object-Meta-a b names no metadata key"),
    ],
)
def test_representation_refuses_what_it_cannot_store(headers: dict[str, str], message: str) -> None:
    with pytest.raises(BadHeader) as caught:
        representation(headers, "k")
    assert str(caught.value) == message


def test_text_headers_decode_bytes_as_latin_1() -> None:
    headers = text_headers({b"X-Name": b"caf\xe9", "Range": "bytes=0-1", "X-Text": "caf\u00e9"})

    assert dict(headers) == {"X-Name": "caf\u00e9", "Range": "bytes=0-1", "X-Text": "caf\u00e9"}
    assert headers["x-name"] == "caf\u00e9"  # case-insensitive, like requests' own


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Snow": "\u2603"}, "the X-Snow header is not Latin-1 text"),
        ({b"X-Snow": "\u2603"}, "the X-Snow header is not Latin-1 text"),
        ({"X-Split": "a\r\nb"}, "the X-Split header holds a line break or NUL"),
        ({"X-Split": "a\nb"}, "the X-Split header holds a line break or NUL"),
        ({"X-Split": "a\rb"}, "the X-Split header holds a line break or NUL"),
        ({b"X-Nul": b"a\x00b"}, "the X-Nul header holds a line break or NUL"),
    ],
)
def test_text_headers_refuse_what_http_cannot_carry(
    headers: dict[str | bytes, str | bytes], message: str
) -> None:
    with pytest.raises(BadHeader) as caught:
        text_headers(headers)
    assert str(caught.value) == message
    # Nothing chained: a traceback would show the value the caller sent.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ or caught.value.__context__ is None


def test_reason_phrases() -> None:
    assert reason(206) == "Partial Content"
    assert reason(404) == "Not Found"
    assert reason(599) == ""


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (2.5, Timeouts(5.0, 2.5, 2.5)),
        ((1, None), Timeouts(None, None, 1)),
        (Urllib3Timeout(connect=1), Timeouts(None, None, 1)),
        (Urllib3Timeout(read=2), Timeouts(None, 2, None)),
        (Urllib3Timeout(connect=1.5, read=2.5), Timeouts(4.0, 2.5, 1.5)),
    ],
)
def test_timeouts(given: object, expected: Timeouts) -> None:
    assert Timeouts.from_requests(given) == expected  # type: ignore[arg-type]


def test_a_urllib3_total_timeout_bounds_the_whole_request() -> None:
    # urllib3 splits a total between connect and read only once a timer started: read
    # before, it raised TimeoutStateError, and a total with a read summed past the total.
    assert Timeouts.from_requests(Urllib3Timeout(total=5, read=2)) == Timeouts(5, 2, 5)
    only_total = Timeouts.from_requests(Urllib3Timeout(total=5))
    assert only_total.request == 5
    assert only_total.connect == 5
    assert only_total.read is not None
    assert 4 < only_total.read <= 5


def test_a_timeout_tuple_names_what_it_got() -> None:
    with pytest.raises(ValueError, match="Invalid timeout") as caught:
        Timeouts.from_requests((1, 2, 3))  # type: ignore[arg-type]
    assert str(caught.value) == (
        "Invalid timeout (1, 2, 3). Pass a (connect, read) timeout tuple, "
        "or a single float to set both timeouts to the same value."
    )


def test_http_date_is_rfc_9110_gmt() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert http_date(STAMP) == "Mon, 06 May 2024 07:08:09 GMT"
    assert http_date(STAMP.astimezone(plus_two)) == "Mon, 06 May 2024 07:08:09 GMT"


def test_http_date_tells_apart_the_two_instants_of_a_repeated_hour() -> None:
    """The two 01:30 of New York's last DST night are equal as datetimes, an hour apart."""
    try:
        new_york = zoneinfo.ZoneInfo("America/New_York")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone data on this machine")
    first = dt.datetime(2021, 11, 7, 1, 30, tzinfo=new_york)
    second = first.replace(fold=1)
    assert first == second
    assert http_date(first) == "Sun, 07 Nov 2021 05:30:00 GMT"
    assert http_date(second) == "Sun, 07 Nov 2021 06:30:00 GMT"


@pytest.mark.parametrize(
    ("path", "stored", "expected"),
    [
        ("b/x.csv", None, "text/csv"),
        ("b/x.csv", "application/x-mine", "application/x-mine"),
        ("b/x.parquet-unknown", None, "application/octet-stream"),
        ("b/noext", None, "application/octet-stream"),
    ],
)
def test_content_type(path: str, stored: str | None, expected: str) -> None:
    assert content_type_for(path, stored) == expected


def test_object_headers_leave_out_what_is_unknown() -> None:
    assert object_headers(ObjectInfo(size=3), "k.bin") == {
        "Content-Length": "3",
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, Timeouts(None, None, None)),
        (2, Timeouts(4.0, 2.0, 2.0)),
        ((1, 3), Timeouts(4, 3, 1)),
        ((None, 3), Timeouts(None, 3, None)),
        (Urllib3Timeout(connect=1, read=2), Timeouts(3, 2, 1)),
    ],
)
def test_timeouts_accept_every_requests_form(given: Any, expected: Timeouts) -> None:
    assert Timeouts.from_requests(given) == expected


def test_a_body_is_read_at_once_when_the_adapter_says_how_much() -> None:
    assert not Timeouts(read=30).read_at_once  # stream=True
    assert Timeouts(read=0.5, whole=2**20).read_at_once


def test_timeout_tuple_of_three_is_refused() -> None:
    with pytest.raises(ValueError, match="connect, read"):
        Timeouts.from_requests((1, 2, 3))  # type: ignore[arg-type]
