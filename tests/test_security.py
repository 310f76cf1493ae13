"""Secrets and trust boundaries: what never leaks, what is never followed or escaped."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

import objstore_adapter
from objstore_adapter import SchemeRegistry

from .conftest import free_port, moto_server

CANARY_KEY = "AKIACANARY9999999999"
CANARY_SECRET = "zz-canary-secret-7f3a9c1e5b"


@pytest.fixture(scope="module")
def auth_endpoint() -> Iterator[str]:
    """A moto server that checks credentials, so the canary ones are refused."""
    with moto_server({"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as endpoint:
        yield endpoint


def _canary_registry(endpoint: str, **options: Any) -> SchemeRegistry:
    registry = SchemeRegistry()
    registry.register("s3", endpoint_url=endpoint, key=CANARY_KEY, secret=CANARY_SECRET, **options)
    return registry


def test_canary_credentials_never_leak(
    auth_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the backends' included
    registry = _canary_registry(auth_endpoint)
    session = objstore_adapter.session(registry)
    dead = objstore_adapter.session(
        _canary_registry(
            f"http://127.0.0.1:{free_port()}", config_kwargs={"retries": {"max_attempts": 1}}
        )
    )
    visible: list[str] = []  # what a caller can see: answers, exceptions, reprs, pickles

    for method in ("GET", "HEAD", "PUT", "DELETE"):
        response = session.request(method, "s3://some-bucket/secret.txt", data=b"x")
        assert response.status_code == 403
        visible += [response.text, str(response.headers), repr(response.raw.headers)]
    failing: list[tuple[requests.Session, str]] = [
        (dead, "s3://some-bucket/key"),
        (session, "s3://"),
        (session, "nosuch://bucket/key"),
    ]
    for failing_session, url in failing:
        with pytest.raises(requests.RequestException) as caught:
            failing_session.get(url, timeout=5)
        visible += [str(caught.value), repr(caught.value), repr(pickle.dumps(caught.value))]
    visible += [repr(registry), repr(session), repr(session.adapters), str(vars(session))]
    visible += [repr(pickle.loads(pickle.dumps(registry)))]
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("objstore_adapter")]
    every_log = [r.getMessage() for r in caplog.records]

    assert ours, "the adapter logs each request at DEBUG"
    assert CANARY_SECRET not in "\n".join(visible + every_log)
    # The key id is no secret to AWS (botocore logs it in signed headers), but the adapter
    # itself never shows it.
    assert CANARY_KEY not in "\n".join(visible + ours)


class _Redirector(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def redirector() -> Iterator[type[_Redirector]]:
    handler = type("Handler", (_Redirector,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.base = f"http://127.0.0.1:{server.server_address[1]}/"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("follow", [False, True])
def test_web_redirects_to_local_schemes_are_never_followed(
    redirector: Any, tmp_path: Path, follow: bool
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("local secret")
    registry = SchemeRegistry()
    registry.register("file")
    registry.register("memory")
    session = objstore_adapter.session(registry, follow_redirects_to_object_stores=follow)

    for target in (f"file://{secret}", "memory://anything/here"):
        redirector.target = target
        response = session.get(redirector.base)
        assert response.status_code == 302
        assert response.headers["Location"] == target
        assert "local secret" not in response.text


def test_web_redirects_to_object_stores_need_the_opt_in(redirector: Any, s3_store: Any) -> None:
    s3_store.write("redirected.txt", b"from the bucket", None)
    redirector.target = s3_store.url("redirected.txt")

    refused = objstore_adapter.session(s3_store.registry).get(redirector.base)
    followed = objstore_adapter.session(
        s3_store.registry, follow_redirects_to_object_stores=True
    ).get(redirector.base)

    assert refused.status_code == 302
    assert followed.status_code == 200
    assert followed.content == b"from the bucket"
    assert followed.history[0].status_code == 302


def test_pickled_session_keeps_the_redirect_rule(redirector: Any, tmp_path: Path) -> None:
    registry = SchemeRegistry()
    registry.register("file")
    session = pickle.loads(pickle.dumps(objstore_adapter.session(registry)))
    redirector.target = f"file://{tmp_path}/x"

    assert session.get(redirector.base).status_code == 302


def test_dot_segments_cannot_escape_a_registered_prefix(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "ok.txt").write_text("inside")
    (tmp_path / "outside.txt").write_text("outside")
    registry = SchemeRegistry()
    registry.register(f"file://{tmp_path}/root/", protocol="file")
    session = objstore_adapter.session(registry)

    assert session.get(f"file://{tmp_path}/root/ok.txt").text == "inside"
    for url in (
        f"file://{tmp_path}/root/../outside.txt",
        f"file://{tmp_path}/root/./../outside.txt",
        "s3://bucket/team/../other/key",
    ):
        with pytest.raises(requests.exceptions.InvalidURL, match="segments are refused"):
            session.get(url)
    with pytest.raises(requests.exceptions.InvalidSchema):
        session.get(f"file://{tmp_path}/outside.txt")


# Tests stay on this machine.


def test_the_socket_guard_fails_a_run_that_connects_off_this_machine(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_off_machine.py").write_text(
        textwrap.dedent(
            """
            import socket

            def test_connects_off_the_machine_and_swallows_the_error():
                with socket.socket() as sock:
                    sock.settimeout(2)
                    try:
                        sock.connect(("10.255.255.1", 9))
                    except OSError as exc:
                        print("connect raised:", exc)

            def test_stays_home():
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", 0))
            """
        )
    )
    suite = Path(__file__).parents[1]
    plugins = ["-p", "tests.conftest", "-p", "no:cacheprovider"]

    result = subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-q", "-s", "-rA", "test_off_machine.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(suite)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    out = result.stdout
    # The guard refused before connecting: its own error, not a timeout or "unreachable".
    assert "connect raised: [Errno 111] the test suite talks only to 127.0.0.0/8" in out
    assert "ERROR test_off_machine.py::test_connects_off_the_machine_and_swallows_the_error" in out
    assert "PASSED test_off_machine.py::test_stays_home" in out
    assert "10.255.255.1:9" in out
