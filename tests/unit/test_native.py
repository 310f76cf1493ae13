"""The native path's own rules, on obstore's real errors: which keys it sends, how a failure
is classified, how metadata becomes headers, when a bucket pauses obstore."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import TYPE_CHECKING

import obstore
import pytest
from obstore.store import S3Store

from objstore_adapter._backends.s3 import native as _native
from objstore_adapter._backends.s3.native import _object_info, _plain_key, _transport_failure

from ..conftest import free_port

if TYPE_CHECKING:
    from obstore.store import ClientConfig


@pytest.mark.parametrize(
    ("key", "plain"),
    [
        ("a/b.csv", True),
        ("a b+c%d.csv", True),
        ("données/été.parquet", True),
        ("a//b", False),
        ("/a", False),
        ("a/", False),
        ("a/./b", False),
        ("a/../b", False),
        ("a\tb", False),
        ("a\nb", False),
        ("", False),
    ],
)
def test_only_keys_obstore_sends_unchanged_are_plain(key: str, plain: bool) -> None:
    assert _plain_key(key) is plain


def _store(endpoint: str, read_timeout: float | None = None) -> S3Store:
    client: ClientConfig = {"allow_http": True}
    if read_timeout is not None:
        client["read_timeout"] = dt.timedelta(seconds=read_timeout)
    return S3Store(
        "bucket",
        config={"endpoint": endpoint, "region": "us-east-1", "skip_signature": True},
        client_options=client,
        retry_config={"max_retries": 0},
    )


def _failure(store: S3Store, key: str) -> BaseException:
    with pytest.raises(obstore.exceptions.BaseError) as caught:
        obstore.get(store, key)
    return caught.value


@pytest.fixture
def answering() -> Iterator[str]:
    """A server that answers every GET with 503, quoting the path back as its body."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"<Error>{self.path} kind: Timeout, status: 200,</Error>".encode()
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_answered_error_is_not_a_transport_failure(answering: str) -> None:
    """The store answered (503): the presigned path is asked, even though the answer's body
    and the key mimic a timeout."""
    failure = _failure(_store(answering), "kind: Timeout, status: 200,")

    assert _transport_failure(failure) is None


def test_a_refused_connection_is_a_connection_error() -> None:
    failure = _failure(_store(f"http://127.0.0.1:{free_port()}"), "k")

    assert type(_transport_failure(failure)) is ConnectionError


def test_a_store_that_never_answers_is_a_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        store = _store(endpoint, read_timeout=0.3)
        failure = _failure(store, "a key with timeout in it")
    finally:
        listener.close()

    found = _transport_failure(failure)
    assert type(found) is TimeoutError
    assert "timeout in it" not in str(found), "obstore's text (the URL) is not passed on"


def test_metadata_becomes_the_headers_the_presigned_path_sends() -> None:
    modified = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    meta = {"size": 7, "e_tag": '"abc"', "last_modified": modified, "version": None}
    attributes = {
        "Content-Type": "text/csv",
        "Cache-Control": "max-age=60",
        "Content-Language": "fr-CA",
        "Storage-Class": "STANDARD",
        "owner": "team-data",
        "Cache-Control-Note": "user metadata that looks like a header",
    }

    info = _object_info(meta, attributes)

    assert (info.size, info.etag, info.last_modified) == (7, '"abc"', modified)
    assert info.content_type == "text/csv"
    assert dict(info.headers) == {
        "Cache-Control": "max-age=60",
        "Content-Language": "fr-CA",
        "X-Object-Meta-owner": "team-data",
        "X-Object-Meta-cache-control-note": "user metadata that looks like a header",
    }


def test_three_refusals_in_a_row_pause_a_bucket_and_the_pause_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class FileSystem:  # weakly referenced, as filesystems are
        pass

    fs = FileSystem()
    now = [1000.0]
    monkeypatch.setattr(
        "objstore_adapter._backends.s3.native.time", SimpleNamespace(monotonic=lambda: now[0])
    )

    for _ in range(_native.MAX_REFUSALS - 1):
        _native.presigned_answered(fs, "b")
    assert not _native._paused(fs, "b")
    _native.presigned_answered(fs, "b")
    assert _native._paused(fs, "b")
    assert not _native._paused(fs, "other")
    now[0] += _native.REFUSAL_PAUSE + 1
    assert not _native._paused(fs, "b")
