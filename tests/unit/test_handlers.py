"""The method handlers' own rules, on the memory store and on moto's S3: what a stopped request
answers, and how a write judged on its validators is pinned to the version judged."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import fsspec
import pytest
import requests
from fsspec.implementations.memory import MemoryFileSystem

import objstore_adapter
from objstore_adapter import TransferConfig

from .._proxy import Chaos, RecordingProxy
from ..conftest import Store, s3_registry

FUTURE = email.utils.formatdate(time.time() + 86_400, usegmt=True)
PAST = email.utils.formatdate(time.time() - 86_400 * 365, usegmt=True)


@pytest.fixture(params=["memory", "s3"])
def any_store(request: pytest.FixtureRequest) -> Store:
    store: Store = request.getfixturevalue(f"{request.param}_store")
    return store


def _validators(store: Store, key: str) -> tuple[str, str]:
    head = store.session.head(store.url(key))
    assert head.status_code == 200
    return head.headers["ETag"], head.headers["Last-Modified"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_failed_precondition_answers_412_with_the_objects_validators(
    any_store: Store, method: str
) -> None:
    if (any_store.name, method) == ("s3", "GET"):
        pytest.skip("S3 judges a GET's preconditions itself, and its 412 names no version")
    any_store.write("stopped.txt", b"kept", None)
    etag, modified = _validators(any_store, "stopped.txt")

    response = any_store.session.request(
        method, any_store.url("stopped.txt"), headers={"If-Match": '"not-this-one"'}
    )

    assert response.status_code == 412
    assert response.headers["ETag"] == etag
    assert response.headers["Last-Modified"] == modified


def test_a_304_carries_the_validators_and_no_body(any_store: Store) -> None:
    any_store.write("same.txt", b"kept", None)
    etag, modified = _validators(any_store, "same.txt")

    response = any_store.session.get(any_store.url("same.txt"), headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.headers["ETag"] == etag
    if any_store.name == "memory":  # judged here; moto's own 304 names no date
        assert response.headers["Last-Modified"] == modified
    assert response.content == b""


def test_a_put_judged_on_its_validators_replaces_the_version_judged(any_store: Store) -> None:
    any_store.write("judged.txt", b"old", None)

    response = any_store.session.put(
        any_store.url("judged.txt"), data=b"new", headers={"If-Unmodified-Since": FUTURE}
    )

    assert response.status_code == 204  # replaced, as with If-Match
    assert response.headers["ETag"] == _validators(any_store, "judged.txt")[0]
    assert any_store.session.get(any_store.url("judged.txt")).content == b"new"


def test_a_put_judged_on_its_validators_creates_only_when_nothing_was_there(
    any_store: Store,
) -> None:
    response = any_store.session.put(
        any_store.url("created.txt"), data=b"new", headers={"If-Unmodified-Since": FUTURE}
    )

    assert response.status_code == 201
    assert any_store.session.get(any_store.url("created.txt")).content == b"new"


def test_a_put_whose_validators_fail_answers_412_and_writes_nothing(any_store: Store) -> None:
    any_store.write("old.txt", b"old", None)
    etag, modified = _validators(any_store, "old.txt")

    response = any_store.session.put(
        any_store.url("old.txt"), data=b"new", headers={"If-Unmodified-Since": PAST}
    )

    assert response.status_code == 412
    assert (response.headers["ETag"], response.headers["Last-Modified"]) == (etag, modified)
    assert any_store.session.get(any_store.url("old.txt")).content == b"old"


def _replace_before(
    proxy: RecordingProxy, method: str, s3_client: Any, bucket: str, key: str, data: bytes
) -> None:
    """Another writer replaces the object after the adapter read its validators, just
    before the adapter's ``method`` reaches the store."""
    replaced: list[bool] = []

    def on_request(arriving: str, path: str) -> None:
        if arriving == method and not replaced:
            replaced.append(True)
            s3_client.put_object(Bucket=bucket, Key=key, Body=data)

    proxy.on_request = on_request


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_write_judged_on_its_validators_is_pinned_to_the_version_judged(
    s3_store: Store, moto_endpoint: str, s3_client: Any, s3_bucket: str, method: str
) -> None:
    s3_store.write("raced.txt", b"judged", None)
    key = s3_store.base.split("/", 3)[3] + "/raced.txt"
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        session = objstore_adapter.session(s3_registry(proxy.endpoint))
        _replace_before(proxy, method, s3_client, s3_bucket, key, b"raced in")

        response = session.request(
            method,
            s3_store.url("raced.txt"),
            data=b"mine" if method == "PUT" else None,
            headers={"If-Unmodified-Since": FUTURE},
        )

    assert response.status_code == 412, "the write reached a version nobody judged"
    assert s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == b"raced in"


def test_a_conditional_delete_of_nothing_answers_204_without_a_delete(
    s3_store: Store, moto_endpoint: str
) -> None:
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        session = objstore_adapter.session(s3_registry(proxy.endpoint))

        response = session.delete(
            s3_store.url("never-there.txt"), headers={"If-Unmodified-Since": FUTURE}
        )

    assert response.status_code == 204
    assert [method for method, _ in proxy.requests] == ["HEAD"]


def test_a_conditional_delete_judged_removes_the_version_judged(any_store: Store) -> None:
    any_store.write("judged.txt", b"old", None)

    response = any_store.session.delete(
        any_store.url("judged.txt"), headers={"If-Unmodified-Since": FUTURE}
    )

    assert response.status_code == 204
    assert any_store.session.head(any_store.url("judged.txt")).status_code == 404


def test_head_on_a_prefix_answers_the_listings_headers_without_a_body(
    memory_store: Store,
) -> None:
    memory_store.write("listed/a.txt", b"a", None)
    url = memory_store.url("listed/")

    head = memory_store.session.head(url)
    get = memory_store.session.get(url)

    assert (head.status_code, get.status_code) == (200, 200)
    assert head.headers["Content-Type"] == get.headers["Content-Type"] == "application/json"
    assert head.content == b""
    assert "a.txt" in get.text


@pytest.mark.parametrize("method", ["HEAD", "GET", "PUT", "DELETE", "LIST"])
def test_retries_stop_within_the_callers_timeout(
    s3_store: Store, moto_endpoint: str, method: str
) -> None:
    # Ten tries a second apart would take about 4.5 s; the caller gave the request 1.5 s
    # (0.75 to connect, 0.75 to read).
    transfer = TransferConfig(max_attempts=10, backoff_base=1.0, backoff_max=1.0)
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=transfer))
        proxy.answer(503, times=None)

        response = session.request(
            "GET" if method == "LIST" else method,
            s3_store.url("busy/" if method == "LIST" else "busy.txt"),
            data=b"body" if method == "PUT" else None,
            timeout=0.75,
        )

    assert response.status_code == 503
    assert 1 <= len(proxy.requests) < 10


DATA = bytes(range(256)) * 8192  # 2 MiB


def _proxied_s3(moto_endpoint: str, transfer: TransferConfig) -> tuple[RecordingProxy, Any]:
    proxy = RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1]))
    return proxy, objstore_adapter.session(s3_registry(proxy.endpoint, transfer=transfer))


@pytest.mark.parametrize("attempts", [2, 5])
def test_a_cut_body_resumes_at_the_version_read(
    s3_store: Store, moto_endpoint: str, attempts: int
) -> None:
    s3_store.write("cut.bin", DATA, None)
    proxy, session = _proxied_s3(moto_endpoint, TransferConfig(max_attempts=attempts))
    with proxy:
        proxy.cut_body_after = 300_000
        proxy.cuts_left = 1

        response = session.get(s3_store.url("cut.bin"), timeout=30)
        etag = response.headers["ETag"]

    assert response.content == DATA
    resumed = {name.lower(): value for name, value in proxy.request_headers[-1].items()}
    assert resumed["range"] == f"bytes=300000-{len(DATA) - 1}"
    assert resumed["if-match"] == etag


def test_with_one_attempt_a_cut_body_raises(s3_store: Store, moto_endpoint: str) -> None:
    s3_store.write("cut.bin", DATA, None)
    proxy, session = _proxied_s3(moto_endpoint, TransferConfig(max_attempts=1))
    with proxy:
        proxy.cut_body_after = 300_000
        proxy.cuts_left = 1

        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            session.get(s3_store.url("cut.bin"), timeout=30)

    assert [method for method, _ in proxy.requests] == ["GET"]


def test_a_slow_large_get_is_fetched_in_parts_of_the_version_read(
    s3_store: Store, moto_endpoint: str
) -> None:
    s3_store.write("big.bin", DATA * 3, None)
    transfer = TransferConfig(
        parallel_below=float("inf"), download_part_size=2**20, download_concurrency=3
    )
    proxy, session = _proxied_s3(moto_endpoint, transfer)
    with proxy:
        response = session.get(s3_store.url("big.bin"), timeout=30)
        etag = response.headers["ETag"]

    assert response.content == DATA * 3
    sent = [{name.lower(): value for name, value in h.items()} for h in proxy.request_headers]
    parts = [headers for headers in sent if "range" in headers]  # not the GET they started from
    assert sorted(part["range"] for part in parts) == [
        f"bytes={start}-{start + 2**20 - 1}" for start in range(2 * 2**20, 6 * 2**20, 2**20)
    ]
    assert {part["if-match"] for part in parts} == {etag}


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_write_to_a_prefix_is_400_naming_why(any_store: Store, method: str) -> None:
    response = any_store.session.request(method, any_store.url("folder/"), data=b"x")

    assert response.status_code == 400
    assert response.json() == {
        "error": "the object store rejected the request",
        "status": 400,
        "url": any_store.url("folder/"),
        "detail": "a URL ending in / names no object",
    }


def test_a_delete_if_match_is_judged_by_the_store_in_one_request(
    s3_store: Store, moto_endpoint: str
) -> None:
    s3_store.write("judged.txt", b"old", None)
    etag = _validators(s3_store, "judged.txt")[0]
    proxy, session = _proxied_s3(moto_endpoint, TransferConfig())
    with proxy:
        stopped = session.delete(s3_store.url("judged.txt"), headers={"If-Match": '"other"'})
        removed = session.delete(s3_store.url("judged.txt"), headers={"If-Match": etag})
        gone = session.delete(s3_store.url("judged.txt"), headers={"If-Match": etag})

    assert (stopped.status_code, removed.status_code, gone.status_code) == (412, 204, 412)
    assert removed.headers["Content-Length"] == "0"
    assert [method for method, _ in proxy.requests] == ["DELETE"] * 3


def test_a_delete_if_none_match_star_is_judged_on_what_is_there(any_store: Store) -> None:
    any_store.write("there.txt", b"old", None)
    etag, modified = _validators(any_store, "there.txt")

    there = any_store.session.delete(any_store.url("there.txt"), headers={"If-None-Match": "*"})
    absent = any_store.session.delete(any_store.url("absent.txt"), headers={"If-None-Match": "*"})

    assert there.status_code == 412
    assert (there.headers["ETag"], there.headers["Last-Modified"]) == (etag, modified)
    assert absent.status_code == 204
    assert absent.headers["Content-Length"] == "0"
    assert any_store.session.get(any_store.url("there.txt")).content == b"old"


def test_a_delete_whose_answer_was_lost_is_settled_by_asking(
    s3_store: Store, moto_endpoint: str
) -> None:
    s3_store.write("lost.txt", b"old", None)
    proxy, session = _proxied_s3(moto_endpoint, TransferConfig(backoff_base=0))
    with proxy:
        proxy.chaos = Chaos(seed=1, lost_answer={"DELETE": 1.0})

        response = session.delete(s3_store.url("lost.txt"), timeout=10)

    assert response.status_code == 204
    assert [method for method, _ in proxy.requests].count("DELETE") == 1, "sent again"
    assert s3_store.session.head(s3_store.url("lost.txt")).status_code == 404


def test_a_delete_if_match_of_nothing_is_412(any_store: Store) -> None:
    response = any_store.session.delete(
        any_store.url("never-there.txt"), headers={"If-Match": '"some-version"'}
    )

    assert response.status_code == 412


def test_a_put_if_match_of_an_object_gone_is_412_whichever_request_finds_it_gone(
    s3_store: Store, moto_endpoint: str
) -> None:
    # The presigned PUT meets moto's 500 and s3fs sends the write again; the object was
    # deleted meanwhile, so that request meets S3's NoSuchKey: no version to replace, a 412.
    s3_store.write("gone.txt", b"old", None)
    etag = _validators(s3_store, "gone.txt")[0]
    s3_store.session.delete(s3_store.url("gone.txt"))
    proxy, session = _proxied_s3(moto_endpoint, TransferConfig())
    with proxy:
        proxy.answer(500, methods=("PUT",))

        response = session.put(s3_store.url("gone.txt"), data=b"new", headers={"If-Match": etag})

    assert [method for method, _ in proxy.requests if method == "PUT"] == ["PUT", "PUT"]
    assert response.status_code == 412
    assert s3_store.session.head(s3_store.url("gone.txt")).status_code == 404


def test_a_delete_if_match_star_of_nothing_is_412_without_validators(any_store: Store) -> None:
    response = any_store.session.delete(any_store.url("nothing.txt"), headers={"If-Match": "*"})

    assert response.status_code == 412
    assert "ETag" not in response.headers


def test_a_delete_whose_request_never_reached_the_store_is_sent_again(
    s3_store: Store, moto_endpoint: str
) -> None:
    s3_store.write("kept.txt", b"old", None)
    proxy, session = _proxied_s3(moto_endpoint, TransferConfig(backoff_base=0))
    with proxy:
        # The first DELETE is reset before the store sees it: the object is still there.
        # (Cards are dealt from the end of the deck the seed shuffles: seed 1 deals the reset.)
        first = Chaos(seed=1, reset={"DELETE": 0.5}, deck=2)._shuffled("DELETE")
        proxy.chaos = Chaos(seed=1, reset={"DELETE": 0.5}, deck=2)

        response = session.delete(s3_store.url("kept.txt"), timeout=10)

    assert first[-1] == "reset", "the seed must deal the reset first"
    assert response.status_code == 204
    assert [method for method, _ in proxy.requests].count("DELETE") == 2
    assert s3_store.session.head(s3_store.url("kept.txt")).status_code == 404


def test_an_s3_listing_is_served(s3_store: Store) -> None:
    s3_store.write("listed/a.txt", b"a", None)

    response = s3_store.session.get(s3_store.url("listed/"), timeout=10)

    assert response.status_code == 200
    assert [entry["name"] for entry in response.json()["entries"]] == ["a.txt"]


def test_a_file_listing_names_entries_as_urls_percent_encoded(file_store: Store) -> None:
    file_store.write("listed/a%20b.txt", b"a", None)  # a file named "a b.txt"

    listing = file_store.session.get(file_store.url("listed/")).json()

    assert [entry["url"] for entry in listing["entries"]] == [file_store.url("listed/a%20b.txt")]


#: Header names as every answer spells them (requests' headers are case-insensitive, but a
#: caller printing or comparing them as a dict, HTTPie for one, sees the spelling).
CANONICAL = {
    name.lower(): name
    for name in (
        "Accept-Ranges",
        "Allow",
        "Cache-Control",
        "Content-Length",
        "Content-Range",
        "Content-Type",
        "ETag",
        "Last-Modified",
    )
}


def test_every_answer_spells_its_headers_canonically_and_states_its_length(
    memory_store: Store,
) -> None:
    memory_store.write("spelled.txt", b"0123456789", None)
    url, session = memory_store.url("spelled.txt"), memory_store.session
    etag = session.head(url).headers["ETag"]
    answers = {
        "GET": session.get(url),
        "range": session.get(url, headers={"Range": "bytes=2-4"}),
        "HEAD": session.head(url),
        "304": session.get(url, headers={"If-None-Match": etag}),
        "412": session.get(url, headers={"If-Match": '"other"'}),
        "404": session.get(memory_store.url("missing.txt")),
        "PUT": session.put(memory_store.url("new.txt"), data=b"new"),
        "DELETE": session.delete(memory_store.url("new.txt")),
    }

    for what, response in answers.items():
        for name in response.headers:
            assert name == CANONICAL.get(name.lower(), name), f"{what}: {name}"
        if what in ("GET", "range", "404", "412"):
            assert response.headers["Content-Length"] == str(len(response.content)), what
        if what in ("PUT", "DELETE"):
            assert response.headers["Content-Length"] == "0", what
    assert answers["range"].headers["Content-Range"] == "bytes 2-4/10"
    assert {"ETag", "Last-Modified"} <= set(answers["304"].headers)
    assert {"ETag", "Last-Modified"} <= set(answers["PUT"].headers)


class _Unversioned(MemoryFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """fsspec's memory filesystem under a protocol the adapter has no backend of its own for:
    plain fsspec calls serve it, and a write names no version."""

    protocol = "unversioned"


def test_a_put_to_a_store_whose_write_names_no_version_answers_what_it_reads_back() -> None:
    fsspec.register_implementation("unversioned", _Unversioned, clobber=True)
    registry = objstore_adapter.SchemeRegistry()
    registry.register("unversioned", skip_instance_cache=True)
    session = objstore_adapter.session(registry)
    url = f"unversioned://bucket/{time.time_ns()}.txt"

    response = session.put(url, data=b"written")

    assert response.status_code == 200  # unconditional: created or replaced
    head = session.head(url)
    assert response.headers["ETag"] == head.headers["ETag"]
    assert response.headers["Last-Modified"] == head.headers["Last-Modified"]


def _one_get(proxy: RecordingProxy, session: requests.Session, url: str, **headers: str) -> Any:
    """``session.get(url)`` with ``headers``, and the methods the store saw for it."""
    proxy.requests.clear()
    response = session.get(url, headers=headers)
    return response, [method for method, _ in proxy.requests]


def test_a_store_resolves_simple_ranges_and_preconditions_in_one_request(
    s3_store: Store, moto_endpoint: str
) -> None:
    s3_store.write("digits.txt", b"0123456789", None)
    etag, modified = _validators(s3_store, "digits.txt")
    url = s3_store.url("digits.txt")
    proxy, session = _proxied_s3(moto_endpoint, TransferConfig())
    with proxy:
        middle, middle_sent = _one_get(proxy, session, url, Range="bytes=2-4")
        tail, tail_sent = _one_get(proxy, session, url, Range="bytes=7-")
        same, same_sent = _one_get(proxy, session, url, **{"If-None-Match": etag})
        other, other_sent = _one_get(proxy, session, url, **{"If-Match": '"other"'})
        pinned, pinned_sent = _one_get(proxy, session, url, Range="bytes=1-2", **{"If-Match": etag})
        suffix, suffix_sent = _one_get(proxy, session, url, Range="bytes=-3")
        whole, _ = _one_get(proxy, session, url, **{"If-Range": etag})

    assert (middle.status_code, middle.content) == (206, b"234")
    assert middle.headers["Content-Range"] == "bytes 2-4/10"
    assert (tail.status_code, tail.content, tail.headers["Content-Range"]) == (
        206,
        b"789",
        "bytes 7-9/10",
    )
    assert (same.status_code, same.content, same.headers["ETag"]) == (304, b"", etag)
    assert other.status_code == 412
    assert (pinned.status_code, pinned.content) == (206, b"12")
    assert [middle_sent, tail_sent, same_sent, other_sent, pinned_sent] == [["GET"]] * 5
    # A suffix needs the size first: the metadata, then the bytes.
    assert (suffix.status_code, suffix.content, suffix_sent) == (206, b"789", ["HEAD", "GET"])
    # If-Range without Range asks for nothing less than the object.
    assert (whole.status_code, whole.content, whole.headers["ETag"]) == (200, b"0123456789", etag)
    assert whole.headers["Last-Modified"] == modified


def test_a_range_judged_on_a_version_replaced_before_it_was_opened_is_judged_again(
    s3_store: Store, moto_endpoint: str
) -> None:
    s3_store.write("moving.txt", b"0123456789", None)
    proxy, session = _proxied_s3(moto_endpoint, TransferConfig())
    gets: list[str] = []

    def replace_before_the_first_get(method: str, path: str) -> None:
        if method == "GET":
            if not gets:
                s3_store.write("moving.txt", b"abcdefghijklmnop", None)
            gets.append(path)

    with proxy:
        proxy.on_request = replace_before_the_first_get
        response = session.get(s3_store.url("moving.txt"), headers={"Range": "bytes=-3"})

    # Judged on 10 bytes (7-9), opened on 16: the last three of the version opened.
    assert response.status_code == 206
    assert response.content == b"nop"
    assert response.headers["Content-Range"] == "bytes 13-15/16"
    assert response.headers["ETag"] == _validators(s3_store, "moving.txt")[0]
    assert len(gets) == 2, "opened again on the version it read"


def test_an_object_replaced_at_every_open_is_a_503(s3_store: Store, moto_endpoint: str) -> None:
    s3_store.write("racing.txt", b"0", None)
    proxy, session = _proxied_s3(moto_endpoint, TransferConfig(max_attempts=1))
    opened: list[str] = []

    def replace_before_every_get(method: str, path: str) -> None:
        if method == "GET":
            opened.append(path)
            s3_store.write("racing.txt", b"x" * (len(opened) + 1), None)

    with proxy:
        proxy.on_request = replace_before_every_get
        response = session.get(s3_store.url("racing.txt"), headers={"Range": "bytes=-1"})

    assert response.status_code == 503
    assert len(opened) == 10  # JUDGED_OPENS
