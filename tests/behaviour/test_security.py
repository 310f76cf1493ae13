"""Secrets and trust boundaries: what never leaks, what is never followed or escaped.

Canary credentials go through each backend's own credential handling (botocore signing and
presigning, gcsfs and google-auth's token exchange, the Azure SDK's SAS and shared-key
signing) and then must not appear in anything a user can see: responses, exceptions printed
with their whole chain, their reprs and pickles, and log records of every logger at DEBUG.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import ipaddress
import json
import logging
import os
import pickle
import re
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, unquote

import pytest
import requests

import objstore_adapter
from objstore_adapter import SchemeRegistry
from objstore_adapter._backends.azure import AZURE_CHUNK

from .._proxy import RecordingProxy
from ..conftest import (
    AZURITE_KEY,
    Store,
    free_port,
    moto_server,
)

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


@contextlib.contextmanager
def _redirecting(tls: ssl.SSLContext | None = None) -> Iterator[type[_Redirector]]:
    """A local web server that redirects to its handler's ``target``, over TLS if given."""
    handler = type("Handler", (_Redirector,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    handler.base = f"{scheme}://127.0.0.1:{server.server_address[1]}/"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def redirector() -> Iterator[type[_Redirector]]:
    with _redirecting() as handler:
        yield handler


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


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, written under ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def https_redirector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type[_Redirector]]:
    """The redirector over TLS; its ``cert`` is the file to pass as ``verify=``."""
    cert_file, key_file = _self_signed(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    with _redirecting(context) as handler:
        handler.cert = str(cert_file)  # type: ignore[attr-defined]
        yield handler


@pytest.mark.parametrize("follow", [False, True])
def test_https_redirects_to_local_schemes_are_never_followed(
    https_redirector: Any, tmp_path: Path, follow: bool
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("local secret")
    registry = SchemeRegistry()
    registry.register("file")
    session = objstore_adapter.session(registry, follow_redirects_to_object_stores=follow)
    https_redirector.target = f"file://{secret}"

    response = session.get(https_redirector.base, verify=https_redirector.cert)

    assert response.status_code == 302
    assert response.headers["Location"] == https_redirector.target
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


def test_a_redirect_outside_every_file_root_is_answered_not_raised(
    redirector: Any, tmp_path: Path
) -> None:
    (tmp_path / "root").mkdir()
    registry = SchemeRegistry()
    registry.register((tmp_path / "root").as_uri() + "/", protocol="file")
    session = objstore_adapter.session(registry)
    redirector.target = (tmp_path / "elsewhere.txt").as_uri()

    response = session.get(redirector.base)

    assert response.status_code == 302
    assert response.headers["Location"] == redirector.target


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


# Canary credentials through each backend's own credential handling.

CANARY_SESSION_TOKEN = "IQoJcanary-session-token-4d2b8e0f"
CANARY_ACCESS_TOKEN = "ya29.canary-access-token-8b1f3c"
CANARY_SIG = "Q2FuYXJ5U2lnbmF0dXJl+canary/sig="
CANARY_ACCOUNT_KEY = "Q2FuYXJ5QWNjb3VudEtleUNhbmFyeUFjY291bnRLZXk="

#: A signature or token left in a URL or header (azure-core redacts as "REDACTED" itself).
UNREDACTED = re.compile(
    r"(?i)\b(x-amz-signature|x-amz-security-token|signature|sig|access_token)="
    r"(?!<redacted>|REDACTED)[^&\s'\"<>]{6,}"
    r"|\bbearer\s+(?!<redacted>|REDACTED)\S{6,}"
)


class Visible:
    """Everything a user could read: answers, exceptions (whole chain, with the locals of
    every frame from the adapter's send() down), reprs, pickles.

    Args:
        callers_request: the exceptions' ``.request`` is the caller's own request, URL as
            written (as requests keeps it for HTTP): pickles are searched without it.
    """

    def __init__(self, callers_request: bool = False) -> None:
        self.texts: list[str] = []
        self.callers_request = callers_request

    def response(self, response: requests.Response) -> None:
        self.texts += [response.text, str(response.headers), repr(response.raw.headers)]

    def exception(self, exc: BaseException) -> None:
        self.texts.append("".join(traceback.format_exception(exc)))
        _from_send(exc)
        seen: set[int] = set()
        pending: list[BaseException] = [exc]
        while pending:  # every link, printed or not
            link = pending.pop()
            if id(link) in seen:
                continue
            seen.add(id(link))
            self.texts += ["".join(traceback.format_exception(link)), repr(link), str(link)]
            if _raised_by_send(exc):  # what Sentry, pytest -l and rich's show_locals print
                locals_ = traceback.TracebackException.from_exception(link, capture_locals=True)
                self.texts.append("".join(locals_.format()))
            with contextlib.suppress(Exception):
                self.texts.append(repr(pickle.dumps(self._own_state(link))))
            pending += [nxt for nxt in (link.__cause__, link.__context__) if nxt is not None]

    def _own_state(self, link: BaseException) -> BaseException:
        if not self.callers_request or not hasattr(link, "request"):
            return link
        copy: BaseException = pickle.loads(pickle.dumps(link))
        copy.request = copy.response = None  # type: ignore[attr-defined]
        return copy

    def call(self, send: Callable[[], requests.Response]) -> None:
        """Send a request: record its answer, or the exception it raised."""
        try:
            response = send()
            response.content  # noqa: B018 - a streamed body may fail only when read
        except requests.RequestException as exc:
            self.exception(exc)
        else:
            self.response(response)

    def logs(self, caplog: pytest.LogCaptureFixture) -> None:
        self.texts += [record.getMessage() for record in caplog.records]
        self.texts.append(caplog.text)  # formatted, with tracebacks

    def assert_clean(self, *secrets: str) -> None:
        everything = "\n".join(self.texts)
        for secret in secrets:
            assert secret not in everything, f"a canary leaked: {secret[:12]}..."
        leaked = UNREDACTED.search(everything)
        assert leaked is None, f"unredacted: {everything[leaked.start() - 80 : leaked.end()]}"


def _send_frame(frame: Any) -> bool:
    return bool(
        frame.f_code.co_name == "send"
        and frame.f_globals["__name__"] == "objstore_adapter._adapter"
    )


def _raised_by_send(exc: BaseException) -> bool:
    tb = exc.__traceback__
    return tb is not None and _send_frame(tb.tb_frame)


def _from_send(exc: BaseException) -> None:
    """Start the traceback of an exception raised from the adapter's send() there: the frames
    above are the caller's (requests' Session.request holds the URL as written, as for HTTP).
    One raised while a streamed body is read keeps its traceback."""
    tb = exc.__traceback__
    while tb is not None and not _send_frame(tb.tb_frame):
        tb = tb.tb_next
    if tb is not None:
        exc.__traceback__ = tb


def _faults(visible: Visible, session: requests.Session, url: str, proxy: RecordingProxy) -> None:
    """A body cut short, a stalled store, an error status and a refusal, through ``proxy``."""
    proxy.cut_body_after = 3
    visible.call(lambda: session.get(url))
    visible.call(lambda: session.get(url, stream=True))
    proxy.cut_body_after = None
    proxy.stall_seconds = 2
    visible.call(lambda: session.get(url, timeout=0.5))
    proxy.stall_seconds = 0
    for status in (403, 500, 503):
        proxy.answer(status, {"Retry-After": "0"}, times=None)  # retried, without waiting
        visible.call(lambda: session.get(url))
        visible.call(lambda: session.head(url))
        proxy._canned.clear()


def _every_method(visible: Visible, session: requests.Session, url: str) -> None:
    """Each method on ``url``, a 404 and a listing; ``url`` exists again afterwards."""
    for method in ("GET", "HEAD", "PUT", "DELETE", "GET", "PUT"):  # the object is back
        visible.call(lambda m=method: session.request(m, url, data=b"canary body"))  # type: ignore[misc]
    visible.call(lambda: session.get(url.rsplit("/", 1)[0] + "/"))


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # every logger, the backends' and their transports'
    return caplog


def test_s3_session_token_never_leaks(
    s3_store: Store, moto_endpoint: str, all_logs: pytest.LogCaptureFixture
) -> None:
    s3_store.write("canary.txt", b"stored bytes", None)
    url = s3_store.url("canary.txt")
    visible = Visible()
    options = {
        "key": CANARY_KEY,
        "secret": CANARY_SECRET,
        "token": CANARY_SESSION_TOKEN,  # X-Amz-Security-Token, in every presigned URL too
        "config_kwargs": {"retries": {"total_max_attempts": 1}},
    }
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        registry = SchemeRegistry()
        registry.register("s3", endpoint_url=proxy.endpoint, **options)  # type: ignore[arg-type]
        session = objstore_adapter.session(registry)
        _every_method(visible, session, url)
        _faults(visible, session, url, proxy)
        seen_by_store = "\n".join(path for _, path in proxy.requests)
        headers_seen = "\n".join(json.dumps(h) for h in proxy.request_headers)
    dead = SchemeRegistry()
    dead.register("s3", endpoint_url=f"http://127.0.0.1:{free_port()}", **options)  # type: ignore[arg-type]
    visible.call(lambda: objstore_adapter.session(dead).get(url, timeout=2))
    visible.texts += [repr(registry), repr(session.adapters), repr(dead)]
    visible.logs(all_logs)

    assert CANARY_SESSION_TOKEN in seen_by_store + headers_seen, "the token was used"
    assert "x-amz-security-token=" in seen_by_store.lower(), "a presigned GET carried it"
    visible.assert_clean(CANARY_SESSION_TOKEN, CANARY_SECRET, CANARY_KEY)


class _TokenEndpoint(BaseHTTPRequestHandler):
    """Google's OAuth token endpoint, on loopback: grants the canary access token."""

    grants: list[str]
    refuse = False

    def do_POST(self) -> None:
        form = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.grants.append(form)
        document: dict[str, object]
        if self.refuse:
            status, document = 400, {"error": "invalid_grant", "error_description": "refused"}
        else:
            status = 200
            document = {"access_token": CANARY_ACCESS_TOKEN, "expires_in": 3600}
            document["token_type"] = "Bearer"
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def token_endpoint() -> Iterator[type[_TokenEndpoint]]:
    handler = type("Handler", (_TokenEndpoint,), {"grants": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/token"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler
    server.shutdown()
    server.server_close()


def _service_account(token_uri: str) -> dict[str, str]:
    """A service account's key file, as gcsfs takes it: signed JWTs go to ``token_uri``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "test",
        "private_key_id": "canary-key-id-0c9e",
        "private_key": pem,
        "client_email": "canary@test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }


def test_gcs_tokens_never_leak(
    gs_store: Store,
    gcs_endpoint: str,
    token_endpoint: Any,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    gs_store.write("canary.txt", b"stored bytes", None)
    url = gs_store.url("canary.txt")
    account = _service_account(token_endpoint.url)
    key_line = account["private_key"].splitlines()[5]
    visible = Visible()
    with RecordingProxy(int(gcs_endpoint.rsplit(":", 1)[1])) as proxy:
        registry = SchemeRegistry()
        registry.register("gs", endpoint_url=proxy.endpoint, token=account, project="test")
        session = objstore_adapter.session(registry)
        _every_method(visible, session, url)
        _faults(visible, session, url, proxy)
        authorizations = [
            value
            for h in proxy.request_headers
            for k, value in h.items()
            if k.lower() == "authorization"
        ]
    token_endpoint.refuse = True
    refused = SchemeRegistry()
    refused.register("gs", endpoint_url=gcs_endpoint, token=account, project="test")
    for method in ("GET", "HEAD"):
        response = objstore_adapter.session(refused).request(method, url)
        assert response.status_code == 403, "a refused token is access denied"
        visible.response(response)
    visible.texts += [repr(registry), repr(refused)]
    visible.logs(all_logs)

    assert token_endpoint.grants, "gcsfs asked the loopback token endpoint"
    assert f"Bearer {CANARY_ACCESS_TOKEN}" in authorizations, "and used what it granted"
    visible.assert_clean(CANARY_ACCESS_TOKEN, key_line, "canary-key-id-0c9e")


def _azure_registry(endpoint: str, credentials: str) -> SchemeRegistry:
    registry = SchemeRegistry()
    registry.register(
        "az",
        connection_string=f"BlobEndpoint={endpoint}/devstoreaccount1;{credentials}",
        skip_instance_cache=True,
    )
    return registry


def _azure_error(detail: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code>'
        "<Message>Server failed to authenticate the request.</Message>"
        f"<AuthenticationErrorDetail>{detail}</AuthenticationErrorDetail></Error>"
    ).encode()


def test_azure_sas_and_account_keys_never_leak(
    az_store: Store,
    az_container: str,
    azurite_endpoint: str,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    az_store.write("canary.txt", b"stored bytes", None)
    url = az_store.url("canary.txt")
    sas = generate_container_sas(
        "devstoreaccount1",
        az_container,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, write=True, delete=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    signature = dict(part.split("=", 1) for part in sas.split("&"))["sig"]  # URL-encoded
    visible = Visible()
    with RecordingProxy(int(azurite_endpoint.rsplit(":", 1)[1])) as proxy:
        registry = _azure_registry(proxy.endpoint, f"SharedAccessSignature={sas}")
        fs: Any = registry.filesystem(registry.route_for(url))
        fs.service_client._config.retry_policy.total_retries = 0  # not an adlfs option
        session = objstore_adapter.session(registry)
        _every_method(visible, session, url)
        _faults(visible, session, url, proxy)
        seen_by_store = "\n".join(path for _, path in proxy.requests)
        # Azure quotes the request's signature when it refuses one; here it does so for the
        # second range read of a blob: an error while streaming the body.
        az_store.write("large.bin", b"x" * (AZURE_CHUNK + 1), None)
        url = az_store.url("large.bin")
        echo = f"The MAC signature found in the HTTP request '{unquote(signature)}' is not"
        refusal = {"x-ms-error-code": "AuthenticationFailed"}
        proxy.answer(403, refusal, _azure_error(echo), methods=("GET",), skip=1)
        before = len(visible.texts)
        visible.call(lambda: session.get(url))
        assert "ChunkedEncodingError" in visible.texts[before], "the read failed while streaming"
    canary_sas = sas.replace(signature, CANARY_SIG.replace("+", "%2B").replace("/", "%2F"))
    refused = [
        _azure_registry(azurite_endpoint, f"SharedAccessSignature={canary_sas}"),
        _azure_registry(
            azurite_endpoint, f"AccountName=devstoreaccount1;AccountKey={CANARY_ACCOUNT_KEY}"
        ),
    ]
    for denied in refused:
        for method in ("GET", "HEAD", "PUT", "DELETE"):
            response = objstore_adapter.session(denied).request(method, url, data=b"x")
            assert response.status_code == 403, method
            visible.response(response)
    visible.texts += [repr(registry), *map(repr, refused)]
    visible.logs(all_logs)

    assert f"sig={signature}" in seen_by_store, "the SAS signed every request"
    visible.assert_clean(
        signature,
        unquote(signature),
        CANARY_SIG,
        CANARY_SIG.replace("+", "%2B"),
        CANARY_ACCOUNT_KEY,
        AZURITE_KEY,
    )


def test_a_build_error_never_quotes_a_raw_token(
    gcs_endpoint: str, all_logs: pytest.LogCaptureFixture
) -> None:
    registry = SchemeRegistry()
    registry.register("gs", endpoint_url=gcs_endpoint, token=CANARY_ACCESS_TOKEN)
    visible = Visible()

    # gcsfs asks Google's tokeninfo endpoint about a raw token, with the token in the URL:
    # the suite's loopback refuser answers for Google, and the error quotes that URL.
    with pytest.raises(requests.RequestException) as caught:
        objstore_adapter.session(registry).get("gs://bucket/key")
    visible.exception(caught.value)
    visible.logs(all_logs)

    assert "'token'" in str(caught.value)
    visible.assert_clean(CANARY_ACCESS_TOKEN)


# Every failure rendered as a crash reporter would: frame locals included.

CANARY_USER = "alice-canary"
CANARY_PASSWORD = "pw/canary+5d1e8b2a"  # "/" and "+" change when URL-quoted


def _forms(*secrets: str) -> list[str]:
    """Each secret as written and URL-quoted; base64 of ``user:password`` for each pair."""
    forms = [form for secret in secrets for form in (secret, quote(secret, safe=""))]
    pairs = zip(secrets[::2], secrets[1::2], strict=True)
    return forms + [base64.b64encode(f"{user}:{pw}".encode()).decode() for user, pw in pairs]


class _Files(SimpleHTTPRequestHandler):
    authorizations: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.authorizations.append(self.headers.get("Authorization", ""))
        super().do_GET()

    def do_HEAD(self) -> None:
        self.authorizations.append(self.headers.get("Authorization", ""))
        super().do_HEAD()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_files(tmp_path: Path) -> Iterator[type[_Files]]:
    """A local web server over ``tmp_path``; its handler's ``address`` is host:port."""
    (tmp_path / "page.txt").write_text("public page")
    handler = type("Files", (_Files,), {"authorizations": []})
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(tmp_path))
    )
    handler.address = f"127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def test_no_failure_shows_a_secret_even_with_its_frame_locals(
    auth_endpoint: str, web_files: Any, all_logs: pytest.LogCaptureFixture
) -> None:
    s3 = Visible()
    denied = objstore_adapter.session(_canary_registry(auth_endpoint))
    for method in ("GET", "PUT"):
        response = denied.request(method, "s3://some-bucket/secret.txt", data=b"x")
        assert response.status_code == 403  # moto refused the canary keys
        s3.response(response)
    unreachable = f"http://127.0.0.1:{free_port()}"
    misconfigured = _canary_registry(unreachable, profile="no-such-canary-profile")
    with pytest.raises(objstore_adapter.BackendConfigError, match="'profile'") as config_error:
        objstore_adapter.session(misconfigured).get("s3://some-bucket/key", timeout=5)
    s3.exception(config_error.value)
    dead = _canary_registry(unreachable, config_kwargs={"retries": {"max_attempts": 1}})
    with pytest.raises(requests.ConnectionError) as refused:
        objstore_adapter.session(dead).get("s3://some-bucket/key", timeout=5)
    s3.exception(refused.value)

    web = Visible(callers_request=True)
    registry = SchemeRegistry()
    registry.register("web", protocol="http")  # fsspec's HTTP filesystem: userinfo is Basic auth
    session = objstore_adapter.session(registry)
    userinfo = f"{CANARY_USER}:{quote(CANARY_PASSWORD, safe='')}@"
    page = session.get(f"web://{userinfo}{web_files.address}/page.txt")
    assert page.text == "public page"
    assert page.url == f"web://{userinfo}{web_files.address}/page.txt"  # as the caller gave it
    missing = session.get(f"web://{userinfo}{web_files.address}/missing.txt")
    assert missing.status_code == 404
    web.response(page)
    web.response(missing)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connects, never answers
        stalled = f"127.0.0.1:{silent.getsockname()[1]}"
        for url, error in (
            (f"web://{userinfo}{stalled}/page.txt", requests.exceptions.ReadTimeout),
            (f"web://{userinfo}{web_files.address}/../page.txt", requests.exceptions.InvalidURL),
        ):
            with pytest.raises(error) as caught:
                session.get(url, timeout=0.5)
            assert caught.value.request is not None
            assert caught.value.request.url == url  # the caller's request, as given
            web.exception(caught.value)
    web.logs(all_logs)
    s3.logs(all_logs)

    assert f"Basic {_forms(CANARY_USER, CANARY_PASSWORD)[-1]}" in web_files.authorizations
    for visible in (s3, web):  # send()'s locals were rendered
        assert any("request = <PreparedRequest [GET]>" in text for text in visible.texts)
    s3.assert_clean(*_forms(CANARY_KEY, CANARY_SECRET))
    web.assert_clean(*_forms(CANARY_USER, CANARY_PASSWORD))


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
    suite = Path(__file__).parents[2]
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


def test_a_colon_in_a_local_path_does_not_hide_its_scheme(redirector: Any, tmp_path: Path) -> None:
    secret = tmp_path / "a:secret.txt"
    secret.write_text("local secret")
    registry = SchemeRegistry()
    registry.register("file")
    redirector.target = f"file://{secret}"

    response = objstore_adapter.session(registry).get(redirector.base)

    assert response.status_code == 302
    assert "local secret" not in response.text


def test_redirects_between_web_servers_are_still_followed(redirector: Any) -> None:
    registry = SchemeRegistry()
    registry.register("file")
    session = objstore_adapter.session(registry)
    session.max_redirects = 3
    with _redirecting() as second:
        final: Any = second
        final.target = "/again"  # a relative redirect, to itself: followed until the limit
        redirector.target = final.base
        with pytest.raises(requests.TooManyRedirects) as caught:
            session.get(redirector.base)

    assert caught.value.response is not None
    locations = [r.headers["Location"] for r in caught.value.response.history]
    assert locations == [final.base, "/again", "/again"]


def test_object_store_sessions_refuse_object_store_redirects_by_default(
    redirector: Any, s3_store: Any
) -> None:
    s3_store.write("redirected.txt", b"from the bucket", None)
    redirector.target = s3_store.url("redirected.txt")

    adapter = objstore_adapter.ObjectStoreAdapter(s3_store.registry)
    session = objstore_adapter.mount(
        objstore_adapter.ObjectStoreSession(s3_store.registry), adapter
    )
    response = session.get(redirector.base)

    assert response.status_code == 302


@pytest.mark.parametrize("spelling", ["file:{path}", "FILE:{path}"])
def test_a_local_redirect_without_slashes_is_never_followed(
    redirector: Any, tmp_path: Path, spelling: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("local secret")
    registry = SchemeRegistry()
    registry.register("file")
    redirector.target = spelling.format(path=secret)

    response = objstore_adapter.session(registry).get(redirector.base)

    assert response.status_code == 302
    assert "local secret" not in response.text
