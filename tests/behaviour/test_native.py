"""``native_gets``: S3 GETs through obstore answer what the presigned path answers.

Run against SeaweedFS, which checks request signatures (moto does not): the Rust client must
sign with the credentials, region and endpoint s3fs resolved. The conformance, healing and
chaos suites also run an ``s3_native`` backend on moto.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import s3fs

import objstore_adapter
from objstore_adapter import SchemeRegistry, TransferConfig
from objstore_adapter._backends.s3.native import _store
from objstore_adapter._http import Timeouts

from .._proxy import RecordingProxy
from ..conftest import S3_KEY, S3_SECRET, s3_registry

NATIVE = TransferConfig(native_gets=True)
BIG = os.urandom(3 * 2**20 + 5)  # past obstore's first chunk, within a download part
SMALL = b"0123456789" * 100


@pytest.fixture(scope="module")
def objects(seaweed_s3_client: Any, seaweed_bucket: str) -> str:
    """Objects of every shape the matrix reads; returns their URL prefix."""
    prefix = f"native-{uuid.uuid4().hex[:8]}"
    put = seaweed_s3_client.put_object
    put(Bucket=seaweed_bucket, Key=f"{prefix}/small.bin", Body=SMALL)
    put(Bucket=seaweed_bucket, Key=f"{prefix}/big.bin", Body=BIG)
    put(Bucket=seaweed_bucket, Key=f"{prefix}/empty.bin", Body=b"")
    put(Bucket=seaweed_bucket, Key=f"{prefix}/a b+c%d.csv", Body=b"a,b\n")
    put(
        Bucket=seaweed_bucket,
        Key=f"{prefix}/kept.txt",
        Body=b"kept",
        ContentType="text/plain",
        CacheControl="max-age=60",
        ContentDisposition="attachment",
        ContentLanguage="fr-CA",
        Metadata={"owner": "team-data"},
    )
    return f"s3://{seaweed_bucket}/{prefix}"


@pytest.fixture
def sessions(seaweed_endpoint: str) -> Iterator[tuple[requests.Session, requests.Session, Any]]:
    """The presigned path, and the native one through a proxy that records what it sent."""
    port = int(seaweed_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        native = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=NATIVE))
        yield objstore_adapter.session(s3_registry(seaweed_endpoint)), native, proxy


CASES = {
    "whole": ("small.bin", {}),
    "large": ("big.bin", {}),
    "empty": ("empty.bin", {}),
    "odd key": ("a b+c%d.csv", {}),
    "stored headers": ("kept.txt", {}),
    "range": ("big.bin", {"Range": "bytes=10-19"}),
    "open range": ("big.bin", {"Range": "bytes=3145000-"}),
    "range past the end": ("small.bin", {"Range": "bytes=990-5000"}),
    "large range": ("big.bin", {"Range": "bytes=1-3000000"}),
    "suffix": ("small.bin", {"Range": "bytes=-7"}),
    "unsatisfiable": ("small.bin", {"Range": "bytes=5000-"}),
    "missing": ("missing.bin", {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_native_answers_what_the_presigned_path_answers(
    sessions: tuple[requests.Session, requests.Session, RecordingProxy], objects: str, case: str
) -> None:
    presigned, native, proxy = sessions
    key, headers = CASES[case]
    url = f"{objects}/{key}"

    expected = presigned.get(url, headers=headers)
    got = native.get(url, headers=headers)

    assert got.status_code == expected.status_code
    assert dict(got.headers) == dict(expected.headers)
    assert got.content == expected.content
    agents = [h.get("user-agent", "") for h in proxy.request_headers]
    if case in ("whole", "large", "odd key", "range", "open range", "large range"):
        assert agents[0].startswith("object_store/"), "obstore sent the GET"
        assert len(agents) == 1, "a body up to the download part size comes in one call"


@pytest.mark.parametrize("key", ["seg//x.bin", "/seg/x.bin", "seg/\tx.bin"])
def test_a_key_obstore_would_read_as_another_path_goes_presigned(
    moto_endpoint: str, s3_bucket: str, put: Any, key: str
) -> None:
    """obstore parses keys as paths ("a//b" is "a/b"); moto, like S3, keeps them apart."""
    put("seg/x.bin", b"another object")
    url = put(key, b"this object")
    port = int(moto_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=NATIVE))

        response = session.get(url)

        assert response.content == b"this object"
        agents = [h.get("user-agent", "") for h in proxy.request_headers]
        assert not any(agent.startswith("object_store/") for agent in agents)


def test_a_stalled_store_costs_one_timeout_not_two(moto_endpoint: str, put: Any) -> None:
    """A timeout is raised as what it is, not asked again through the presigned path."""
    url = put("native-stall.txt", SMALL)
    port = int(moto_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        transfer = TransferConfig(native_gets=True, max_attempts=1)
        session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=transfer))
        proxy.stall_seconds = 10

        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            session.get(url, timeout=(5, 1))
        elapsed = time.monotonic() - started

    assert elapsed < 1.9, f"{elapsed:.1f} s: waited once"
    assert len(proxy.requests) == 1


@pytest.mark.parametrize("headers", [{}, {"Range": "bytes=10-19"}], ids=["whole", "range"])
def test_a_streamed_body_comes_through_the_presigned_path(
    sessions: tuple[requests.Session, requests.Session, RecordingProxy],
    objects: str,
    headers: dict[str, str],
) -> None:
    """obstore copies a streamed body twice on its way into Python: a GET the caller
    streams is sent as the presigned path sends it, in one request."""
    _, native, proxy = sessions
    response = native.get(f"{objects}/big.bin", headers=headers, stream=True)

    first = response.raw.read(5)
    rest = b"".join(response.iter_content(256 * 1024))

    assert first + rest == (BIG[10:20] if headers else BIG)
    agents = [h.get("user-agent", "") for h in proxy.request_headers]
    assert len(agents) == 1
    assert not agents[0].startswith("object_store/")


def test_a_body_larger_than_a_part_is_read_past_obstores_first_chunk_presigned(
    seaweed_endpoint: str, objects: str
) -> None:
    """Read at once but larger than the download part size: obstore's first chunk, then the
    rest through the presigned path, pinned to the version obstore answered."""
    port = int(seaweed_endpoint.rsplit(":", 1)[1])
    transfer = TransferConfig(native_gets=True, download_part_size=2**20)
    with RecordingProxy(port) as proxy:
        session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=transfer))

        assert session.get(f"{objects}/big.bin").content == BIG

        agents = [h.get("user-agent", "") for h in proxy.request_headers]
        assert [agent.startswith("object_store/") for agent in agents] == [True, False]
        assert "if-match" in {name.lower() for name in proxy.request_headers[1]}


def test_a_denial_is_reported_as_the_store_answered_it(seaweed_endpoint: str, objects: str) -> None:
    wrong = "wrong-secret-5a1f0c9e7d"
    registry = SchemeRegistry()
    registry.register(
        "s3",
        endpoint_url=seaweed_endpoint,
        key=S3_KEY,
        secret=wrong,
        skip_instance_cache=True,
        transfer=TransferConfig(native_gets=True, max_attempts=1),
    )
    response = objstore_adapter.session(registry).get(f"{objects}/small.bin")

    assert response.status_code == 403
    assert wrong not in response.text
    assert wrong not in str(dict(response.headers))


def test_the_native_client_signs_with_what_botocore_resolves(
    seaweed_endpoint: str, objects: str
) -> None:
    """Credentials from the environment, not the route: botocore finds them, obstore signs."""
    script = (
        "import objstore_adapter as o, sys\n"
        "r = o.SchemeRegistry()\n"
        "r.register('s3', endpoint_url=sys.argv[1], skip_instance_cache=True,\n"
        "           transfer=o.TransferConfig(native_gets=True))\n"
        "print(o.session(r).get(sys.argv[2]).status_code)\n"
    )
    env = {**os.environ, "AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET}
    done = subprocess.run(
        [sys.executable, "-c", script, seaweed_endpoint, f"{objects}/small.bin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "200", done.stderr


def test_a_cut_small_body_raises_as_over_http_with_retries_off(
    moto_endpoint: str, put: Any
) -> None:
    url = put("native-cut.bin", os.urandom(200_000))
    port = int(moto_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        transfer = TransferConfig(native_gets=True, max_attempts=1)
        session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=transfer))
        proxy.cut_body_after = 50_000
        proxy.cuts_left = 1

        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            session.get(url)


@pytest.mark.parametrize(
    ("status", "body", "answered", "per_get"),
    # A denial is taken at its word (a 401 is a denial, as on the presigned path); throttling
    # (whose Retry-After obstore does not keep), a denial of obstore's signature and other
    # refusals are asked again through the presigned path, and a 400 from a presigned URL
    # once more through s3fs.
    [
        (403, b"<Error><Code>AccessDenied</Code></Error>", 403, 1),
        (401, b"", 403, 1),
        (403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>", 403, 2),
        (400, b"", 400, 3),
        (503, b"", 503, 2),
    ],
    ids=["denied", "unauthenticated", "signature", "bad-request", "throttled"],
)
def test_an_error_answer_is_reported_as_the_store_gave_it(
    moto_endpoint: str, put: Any, status: int, body: bytes, answered: int, per_get: int
) -> None:
    url = put("native-refused.bin", SMALL)
    port = int(moto_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        transfer = TransferConfig(native_gets=True, max_attempts=1)
        session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=transfer))
        proxy.answer(status, {}, body, times=None)

        statuses = {session.get(url).status_code for _ in range(5)}

        assert statuses == {answered}
        assert len(proxy.requests) == 5 * per_get, "the store's own refusals do not pause obstore"


def test_a_bucket_that_refuses_only_obstore_is_left_to_presigned_urls(
    moto_endpoint: str, put: Any
) -> None:
    """Three refusals that the presigned path then answers (a region mismatch, say) pause
    obstore for the bucket; a success in between starts the count again."""
    url = put("native-refused.bin", SMALL)
    port = int(moto_endpoint.rsplit(":", 1)[1])
    with RecordingProxy(port) as proxy:
        transfer = TransferConfig(native_gets=True, max_attempts=1)
        session = objstore_adapter.session(s3_registry(proxy.endpoint, transfer=transfer))
        proxy.answer(400, {}, b"", times=2, agent="object_store/")
        for _ in range(2):
            assert session.get(url).content == SMALL
        assert session.get(url).content == SMALL  # obstore answered: the count starts again
        proxy.answer(400, {}, b"", times=None, agent="object_store/")

        for _ in range(5):
            assert session.get(url).content == SMALL

        agents = [h.get("user-agent", "") for h in proxy.request_headers]
        native = [agent.startswith("object_store/") for agent in agents]
        assert native.count(True) == 2 + 1 + 3, "paused after three refusals in a row"
        assert native[-2:] == [False, False]


#: A parent GETs through obstore, then a forked child GETs the same URL.
FORK_SCRIPT = """
import multiprocessing, sys
import objstore_adapter as o

def get(session, url, results):
    response = session.get(url)
    results.put((response.status_code, response.content))

if __name__ == "__main__":
    endpoint, key, secret, url = sys.argv[1:]
    registry = o.SchemeRegistry()
    registry.register("s3", endpoint_url=endpoint, key=key, secret=secret,
                      transfer=o.TransferConfig(native_gets=True))
    session = o.session(registry)
    assert session.get(url).status_code == 200  # the parent's runtime is running now
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=get, args=(session, url, results), daemon=True)
    child.start()
    try:
        print(results.get(timeout=60))
    finally:
        child.kill()
"""


def test_a_forked_child_reads_through_the_presigned_path(moto_endpoint: str, put: Any) -> None:
    """obstore's runtime threads do not survive a fork: the child must not wait on them."""
    url = put("native-fork.bin", b"forked")
    done = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, moto_endpoint, S3_KEY, S3_SECRET, url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "(200, b'forked')", done.stderr[-2000:]


def test_virtual_hosted_addressing_is_kept() -> None:
    """The endpoint and style come from a URL botocore presigns (local work, no request)."""
    fs = s3fs.S3FileSystem(
        key=S3_KEY,
        secret=S3_SECRET,
        endpoint_url="http://s3.example.internal:9000",
        config_kwargs={"s3": {"addressing_style": "virtual"}},
        skip_instance_cache=True,
    )
    store = _store(fs, "my-bucket", Timeouts(connect=1, read=2))

    assert store.config["endpoint"] == "http://my-bucket.s3.example.internal:9000"
    assert store.config["virtual_hosted_style_request"] in (True, "true")
    assert S3_SECRET not in repr(store)
    assert S3_SECRET not in str(store.config)


def test_native_gets_without_obstore_is_a_clear_error() -> None:
    script = (
        "import sys; sys.modules['obstore'] = None\n"
        "import objstore_adapter as o\n"
        "try:\n"
        "    o.TransferConfig(native_gets=True)\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert "pip install 'objstore-adapter[native]'" in done.stdout, done.stderr
