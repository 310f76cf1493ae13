"""Errors: the status the store answered decides what the caller gets, on every backend.

A recording proxy answers in the store's place (``RecordingProxy.answer``), so each backend
SDK meets a real HTTP error and wraps it its own way; the adapter must still answer by the
status. Filesystems that cannot be built raise a ``requests`` exception naming the route and
the option to check, never the option's value. A store that cannot be reached raises what
requests raises for HTTP: ``ConnectionError`` for a refused port, ``ConnectTimeout`` for a
connect that never completes, ``ReadTimeout`` for a connection that never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import socket
import sys
import traceback
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
import urllib3
from fsspec.asyn import get_loop, sync
from fsspec.exceptions import FSTimeoutError

import objstore_adapter
from objstore_adapter import SchemeRegistry, TransferConfig
from objstore_adapter._errors import outcome_for, refused_connection

from .._proxy import call_out_refuser, serving, until_head
from ..conftest import (
    AZURITE_KEY,
    S3_KEY,
    S3_SECRET,
    Proxied,
    Store,
    az_registry,
    azurite_connection_string,
    free_port,
    gcs_registry,
    proxied_store,
    s3_registry,
)

#: What the store answers → what the caller gets.
STATUS_MAP = [
    (401, 403),
    (403, 403),
    (404, 404),
    (409, 412),
    (412, 412),
    (400, 400),
    (405, 400),
    (418, 400),
    (429, 503),
    (500, 502),
    (503, 503),
    (504, 502),
]

#: S3's throttling answer; s3fs retries it five times on top of botocore's own attempts.
SLOW_DOWN = (
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)

#: The request method each backend's upload uses (gcsfs: a media upload POST).
UPLOAD_METHOD = {"s3": "PUT", "gs": "POST", "az": "PUT"}


@pytest.fixture(params=["s3", "gs", "az"])
def proxied(request: pytest.FixtureRequest) -> Iterator[Proxied]:
    # The adapter's own retries are off here: each test sees the store's first answer.
    with proxied_store(request, request.param, transfer=TransferConfig(max_attempts=1)) as p:
        yield p


@pytest.mark.parametrize(("store_status", "expected"), STATUS_MAP)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_status_the_store_answered_decides(
    proxied: Proxied, method: str, store_status: int, expected: int
) -> None:
    proxied.store.write("object.txt", b"stored bytes", None)
    proxied.proxy.answer(store_status, body=b"", times=None)

    response = proxied.session.request(method, proxied.url("object.txt"))

    assert response.status_code == expected
    assert proxied.proxy.requests, "the request reached the store"


@pytest.mark.parametrize("store_status", [429, 503])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_throttling_is_503_with_the_stores_retry_after(
    proxied: Proxied, method: str, store_status: int
) -> None:
    proxied.store.write("object.txt", b"stored bytes", None)
    body = b""
    if proxied.name == "s3":
        body = SLOW_DOWN
    proxied.proxy.answer(store_status, {"Retry-After": "7"}, body, times=None)

    response = proxied.session.request(method, proxied.url("object.txt"))

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"


@pytest.mark.parametrize(
    ("retry_after", "passed_on"),
    [("Wed, 21 Oct 2026 07:28:00 GMT", True), ("120", True), ("soon", False), ("-1", False)],
)
def test_only_a_valid_retry_after_is_passed_on(
    proxied: Proxied, retry_after: str, passed_on: bool
) -> None:
    proxied.store.write("object.txt", b"stored bytes", None)
    proxied.proxy.answer(503, {"Retry-After": retry_after}, times=None)

    response = proxied.session.head(proxied.url("object.txt"))

    assert response.status_code == 503
    assert response.headers.get("Retry-After") == (retry_after if passed_on else None)


WRITE_STATUSES = [(403, 403), (409, 412), (412, 412), (400, 400), (500, 502), (503, 503)]


@pytest.mark.parametrize(("store_status", "expected"), WRITE_STATUSES)
@pytest.mark.parametrize("operation", ["PUT", "DELETE", "list"])
def test_writes_deletes_and_listings_map_by_status_too(
    proxied: Proxied, operation: str, store_status: int, expected: int
) -> None:
    proxied.store.write("object.txt", b"stored bytes", None)
    method = {"PUT": UPLOAD_METHOD[proxied.name], "list": "GET"}.get(operation, operation)
    proxied.proxy.answer(store_status, times=None, methods=(method,))

    if operation == "list":
        response = proxied.session.get(proxied.url(""))
    else:
        response = proxied.session.request(operation, proxied.url("object.txt"), data=b"new")

    assert response.status_code == expected
    assert any(seen == method for seen, _ in proxied.proxy.requests)


def test_an_azure_denial_is_403(az_store: Store, azurite_endpoint: str) -> None:
    az_store.write("object.txt", b"stored bytes", None)
    wrong_key = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk="
    registry = SchemeRegistry()
    registry.register(
        "az",
        connection_string=azurite_connection_string(azurite_endpoint).replace(
            AZURITE_KEY, wrong_key
        ),
        skip_instance_cache=True,
    )
    session = objstore_adapter.session(registry)

    for method in ("GET", "HEAD", "PUT", "DELETE"):
        response = session.request(method, az_store.url("object.txt"), data=b"x")
        assert response.status_code == 403, method
    assert session.get(az_store.url("")).status_code == 403
    assert session.get(az_store.url("object.txt")).json()["error"] == (
        "access denied by the object store"
    )


# Build errors: options a filesystem cannot be built (or connected) with.


def _build_error(registry: SchemeRegistry, url: str) -> requests.RequestException:
    with pytest.raises(requests.RequestException) as caught:
        objstore_adapter.session(registry).get(url, timeout=10)
    return caught.value


def _printed(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


def test_a_malformed_connection_string_names_the_option() -> None:
    registry = SchemeRegistry()
    value = "AccountName=canaryacct;AccountKey=Y2FuYXJ5LWFjY291bnQta2V5;no-endpoint-here"
    registry.register("az://team-container", connection_string=value)

    error = _build_error(registry, "az://team-container/key")

    assert isinstance(error, objstore_adapter.BackendNotInstalled) is False
    assert isinstance(error, ValueError)
    message = str(error)
    assert "'az://team-container'" in message
    assert "'connection_string'" in message
    for part in (value, "Y2FuYXJ5LWFjY291bnQta2V5", "canaryacct"):
        assert part not in _printed(error)


def test_a_missing_credentials_file_names_the_option(gcs_endpoint: str) -> None:
    missing = f"/nonexistent/{uuid.uuid4().hex}/credentials.json"
    registry = SchemeRegistry()
    registry.register("gs", endpoint_url=gcs_endpoint, token=missing, project="test")
    refused_before = len(call_out_refuser().refused)

    # gcsfs takes a path that does not exist for a raw access token and asks Google's
    # tokeninfo endpoint about it: the suite's loopback refuser answers in Google's place.
    error = _build_error(registry, "gs://bucket/key")

    assert "'gs'" in str(error)
    assert "'token'" in str(error)
    assert missing not in _printed(error)
    assert any(
        "oauth2.googleapis.com" in line for line in call_out_refuser().refused[refused_before:]
    )


def test_invalid_token_json_names_the_option(gcs_endpoint: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token.json"
    canary = "canary-refresh-token-5c1d7e"
    token_file.write_text('{"type": "authorized_user", "refresh_token": "' + canary + '",')
    registry = SchemeRegistry()
    registry.register("gs", endpoint_url=gcs_endpoint, token=str(token_file), project="test")

    error = _build_error(registry, "gs://bucket/key")

    assert isinstance(error, ValueError)
    assert "'token'" in str(error)
    assert canary not in _printed(error)
    assert str(token_file) not in _printed(error)


def test_an_unknown_profile_names_the_option(moto_endpoint: str) -> None:
    registry = SchemeRegistry()
    registry.register("s3", endpoint_url=moto_endpoint, profile="canary-profile-93e1")

    error = _build_error(registry, "s3://bucket/key")

    assert error.request is not None
    assert "'s3'" in str(error)
    assert "'profile'" in str(error)
    assert "canary-profile-93e1" not in _printed(error)


def test_the_error_body_says_what_happened(proxied: Proxied) -> None:
    proxied.store.write("object.txt", b"stored bytes", None)
    proxied.proxy.answer(503, times=None)

    document = json.loads(proxied.session.get(proxied.url("object.txt")).content)

    assert document == {
        "error": "the object store is unavailable or throttling: retry later",
        "status": 503,
        "url": proxied.url("object.txt"),
    }


def test_an_option_the_backend_does_not_take_is_named(moto_endpoint: str) -> None:
    canary = "canary-option-value-7d1f"
    for slip in ({"storage_options": {"key": canary}}, {"client_kwargs": {"bogus": canary}}):
        registry = s3_registry(moto_endpoint, **slip)  # s3fs takes either until it connects

        error = _build_error(registry, "s3://bucket/key")

        name = next(iter(slip))
        assert isinstance(error, objstore_adapter.BackendConfigError), name
        assert str(error).endswith(f"; check the option {name!r}")
        assert canary not in _printed(error)
        assert error.request is not None


@pytest.mark.parametrize(
    ("scheme", "options"),
    [
        ("gs", {"token": "anon", "project": "test"}),
        ("az", {"connection_string": "UseDevelopmentStorage=true"}),
        ("memory", {}),
        ("file", {}),
    ],
)
def test_an_option_a_filesystem_would_drop_is_named(scheme: str, options: dict[str, Any]) -> None:
    # gcsfs, adlfs and fsspec's local and memory filesystems accept any keyword and drop the
    # ones they do not take: a misspelt option built, say, an anonymous GCS filesystem.
    canary = "canary-option-value-9e2a"
    registry = SchemeRegistry()
    registry.register(
        scheme, skip_instance_cache=True, storage_options={"token": canary}, **options
    )

    url = "file:///tmp/key" if scheme == "file" else f"{scheme}://bucket/key"
    error = _build_error(registry, url)

    assert isinstance(error, objstore_adapter.BackendConfigError), scheme
    assert str(error).endswith("; check the option 'storage_options'")
    assert canary not in _printed(error)
    assert error.request is not None


def _sent(session: requests.Session, url: str) -> requests.RequestException:
    prepared = requests.Request("GET", url).prepare()
    with pytest.raises(requests.RequestException) as caught:
        session.send(prepared)
    assert caught.value.request is prepared, url
    return caught.value


def test_every_exception_from_send_carries_the_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry = SchemeRegistry()
    registry.register("az://broken", connection_string="AccountName=x;no-endpoint-here")
    registry.register(f"file://{tmp_path}/")  # the only file:// route
    session = objstore_adapter.session(registry)

    assert isinstance(_sent(session, "s3:///key"), requests.exceptions.InvalidURL)
    assert isinstance(_sent(session, "file:///etc/passwd"), requests.exceptions.InvalidSchema)
    assert isinstance(_sent(session, "az://broken/key"), objstore_adapter.BackendConfigError)
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as on a machine without the s3 extra
    monkeypatch.delitem(importlib.import_module("fsspec.registry")._registry, "s3", raising=False)
    session.close()  # the s3 filesystem built above is forgotten
    missing = _sent(session, "s3://bucket/key")
    assert isinstance(missing, objstore_adapter.BackendNotInstalled)


# Transport failures: the class says whether the store was reached.

#: The operations, by the request method the caller sends and the key it names.
OPERATIONS = {
    "GET": ("GET", "key"),
    "HEAD": ("HEAD", "key"),
    "PUT": ("PUT", "key"),
    "DELETE": ("DELETE", "key"),
    "list": ("GET", ""),
}


@contextlib.contextmanager
def silent_port(answers: int = 0) -> Iterator[int]:
    """A port whose connections the kernel completes and nobody answers, after a 404 to
    each of the first ``answers`` requests (each on its own connection)."""

    def not_found(client: socket.socket) -> None:
        client.settimeout(5)
        until_head(client)
        client.sendall(NOT_FOUND)

    with serving(not_found, connections=answers) as port:
        yield port


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@contextlib.contextmanager
def unconnectable_port() -> Iterator[int]:
    """A port whose connects never complete: its accept queue is full, so the kernel drops
    every further SYN, as a firewall that drops packets does."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        with socket.create_connection(server.getsockname()):  # the one place in the queue
            yield server.getsockname()[1]


def _registry_at(name: str, port: int) -> SchemeRegistry:
    endpoint, one_try = f"http://127.0.0.1:{port}", TransferConfig(max_attempts=1)
    if name == "s3":
        return s3_registry(endpoint, transfer=one_try)
    if name == "gs":
        return gcs_registry(endpoint, transfer=one_try)
    return az_registry(endpoint, transfer=one_try)


def _transport_failure(
    name: str, port: int, operation: str, timeout: float, set_up: bool = False
) -> requests.RequestException:
    method, key = OPERATIONS[operation]
    session = objstore_adapter.session(_registry_at(name, port))
    if set_up:  # the client built and connected once, outside the timeout (it takes a while)
        assert session.head(f"{name}://bucket/key", timeout=30).status_code == 404
    with pytest.raises(requests.RequestException) as caught:
        session.request(method, f"{name}://bucket/{key}", data=b"new", timeout=timeout)
    return caught.value


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("name", ["s3", "gs", "az"])
def test_a_store_that_never_answers_is_a_read_timeout_one_never_reached_a_connect_timeout(
    name: str, operation: str
) -> None:
    with silent_port(answers=1) as port:
        read_stall = _transport_failure(name, port, operation, timeout=0.25, set_up=True)
    with unconnectable_port() as port:  # however short: all of it is spent connecting
        connect_stall = _transport_failure(name, port, operation, timeout=0.1)

    assert isinstance(read_stall, requests.exceptions.ReadTimeout), repr(read_stall)
    assert not isinstance(read_stall, requests.exceptions.ConnectionError), "it connected"
    assert isinstance(connect_stall, requests.exceptions.ConnectTimeout), repr(connect_stall)
    assert read_stall.request is not None
    assert connect_stall.request is not None


def _deadline(coroutine: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> FSTimeoutError:
    """What the adapter meets when its deadline cancels ``coroutine`` on fsspec's loop."""
    with pytest.raises(FSTimeoutError) as caught:
        sync(get_loop(), coroutine, *args, timeout=0.3)
    return caught.value


async def _fetch(url: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        await response.read()


async def _fetch_then_wait_to_retry(url: str) -> None:
    """As an SDK retries: its own timeout or a failed connect caught, then a pause."""
    timeout = aiohttp.ClientTimeout(sock_read=0.05)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            await session.get(url)
        except aiohttp.ClientError:
            await asyncio.sleep(30)


def test_a_deadline_is_the_timeout_of_where_the_request_waited() -> None:
    with silent_port() as port:
        waiting_for_the_answer = _deadline(_fetch, f"http://127.0.0.1:{port}/")
        retrying_a_read_timeout = _deadline(_fetch_then_wait_to_retry, f"http://127.0.0.1:{port}/")
    with unconnectable_port() as port:
        connecting = _deadline(_fetch, f"http://127.0.0.1:{port}/")
    retrying_a_refusal = _deadline(_fetch_then_wait_to_retry, f"http://127.0.0.1:{free_port()}/")

    assert outcome_for(waiting_for_the_answer) is requests.exceptions.ReadTimeout
    assert outcome_for(retrying_a_read_timeout) is requests.exceptions.ReadTimeout
    assert outcome_for(connecting) is requests.exceptions.ConnectTimeout
    assert outcome_for(retrying_a_refusal) is requests.exceptions.ConnectTimeout
    # No clue where it struck: it may have been spent connecting.
    assert outcome_for(FSTimeoutError()) is requests.exceptions.ConnectTimeout


# What the retry policy is told: a refused connection, on every path to a store.


def _raised(call: Callable[[], object]) -> Exception:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - each SDK raises its own class
        call()
    return caught.value


def _botocore_failure(endpoint: str) -> Exception:
    from s3fs import S3FileSystem

    fs = S3FileSystem(
        endpoint_url=endpoint,
        key=S3_KEY,
        secret=S3_SECRET,
        skip_instance_cache=True,
        config_kwargs={"retries": {"total_max_attempts": 1}, "read_timeout": 0.2},
    )
    fs.retries = 1  # s3fs tries a read timeout five times on its own
    return _raised(lambda: fs.call_s3("head_object", Bucket="bucket", Key="key"))


def _aiohttp_failure(endpoint: str) -> Exception:
    async def fetch() -> None:  # gcsfs's transport
        timeout = aiohttp.ClientTimeout(sock_read=0.2)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await session.get(endpoint)

    return _raised(lambda: asyncio.run(fetch()))


def _azure_failure(endpoint: str) -> Exception:
    from azure.storage.blob.aio import BlobClient

    async def properties() -> None:  # adlfs's client, on azure-core's aiohttp transport
        connection = azurite_connection_string(endpoint)
        options: dict[str, Any] = {"retry_total": 0, "read_timeout": 0.2}
        async with BlobClient.from_connection_string(connection, "c", "b", **options) as blob:
            await blob.get_blob_properties()

    return _raised(lambda: asyncio.run(properties()))


def _urllib3_failure(endpoint: str) -> Exception:
    pool = urllib3.PoolManager(retries=urllib3.Retry(total=0), timeout=0.2)  # presigned GETs
    return _raised(lambda: pool.request("GET", f"{endpoint}/bucket/key"))


SDK_FAILURES: dict[str, Callable[[str], Exception]] = {
    "botocore": _botocore_failure,
    "aiohttp": _aiohttp_failure,
    "azure-core": _azure_failure,
    "urllib3": _urllib3_failure,
}


@pytest.mark.parametrize("sdk", list(SDK_FAILURES))
def test_a_refused_connection_is_told_from_a_store_that_does_not_answer(sdk: str) -> None:
    failure = SDK_FAILURES[sdk]
    refused = failure(f"http://127.0.0.1:{free_port()}")
    with silent_port() as port:
        not_answered = failure(f"http://127.0.0.1:{port}")

    assert refused_connection(refused), repr(refused)
    assert not refused_connection(not_answered), repr(not_answered)
    assert outcome_for(refused) is requests.exceptions.ConnectionError
