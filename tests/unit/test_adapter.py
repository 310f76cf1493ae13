"""The adapter's own rules: how a failure it cannot map, an option a backend rejects when it
connects, and a store's redirect reach the caller."""

from __future__ import annotations

import threading
from typing import Any

import fsspec
import pytest
import requests
from fsspec.implementations.memory import MemoryFileSystem

import objstore_adapter
from objstore_adapter import BackendConfigError, SchemeRegistry, TransferConfig

from .._proxy import RecordingProxy
from ..conftest import S3_KEY, S3_SECRET, Store, s3_registry


class _Failing(MemoryFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """An fsspec filesystem whose metadata calls fail in a way no table names."""

    protocol = "failing"

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("the disk controller caught fire")


@pytest.fixture
def failing_session() -> requests.Session:
    fsspec.register_implementation("failing", _Failing, clobber=True)
    registry = SchemeRegistry()
    registry.register("failing", skip_instance_cache=True)
    return objstore_adapter.session(registry)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_failure_no_table_names_is_a_request_exception_naming_it(
    failing_session: requests.Session, method: str
) -> None:
    with pytest.raises(requests.RequestException) as raised:
        failing_session.request(method, "failing://bucket/key.txt")

    error = raised.value
    assert type(error) is requests.RequestException
    assert str(error) == (
        f"{method} failing://bucket/key.txt failed: unexpected RuntimeError from the backend"
    )
    assert error.request is not None
    assert error.request.url == "failing://bucket/key.txt"
    cause = error.__cause__
    assert cause is not None
    assert not isinstance(cause, RuntimeError), "the backend's own exception is chained"
    assert "RuntimeError" in str(cause)


def test_an_option_the_backend_rejects_when_it_connects_is_named(
    s3_store: Store, moto_endpoint: str
) -> None:
    registry = SchemeRegistry()
    # s3fs takes any keyword, and hands this one to its AWS session only when it connects.
    registry.register(
        "s3", endpoint_url=moto_endpoint, key=S3_KEY, secret=S3_SECRET, no_such_option=5
    )
    session = objstore_adapter.session(registry)

    with pytest.raises(BackendConfigError) as raised:
        session.get(s3_store.url("any.txt"))

    message = str(raised.value)
    assert message.startswith("the s3:// route 's3' cannot build its 's3' filesystem (")
    assert message.endswith("check the option 'no_such_option'")
    assert raised.value.request is not None
    assert S3_SECRET not in message


def test_a_store_that_redirects_is_answered_with_where_to(
    s3_store: Store, moto_endpoint: str
) -> None:
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        session = objstore_adapter.session(s3_registry(proxy.endpoint))
        proxy.answer(
            301,
            {"Location": "https://elsewhere.example.com/bucket/key?X-Amz-Signature=abc"},
            times=None,
        )

        response = session.get(s3_store.url("moved.txt"))

    assert response.status_code >= 300
    body = response.json()
    assert "elsewhere.example.com" in body["detail"]
    assert "X-Amz-Signature" not in response.text


class _Refusing(MemoryFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """An fsspec filesystem whose store refuses every connection."""

    protocol = "refusing"

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        raise ConnectionRefusedError(111, "Connection refused by secret-host:9")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_mapped_failure_names_the_request_and_the_failure_without_its_text(
    method: str,
) -> None:
    fsspec.register_implementation("refusing", _Refusing, clobber=True)
    registry = SchemeRegistry()
    registry.register("refusing", skip_instance_cache=True)
    session = objstore_adapter.session(registry)

    with pytest.raises(requests.ConnectionError) as raised:
        session.request(method, "refusing://bucket/key.txt")

    error = raised.value
    assert str(error) == f"{method} refusing://bucket/key.txt failed: ConnectionRefusedError"
    assert error.request is not None
    assert error.request.url == "refusing://bucket/key.txt"
    assert "secret-host" in str(error.__cause__), "the cause, redacted, keeps its text"


def test_the_raw_response_carries_the_reason_and_the_url(s3_store: Store) -> None:
    s3_store.write("raw.txt", b"raw", None)
    url = s3_store.url("raw.txt")

    response = s3_store.session.get(url, stream=True)

    assert response.status_code == 200
    assert response.raw.reason == "OK"
    assert response.raw.url == url
    assert response.url == url
    assert response.content == b"raw"


def test_a_body_that_stalls_while_preloaded_is_a_read_timeout_for_the_request(
    moto_endpoint: str, put: Any
) -> None:
    url = put("stalled-body.txt", b"x" * 1000)
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        transfer = TransferConfig(max_attempts=1)
        session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=transfer))
        proxy.hold_body = threading.Event()
        try:
            with pytest.raises(requests.exceptions.ReadTimeout) as raised:
                session.get(url, timeout=(10, 0.5))
        finally:
            proxy.hold_body.set()

    error = raised.value
    assert not isinstance(error, requests.exceptions.ConnectionError)
    assert str(error) == f"reading the body of {url} failed (ReadTimeoutError)"
    assert error.request is not None
    assert error.request.url == url
    assert isinstance(error.__cause__, requests.exceptions.ConnectionError)


def test_a_body_cut_while_preloaded_raises_for_the_request(moto_endpoint: str, put: Any) -> None:
    url = put("cut-body.txt", b"x" * 1000)
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        transfer = TransferConfig(max_attempts=1)
        session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=transfer))
        proxy.cut_body_after = 100

        with pytest.raises(requests.exceptions.ChunkedEncodingError) as raised:
            session.get(url, timeout=10)

    assert raised.value.request is not None
    assert raised.value.request.url == url
