"""``_info``: backend metadata normalised to one ``ObjectInfo``, and ETag quoting."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import urllib3

from objstore_adapter._info import (
    ObjectInfo,
    from_fsspec,
    from_http_headers,
    from_s3_response,
    quote_etag,
    to_datetime,
)

UTC = dt.timezone.utc
STAMP = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_etag_quoting() -> None:
    assert quote_etag("abc") == '"abc"'
    assert quote_etag('"abc"') == '"abc"'
    assert quote_etag('W/"abc"') == 'W/"abc"'
    assert quote_etag("") is None


@pytest.mark.parametrize(
    "info",
    [
        # s3fs
        {"size": 5, "type": "file", "ETag": '"e1"', "LastModified": STAMP, "ContentType": "text/x"},
        # gcsfs
        {
            "size": 5,
            "type": "file",
            "etag": "e1",
            "updated": "2024-05-06T07:08:09.000Z",
            "contentType": "text/x",
        },
        # adlfs
        {
            "size": 5,
            "type": "file",
            "etag": '"e1"',
            "last_modified": STAMP,
            "content_settings": {"content_type": "text/x"},
        },
    ],
)
def test_backend_spellings_normalise_to_one_info(info: dict[str, Any]) -> None:
    assert from_fsspec(info) == ObjectInfo(
        size=5, content_type="text/x", last_modified=STAMP, etag='"e1"'
    )


def test_local_file_info_uses_mtime_and_has_no_type() -> None:
    info = from_fsspec({"size": 2, "type": "file", "mtime": STAMP.timestamp()})
    # No stored ETag: one is derived from mtime (microseconds) and size, in hex.
    derived = f'"{int(STAMP.timestamp() * 1_000_000):x}-2"'
    assert info == ObjectInfo(size=2, last_modified=STAMP, etag=derived)
    touched = from_fsspec({"size": 2, "type": "file", "mtime": STAMP.timestamp() + 1})
    assert touched.etag != info.etag
    assert from_fsspec({"size": 0, "type": "directory"}).is_dir


@pytest.mark.parametrize(
    ("modify", "expected"),
    [
        ("20240506070809", STAMP),
        ("20240506070809.25", STAMP.replace(microsecond=250_000)),
        ("20240506070809.1234567", STAMP.replace(microsecond=123_456)),
    ],
)
def test_an_ftp_modify_fact_is_the_modification_time_in_utc(
    modify: str, expected: dt.datetime
) -> None:
    info = from_fsspec({"size": 2, "type": "file", "modify": modify, "unique": "x"})

    assert info.last_modified == expected
    assert info.etag == f'"{int(expected.timestamp() * 1_000_000):x}-2"'


def test_s3_default_type_counts_as_unset_and_ranged_size_is_total() -> None:
    info = from_s3_response(
        {
            "ContentLength": 10,
            "ContentRange": "bytes 0-9/1000",
            "ETag": '"x"',
            "ContentType": "binary/octet-stream",
            "LastModified": STAMP,
        }
    )
    assert info == ObjectInfo(size=1000, content_type=None, last_modified=STAMP, etag='"x"')


@pytest.mark.parametrize(
    "text",
    [
        "Mon, 06 May 2024 07:08:09 GMT",  # an HTTP-date, as in Last-Modified
        "Monday, 06-May-24 07:08:09 GMT",  # RFC 850, which HTTP still accepts
        "2024-05-06T07:08:09Z",
        "2024-05-06T09:08:09+02:00",
        " 2024-05-06T07:08:09,0+00:00 ",  # ISO 8601 with a decimal comma: not an HTTP-date
    ],
)
def test_a_time_is_read_from_either_kind_of_text(text: str) -> None:
    assert to_datetime(text) == STAMP


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "Mon, the sixth of May",
        "Mon, 06 May 99999999999 07:08:09 GMT",  # a year too large for a datetime
    ],
)
def test_text_that_is_no_time_is_none(text: str) -> None:
    assert to_datetime(text) is None


def test_a_stores_http_answer_is_read_whatever_the_case_of_its_names() -> None:
    fields = urllib3.HTTPHeaderDict()
    for name, value in [
        ("content-length", "5"),
        ("CONTENT-TYPE", "text/plain"),
        ("Etag", '"0123456789abcdef0123456789abcdef"'),
        ("last-modified", "Mon, 06 May 2024 07:08:09 GMT"),
        ("cache-control", "no-cache"),
        ("Cache-Control", "max-age=60"),
        ("X-Amz-Meta-Colour", "blue"),
        ("x-goog-meta-size", "big"),
        ("Server", "not stored"),
    ]:
        fields.add(name, value)
    info = from_http_headers(fields)
    assert info == from_http_headers(dict(fields))  # a plain dict, names in any case
    assert (info.size, info.content_type, info.last_modified) == (5, "text/plain", STAMP)
    assert (info.etag, info.md5) == ('"0123456789abcdef0123456789abcdef"', "0123456789abcdef" * 2)
    assert info.headers == {
        "Cache-Control": "no-cache, max-age=60",  # a repeated field, joined as urllib3 reads it
        "X-Object-Meta-colour": "blue",
        "X-Object-Meta-size": "big",
    }
    ranged = from_http_headers({"Content-Range": "bytes 0-4/99", "Content-Length": "5"})
    assert ranged.size == 99
