"""Hostile URLs and headers: only documented statuses or documented requests exceptions."""

from __future__ import annotations

import uuid
from typing import Any

import fsspec
import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import objstore_adapter
from objstore_adapter import SchemeRegistry

from ..conftest import Store

DOCUMENTED_STATUSES = {200, 201, 204, 206, 304, 400, 403, 404, 405, 412, 414, 416, 502}

segment = st.one_of(
    st.sampled_from([".."] * 4 + [".", "", "a", "outside.txt", "%2e%2e", "..%2F", "~", "日本"]),
    st.lists(
        st.sampled_from(list("abcXYZ019-_.~ +%?#&=;:@!$'()*,[]{}|^`\\\"<>\té")), max_size=12
    ).map("".join),
)
key_text = st.lists(segment, min_size=1, max_size=6).map("/".join)
long_key = st.integers(min_value=200, max_value=3000).map(lambda n: "k" * n)
number = st.one_of(
    st.integers(min_value=-10, max_value=10**30).map(str),
    st.just(""),
    # Digits str.isdigit() takes and RFC 9110 does not; more digits than int() parses.
    st.text(st.characters(categories=("Nd", "No"), max_codepoint=0xFF), min_size=1, max_size=3),
    st.integers(min_value=4300, max_value=5000).map(lambda n: "9" * n),
)
range_header = st.one_of(
    st.builds(lambda a, b: f"bytes={a}-{b}", number, number),
    st.builds(lambda a, b, c: f"bytes={a}-{b},{c}-", number, number, number),
    st.text(max_size=30),
)
validator = st.one_of(
    st.just("*"),
    st.text(max_size=20).map(lambda t: f'"{t}"'),
    st.text(max_size=30),
    st.just("Mon, 01 Jan 2001 00:00:00 GMT"),
    st.just("Fri, 31 Dec 9999 23:59:59 GMT"),
)
headers = st.dictionaries(
    st.sampled_from(
        [
            "Range",
            "If-Match",
            "If-None-Match",
            "If-Modified-Since",
            "If-Unmodified-Since",
            "If-Range",
            "Content-Type",
        ]
    ),
    st.one_of(range_header, validator),
    max_size=4,
).map(lambda h: {k: v.replace("\r", "").replace("\n", "") for k, v in h.items()})
methods = st.sampled_from(["GET", "HEAD", "PUT", "DELETE", "POST", "OPTIONS"])


def _request(session: requests.Session, method: str, url: str, hdrs: dict[str, str]) -> None:
    try:
        response = session.request(method, url, headers=hdrs, data=b"fuzz", timeout=20)
    except (
        requests.exceptions.InvalidURL,
        requests.exceptions.InvalidSchema,
        requests.exceptions.InvalidHeader,
    ):
        return
    assert response.status_code in DOCUMENTED_STATUSES, (method, url, hdrs, response.text)
    if response.status_code == 206:
        assert response.headers["Content-Range"].startswith("bytes ")


@pytest.fixture(scope="module")
def memory_session() -> requests.Session:
    registry = SchemeRegistry()
    registry.register("memory")
    fsspec.filesystem("memory").pipe_file("/fuzz/known.txt", b"0123456789")
    return objstore_adapter.session(registry)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=methods, key=st.one_of(key_text, long_key), hdrs=headers)
def test_fuzzed_requests_on_memory(
    memory_session: requests.Session, method: str, key: str, hdrs: dict[str, str]
) -> None:
    _request(memory_session, method, f"memory://fuzz/{key}", hdrs)
    _request(memory_session, "GET", "memory://fuzz/known.txt", hdrs)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(method=methods, key=st.one_of(key_text, long_key), hdrs=headers)
def test_fuzzed_requests_on_s3(
    s3_store: Store, method: str, key: str, hdrs: dict[str, str]
) -> None:
    s3_store.write("known.txt", b"0123456789", None)
    _request(s3_store.session, method, s3_store.url(key), hdrs)
    _request(s3_store.session, "GET", s3_store.url("known.txt"), hdrs)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(method=methods, key=key_text, hdrs=headers)
# The escapes the fuzzing may or may not draw, tried on every run whatever the seed.
@example(method="GET", key="../outside.txt", hdrs={})
@example(method="GET", key="a/../../outside.txt", hdrs={})
@example(method="GET", key="./../outside.txt", hdrs={"Range": "bytes=0-"})
@example(method="HEAD", key="../outside.txt", hdrs={})
@example(method="PUT", key="../written.txt", hdrs={})
@example(method="PUT", key="a/../../written.txt", hdrs={})
@example(method="DELETE", key="../outside.txt", hdrs={})
@example(method="DELETE", key="a/../../outside.txt", hdrs={"If-Match": "*"})
def test_fuzzed_file_urls_stay_inside_the_registered_root(
    tmp_path_factory: Any, method: str, key: str, hdrs: dict[str, str]
) -> None:
    base = tmp_path_factory.getbasetemp() / "fuzz-file"
    root = base / "root"
    root.mkdir(parents=True, exist_ok=True)
    outside = base / "outside.txt"
    outside.write_text(f"outside-{uuid.uuid4()}")
    registry = SchemeRegistry()
    registry.register(f"file://{root}/", protocol="file")
    session = objstore_adapter.session(registry)

    around = set(base.parent.iterdir())

    if {".", ".."} & set(key.split("/")) and method in ("GET", "HEAD", "PUT", "DELETE"):
        # Refused before any I/O (a malformed header may be refused first, by requests).
        refused = (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader)
        with pytest.raises(refused):
            session.request(method, f"file://{root}/{key}", headers=hdrs, data=b"fuzz")
    _request(session, method, f"file://{root}/{key}", hdrs)

    assert outside.exists(), "a request removed a file outside the registered root"
    assert set(base.iterdir()) == {root, outside}, "a request wrote outside the root"
    assert set(base.parent.iterdir()) == around, "a request wrote outside the root"
    if method == "GET":
        try:
            body = session.get(f"file://{root}/{key}").content
        except requests.exceptions.InvalidURL:
            return
        assert outside.read_bytes() not in body, "a GET read a file outside the root"
