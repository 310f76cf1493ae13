"""The adapter's own rules: how a failure it cannot map, an option a backend rejects when it
connects, and a store's redirect reach the caller."""

from __future__ import annotations

from typing import Any

import fsspec
import pytest
import requests
from fsspec.implementations.memory import MemoryFileSystem

import objstore_adapter
from objstore_adapter import BackendConfigError, SchemeRegistry

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
