"""The same behaviour, asserted identically, on every backend."""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import tracemalloc

import pytest
import requests

from .conftest import CANNOT_STORE_CONTENT_TYPE, Store


def test_get_serves_the_object_with_http_headers(store: Store) -> None:
    store.write("data/table.csv", b"a,b\n1,2\n", None)

    response = store.session.get(store.url("data/table.csv"))

    assert response.status_code == 200
    assert response.reason == "OK"
    assert response.content == b"a,b\n1,2\n"
    assert response.headers["Content-Length"] == "8"
    assert response.headers["Content-Type"] == "text/csv"
    assert response.headers["Accept-Ranges"] == "bytes"
    modified = email.utils.parsedate_to_datetime(response.headers["Last-Modified"])
    assert modified.tzinfo is not None
    assert response.headers["Last-Modified"].endswith(" GMT")
    assert response.url == store.url("data/table.csv")
    assert response.request.method == "GET"
    assert response.elapsed.total_seconds() >= 0


def test_head_answers_like_get_without_a_body(store: Store) -> None:
    store.write("h.json", b'{"k": 1}', None)

    get = store.session.get(store.url("h.json"))
    head = store.session.head(store.url("h.json"))

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers == get.headers


def test_stored_content_type_wins_over_the_extension(store: Store) -> None:
    if store.name in CANNOT_STORE_CONTENT_TYPE:
        pytest.xfail(CANNOT_STORE_CONTENT_TYPE[store.name])
    store.write("report.csv", b"x", "application/vnd.custom+csv")

    assert store.session.get(store.url("report.csv")).headers["Content-Type"] == (
        "application/vnd.custom+csv"
    )


def test_unknown_extension_without_stored_type_is_octet_stream(store: Store) -> None:
    store.write("blob.unknownext", b"\x00\x01", None)

    response = store.session.get(store.url("blob.unknownext"))

    assert response.headers["Content-Type"] == "application/octet-stream"


def test_keys_are_taken_literally(store: Store) -> None:
    store.write("dir/a b+c%20.csv", b"literal", None)

    response = store.session.get(store.url("dir/a b+c%20.csv"))

    assert response.status_code == 200
    assert response.content == b"literal"
    assert store.session.get(store.url("dir/a%20b+c%20.csv")).status_code == 404


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_missing_key_is_404_with_a_json_body(store: Store, method: str) -> None:
    response = store.session.request(method, store.url("no/such/key.txt"))

    assert response.status_code == 404
    with pytest.raises(requests.HTTPError):
        response.raise_for_status()
    if method == "GET":
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == {
            "error": "no such object",
            "status": 404,
            "url": store.url("no/such/key.txt"),
        }


def test_text_json_and_lines_work_as_with_http(store: Store) -> None:
    store.write("doc.json", json.dumps({"rows": [1, 2, 3]}).encode(), None)
    store.write("lines.txt", b"one\ntwo\nthree\n", None)

    assert store.session.get(store.url("doc.json")).json() == {"rows": [1, 2, 3]}
    assert store.session.get(store.url("lines.txt")).text == "one\ntwo\nthree\n"
    lines = store.session.get(store.url("lines.txt"), stream=True).iter_lines()
    assert list(lines) == [b"one", b"two", b"three"]


def test_unsupported_method_is_405_with_allow(store: Store) -> None:
    response = store.session.post(store.url("x.txt"), data=b"x")

    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD"}


def _streaming_peak(store: Store, key: str, size: int) -> int:
    """Python memory peak while streaming a ``size``-byte object; asserts it arrived intact."""
    data = os.urandom(size)
    store.write(key, data, None)
    expected = hashlib.sha256(data).hexdigest()
    del data
    store.session.head(store.url(key))  # build the client first: not part of streaming

    tracemalloc.start()
    try:
        response = store.session.get(store.url(key), stream=True)
        assert response.headers["Content-Length"] == str(size)
        digest = hashlib.sha256()
        received = 0
        for chunk in response.iter_content(2**20):
            digest.update(chunk)
            received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    assert digest.hexdigest() == expected
    return peak


@pytest.mark.slow
def test_multi_mib_object_streams_in_constant_memory(store: Store) -> None:
    small = _streaming_peak(store, "small.bin", 6 * 2**20)
    large = _streaming_peak(store, "large.bin", 36 * 2**20)

    # Memory is held per chunk, not per object: six times the bytes, no more memory.
    assert large < 16 * 2**20, f"streaming 36 MiB peaked at {large} bytes"
    assert large - small < 2 * 2**20, f"peak grew from {small} to {large} bytes with size"
