"""Faults heal by default: cut bodies resume on the same version, passing failures are retried
with backoff, and with retries off the behaviour is HTTP's (the cut raises)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from urllib3.exceptions import ProtocolError

from objstore_adapter import TransferConfig

from ..conftest import Proxied, proxied_store

DATA = os.urandom(3 * 2**20 + 123)  # several backend reads, and several Azure chunks


@pytest.fixture(params=["s3", "s3_native", "gs", "az"])
def healing(request: pytest.FixtureRequest) -> Iterator[Proxied]:
    """A backend behind a fault proxy, with the adapter's default transfer settings."""
    with proxied_store(request, request.param) as proxied:
        yield proxied


@pytest.fixture(params=["s3", "s3_native", "gs", "az"])
def not_healing(request: pytest.FixtureRequest) -> Iterator[Proxied]:
    with proxied_store(request, request.param, transfer=TransferConfig(max_attempts=1)) as p:
        yield p


def _read_into_a_buffer(raw: Any) -> bytes:
    """The body, read as ``readinto`` fills one reused 1 MiB buffer."""
    buffer, parts = memoryview(bytearray(2**20)), []
    while n := raw.readinto(buffer):
        parts.append(bytes(buffer[:n]))
    return b"".join(parts)


@pytest.mark.parametrize("into", [False, True], ids=["iter_content", "readinto"])
@pytest.mark.parametrize("cut", [1, 700_000, len(DATA) - 1])
def test_a_cut_body_resumes_where_it_was_cut(healing: Proxied, cut: int, into: bool) -> None:
    healing.store.write("cut.bin", DATA, None)
    healing.proxy.cut_body_after = cut
    healing.proxy.cuts_left = 1

    response = healing.session.get(healing.url("cut.bin"), stream=True, timeout=30)
    if into:
        body = _read_into_a_buffer(response.raw)
    else:
        body = b"".join(response.iter_content(256 * 1024))

    assert body == DATA
    assert healing.proxy.cuts_left == 0, "the proxy cut the body"
    gets = [i for i, (method, _) in enumerate(healing.proxy.requests) if method == "GET"]
    last = gets[-1]
    path, headers = healing.proxy.requests[last][1], healing.proxy.request_headers[last]
    sent = {name.lower(): value for name, value in headers.items()}
    span = sent.get("range") or sent["x-ms-range"]  # Azure's SDK sends its own header
    start = int(span.removeprefix("bytes=").split("-")[0])
    # The rest, from at most where the cut was, of the same version.
    assert 0 <= start <= cut
    if healing.name != "az":  # azure-storage-blob repeats its cut first range itself, whole
        assert "if-match" in sent or "generation=" in path


@pytest.mark.parametrize("into", [False, True], ids=["iter_content", "readinto"])
def test_with_retries_off_a_cut_raises_as_over_http(
    not_healing: Proxied, request: pytest.FixtureRequest, into: bool
) -> None:
    """``raw.readinto`` raises what ``raw.read`` raises for a cut HTTP body, urllib3's
    ``ProtocolError``, which requests turns into ``ChunkedEncodingError`` in ``iter_content``."""
    if not_healing.name == "az":
        reason = "azure-storage-blob retries a cut download itself (same range, same ETag)"
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    not_healing.store.write("cut.bin", DATA, None)
    not_healing.proxy.cut_body_after = 700_000
    not_healing.proxy.cuts_left = 1

    response = not_healing.session.get(not_healing.url("cut.bin"), stream=True, timeout=30)
    if into:
        with pytest.raises(ProtocolError):
            _read_into_a_buffer(response.raw)
    else:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            b"".join(response.iter_content(256 * 1024))


def test_an_object_replaced_mid_stream_is_never_spliced(healing: Proxied) -> None:
    healing.store.write("replaced.bin", DATA, None)
    # Past the first 1 MiB: obstore (s3_native) hands over no bytes before it has that much,
    # so an earlier cut would be healed before the replacement.
    healing.proxy.cut_body_after = 2_000_000
    healing.proxy.cuts_left = 1

    response = healing.session.get(healing.url("replaced.bin"), stream=True, timeout=30)
    first = response.raw.read(500_000)
    healing.store.write("replaced.bin", os.urandom(len(DATA)), None)
    try:
        rest = b"".join(response.iter_content(256 * 1024))
    except requests.exceptions.ChunkedEncodingError:
        rest = None

    assert first == DATA[:500_000]
    if healing.name == "az":  # its first range (4 MiB) held the whole object before the swap
        assert rest == DATA[500_000:]
    else:
        assert rest is None, "the rest of another version was not spliced on"


def test_throttling_is_retried_after_the_stores_retry_after(healing: Proxied) -> None:
    healing.store.write("busy.txt", b"eventually", None)
    # obstore reports no headers: a native GET that fails is asked again at once through the
    # presigned path, whose answer (Retry-After included) the policy acts on. Two per try.
    tries = 2 if healing.name == "s3_native" else 1
    healing.proxy.answer(503, {"Retry-After": "1"}, b"", times=2 * tries)

    started = time.monotonic()
    response = healing.session.get(healing.url("busy.txt"), timeout=30)
    waited = time.monotonic() - started

    assert response.status_code == 200
    assert response.content == b"eventually"
    assert waited >= 1.8, "each retry waited for the store's Retry-After"


def test_retries_are_bounded_by_attempts(request: pytest.FixtureRequest) -> None:
    config = TransferConfig(max_attempts=3, backoff_base=0.01)
    with proxied_store(request, "s3", transfer=config) as proxied:
        proxied.store.write("down.txt", b"x", None)
        proxied.proxy.answer(503, {}, b"", times=None)

        response = proxied.session.get(proxied.url("down.txt"))

        assert response.status_code == 503
        assert len(proxied.proxy.requests) == 3


def test_a_definite_answer_is_not_retried(healing: Proxied) -> None:
    healing.store.write("denied.txt", b"x", None)
    healing.proxy.answer(403, {}, b"", times=None)

    response = healing.session.get(healing.url("denied.txt"))

    assert response.status_code == 403
    assert len(healing.proxy.requests) == 1
