"""GCSBackend on fake-gcs-server, method by method: the request each sends (through gcsfs'
session, tried once, redirects refused), and what the store's answer becomes (metadata, the
stored bytes, a 412, VersionChanged)."""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fsspec.asyn import FSTimeoutError
from gcsfs.core import GCSFileSystem

from objstore_adapter._backends._aio import STREAM_CHUNK
from objstore_adapter._backends.gcs import GCSBackend
from objstore_adapter._errors import StoreRedirected, store_answer
from objstore_adapter._http import ByteRange, Timeouts, WriteCondition
from objstore_adapter._info import ObjectInfo, Representation
from objstore_adapter._transfer import VersionChanged

from .._proxy import RecordingProxy

TIMEOUTS = Timeouts(request=10, read=10, connect=5)
BACKEND = GCSBackend()


def _fs(endpoint: str, **options: Any) -> Any:
    fs = GCSFileSystem(
        endpoint_url=endpoint, token="anon", project="test", skip_instance_cache=True, **options
    )
    BACKEND.configure(fs)
    return fs


def _read_all(body: Any) -> bytes:
    parts = []
    try:
        while chunk := body.read(1 << 16):
            parts.append(chunk)
    finally:
        body.close()
    return b"".join(parts)


def _high_water(body: Any) -> int:
    """How much aiohttp buffers of a body's response before it pauses the socket."""
    reader = body._read.__self__  # the response's StreamReader
    return int(reader._high_water)


def _status(exc: pytest.ExceptionInfo[BaseException]) -> int | None:
    answer = store_answer(exc.value)
    return None if answer is None else answer.status


@pytest.fixture
def fs(gcs_endpoint: str) -> Any:
    return _fs(gcs_endpoint)


@pytest.fixture
def proxy(gcs_endpoint: str) -> Iterator[RecordingProxy]:
    with RecordingProxy(int(gcs_endpoint.rsplit(":", 1)[1])) as proxy:
        yield proxy


@pytest.fixture
def path(fs: Any, gcs_bucket: str) -> str:
    """A key holding ``0123456789`` as text/x-digits."""
    name = f"{gcs_bucket}/backend/{uuid.uuid4().hex}"
    fs.pipe_file(name, b"0123456789", content_type="text/x-digits")
    return name


def test_configure_tries_each_gcsfs_call_once(proxy: RecordingProxy, gcs_bucket: str) -> None:
    # gcsfs' own calls (a listing) would wait a second and try again after a 503.
    fs = _fs(proxy.endpoint)
    proxy.answer(503)
    with pytest.raises(Exception, match=r"503|Service Unavailable"):
        fs.ls(gcs_bucket, refresh=True)
    assert len(proxy.requests) == 1


def test_configure_refuses_redirects_of_gcsfs_calls(proxy: RecordingProxy, gcs_bucket: str) -> None:
    fs = _fs(proxy.endpoint)
    proxy.answer(307, {"Location": f"{proxy.endpoint}/elsewhere"})
    with pytest.raises(StoreRedirected):
        fs.ls(gcs_bucket, refresh=True)
    assert [method for method, _ in proxy.requests] == ["GET"]


def test_stat_reads_the_object_resource(fs: Any, path: str) -> None:
    info = BACKEND.stat(fs, path, TIMEOUTS)
    assert info.size == 10
    assert info.content_type == "text/x-digits"
    assert info.etag is not None
    assert info.generation == str(fs.info(path)["generation"])


def test_stat_of_an_empty_object_is_size_zero(fs: Any, gcs_bucket: str) -> None:
    path = f"{gcs_bucket}/empty/{uuid.uuid4().hex}"
    fs.pipe_file(path, b"")
    assert BACKEND.stat(fs, path, TIMEOUTS).size == 0


def test_stat_quotes_the_key(fs: Any, gcs_bucket: str) -> None:
    path = f"{gcs_bucket}/odd/{uuid.uuid4().hex} a?b#c%d"
    fs.pipe_file(path, b"odd")
    assert BACKEND.stat(fs, path, TIMEOUTS).size == 3


def test_stat_of_a_missing_key_is_file_not_found(fs: Any, gcs_bucket: str) -> None:
    missing = f"{gcs_bucket}/missing/{uuid.uuid4().hex}"
    with pytest.raises(FileNotFoundError, match=missing):
        BACKEND.stat(fs, missing, TIMEOUTS)


def test_stat_of_a_bucket_is_a_directory(fs: Any, gcs_bucket: str) -> None:
    with pytest.raises(IsADirectoryError):
        BACKEND.stat(fs, gcs_bucket, TIMEOUTS)


def test_stat_pins_the_generation_in_the_path(gcs_endpoint: str, gcs_bucket: str) -> None:
    fs = _fs(gcs_endpoint, version_aware=True)
    path = f"{gcs_bucket}/versions/{uuid.uuid4().hex}"
    fs.pipe_file(path, b"one")
    old = fs.info(path)["generation"]
    fs.pipe_file(path, b"second")
    new = fs.info(path)["generation"]
    assert BACKEND.stat(fs, f"{path}#{new}", TIMEOUTS).size == 6
    # The bucket keeps no old versions: the replaced one is gone.
    with pytest.raises(FileNotFoundError):
        BACKEND.stat(fs, f"{path}#{old}", TIMEOUTS)


def test_stat_answers_an_error_status_with_its_headers(proxy: RecordingProxy, path: str) -> None:
    fs = _fs(proxy.endpoint)
    proxy.answer(400, {"Retry-After": "7"})
    with pytest.raises(OSError, match=f"answered 400 for {path}") as raised:
        BACKEND.stat(fs, path, TIMEOUTS)
    answer = store_answer(raised.value)
    assert answer is not None
    assert answer.status == 400
    assert answer.headers.get("retry-after") == "7"
    assert len(proxy.requests) == 1


def test_open_streams_the_object_with_its_metadata(fs: Any, path: str) -> None:
    info, body = BACKEND.open(fs, path, TIMEOUTS)
    assert _read_all(body) == b"0123456789"
    assert info.size == 10
    assert info.content_type == "text/x-digits"
    assert info.etag is not None


def test_open_reads_a_range(fs: Any, path: str) -> None:
    info, body = BACKEND.open(fs, path, TIMEOUTS, ByteRange(2, 5))
    assert _read_all(body) == b"2345"
    assert info.size == 10


def test_open_buffers_a_whole_chunk_ahead(fs: Any, path: str) -> None:
    _, body = BACKEND.open(fs, path, TIMEOUTS)
    try:
        assert _high_water(body) == 2 * STREAM_CHUNK
    finally:
        body.close()


def test_open_passes_a_gzip_object_on_as_stored(fs: Any, gcs_bucket: str) -> None:
    path = f"{gcs_bucket}/gzip/{uuid.uuid4().hex}"
    stored = gzip.compress(b"hello, hello, hello")
    representation = Representation("text/plain", {"Content-Encoding": "gzip"})
    BACKEND.write_whole(fs, path, stored, representation, None, TIMEOUTS)
    info, body = BACKEND.open(fs, path, TIMEOUTS)
    assert _read_all(body) == stored
    assert info.headers.get("Content-Encoding") == "gzip"


def test_open_of_a_missing_key_is_file_not_found(fs: Any, gcs_bucket: str) -> None:
    missing = f"{gcs_bucket}/missing/{uuid.uuid4().hex}"
    with pytest.raises(FileNotFoundError, match=missing):
        BACKEND.open(fs, missing, TIMEOUTS)


def test_open_answers_an_error_status_with_its_headers(proxy: RecordingProxy, path: str) -> None:
    fs = _fs(proxy.endpoint)
    proxy.answer(400, {"Retry-After": "3"})
    with pytest.raises(OSError, match=f"answered 400 for {path}") as raised:
        BACKEND.open(fs, path, TIMEOUTS)
    answer = store_answer(raised.value)
    assert answer is not None
    assert answer.status == 400
    assert answer.headers.get("retry-after") == "3"


def test_open_of_a_bucket_is_a_directory(fs: Any, gcs_bucket: str) -> None:
    with pytest.raises(IsADirectoryError):
        BACKEND.open(fs, gcs_bucket, TIMEOUTS)


def test_can_resume_only_with_a_generation(fs: Any, path: str) -> None:
    assert BACKEND.can_resume(fs, BACKEND.stat(fs, path, TIMEOUTS))
    assert not BACKEND.can_resume(fs, ObjectInfo(size=10, etag='"x"'))


def test_open_part_reads_the_stop_exclusive_range_of_that_generation(fs: Any, path: str) -> None:
    info = BACKEND.stat(fs, path, TIMEOUTS)
    assert _read_all(BACKEND.open_part(fs, path, TIMEOUTS, 3, 7, info)) == b"3456"
    body = BACKEND.open_part(fs, path, TIMEOUTS, 0, 10, info)
    try:
        assert _high_water(body) == 2 * STREAM_CHUNK
    finally:
        body.close()


def test_open_part_of_a_replaced_object_is_version_changed(fs: Any, path: str) -> None:
    info = BACKEND.stat(fs, path, TIMEOUTS)
    fs.pipe_file(path, b"abcdefghij")
    with pytest.raises(VersionChanged, match=path):
        BACKEND.open_part(fs, path, TIMEOUTS, 0, 4, info)


def test_open_part_sends_the_generation_and_accepts_gzip(
    proxy: RecordingProxy, gcs_endpoint: str, path: str
) -> None:
    info = BACKEND.stat(_fs(gcs_endpoint), path, TIMEOUTS)
    fs = _fs(proxy.endpoint)
    _read_all(BACKEND.open_part(fs, path, TIMEOUTS, 1, 3, info))
    (_, url), headers = proxy.requests[-1], proxy.request_headers[-1]
    assert f"&generation={info.generation}" in url
    assert headers.get("Accept-Encoding") == "gzip"  # not aiohttp's default, gzip and others
    assert headers.get("Range") == "bytes=1-2"


def test_open_sends_accept_encoding_gzip(proxy: RecordingProxy, path: str) -> None:
    fs = _fs(proxy.endpoint)
    _read_all(BACKEND.open(fs, path, TIMEOUTS)[1])
    assert proxy.request_headers[-1].get("Accept-Encoding") == "gzip"
    assert "Range" not in proxy.request_headers[-1]


def test_write_options_are_gcsfs_fixed_key_metadata() -> None:
    stored = Representation(
        "text/x-digits",
        {"Cache-Control": "no-cache", "Content-Disposition": "inline", "Expires": "never"},
        {"owner": "me"},
    )
    assert BACKEND.write_options(stored) == {
        "content_type": "text/x-digits",
        "fixed_key_metadata": {"cache_control": "no-cache", "content_disposition": "inline"},
        "metadata": {"owner": "me"},
    }
    assert BACKEND.write_options(Representation("a/b", {"Expires": "never"})) == {
        "content_type": "a/b",
        "fixed_key_metadata": None,
        "metadata": None,
    }


def test_write_whole_stores_bytes_headers_and_metadata(fs: Any, gcs_bucket: str) -> None:
    path = f"{gcs_bucket}/written/{uuid.uuid4().hex}"
    stored = Representation(
        "text/x-words",
        {"Cache-Control": "max-age=60", "Content-Disposition": "inline", "Expires": "never"},
        {"owner": "me"},
    )
    info = BACKEND.write_whole(fs, path, b"some words", stored, None, TIMEOUTS)
    assert info is not None
    assert info.size == 10
    assert info.etag is not None
    assert info.generation is not None
    resource = fs.info(path, refresh=True)
    assert fs.cat_file(path) == b"some words"
    assert resource["contentType"] == "text/x-words"
    assert resource["cacheControl"] == "max-age=60"
    assert resource["contentDisposition"] == "inline"
    assert resource["metadata"] == {"owner": "me"}
    assert BACKEND.stat(fs, path, TIMEOUTS) == info


def test_write_whole_of_nothing(fs: Any, gcs_bucket: str) -> None:
    path = f"{gcs_bucket}/written/{uuid.uuid4().hex}"
    info = BACKEND.write_whole(fs, path, b"", Representation("a/b"), None, TIMEOUTS)
    assert info is not None
    assert info.size == 0
    assert fs.cat_file(path) == b""
    assert "metadata" not in fs.info(path, refresh=True)


def test_write_whole_create_only(fs: Any, path: str, gcs_bucket: str) -> None:
    create = WriteCondition(create=True)
    with pytest.raises(OSError, match=f"answered 412 for {path}") as raised:
        BACKEND.write_whole(fs, path, b"new", Representation("a/b"), create, TIMEOUTS)
    assert _status(raised) == 412
    assert fs.cat_file(path) == b"0123456789"
    fresh = f"{gcs_bucket}/written/{uuid.uuid4().hex}"
    BACKEND.write_whole(fs, fresh, b"new", Representation("a/b"), create, TIMEOUTS)
    assert fs.cat_file(fresh) == b"new"


def test_write_whole_if_the_etag_matches(fs: Any, path: str, gcs_bucket: str) -> None:
    etag = BACKEND.stat(fs, path, TIMEOUTS).etag
    assert etag is not None
    stale = WriteCondition(etag='"stale"')
    with pytest.raises(OSError, match=f"answered 412 for {path}") as raised:
        BACKEND.write_whole(fs, path, b"new", Representation("a/b"), stale, TIMEOUTS)
    assert _status(raised) == 412
    BACKEND.write_whole(
        fs, path, b"new", Representation("a/b"), WriteCondition(etag=etag), TIMEOUTS
    )
    assert fs.cat_file(path) == b"new"
    missing = f"{gcs_bucket}/written/{uuid.uuid4().hex}"
    with pytest.raises(OSError, match=f"answered 412 for {missing}") as raised:
        BACKEND.write_whole(
            fs, missing, b"x", Representation("a/b"), WriteCondition(etag=etag), TIMEOUTS
        )
    assert _status(raised) == 412
    assert not fs.exists(missing)


def test_write_whole_sends_the_generation_to_match(
    proxy: RecordingProxy, gcs_endpoint: str, path: str
) -> None:
    info = BACKEND.stat(_fs(gcs_endpoint), path, TIMEOUTS)
    fs = _fs(proxy.endpoint)
    condition = WriteCondition(etag=info.etag)
    BACKEND.write_whole(fs, path, b"new", Representation("a/b"), condition, TIMEOUTS)
    method, url = proxy.requests[-1]
    assert method == "POST"
    assert "uploadType=multipart" in url
    assert f"ifGenerationMatch={info.generation}" in url


def test_write_whole_answers_an_error_status(proxy: RecordingProxy, path: str) -> None:
    fs = _fs(proxy.endpoint)
    proxy.answer(400, {"Retry-After": "5"}, methods=("POST",))
    with pytest.raises(OSError, match=f"answered 400 for {path}") as raised:
        BACKEND.write_whole(fs, path, b"new", Representation("a/b"), None, TIMEOUTS)
    answer = store_answer(raised.value)
    assert answer is not None
    assert answer.status == 400
    assert answer.headers.get("retry-after") == "5"


def test_delete(fs: Any, path: str) -> None:
    BACKEND.delete(fs, path, TIMEOUTS)
    assert not fs.exists(path)


def test_delete_invalidates_the_listing_cache(fs: Any, path: str) -> None:
    folder = path.rsplit("/", 1)[0]
    assert path in fs.ls(folder)
    BACKEND.delete(fs, path, TIMEOUTS)
    assert path not in fs.ls(folder)


def test_delete_if_the_etag_matches(fs: Any, path: str) -> None:
    with pytest.raises(OSError, match=f"answered 412 for {path}") as raised:
        BACKEND.delete(fs, path, TIMEOUTS, etag='"stale"')
    assert _status(raised) == 412
    assert fs.exists(path)
    BACKEND.delete(fs, path, TIMEOUTS, etag=BACKEND.stat(fs, path, TIMEOUTS).etag)
    assert not fs.exists(path)


def test_delete_sends_the_generation_to_match(
    proxy: RecordingProxy, gcs_endpoint: str, path: str
) -> None:
    info = BACKEND.stat(_fs(gcs_endpoint), path, TIMEOUTS)
    fs = _fs(proxy.endpoint)
    BACKEND.delete(fs, path, TIMEOUTS, etag=info.etag)
    method, url = proxy.requests[-1]
    assert method == "DELETE"
    assert url.endswith(f"?ifGenerationMatch={info.generation}")


def test_delete_answers_an_error_status(proxy: RecordingProxy, path: str) -> None:
    fs = _fs(proxy.endpoint)
    proxy.answer(400, {"Retry-After": "2"}, methods=("DELETE",))
    with pytest.raises(OSError, match=f"answered 400 for {path}") as raised:
        BACKEND.delete(fs, path, TIMEOUTS)
    answer = store_answer(raised.value)
    assert answer is not None
    assert answer.status == 400
    assert answer.headers.get("retry-after") == "2"


def test_delete_of_a_missing_key_is_file_not_found(fs: Any, gcs_bucket: str) -> None:
    missing = f"{gcs_bucket}/missing/{uuid.uuid4().hex}"
    with pytest.raises(FileNotFoundError, match=missing):
        BACKEND.delete(fs, missing, TIMEOUTS)


# --- timeouts and connections ----------------------------------------------------------------

#: A request timeout for answers held back (delay_seconds), or a read timeout for bodies held
#: back (hold_body); the other one generous, so that a busy machine does not trip it.
FAST = Timeouts(request=1, read=10, connect=5)
FAST_READ = Timeouts(request=10, read=1, connect=5)


def _calls(
    fs: Any, path: str, info: ObjectInfo, timeouts: Timeouts = FAST
) -> dict[str, Callable[[], object]]:
    return {
        "stat": lambda: BACKEND.stat(fs, path, timeouts),
        "open": lambda: BACKEND.open(fs, path, timeouts),
        "open_part": lambda: BACKEND.open_part(fs, path, timeouts, 0, 4, info),
        "write_whole": lambda: BACKEND.write_whole(
            fs, path, b"new", Representation("a/b"), None, timeouts
        ),
        "write_whole_if": lambda: BACKEND.write_whole(
            fs, path, b"new", Representation("a/b"), WriteCondition(etag=info.etag), timeouts
        ),
        "delete": lambda: BACKEND.delete(fs, path, timeouts),
        "delete_if": lambda: BACKEND.delete(fs, path, timeouts, etag=info.etag),
    }


@pytest.mark.parametrize(
    "call", ["stat", "open", "open_part", "write_whole", "write_whole_if", "delete", "delete_if"]
)
def test_a_request_waits_no_longer_than_the_request_timeout(
    proxy: RecordingProxy, gcs_endpoint: str, path: str, call: str
) -> None:
    info = BACKEND.stat(_fs(gcs_endpoint), path, TIMEOUTS)
    fs = _fs(proxy.endpoint)
    proxy.delay_seconds = 3
    with pytest.raises(FSTimeoutError):
        _calls(fs, path, info)[call]()


@pytest.fixture
def held(proxy: RecordingProxy) -> Iterator[RecordingProxy]:
    """The proxy, sending each answer's head and then holding its body until the test ends."""
    proxy.hold_body = threading.Event()
    try:
        yield proxy
    finally:
        proxy.hold_body.set()


def test_stat_waits_for_the_resource_no_longer_than_the_read_timeout(
    held: RecordingProxy, path: str
) -> None:
    with pytest.raises(FSTimeoutError):
        BACKEND.stat(_fs(held.endpoint), path, FAST_READ)


@pytest.mark.parametrize("call", ["open", "open_part"])
def test_a_body_waits_no_longer_than_the_read_timeout(
    held: RecordingProxy, gcs_endpoint: str, path: str, call: str
) -> None:
    info = BACKEND.stat(_fs(gcs_endpoint), path, TIMEOUTS)
    answer = _calls(_fs(held.endpoint), path, info, FAST_READ)[call]()
    body: Any = answer[1] if isinstance(answer, tuple) else answer
    try:
        with pytest.raises(FSTimeoutError):
            body.read(4)
    finally:
        held.hold_body.set()  # type: ignore[union-attr]
        body.close()


def test_an_error_answer_leaves_its_connection_to_the_next_request(
    proxy: RecordingProxy, path: str
) -> None:
    fs = _fs(proxy.endpoint)
    proxy.answer(404, body=b"not here" * 2**18)  # more than one read of the socket
    with pytest.raises(FileNotFoundError):
        BACKEND.open(fs, path, TIMEOUTS)
    _read_all(BACKEND.open(fs, path, TIMEOUTS)[1])
    assert len(proxy.clients) == 2
    assert proxy.clients[0] == proxy.clients[1]


@pytest.mark.parametrize("call", ["stat", "open", "write_whole", "delete"])
def test_a_filesystem_not_configured_gets_a_session_refusing_redirects(
    proxy: RecordingProxy, gcs_endpoint: str, path: str, call: str
) -> None:
    info = BACKEND.stat(_fs(gcs_endpoint), path, TIMEOUTS)
    fs = GCSFileSystem(
        endpoint_url=proxy.endpoint, token="anon", project="test", skip_instance_cache=True
    )
    proxy.answer(307, {"Location": f"{proxy.endpoint}/elsewhere"})
    with pytest.raises(StoreRedirected):
        _calls(fs, path, info, TIMEOUTS)[call]()
    assert len(proxy.requests) == 1


def test_open_part_answers_an_error_status_naming_the_path(
    proxy: RecordingProxy, gcs_endpoint: str, path: str
) -> None:
    info = BACKEND.stat(_fs(gcs_endpoint), path, TIMEOUTS)
    proxy.answer(400)
    with pytest.raises(OSError, match=f"answered 400 for {path}"):
        BACKEND.open_part(_fs(proxy.endpoint), path, TIMEOUTS, 0, 4, info)


@pytest.mark.parametrize("call", ["stat", "delete"])
def test_the_key_is_one_path_segment(
    proxy: RecordingProxy, gcs_endpoint: str, path: str, call: str
) -> None:
    # GCS names an object in one segment of the JSON API's path: its slashes escaped.
    info = BACKEND.stat(_fs(gcs_endpoint), path, TIMEOUTS)
    _calls(_fs(proxy.endpoint), path, info, TIMEOUTS)[call]()
    key = path.split("/", 1)[1]
    assert proxy.requests[-1][1].split("?")[0].endswith("/o/" + quote(key, safe=""))


def test_write_whole_keeps_bytes_that_look_like_a_part_boundary(fs: Any, gcs_bucket: str) -> None:
    path = f"{gcs_bucket}/written/{uuid.uuid4().hex}"
    data = b"\r\n--None\r\nContent-Type: text/plain\r\n\r\nnot a part\r\n--None--\r\n"
    BACKEND.write_whole(fs, path, data, Representation("a/b"), None, TIMEOUTS)
    assert fs.cat_file(path) == data


class _Tee:
    """A handler's ``rfile`` that keeps what is read of request bodies (``read``; the
    request line and headers come by ``readline``)."""

    def __init__(self, raw: Any, bodies: list[bytes]) -> None:
        self._raw = raw
        self._bodies = bodies

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._raw.read(n)
        self._bodies.append(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def test_write_whole_sends_the_object_resource_gcs_names(
    proxy: RecordingProxy, gcs_bucket: str
) -> None:
    # fake-gcs-server reads the resource as Go does, its field names in any case: the
    # request itself is what GCS sees.
    bodies: list[bytes] = []
    server: Any = proxy._server
    base = server.RequestHandlerClass

    class Keeping(base):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            super().setup()
            self.rfile = _Tee(self.rfile, bodies)  # type: ignore[has-type]

    server.RequestHandlerClass = Keeping
    path = f"{gcs_bucket}/written/{uuid.uuid4().hex}"
    stored = Representation(
        "text/x-words",
        {"Cache-Control": "max-age=60", "Content-Disposition": "inline", "Expires": "never"},
        {"owner": "me"},
    )
    BACKEND.write_whole(_fs(proxy.endpoint), path, b"some words", stored, None, TIMEOUTS)
    content_type = proxy.request_headers[-1]["Content-Type"]
    boundary = content_type.split('boundary="', 1)[1].rstrip('"')
    assert content_type == f'multipart/related; boundary="{boundary}"'
    head, media, end = bodies[-1].split(f"--{boundary}".encode())[1:]
    assert head.startswith(b"\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n")
    assert json.loads(head.split(b"\r\n\r\n", 1)[1]) == {
        "name": path.split("/", 1)[1],
        "contentType": "text/x-words",
        "cacheControl": "max-age=60",
        "contentDisposition": "inline",
        "metadata": {"owner": "me"},
    }
    assert media == b"\r\nContent-Type: text/x-words\r\n\r\nsome words\r\n"
    assert end == b"--\r\n"
