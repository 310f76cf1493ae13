"""Errors: the status the store answered decides what the caller gets, on every backend.

A recording proxy answers in the store's place (``RecordingProxy.answer``), so each backend
SDK meets a real HTTP error and wraps it its own way; the adapter must still answer by the
status. Filesystems that cannot be built raise a ``requests`` exception naming the route and
the option to check, never the option's value.
"""

from __future__ import annotations

import json
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import objstore_adapter
from objstore_adapter import SchemeRegistry, TransferConfig

from ._proxy import call_out_refuser
from .conftest import (
    AZURITE_KEY,
    Proxied,
    Store,
    azurite_connection_string,
    proxied_store,
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
    if proxied.name == "gs" and store_status >= 500:
        pytest.skip("gcsfs retries 5xx on its own requests six times: 31 s at least")
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
