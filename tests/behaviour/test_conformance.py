"""The same behaviour, asserted identically, on every backend."""

from __future__ import annotations

import email.utils
import gc
import gzip
import hashlib
import json
import os
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from objstore_adapter import TransferConfig

from ..conftest import (
    BACKENDS,
    CANNOT_STORE_CONTENT_TYPE,
    PROTOCOLS,
    Store,
    azurite_connection_string,
)


def test_get_serves_the_object_with_http_headers(store: Store) -> None:
    store.write("data/table.csv", b"a,b\n1,2\n", None)
    # Stored types win; SeaweedFS stores one it sniffed where the writer gave none, and a
    # WebDAV server reports one it guessed from the name.
    expected_type = {
        "seaweed": "text/plain; charset=utf-8",
        "webdav": "text/csv; charset=utf-8",
    }.get(store.name, "text/csv")

    response = store.session.get(store.url("data/table.csv"))

    assert response.status_code == 200
    assert response.reason == "OK"
    assert response.content == b"a,b\n1,2\n"
    assert response.headers["Content-Length"] == "8"
    assert response.headers["Content-Type"] == expected_type
    assert response.headers["Accept-Ranges"] == "bytes"
    modified = email.utils.parsedate_to_datetime(response.headers["Last-Modified"])
    assert modified.tzinfo is not None
    assert response.headers["Last-Modified"].endswith(" GMT")
    assert response.url == store.url("data/table.csv")
    # What HTTPAdapter.build_response sets, and requests does not set for the adapter:
    assert response.connection is store.session.get_adapter(store.url("data/table.csv"))
    assert response.request.url == store.url("data/table.csv")
    assert response.encoding == ("utf-8" if "charset=utf-8" in expected_type else "ISO-8859-1")
    assert response.headers["content-type"] == expected_type  # case-insensitive


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


def test_keys_are_taken_literally(request: pytest.FixtureRequest, store: Store) -> None:
    if store.name == "webdav":  # refused, see test_protocols
        reason = "webdav4 sends a key's '%' unencoded, and the server decodes it"
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
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
    # Buffers fill depending on timing, so allow a little: a per-object cost would be 30 MiB.
    assert large - small < 4 * 2**20, f"peak grew from {small} to {large} bytes with size"


# --- Ranges (RFC 9110 §14) ---------------------------------------------------------------

DIGITS = b"0123456789abcdefghij"  # 20 bytes


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-3", 0, 3),
        ("bytes=5-5", 5, 5),
        ("bytes=15-", 15, 19),
        ("bytes=-4", 16, 19),
        ("bytes=10-999", 10, 19),  # an end past the object is clamped
        ("bytes=-100", 0, 19),  # a suffix longer than the object is the whole object
        ("bytes=0-", 0, 19),  # range readers open with this: 206, as S3, GCS and Azure answer
        ("bytes=0-19", 0, 19),
    ],
)
def test_range_is_206_with_the_exact_slice(store: Store, header: str, start: int, end: int) -> None:
    store.write("digits.txt", DIGITS, None)

    response = store.session.get(store.url("digits.txt"), headers={"Range": header})

    assert response.status_code == 206
    assert response.content == DIGITS[start : end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(DIGITS)}"
    assert response.headers["Content-Length"] == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=20-", "bytes=25-30", "bytes=-0"])
def test_unsatisfiable_range_is_416(store: Store, header: str) -> None:
    store.write("digits.txt", DIGITS, None)

    response = store.session.get(store.url("digits.txt"), headers={"Range": header})

    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(DIGITS)}"


@pytest.mark.parametrize(
    "header", ["bytes=0-1,4-5", "bytes=5-2", "items=0-3", "bytes=a-b", "bytes=-", "garbage"]
)
def test_malformed_or_multiple_ranges_serve_the_whole_object(store: Store, header: str) -> None:
    store.write("digits.txt", DIGITS, None)

    response = store.session.get(store.url("digits.txt"), headers={"Range": header})

    assert response.status_code == 200
    assert response.content == DIGITS


def test_if_range_serves_the_range_only_for_the_current_version(store: Store) -> None:
    store.write("digits.txt", DIGITS, None)
    etag = store.session.head(store.url("digits.txt")).headers["ETag"]

    same = store.session.get(
        store.url("digits.txt"), headers={"Range": "bytes=0-1", "If-Range": etag}
    )
    stale = store.session.get(
        store.url("digits.txt"), headers={"Range": "bytes=0-1", "If-Range": '"stale"'}
    )

    assert (same.status_code, same.content) == (206, DIGITS[:2])
    assert (stale.status_code, stale.content) == (200, DIGITS)


@pytest.mark.slow
def test_range_of_a_large_object_holds_only_the_range(store: Store) -> None:
    data = os.urandom(20 * 2**20)
    store.write("ranged.bin", data, None)
    store.session.head(store.url("ranged.bin"))  # build the client first

    tracemalloc.start()
    try:
        response = store.session.get(
            store.url("ranged.bin"), headers={"Range": "bytes=10485760-10551295"}, stream=True
        )
        body = b"".join(response.iter_content(2**14))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert body == data[10485760:10551296]
    assert peak < 4 * 2**20, f"a 64 KiB range peaked at {peak} bytes"


# --- Conditionals (RFC 9110 §13) ---------------------------------------------------------


def _validators(store: Store, key: str) -> tuple[str, str]:
    head = store.session.head(store.url(key))
    return head.headers["ETag"], head.headers["Last-Modified"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_if_none_match_and_if_modified_since_give_304(store: Store, method: str) -> None:
    store.write("cond.txt", b"v1", None)
    etag, modified = _validators(store, "cond.txt")
    url = store.url("cond.txt")

    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", {etag}'},
        {"If-None-Match": "*"},
        {"If-None-Match": "W/" + etag},  # weak comparison
        {"If-Modified-Since": modified},
    ):
        response = store.session.request(method, url, headers=headers)
        assert response.status_code == 304, headers
        assert response.content == b""
        assert response.headers["ETag"] == etag

    for headers in (
        {"If-None-Match": '"other"'},
        {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"},
        {"If-Modified-Since": "not a date"},
        # If-None-Match wins over If-Modified-Since.
        {"If-None-Match": '"other"', "If-Modified-Since": modified},
    ):
        assert store.session.request(method, url, headers=headers).status_code == 200, headers


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_if_match_and_if_unmodified_since_give_412(store: Store, method: str) -> None:
    store.write("cond.txt", b"v1", None)
    etag, modified = _validators(store, "cond.txt")
    url = store.url("cond.txt")

    for headers in (
        {"If-Match": '"other"'},
        {"If-Match": "W/" + etag},  # strong comparison
        {"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"},
        # If-Match is evaluated before If-None-Match (RFC 9110 §13.2.2): 412, not 304.
        {"If-Match": '"other"', "If-None-Match": etag},
        {"If-Match": '"other"', "If-None-Match": "*"},
    ):
        assert store.session.request(method, url, headers=headers).status_code == 412, headers
    both = store.session.request(method, url, headers={"If-Match": etag, "If-None-Match": etag})
    assert both.status_code == 304
    for headers in (
        {"If-Match": etag},
        {"If-Match": "*"},
        {"If-Unmodified-Since": modified},
        # If-Match wins over If-Unmodified-Since.
        {"If-Match": etag, "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"},
    ):
        assert store.session.request(method, url, headers=headers).status_code == 200, headers


# --- Writes ------------------------------------------------------------------------------


def test_put_bytes_creates_then_replaces(store: Store) -> None:
    # One store request per PUT: the store's answer does not say whether it replaced an
    # object, so an unconditional PUT is 200 either way (If-None-Match: * gives 201).
    url = store.url("put/new.json")

    created = store.session.put(url, data=b'{"v": 1}')
    replaced = store.session.put(url, data=b'{"v": 2}')

    assert created.status_code == 200
    assert replaced.status_code == 200
    assert created.headers["ETag"]
    response = store.session.get(url)
    assert response.json() == {"v": 2}
    assert response.headers["ETag"] == replaced.headers["ETag"]


def test_put_streams_file_objects_and_generators(store: Store, tmp_path: Any) -> None:
    payload = os.urandom(3 * 2**20 + 17)
    source = tmp_path / "upload.bin"
    source.write_bytes(payload)

    with source.open("rb") as handle:
        assert store.session.put(store.url("put/file.bin"), data=handle).status_code == 200

    def generate() -> Iterator[bytes]:
        for start in range(0, len(payload), 100_000):
            yield payload[start : start + 100_000]

    assert store.session.put(store.url("put/gen.bin"), data=generate()).status_code == 200
    assert store.session.get(store.url("put/file.bin")).content == payload
    assert store.session.get(store.url("put/gen.bin")).content == payload


def test_put_stores_the_content_type(store: Store) -> None:
    if store.name in CANNOT_STORE_CONTENT_TYPE:
        pytest.xfail(CANNOT_STORE_CONTENT_TYPE[store.name])
    url = store.url("put/typed.data")

    store.session.put(url, data=b"x", headers={"Content-Type": "application/x-typed"})

    assert store.session.head(url).headers["Content-Type"] == "application/x-typed"


def _azure_uncommitted_blocks(request: pytest.FixtureRequest, url: str) -> list[str]:
    """The names of the blocks staged, and not committed, under an az:// URL."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import BlobServiceClient

    endpoint = request.getfixturevalue("azurite_endpoint")
    container, blob = url.removeprefix("az://").split("/", 1)
    client = BlobServiceClient.from_connection_string(azurite_connection_string(endpoint))
    try:
        _, uncommitted = client.get_blob_client(container, blob).get_block_list("uncommitted")
    except ResourceNotFoundError:
        return []
    return [block.id for block in uncommitted]


def test_failed_upload_leaves_no_object(store: Store, request: pytest.FixtureRequest) -> None:
    url = store.url("put/broken.bin")

    def broken() -> Iterator[bytes]:
        yield b"a" * (9 * 2**20)  # past one upload block: some parts may already be sent
        raise RuntimeError("the source of the upload broke")

    with pytest.raises(RuntimeError, match="source of the upload broke"):
        store.session.put(url, data=broken())
    # An abandoned upload object must not commit from its finalizer (adlfs's close() does):
    # run finalizers now, so that such a commit shows here and not in a later test.
    gc.collect()

    assert store.session.head(url).status_code == 404
    if store.name == "az":
        assert _azure_uncommitted_blocks(request, url) == [], "staged blocks were left behind"
    store.session.put(url, data=b"old")
    with pytest.raises(RuntimeError):
        store.session.put(url, data=broken())
    gc.collect()
    assert store.session.get(url).content == b"old"


def test_conditional_puts(store: Store) -> None:
    url = store.url("put/cond.txt")

    assert store.session.put(url, data=b"1", headers={"If-None-Match": "*"}).status_code == 201
    refused = store.session.put(url, data=b"2", headers={"If-None-Match": "*"})
    assert refused.status_code == 412
    assert store.session.get(url).content == b"1"

    etag = store.session.head(url).headers["ETag"]
    stale = store.session.put(url, data=b"3", headers={"If-Match": '"stale"'})
    assert stale.status_code == 412
    assert store.session.put(url, data=b"4", headers={"If-Match": etag}).status_code == 204
    assert store.session.get(url).content == b"4"
    missing = store.session.put(store.url("put/none.txt"), data=b"x", headers={"If-Match": "*"})
    assert missing.status_code == 412


def test_conditional_deletes(store: Store) -> None:
    store.write("cond-delete.txt", b"keep me", None)
    url = store.url("cond-delete.txt")
    etag, _ = _validators(store, "cond-delete.txt")

    for headers in (
        {"If-Match": '"stale"'},
        {"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"},
    ):
        refused = store.session.delete(url, headers=headers)
        assert refused.status_code == 412, headers
        assert store.session.get(url).content == b"keep me", headers

    assert store.session.delete(url, headers={"If-Match": etag}).status_code == 204
    assert store.session.head(url).status_code == 404
    store.write("cond-delete.txt", b"again", None)
    since = {"If-Unmodified-Since": store.session.head(url).headers["Last-Modified"]}
    assert store.session.delete(url, headers=since).status_code == 204
    assert store.session.head(url).status_code == 404


def test_delete_is_204_even_when_nothing_was_there(store: Store) -> None:
    # One store request per DELETE: S3's DeleteObject does not say whether something was
    # removed, so no backend says (DELETE is idempotent: what is asked holds either way).
    store.write("gone.txt", b"bye", None)

    assert store.session.delete(store.url("gone.txt")).status_code == 204
    assert store.session.get(store.url("gone.txt")).status_code == 404
    assert store.session.delete(store.url("gone.txt")).status_code == 204


@pytest.mark.parametrize("method", ["POST", "PATCH", "OPTIONS"])
def test_other_methods_are_405(store: Store, method: str) -> None:
    response = store.session.request(method, store.url("x.txt"))

    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"DELETE", "GET", "HEAD", "PUT"}


# --- Listing -----------------------------------------------------------------------------


def test_get_on_a_prefix_lists_it(store: Store) -> None:
    store.write("tree/b.csv", b"12345678", None)
    store.write("tree/a.txt", b"a", None)
    store.write("tree/sub/deep.txt", b"deep", None)

    response = store.session.get(store.url("tree/"))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    listing = response.json()
    assert listing["url"] == store.url("tree/")
    names = [entry["name"] for entry in listing["entries"]]
    assert names == ["a.txt", "b.csv", "sub/"]
    b_csv = listing["entries"][1]
    assert b_csv["url"] == store.url("tree/b.csv")
    assert b_csv["type"] == "file"
    assert b_csv["size"] == 8
    assert b_csv["etag"] == store.session.head(store.url("tree/b.csv")).headers["ETag"]
    assert b_csv["last_modified"].endswith("Z")
    assert listing["entries"][2]["type"] == "directory"
    assert listing["entries"][2]["url"] == store.url("tree/sub/")


def test_empty_prefix_is_404(store: Store) -> None:
    assert store.session.get(store.url("nothing-here/")).status_code == 404


def _upload_peak(store: Store, key: str, size: int) -> int:
    block = os.urandom(2**20)

    def generate() -> Iterator[bytes]:
        for _ in range(size // len(block)):
            yield block

    store.session.head(store.url(key))  # build the client first: not part of the upload
    tracemalloc.start()
    try:
        assert store.session.put(store.url(key), data=generate()).status_code == 200
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert store.session.head(store.url(key)).headers["Content-Length"] == str(size)
    return peak


@pytest.mark.slow
def test_generator_upload_holds_bounded_memory(store: Store) -> None:
    if store.name == "memory":
        pytest.xfail("fsspec's memory filesystem holds every object in memory by design")
    # Two 5 MiB parts in flight at most, so that both bodies are many times what is held.
    parts = TransferConfig(part_size=5 * 2**20, max_concurrency=2)
    store.registry.register(store.url("up/"), transfer=parts)
    small = _upload_peak(store, "up/small.bin", 16 * 2**20)
    large = _upload_peak(store, "up/large.bin", 64 * 2**20)

    # Bounded means the peak does not follow the size: 48 MiB more body may add a few MiB of
    # noise (SDK buffers, tracemalloc sees every thread), never a third of the difference.
    print(f"{store.name}: 16 MiB peaked at {small} bytes, 64 MiB at {large}")
    assert large < 32 * 2**20, f"uploading 64 MiB peaked at {large} bytes"
    assert large - small < 16 * 2**20, f"peak grew from {small} to {large} bytes with size"


# --- What the store keeps with an object ------------------------------------------------------

#: What a backend cannot keep of the stored headers, with the reason.
CANNOT_STORE_HEADERS = {
    "memory": "fsspec's memory filesystem keeps no metadata",
    "file": "a local file has no stored metadata",
    "ftp": "a file on an FTP server has no stored metadata",
    "sshfs": "a file on an SFTP server has no stored metadata",
    "paramiko": "a file on an SFTP server has no stored metadata",
    "webdav": "webdav4 writes no properties with a file",
}
CANNOT_STORE_EXPIRES = {
    "s3_native": "obstore does not report Expires: the reason native_gets is opt-in",
    "gs": "GCS keeps no Expires with an object",
    "az": "Azure Blob Storage keeps no Expires with a blob",
}

STORED = {
    "Cache-Control": "max-age=60, public",
    "Content-Disposition": 'attachment; filename="report.csv"',
    "Content-Encoding": "identity",
    "Content-Language": "fr-CA",
    "Expires": "Thu, 01 Dec 2044 16:00:00 GMT",
    "X-Object-Meta-owner": "team-data",
}


def _cannot_store(request: pytest.FixtureRequest, store: Store, header: str) -> None:
    reason = CANNOT_STORE_HEADERS.get(store.name)
    if header == "Expires":
        reason = reason or CANNOT_STORE_EXPIRES.get(store.name)
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.mark.parametrize("header", sorted(STORED))
def test_put_stores_the_representation_headers(
    request: pytest.FixtureRequest, store: Store, header: str
) -> None:
    _cannot_store(request, store, header)
    url = store.url("stored/report.csv")

    put = store.session.put(url, data=b"a,b\n", headers={header: STORED[header]})
    got = store.session.get(url)
    head = store.session.head(url)

    assert put.status_code == 200
    assert got.headers.get(header) == STORED[header]
    assert head.headers.get(header) == STORED[header]
    assert got.content == b"a,b\n"


@pytest.mark.slow
def test_streamed_put_stores_the_representation_headers(
    request: pytest.FixtureRequest, store: Store
) -> None:
    _cannot_store(request, store, "Cache-Control")
    url = store.url("stored/big.bin")

    def blocks() -> Iterator[bytes]:
        for _ in range(9):  # past one upload block: the multipart / block-list path
            yield b"z" * 2**20

    headers = {"Cache-Control": "no-store", "X-Object-Meta-origin": "generator"}
    assert store.session.put(url, data=blocks(), headers=headers).status_code == 200

    head = store.session.head(url)
    assert head.headers.get("Cache-Control") == "no-store"
    assert head.headers.get("X-Object-Meta-origin") == "generator"
    assert head.headers["Content-Length"] == str(9 * 2**20)


def test_a_gzip_object_is_decoded_by_requests_as_over_http(
    request: pytest.FixtureRequest, store: Store
) -> None:
    _cannot_store(request, store, "Content-Encoding")
    text = b"hello object store\n" * 500
    packed = gzip.compress(text)
    url = store.url("stored/hello.txt")
    headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain"}
    store.session.put(url, data=packed, headers=headers)

    decoded = store.session.get(url)
    # Closed before any assertion: on a store expected to fail one, no stream is left open.
    with store.session.get(url, stream=True) as raw:
        stored = raw.raw.read()
    with store.session.get(url, headers={"Range": "bytes=0-1"}, stream=True) as ranged:
        stored_range = ranged.raw.read()

    assert decoded.headers["Content-Encoding"] == "gzip"
    assert decoded.headers["Content-Length"] == str(len(packed))
    assert decoded.content == text  # requests decodes, as it does over HTTP
    assert stored == packed  # the stored bytes
    assert stored_range == packed[:2]  # a range of the stored bytes


def test_a_bad_metadata_name_is_400(store: Store) -> None:
    response = store.session.put(store.url("stored/x"), data=b"x", headers={"X-Object-Meta-": "v"})

    assert response.status_code == 400
    assert "X-Object-Meta-" in response.json()["detail"]


_WHOLE_PUTS_ONLY = (
    "fsspec's HTTP filesystem writes a body only whole, in one PUT (pipe_file), and makes "
    "no folders: a body over one block is 405, and the suite's web server (wsgidav) refuses "
    "a PUT into a folder that is not there"
)
_NO_DELETE = "fsspec's HTTP filesystem sends no DELETE: 405 with Allow: GET, HEAD"
_NO_HEADERS = "a web server keeps none of the headers a PUT sends"

#: What a web server reached through fsspec's HTTP filesystem cannot do, per test.
HTTP_CANNOT = {
    "test_keys_are_taken_literally": "an HTTP URL's path is percent-encoded: its '%20' names "
    "a space on the server, as in any web URL",
    "test_put_bytes_creates_then_replaces": _WHOLE_PUTS_ONLY,
    "test_put_streams_file_objects_and_generators": _WHOLE_PUTS_ONLY,
    "test_failed_upload_leaves_no_object": _WHOLE_PUTS_ONLY,
    "test_conditional_puts": _WHOLE_PUTS_ONLY,
    "test_generator_upload_holds_bounded_memory": _WHOLE_PUTS_ONLY,
    "test_conditional_deletes": _NO_DELETE,
    "test_delete_is_204_even_when_nothing_was_there": _NO_DELETE,
    "test_get_on_a_prefix_lists_it": "a web server's folder is an HTML page, whose links "
    "fsspec lists as they are ('./' among them, sub-folders as files)",
    "test_put_stores_the_representation_headers": _NO_HEADERS,
    "test_streamed_put_stores_the_representation_headers": _NO_HEADERS,
    "test_a_gzip_object_is_decoded_by_requests_as_over_http": _NO_HEADERS,
}


@pytest.fixture(params=BACKENDS + PROTOCOLS)
def store(request: pytest.FixtureRequest) -> Store:
    """Every backend, and the servers of other protocols (issue 22)."""
    if request.param == "http" and request.function.__name__ in HTTP_CANNOT:
        reason = HTTP_CANNOT[request.function.__name__]
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    value: Store = request.getfixturevalue(f"{request.param}_store")
    return value
