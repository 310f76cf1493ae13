"""The session's own rules: what it mounts, and which requests settings object-store URLs get.

requests calls ``Session.merge_environment_settings`` for every request; the session skips the
environment (proxies, CA bundle) for object-store URLs only, and keeps the caller's and the
session's own settings for every URL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

import objstore_adapter
from objstore_adapter import ObjectStoreAdapter, SchemeRegistry

ENV_PROXY = "http://127.0.0.1:9"
ENV_BUNDLE = "/nonexistent/env-ca.pem"


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> requests.Session:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, ENV_PROXY)
    monkeypatch.setenv("all_proxy", ENV_PROXY)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ENV_BUNDLE)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return objstore_adapter.session()


def test_mount_without_an_adapter_serves_the_cloud_schemes() -> None:
    mounted = objstore_adapter.mount(requests.Session())

    adapter = mounted.get_adapter("s3://bucket/key")
    assert isinstance(adapter, ObjectStoreAdapter)
    assert mounted.get_adapter("az://container/key") is adapter
    assert adapter.registry.schemes() == SchemeRegistry().schemes()


@pytest.mark.parametrize(
    "url",
    ["s3://bucket/key", "S3://bucket/key", "gs://bucket/a:b", b"s3://bucket/key", "az://c/k:1"],
)
def test_object_store_urls_skip_the_environment(session: requests.Session, url: str) -> None:
    settings = session.merge_environment_settings(url, {}, None, None, None)

    assert settings == {"proxies": {}, "stream": False, "verify": True, "cert": None}


def test_web_urls_keep_the_environment(session: requests.Session) -> None:
    settings = session.merge_environment_settings("https://example.invalid/x", {}, None, None, None)

    assert settings["proxies"]["https"] == ENV_PROXY
    assert settings["verify"] == ENV_BUNDLE
    assert settings["stream"] is False
    assert settings["cert"] is None


@pytest.mark.parametrize(
    ("url", "verify"),
    [
        ("s3://bucket/key", "/nonexistent/session-ca.pem"),
        # requests lets REQUESTS_CA_BUNDLE override the session's verify=: kept for the web.
        ("https://example.invalid/x", ENV_BUNDLE),
    ],
)
def test_the_session_settings_apply_to_every_url(
    session: requests.Session, url: str, verify: str
) -> None:
    session.proxies = {"all": "http://127.0.0.1:7"}
    session.stream = True
    session.verify = "/nonexistent/session-ca.pem"
    session.cert = "/nonexistent/session-cert.pem"

    settings = session.merge_environment_settings(url, None, None, None, None)

    assert settings["proxies"]["all"] == "http://127.0.0.1:7"
    assert settings["stream"] is True
    assert settings["verify"] == verify
    assert settings["cert"] == "/nonexistent/session-cert.pem"


@pytest.mark.parametrize("url", ["s3://bucket/key", "https://example.invalid/x"])
def test_the_callers_settings_win_on_every_url(session: requests.Session, url: str) -> None:
    session.verify = "/nonexistent/session-ca.pem"
    session.cert = "/nonexistent/session-cert.pem"
    proxies = {"all": "http://127.0.0.1:8"}

    settings = session.merge_environment_settings(url, proxies, True, False, "/my/cert.pem")

    assert settings["proxies"]["all"] == "http://127.0.0.1:8"
    assert settings["stream"] is True
    assert settings["verify"] is False
    assert settings["cert"] == "/my/cert.pem"


def test_object_store_urls_skip_netrc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A ~/.netrc entry for a bucket's name never becomes an Authorization header (requests
    adds one for any host it lists); web URLs keep requests' behaviour."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine bucket login user password netrc-password-1\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    registry = SchemeRegistry()
    registry.register("memory")
    s = objstore_adapter.session(registry)
    request = requests.Request("GET", "memory://bucket/key")

    prepared = s.prepare_request(request)
    web = s.prepare_request(requests.Request("GET", "http://bucket/key"))

    assert "Authorization" not in prepared.headers
    assert request.auth is None, "the caller's request is left as it was"
    assert web.headers["Authorization"].startswith("Basic ")
