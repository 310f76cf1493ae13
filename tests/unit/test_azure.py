"""AzureBackend on Azurite, method by method: the requests each sends (ranged GETs of one
chunk, tried once, redirects refused), what the store's answer becomes (metadata, the stored
bytes, a 304/412, VersionChanged), listings, and block uploads."""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
import types
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fsspec.asyn
import pytest
from adlfs import AzureBlobFileSystem
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings
from fsspec.asyn import FSTimeoutError

from objstore_adapter._backends.azure import AZURE_CHUNK, AzureBackend, AzureBlocks
from objstore_adapter._body import StoreGet
from objstore_adapter._errors import store_answer
from objstore_adapter._http import ByteRange, Timeouts, WriteCondition
from objstore_adapter._info import ObjectInfo, Representation
from objstore_adapter._transfer import VersionChanged
from objstore_adapter._transfer.upload import FileSlice

from .._proxy import RecordingProxy
from ..conftest import azurite_connection_string

TIMEOUTS = Timeouts(request=10, read=10, connect=5)
BACKEND = AzureBackend()
DIGITS = b"0123456789"


def _fs(endpoint: str) -> Any:
    fs = AzureBlobFileSystem(
        connection_string=azurite_connection_string(endpoint), skip_instance_cache=True
    )
    BACKEND.configure(fs)
    return fs


def _read_all(body: Any, n: int = 1 << 16) -> bytes:
    parts = []
    try:
        while chunk := body.read(n):
            parts.append(chunk)
    finally:
        body.close()
    return b"".join(parts)


def _status(exc: BaseException) -> int | None:
    answer = store_answer(exc)
    return None if answer is None else answer.status


@pytest.fixture
def fs(azurite_endpoint: str) -> Any:
    return _fs(azurite_endpoint)


@pytest.fixture
def proxy(azurite_endpoint: str) -> Iterator[RecordingProxy]:
    with RecordingProxy(int(azurite_endpoint.rsplit(":", 1)[1])) as proxy:
        yield proxy


@pytest.fixture
def container(azurite_endpoint: str, az_container: str) -> Any:
    service = BlobServiceClient.from_connection_string(azurite_connection_string(azurite_endpoint))
    return service.get_container_client(az_container)


@pytest.fixture
def prefix(az_container: str) -> str:
    return f"{az_container}/{uuid.uuid4().hex}"


@pytest.fixture
def path(container: Any, prefix: str) -> str:
    """A blob holding ``0123456789`` as text/x-digits, with stored headers and metadata."""
    name = f"{prefix}/digits"
    settings = ContentSettings(content_type="text/x-digits", cache_control="max-age=60")
    container.upload_blob(
        _key(name), DIGITS, content_settings=settings, metadata={"owner": "me"}, overwrite=True
    )
    return name


def _key(path: str) -> str:
    return path.split("/", 1)[1]


# --- configure -------------------------------------------------------------------------------


def test_configure_tries_each_request_once(proxy: RecordingProxy, path: str) -> None:
    fs = _fs(proxy.endpoint)
    proxy.answer(503)
    with pytest.raises(HttpResponseError) as raised:
        BACKEND.stat(fs, path, TIMEOUTS)
    assert raised.value.status_code == 503
    assert len(proxy.requests) == 1


def test_configure_refuses_redirects(proxy: RecordingProxy, path: str) -> None:
    fs = _fs(proxy.endpoint)
    proxy.answer(307, {"Location": f"{proxy.endpoint}/elsewhere"})
    with pytest.raises(HttpResponseError) as raised:
        BACKEND.stat(fs, path, TIMEOUTS)
    assert raised.value.status_code == 307
    assert len(proxy.requests) == 1


def test_configure_sends_no_request_again_on_a_dropped_connection(
    proxy: RecordingProxy, path: str
) -> None:
    fs = _fs(proxy.endpoint)
    BACKEND.stat(fs, path, TIMEOUTS)  # a kept-alive connection to reuse
    proxy.stall_seconds = 0.01  # then closed without an answer
    with pytest.raises(Exception):  # noqa: B017,PT011 - the SDK's wrapping of a dropped connection
        BACKEND.stat(fs, path, TIMEOUTS)
    assert len(proxy.requests) == 2


async def _open_nothing() -> None:
    return None


def _fake(**attributes: Any) -> Any:
    return types.SimpleNamespace(**attributes)


@pytest.mark.parametrize(
    "client",
    [
        None,
        _fake(),
        _fake(_config=_fake(retry_policy=None)),
        _fake(_config=_fake()),
        _fake(_pipeline=_fake()),
        _fake(_pipeline=_fake(_transport=_fake())),
        _fake(_pipeline=_fake(_transport=_fake(open=_open_nothing))),
    ],
    ids=[
        "no client",
        "bare",
        "no retry policy",
        "no policies",
        "no transport",
        "no open",
        "no session",
    ],
)
def test_configure_leaves_what_another_sdk_version_lacks_alone(client: Any) -> None:
    """The SDK internals it adjusts may be missing from another azure-core or adlfs."""
    fs = (
        _fake(loop=fsspec.asyn.get_loop())
        if client is None
        else _fake(service_client=client, loop=fsspec.asyn.get_loop())
    )
    BACKEND.configure(fs)


def test_a_version_in_the_path_is_the_version_asked_for(
    proxy: RecordingProxy, azurite_endpoint: str, path: str
) -> None:
    fs = AzureBlobFileSystem(
        connection_string=azurite_connection_string(proxy.endpoint),
        skip_instance_cache=True,
        version_aware=True,
    )
    BACKEND.configure(fs)
    version = "2026-01-02T03:04:05.0000000Z"
    with contextlib.suppress(Exception):  # whatever Azurite, which keeps no versions, answers
        BACKEND.stat(fs, f"{path}?versionid={version}", TIMEOUTS)
    sent = urllib.parse.urlsplit(proxy.requests[-1][1])
    assert urllib.parse.parse_qs(sent.query)["versionid"] == [version]


# --- metadata --------------------------------------------------------------------------------


def test_stat_reads_the_blob_properties(fs: Any, path: str, container: Any) -> None:
    props = container.get_blob_client(_key(path)).get_blob_properties()
    info = BACKEND.stat(fs, path, TIMEOUTS)
    assert info.size == 10
    assert info.content_type == "text/x-digits"
    assert info.etag == f'"{props.etag.strip(chr(34))}"'
    assert info.last_modified == props.last_modified
    assert info.headers["Cache-Control"] == "max-age=60"
    assert info.headers["X-Object-Meta-owner"] == "me"
    assert info.md5 == props.content_settings.content_md5.hex()


def test_stat_of_a_missing_blob_is_file_not_found(fs: Any, prefix: str) -> None:
    with pytest.raises(FileNotFoundError, match=f"{prefix}/missing"):
        BACKEND.stat(fs, f"{prefix}/missing", TIMEOUTS)


# --- reads -----------------------------------------------------------------------------------


def test_open_streams_the_blob_with_its_metadata(fs: Any, path: str) -> None:
    info, body = BACKEND.open(fs, path, TIMEOUTS)
    assert _read_all(body) == DIGITS
    assert info.size == 10
    assert info.content_type == "text/x-digits"
    assert info.headers["X-Object-Meta-owner"] == "me"


def test_open_reads_a_range(fs: Any, path: str) -> None:
    info, body = BACKEND.open(fs, path, TIMEOUTS, ByteRange(2, 5))
    assert _read_all(body) == b"2345"
    assert info.size == 10


def test_open_of_an_empty_blob(fs: Any, container: Any, prefix: str) -> None:
    container.upload_blob(_key(f"{prefix}/empty"), b"", overwrite=True)
    info, body = BACKEND.open(fs, f"{prefix}/empty", TIMEOUTS)
    assert info.size == 0
    assert body.read(10) == b""
    body.close()


def test_open_of_a_missing_blob_is_file_not_found(fs: Any, prefix: str) -> None:
    with pytest.raises(FileNotFoundError, match=f"{prefix}/missing"):
        BACKEND.open(fs, f"{prefix}/missing", TIMEOUTS)


def test_open_passes_a_gzip_blob_on_as_stored(fs: Any, container: Any, prefix: str) -> None:
    stored = gzip.compress(b"hello, hello, hello")
    settings = ContentSettings(content_type="text/plain", content_encoding="gzip")
    container.upload_blob(_key(f"{prefix}/gz"), stored, content_settings=settings)
    info, body = BACKEND.open(fs, f"{prefix}/gz", TIMEOUTS)
    assert _read_all(body) == stored
    assert info.headers["Content-Encoding"] == "gzip"


def test_open_direct_whole_is_a_200(fs: Any, path: str) -> None:
    answer = BACKEND.open_direct(fs, path, TIMEOUTS, None, {})
    assert answer is not None
    assert answer.status == 200
    assert answer.served is None
    assert answer.info.size == 10
    assert _read_all(answer.body) == DIGITS


@pytest.mark.parametrize(
    ("span", "served", "data"),
    [
        ((2, 5), ByteRange(2, 5), b"2345"),
        ((0, 0), ByteRange(0, 0), b"0"),
        ((7, None), ByteRange(7, 9), b"789"),
        ((9, 9), ByteRange(9, 9), b"9"),
        ((4, 100), ByteRange(4, 9), b"456789"),
    ],
)
def test_open_direct_serves_a_span(
    fs: Any, path: str, span: tuple[int, int | None], served: ByteRange, data: bytes
) -> None:
    answer = BACKEND.open_direct(fs, path, TIMEOUTS, span, {})
    assert answer is not None
    assert answer.status == 206
    assert answer.served == served
    assert answer.info.size == 10  # the blob's, from Content-Range
    assert _read_all(answer.body) == data


def test_open_direct_of_a_span_past_the_end_is_none(fs: Any, path: str) -> None:
    assert BACKEND.open_direct(fs, path, TIMEOUTS, (10, None), {}) is None
    assert BACKEND.open_direct(fs, path, TIMEOUTS, (50, 60), {}) is None


def test_open_of_a_range_past_the_end_is_the_blob_without_bytes(fs: Any, path: str) -> None:
    info, body = BACKEND.open(fs, path, TIMEOUTS, ByteRange(10, 20))
    assert info.size == 10
    assert _read_all(body) == b""


def test_open_direct_asks_one_chunk_of_the_span(proxy: RecordingProxy, path: str) -> None:
    fs = _fs(proxy.endpoint)
    _read_all(BACKEND.open_direct(fs, path, TIMEOUTS, (3, 6), {}).body)  # type: ignore[union-attr]
    assert proxy.request_headers[-1].get("x-ms-range") == "bytes=3-6"
    _read_all(BACKEND.open_direct(fs, path, TIMEOUTS, None, {}).body)  # type: ignore[union-attr]
    assert proxy.request_headers[-1].get("x-ms-range") == f"bytes=0-{AZURE_CHUNK - 1}"
    assert len(proxy.requests) == 2


def test_a_blob_over_one_chunk_streams_in_chunks(
    proxy: RecordingProxy, container: Any, prefix: str
) -> None:
    data = bytes(range(256)) * (AZURE_CHUNK // 256) + b"tail-bytes"
    container.upload_blob(_key(f"{prefix}/big"), data)
    fs = _fs(proxy.endpoint)
    answer = BACKEND.open_direct(fs, f"{prefix}/big", TIMEOUTS, None, {})
    assert answer is not None
    assert answer.info.size == len(data)
    assert _read_all(answer.body, 3 * 2**20) == data
    ranges = [headers.get("x-ms-range") for headers in proxy.request_headers]
    assert ranges == [f"bytes=0-{AZURE_CHUNK - 1}", f"bytes={AZURE_CHUNK}-{len(data) - 1}"]
    # Every range after the first is pinned to the first one's ETag.
    assert proxy.request_headers[1].get("If-Match") == answer.info.etag


@pytest.mark.parametrize("tail", [1, AZURE_CHUNK + 7])
def test_each_read_is_at_most_what_was_asked_up_to_the_last_byte(
    fs: Any, container: Any, prefix: str, tail: int
) -> None:
    data = bytes(range(256)) * (AZURE_CHUNK // 256) + b"t" * tail
    container.upload_blob(_key(f"{prefix}/odd"), data)
    answer = BACKEND.open_direct(fs, f"{prefix}/odd", TIMEOUTS, None, {})
    assert answer is not None
    assert answer.body is not None

    reads = []
    while chunk := answer.body.read(2**20 + 3):
        reads.append(chunk)
    answer.body.close()

    assert b"".join(reads) == data
    assert max(len(chunk) for chunk in reads) <= 2**20 + 3


def test_a_blob_replaced_mid_stream_is_version_changed(
    fs: Any, container: Any, prefix: str
) -> None:
    data = b"a" * (AZURE_CHUNK + 10)
    container.upload_blob(_key(f"{prefix}/moving"), data)
    answer = BACKEND.open_direct(fs, f"{prefix}/moving", TIMEOUTS, None, {})
    assert answer is not None
    assert answer.body is not None
    assert len(answer.body.read(AZURE_CHUNK)) == AZURE_CHUNK
    container.upload_blob(_key(f"{prefix}/moving"), b"b" * (AZURE_CHUNK + 10), overwrite=True)
    with pytest.raises(VersionChanged, match=_key(f"{prefix}/moving")):
        answer.body.read(10)


def _etag(fs: Any, path: str) -> str:
    etag = BACKEND.stat(fs, path, TIMEOUTS).etag
    assert etag is not None
    return etag


def test_open_direct_if_match(fs: Any, path: str) -> None:
    etag = _etag(fs, path)
    answer = BACKEND.open_direct(fs, path, TIMEOUTS, None, {"If-Match": etag})
    assert answer is not None
    assert answer.status == 200
    assert _read_all(answer.body) == DIGITS
    refused = BACKEND.open_direct(fs, path, TIMEOUTS, None, {"If-Match": '"other"'})
    assert refused is not None
    assert refused == StoreGet(412, refused.info, None, None)


def test_open_direct_if_none_match(fs: Any, path: str, proxy: RecordingProxy) -> None:
    etag = _etag(fs, path)
    answer = BACKEND.open_direct(fs, path, TIMEOUTS, None, {"If-None-Match": '"other"'})
    assert answer is not None
    assert answer.status == 200
    assert _read_all(answer.body) == DIGITS
    # Azurite's 304 names no validators: the careful path asks for them.
    assert BACKEND.open_direct(fs, path, TIMEOUTS, None, {"If-None-Match": etag}) is None
    # A 304 that names them is the answer.
    proxied = _fs(proxy.endpoint)
    proxy.answer(304, {"ETag": etag})
    not_modified = BACKEND.open_direct(proxied, path, TIMEOUTS, None, {"If-None-Match": etag})
    assert not_modified is not None
    assert not_modified.status == 304
    assert not_modified.info.etag == etag
    assert not_modified.body is None
    sent = proxy.request_headers[-1]
    assert sent.get("If-None-Match") == etag
    assert "If-Match" not in sent


def test_open_direct_with_both_etag_conditions_is_for_the_careful_path(fs: Any, path: str) -> None:
    both = {"If-Match": '"a"', "If-None-Match": '"b"'}
    assert BACKEND.open_direct(fs, path, TIMEOUTS, None, both) is None


def test_open_direct_sends_the_etag_conditions(
    proxy: RecordingProxy, azurite_endpoint: str, path: str
) -> None:
    etag = _etag(_fs(azurite_endpoint), path)
    fs = _fs(proxy.endpoint)
    _read_all(BACKEND.open_direct(fs, path, TIMEOUTS, None, {"If-Match": etag}).body)  # type: ignore[union-attr]
    sent = proxy.request_headers[-1]
    assert sent.get("If-Match") == etag
    assert "If-None-Match" not in sent


def test_open_direct_date_conditions(fs: Any, path: str) -> None:
    modified = BACKEND.stat(fs, path, TIMEOUTS).last_modified
    assert modified is not None
    after = "Fri, 01 Jan 2100 00:00:00 GMT"
    before = "Mon, 01 Jan 2001 00:00:00 GMT"
    refused = BACKEND.open_direct(fs, path, TIMEOUTS, None, {"If-Unmodified-Since": before})
    assert refused is not None
    assert refused.status == 412
    kept = BACKEND.open_direct(fs, path, TIMEOUTS, None, {"If-Unmodified-Since": after})
    assert kept is not None
    assert kept.status == 200
    _read_all(kept.body)
    changed = BACKEND.open_direct(fs, path, TIMEOUTS, None, {"If-Modified-Since": before})
    assert changed is not None
    assert changed.status == 200
    _read_all(changed.body)
    # Not modified since: Azurite's 304 names no validators, so the careful path answers.
    assert BACKEND.open_direct(fs, path, TIMEOUTS, None, {"If-Modified-Since": after}) is None


def test_open_direct_passes_other_errors_on(proxy: RecordingProxy, path: str) -> None:
    fs = _fs(proxy.endpoint)
    proxy.answer(500)
    with pytest.raises(HttpResponseError) as raised:
        BACKEND.open_direct(fs, path, TIMEOUTS, None, {})
    assert raised.value.status_code == 500


def test_open_direct_of_an_unsatisfiable_range_answer_is_none(
    proxy: RecordingProxy, path: str
) -> None:
    fs = _fs(proxy.endpoint)
    proxy.answer(416)
    assert BACKEND.open_direct(fs, path, TIMEOUTS, (3, 4), {}) is None


def test_open_direct_of_a_cut_first_range_is_a_connection_error(
    proxy: RecordingProxy, path: str
) -> None:
    fs = _fs(proxy.endpoint)
    proxy.cut_body_after = 4
    with pytest.raises(ConnectionError, match=f"reading {path} "):
        BACKEND.open_direct(fs, path, TIMEOUTS, None, {})


def test_can_resume_with_an_etag(fs: Any) -> None:
    assert BACKEND.can_resume(fs, ObjectInfo(size=1, etag='"x"'))
    assert not BACKEND.can_resume(fs, ObjectInfo(size=1))


def test_open_part_reads_the_stop_exclusive_range_of_that_version(fs: Any, path: str) -> None:
    info = BACKEND.stat(fs, path, TIMEOUTS)
    assert _read_all(BACKEND.open_part(fs, path, TIMEOUTS, 3, 7, info)) == b"3456"
    body = BACKEND.open_part(fs, path, TIMEOUTS, 3, 7, info)
    assert [body.read(3), body.read(3), body.read(3)] == [b"345", b"6", b""]
    assert _read_all(BACKEND.open_part(fs, path, TIMEOUTS, 9, 10, info)) == b"9"


def test_open_part_passes_a_gzip_blob_on_as_stored(fs: Any, container: Any, prefix: str) -> None:
    stored = gzip.compress(b"hello, hello, hello")
    settings = ContentSettings(content_type="text/plain", content_encoding="gzip")
    container.upload_blob(_key(f"{prefix}/gz"), stored, content_settings=settings)
    info = BACKEND.stat(fs, f"{prefix}/gz", TIMEOUTS)
    body = BACKEND.open_part(fs, f"{prefix}/gz", TIMEOUTS, 0, len(stored), info)
    assert _read_all(body) == stored


def test_open_part_of_a_replaced_blob_is_version_changed(
    fs: Any, path: str, container: Any
) -> None:
    info = BACKEND.stat(fs, path, TIMEOUTS)
    container.upload_blob(_key(path), b"abcdefghij", overwrite=True)
    body = BACKEND.open_part(fs, path, TIMEOUTS, 0, 4, info)
    with pytest.raises(VersionChanged, match=_key(path)):
        body.read(4)


# --- writes ----------------------------------------------------------------------------------


def test_write_options_are_content_settings() -> None:
    stored = Representation(
        "text/x-digits",
        {"Cache-Control": "no-cache", "Content-Disposition": "inline", "Expires": "never"},
        {"owner": "me"},
    )
    assert BACKEND.write_options(stored) == {
        "content_settings": {
            "content_type": "text/x-digits",
            "cache_control": "no-cache",
            "content_disposition": "inline",
        },
        "metadata": {"owner": "me"},
    }
    assert BACKEND.write_options(Representation("a/b")) == {
        "content_settings": {"content_type": "a/b"},
        "metadata": None,
    }


def test_write_whole_stores_bytes_settings_and_metadata(
    fs: Any, prefix: str, container: Any
) -> None:
    path = f"{prefix}/written"
    stored = Representation("text/x-words", {"Content-Language": "en"}, {"owner": "me"})
    info = BACKEND.write_whole(fs, path, b"some words", stored, None, TIMEOUTS)
    blob = container.get_blob_client(_key(path))
    props = blob.get_blob_properties()
    assert blob.download_blob().readall() == b"some words"
    assert props.content_settings.content_type == "text/x-words"
    assert props.content_settings.content_language == "en"
    assert props.metadata == {"owner": "me"}
    assert info is not None
    assert info.size == 10
    assert info.etag == BACKEND.stat(fs, path, TIMEOUTS).etag
    assert info.last_modified == props.last_modified


def test_write_whole_replaces(fs: Any, path: str) -> None:
    BACKEND.write_whole(fs, path, b"new", Representation("a/b"), None, TIMEOUTS)
    assert fs.cat_file(path) == b"new"


def test_write_whole_create_only(fs: Any, path: str, prefix: str) -> None:
    create = WriteCondition(create=True)
    with pytest.raises(HttpResponseError) as raised:
        BACKEND.write_whole(fs, path, b"new", Representation("a/b"), create, TIMEOUTS)
    assert raised.value.status_code in (409, 412)
    assert fs.cat_file(path) == DIGITS
    BACKEND.write_whole(fs, f"{prefix}/fresh", b"new", Representation("a/b"), create, TIMEOUTS)
    assert fs.cat_file(f"{prefix}/fresh") == b"new"


def test_write_whole_if_the_etag_matches(fs: Any, path: str) -> None:
    stale = WriteCondition(etag='"stale"')
    with pytest.raises(HttpResponseError) as raised:
        BACKEND.write_whole(fs, path, b"new", Representation("a/b"), stale, TIMEOUTS)
    assert raised.value.status_code == 412
    current = WriteCondition(etag=_etag(fs, path))
    BACKEND.write_whole(fs, path, b"new", Representation("a/b"), current, TIMEOUTS)
    assert fs.cat_file(path) == b"new"


def test_delete(fs: Any, path: str) -> None:
    BACKEND.delete(fs, path, TIMEOUTS)
    assert not fs.exists(path)


def test_delete_invalidates_the_cached_listing_of_the_blob(fs: Any, path: str) -> None:
    assert [entry["name"] for entry in fs.ls(path, detail=True)] == [path]
    BACKEND.delete(fs, path, TIMEOUTS)
    with pytest.raises(FileNotFoundError):
        fs.ls(path, detail=True)


def test_delete_of_a_missing_blob_is_file_not_found(fs: Any, prefix: str) -> None:
    with pytest.raises(FileNotFoundError, match=f"{prefix}/missing"):
        BACKEND.delete(fs, f"{prefix}/missing", TIMEOUTS)


def test_delete_if_the_etag_matches(fs: Any, path: str) -> None:
    with pytest.raises(HttpResponseError) as raised:
        BACKEND.delete(fs, path, TIMEOUTS, etag='"stale"')
    assert raised.value.status_code == 412
    assert fs.exists(path)
    BACKEND.delete(fs, path, TIMEOUTS, etag=_etag(fs, path))
    assert not fs.exists(path)


# --- listings --------------------------------------------------------------------------------


def test_list_names_files_and_directories(fs: Any, container: Any, prefix: str) -> None:
    for key, data in [("a.txt", b"aa"), ("b/c.txt", b"ccc"), ("b/d/e.txt", b"e")]:
        container.upload_blob(_key(f"{prefix}/{key}"), data)
    entries = BACKEND.list(fs, prefix, TIMEOUTS)
    props = container.get_blob_client(_key(f"{prefix}/a.txt")).get_blob_properties()
    assert [(e["name"], e["type"]) for e in entries] == [("a.txt", "file"), ("b/", "directory")]
    assert entries[0]["size"] == 2
    assert entries[0]["etag"] == BACKEND.stat(fs, f"{prefix}/a.txt", TIMEOUTS).etag
    modified = props.last_modified.isoformat().replace("+00:00", "Z")
    assert entries[0]["last_modified"] == modified
    assert [e["name"] for e in BACKEND.list(fs, f"{prefix}/b/", TIMEOUTS)] == ["c.txt", "d/"]


def test_list_takes_a_prefix_as_written(fs: Any, container: Any, prefix: str) -> None:
    for key in ["dirX/a.txt", "dir/b.txt"]:
        container.upload_blob(_key(f"{prefix}/{key}"), b"1")
    assert [e["name"] for e in BACKEND.list(fs, f"{prefix}/dirX/", TIMEOUTS)] == ["a.txt"]


def test_list_keeps_keys_under_an_empty_segment(fs: Any, container: Any, prefix: str) -> None:
    for key in ["x/a.txt", "x//b.txt", "x//y/c.txt"]:
        container.upload_blob(_key(f"{prefix}/{key}"), b"1")
    names = [e["name"] for e in BACKEND.list(fs, f"{prefix}/x", TIMEOUTS)]
    assert names == ["/b.txt", "/y/", "a.txt"]


def test_list_shows_directory_markers_as_directories(fs: Any, container: Any, prefix: str) -> None:
    container.upload_blob(_key(f"{prefix}/m/one"), b"", metadata={"is_directory": "true"})
    container.upload_blob(_key(f"{prefix}/m/two"), b"", metadata={"hdi_isfolder": "true"})
    container.upload_blob(_key(f"{prefix}/m/three"), b"", metadata={"other": "true"})
    entries = BACKEND.list(fs, f"{prefix}/m", TIMEOUTS)
    assert [(e["name"], e["type"]) for e in entries] == [
        ("one/", "directory"),
        ("three", "file"),
        ("two/", "directory"),
    ]


def test_list_of_a_prefix_ending_in_a_letter_x(fs: Any, container: Any, prefix: str) -> None:
    for key in ["dirX/inside.txt", "dir/other.txt"]:
        container.upload_blob(_key(f"{prefix}/{key}"), b"1")
    names = [e["name"] for e in BACKEND.list(fs, f"{prefix}/dirX", TIMEOUTS)]
    assert names == ["inside.txt"]


def test_list_asks_for_the_metadata(proxy: RecordingProxy, container: Any, prefix: str) -> None:
    # Azurite reads the include list in any case: the request itself is what Azure sees.
    container.upload_blob(_key(f"{prefix}/a.txt"), b"a")
    BACKEND.list(_fs(proxy.endpoint), prefix, TIMEOUTS)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(proxy.requests[-1][1]).query)
    assert query["include"] == ["metadata"]
    assert query["delimiter"] == ["/"]


def test_list_of_a_missing_container_is_empty(fs: Any) -> None:
    assert BACKEND.list(fs, f"missing-{uuid.uuid4().hex[:12]}/x", TIMEOUTS) == []


def test_list_of_the_account_lists_containers(fs: Any, az_container: str) -> None:
    entries = BACKEND.list(fs, "", TIMEOUTS)
    assert {"name": f"{az_container}/", "type": "directory"} in entries


def test_list_of_a_container(fs: Any, az_container: str, prefix: str, path: str) -> None:
    entries = BACKEND.list(fs, az_container, TIMEOUTS)
    assert {"name": prefix.split("/")[1] + "/", "type": "directory"} in entries


# --- block uploads ---------------------------------------------------------------------------


def _blocks(
    fs: Any, path: str, condition: WriteCondition | None = None, timeouts: Timeouts = TIMEOUTS
) -> Any:
    stored = Representation("text/x-parts", {"Cache-Control": "no-store"}, {"owner": "me"})
    return BACKEND.part_store(fs, path, stored, timeouts, condition)


def test_blocks_commit_with_settings_and_metadata(fs: Any, prefix: str, container: Any) -> None:
    path = f"{prefix}/blocks"
    blocks = _blocks(fs, path)
    blocks.begin()
    tokens = [blocks.send(2, b"second"), blocks.send(1, b"first-")]
    assert len(set(tokens)) == 2
    assert len({len(token) for token in tokens}) == 1
    info = blocks.commit(sorted(tokens))
    blob = container.get_blob_client(_key(path))
    props = blob.get_blob_properties()
    assert blob.download_blob().readall() == b"first-second"
    assert props.content_settings.content_type == "text/x-parts"
    assert props.content_settings.cache_control == "no-store"
    assert props.metadata == {"owner": "me"}
    assert info == ObjectInfo(
        size=0, etag=BACKEND.stat(fs, path, TIMEOUTS).etag, last_modified=props.last_modified
    )
    assert blocks.committed(tokens) is None


def test_blocks_read_a_file_slice_where_it_is_sent(fs: Any, prefix: str, tmp_path: Path) -> None:
    path = f"{prefix}/from-file"
    source = tmp_path / "source.bin"
    source.write_bytes(b"0123456789")
    blocks = _blocks(fs, path)
    blocks.begin()
    with source.open("rb") as file:
        token = blocks.send(1, FileSlice(file.fileno(), 3, 4))
    blocks.commit([token])
    assert fs.cat_file(path) == b"3456"


def test_blocks_keep_the_condition(fs: Any, path: str) -> None:
    blocks = _blocks(fs, path, WriteCondition(create=True))
    blocks.begin()
    token = blocks.send(1, b"x")
    with pytest.raises(HttpResponseError):
        blocks.commit([token])
    assert fs.cat_file(path) == DIGITS


def test_blocks_of_a_container_alone_are_a_directory(fs: Any, az_container: str) -> None:
    with pytest.raises(IsADirectoryError, match=az_container):
        AzureBlocks(fs, az_container, {}, TIMEOUTS)


def test_blocks_discarded_by_another_commit_are_a_503(fs: Any, prefix: str, container: Any) -> None:
    path = f"{prefix}/contested"
    blocks = _blocks(fs, path)
    blocks.begin()
    token = blocks.send(1, b"ours")
    container.get_blob_client(_key(path)).commit_block_list([])  # another writer commits
    with pytest.raises(OSError, match=f"answered 503 for {_key(path)}") as raised:
        blocks.commit([token])
    assert _status(raised.value) == 503


def _uncommitted(container: Any, path: str) -> list[Any]:
    try:
        _, uncommitted = container.get_blob_client(_key(path)).get_block_list("uncommitted")
    except ResourceNotFoundError:
        return []
    return list(uncommitted)


def test_abort_of_a_new_blob_drops_its_blocks(fs: Any, prefix: str, container: Any) -> None:
    path = f"{prefix}/abandoned"
    blocks = _blocks(fs, path)
    blocks.begin()
    blocks.send(1, b"staged")
    assert _uncommitted(container, path)
    blocks.abort()
    assert _uncommitted(container, path) == []
    assert not fs.exists(path)


def test_abort_of_a_new_blob_with_nothing_staged(fs: Any, prefix: str) -> None:
    blocks = _blocks(fs, f"{prefix}/never")
    blocks.begin()
    blocks.abort()
    assert not fs.exists(f"{prefix}/never")


def test_abort_keeps_a_blob_committed_meanwhile(fs: Any, prefix: str, container: Any) -> None:
    path = f"{prefix}/raced"
    blocks = _blocks(fs, path)
    blocks.begin()
    blocks.send(1, b"staged")
    container.get_blob_client(_key(path)).commit_block_list([])  # another writer commits
    blocks.abort()
    assert fs.cat_file(path) == b""


def test_abort_of_an_existing_blob_leaves_it(fs: Any, path: str, container: Any) -> None:
    blocks = _blocks(fs, path)
    blocks.begin()
    blocks.send(1, b"staged")
    blocks.abort()
    assert fs.cat_file(path) == DIGITS
    assert _uncommitted(container, path)  # dropped at the blob's next commit


# --- timeouts --------------------------------------------------------------------------------

#: A request timeout for answers held back (delay_seconds), or a read timeout for bodies held
#: back (hold_body); the other one generous, so that a busy machine does not trip it.
FAST = Timeouts(request=1, read=10, connect=5)
FAST_READ = Timeouts(request=10, read=1, connect=5)


def _calls(fs: Any, path: str, info: ObjectInfo) -> dict[str, Callable[[], object]]:
    folder = path.rsplit("/", 1)[0]
    return {
        "stat": lambda: BACKEND.stat(fs, path, FAST),
        "open": lambda: BACKEND.open(fs, path, FAST),
        "write_whole": lambda: BACKEND.write_whole(
            fs, path, b"new", Representation("a/b"), None, FAST
        ),
        "delete": lambda: BACKEND.delete(fs, path, FAST),
        "list": lambda: BACKEND.list(fs, folder, FAST),
        "begin": lambda: _blocks(fs, path, timeouts=FAST).begin(),
    }


@pytest.mark.parametrize("call", ["stat", "open", "write_whole", "delete", "list", "begin"])
def test_a_request_waits_no_longer_than_the_request_timeout(
    proxy: RecordingProxy, azurite_endpoint: str, path: str, call: str
) -> None:
    info = BACKEND.stat(_fs(azurite_endpoint), path, TIMEOUTS)
    fs = _fs(proxy.endpoint)
    proxy.delay_seconds = 3
    with pytest.raises(FSTimeoutError):
        _calls(fs, path, info)[call]()


@pytest.mark.parametrize("method", ["HEAD", "DELETE"])
def test_each_request_of_an_abort_waits_no_longer_than_the_request_timeout(
    proxy: RecordingProxy, prefix: str, method: str
) -> None:
    blocks = _blocks(_fs(proxy.endpoint), f"{prefix}/slow")
    blocks.begin()
    # Only the abort is timed: a begin under one second fails on a loaded CI machine.
    blocks._timeouts = FAST

    def stall(asked: str, url: str) -> None:
        if asked == method:
            time.sleep(3)

    proxy.on_request = stall
    with pytest.raises(FSTimeoutError):
        blocks.abort()


def test_the_listing_under_an_empty_segment_waits_no_longer_than_the_request_timeout(
    proxy: RecordingProxy, container: Any, prefix: str
) -> None:
    container.upload_blob(_key(f"{prefix}/x//b.txt"), b"1")

    def stall_the_second_listing(method: str, url: str) -> None:
        if "/x//" in urllib.parse.unquote(url):
            time.sleep(3)

    proxy.on_request = stall_the_second_listing
    with pytest.raises(FSTimeoutError):
        BACKEND.list(_fs(proxy.endpoint), f"{prefix}/x", FAST)


@pytest.fixture
def held(proxy: RecordingProxy) -> Iterator[RecordingProxy]:
    """The proxy, holding the body of each answer once ``hold_body`` is set."""
    try:
        yield proxy
    finally:
        if proxy.hold_body is not None:
            proxy.hold_body.set()


def test_a_part_waits_no_longer_than_the_read_timeout(
    held: RecordingProxy, azurite_endpoint: str, path: str
) -> None:
    info = BACKEND.stat(_fs(azurite_endpoint), path, TIMEOUTS)
    body = BACKEND.open_part(_fs(held.endpoint), path, FAST_READ, 0, 4, info)
    held.hold_body = threading.Event()
    with pytest.raises(FSTimeoutError):
        body.read(4)


def test_a_later_chunk_waits_no_longer_than_the_read_timeout(
    held: RecordingProxy, container: Any, prefix: str
) -> None:
    container.upload_blob(_key(f"{prefix}/big"), b"b" * (AZURE_CHUNK + 10))
    answer = BACKEND.open_direct(_fs(held.endpoint), f"{prefix}/big", FAST_READ, None, {})
    assert answer is not None
    assert answer.body is not None
    assert len(answer.body.read(AZURE_CHUNK)) == AZURE_CHUNK
    held.hold_body = threading.Event()
    with pytest.raises(FSTimeoutError):
        answer.body.read(10)
