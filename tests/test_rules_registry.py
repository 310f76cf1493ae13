"""The routing rules of ``SchemeRegistry``, case by case, without a server.

test_registry.py and test_file_urls.py cover routes end to end; these pin the edges a planted
bug in ``_registry`` would cross: keys that hold ``://``, routes of mixed kinds on one scheme,
filesystems built once, what the errors say, and backends that are missing or misconfigured.
"""

from __future__ import annotations

import importlib
import multiprocessing
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from objstore_adapter import BackendConfigError, BackendNotInstalled, SchemeRegistry, TransferConfig
from objstore_adapter._fileurl import local_path, within

#: The module (``fsspec.registry`` is also the name of its read-only view of the classes).
FSSPEC_REGISTRY = importlib.import_module("fsspec.registry")

#: An S3 filesystem that fsspec builds anew on every call: reuse is then the registry's doing.
S3_OPTIONS: dict[str, Any] = {
    "endpoint_url": "http://127.0.0.1:9",
    "anon": True,
    "skip_instance_cache": True,
}


def test_a_key_may_hold_the_scheme_separator() -> None:
    registry = SchemeRegistry()
    registry.register("memory")
    registry.register("s3://bucket/odd://dir/", anon=True)

    assert registry.resolve("memory://bucket/a://c").path == "bucket/a://c"
    assert registry.resolve("s3://bucket/odd://key").path == "bucket/odd://key"
    assert registry.route_for("s3://bucket/odd://dir/key").prefix == "s3://bucket/odd://dir/"
    assert registry.route_for("s3://bucket/odd://key").prefix == "s3"


def test_a_file_path_may_hold_the_scheme_separator(tmp_path: Path) -> None:
    registry = SchemeRegistry()
    registry.register(tmp_path.as_uri() + "/", protocol="file")

    target = registry.resolve(f"{tmp_path.as_uri()}/a://b")

    assert target.path == f"{tmp_path}/a:/b"


def test_a_file_root_claims_no_url_of_another_scheme(tmp_path: Path) -> None:
    registry = SchemeRegistry()
    registry.register("memory")
    registry.register(tmp_path.as_uri() + "/", protocol="file")

    assert registry.route_for("memory://bucket/key").prefix == "memory"
    assert registry.route_for(tmp_path.as_uri() + "/key").protocol == "file"


def test_a_file_url_naming_another_host_is_outside_every_root() -> None:
    registry = SchemeRegistry()
    registry.register("file:///", protocol="file")

    with pytest.raises(requests.exceptions.InvalidSchema, match="outside every prefix"):
        registry.route_for("file://elsewhere/etc/passwd")


def test_file_urls_follow_rfc_8089_whatever_protocol_serves_them() -> None:
    registry = SchemeRegistry()
    registry.register("file", protocol="memory")

    with pytest.raises(requests.exceptions.InvalidURL, match="host 'elsewhere'"):
        registry.resolve("file://elsewhere/key")
    assert registry.resolve("file:///bucket/a%20b").path == "/bucket/a b"


def test_a_file_root_wins_over_the_bare_file_scheme(tmp_path: Path) -> None:
    registry = SchemeRegistry()
    registry.register("file")
    registry.register("file:///", protocol="file", auto_mkdir=True)

    assert registry.route_for(tmp_path.as_uri()).prefix == "file:///"


def test_filesystems_are_built_once_per_route() -> None:
    registry = SchemeRegistry()
    registry.register("s3", **S3_OPTIONS)
    route = registry.route_for("s3://bucket/key")

    first = registry.filesystem(route)

    assert registry.filesystem(route) is first
    assert registry.resolve("s3://bucket/other").fs is first
    registry.clear_cache()
    assert registry.filesystem(route) is not first


#: The registry a forked child inherits as it was (passed as an argument, it would be pickled).
_INHERITED: list[SchemeRegistry] = []


def _built_twice_in_this_process() -> tuple[bool, int]:
    registry = _INHERITED[0]
    route = registry.route_for("s3://bucket/key")
    fs = registry.filesystem(route)
    return registry.filesystem(route) is fs, id(fs)


# Python 3.12+ warns that forking a process with threads may deadlock: this fork is the point.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_process_builds_its_own_filesystems_once() -> None:
    registry = SchemeRegistry()
    registry.register("s3", **S3_OPTIONS)
    parent = registry.filesystem(registry.route_for("s3://bucket/key"))
    _INHERITED[:] = [registry]

    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            reused, child = pool.apply(_built_twice_in_this_process)
    finally:
        _INHERITED.clear()

    assert reused
    assert child != id(parent)
    assert registry.filesystem(registry.route_for("s3://bucket/key")) is parent


def test_a_url_prefix_inherits_its_schemes_transfer_settings() -> None:
    custom = TransferConfig(max_attempts=7)
    registry = SchemeRegistry()
    registry.register("s3", transfer=custom)
    registry.register("s3://bucket/")
    registry.register("s3://other/", transfer=TransferConfig(max_attempts=2))

    assert registry.route_for("s3://bucket/key").transfer is custom
    assert registry.route_for("s3://other/key").transfer.max_attempts == 2


def test_what_routing_errors_say() -> None:
    registry = SchemeRegistry()
    registry.register("memory://a/")
    registry.register("memory://b/")

    with pytest.raises(requests.exceptions.InvalidSchema) as unknown:
        registry.route_for("nosuch://bucket/a://b")
    with pytest.raises(requests.exceptions.InvalidSchema) as outside:
        registry.route_for("memory://c/key")

    assert str(unknown.value) == (
        "No object store registered for 'nosuch' URLs; known schemes: abfs, abfss, az, gcs, "
        "gs, memory, s3, s3a. Use SchemeRegistry.register('nosuch', ...)."
    )
    assert str(outside.value) == (
        "'memory://c/key' is outside every prefix registered for memory:// URLs: "
        "memory://a/, memory://b/"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("bucket/key", "'bucket/key' is not a URL with a scheme (like s3://bucket/key)"),
        ("s3:///key", "'s3:///key' names no bucket or container: use s3://BUCKET/KEY"),
        ("s3://", "'s3://' names no bucket or container: use s3://BUCKET/KEY"),
        (
            "memory://bucket/./key",
            "'memory://bucket/./key': '.' and '..' path segments are refused",
        ),
        ("memory://bucket/../k", "'memory://bucket/../k': '.' and '..' path segments are refused"),
    ],
)
def test_what_resolving_refuses(url: str, message: str) -> None:
    registry = SchemeRegistry()
    registry.register("memory")
    registry.register("s3", **S3_OPTIONS)

    with pytest.raises(requests.exceptions.InvalidURL) as caught:
        registry.resolve(url)

    assert str(caught.value) == message


def test_an_unknown_protocol_is_refused_with_the_way_out() -> None:
    with pytest.raises(ValueError, match="nosuchproto") as caught:
        SchemeRegistry().register("x", protocol="nosuchproto")

    assert str(caught.value) == (
        "fsspec knows no protocol 'nosuchproto' (for 'x'); "
        "pass protocol= with one of fsspec.available_protocols()"
    )


def test_a_missing_cloud_backend_names_the_pip_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as on a machine without the s3 extra
    monkeypatch.delitem(FSSPEC_REGISTRY._registry, "s3", raising=False)  # imported classes
    registry = SchemeRegistry()

    with pytest.raises(BackendNotInstalled) as caught:
        registry.resolve("s3://bucket/key")

    assert str(caught.value) == (
        "s3:// URLs need a backend that is not installed: pip install 'objstore-adapter[s3]'"
    )
    assert isinstance(caught.value.__cause__, ImportError)


def test_a_missing_third_party_backend_names_the_protocol(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        FSSPEC_REGISTRY.known_implementations,
        "objstore-missing",
        {
            "class": "objstore_missing_backend.FileSystem",
            "err": "install objstore-missing-backend",
        },
    )
    registry = SchemeRegistry()
    registry.register("missing", protocol="objstore-missing")

    with pytest.raises(BackendNotInstalled) as caught:
        registry.resolve("missing://bucket/key")

    assert str(caught.value) == (
        "missing:// URLs need a backend that is not installed: "
        "install the fsspec backend for 'objstore-missing'"
    )


def test_a_filesystem_that_cannot_be_built_names_route_and_protocol() -> None:
    registry = SchemeRegistry()
    registry.register("zipped", protocol="zip", fo="/nonexistent/archive.zip")

    with pytest.raises(BackendConfigError) as caught:
        registry.resolve("zipped://member")

    assert str(caught.value).startswith(
        "the zipped:// route 'zipped' cannot build its 'zip' filesystem (FileNotFoundError: "
    )
    assert str(caught.value).endswith("; check the option 'fo'")


def test_the_longest_prefix_wins_whichever_protocol_serves_it() -> None:
    # One scheme, file roots and memory prefixes side by side: the longer match wins.
    registry = SchemeRegistry()
    registry.register("x:///tmp/", protocol="file")
    registry.register("x:///tmp/a/", protocol="memory")
    registry.register("x:///srv/a/b/c/", protocol="file")
    registry.register("x:///srv/", protocol="memory")

    assert registry.route_for("x:///tmp/a/key").prefix == "x:///tmp/a/"
    assert registry.route_for("x:///srv/a/b/c/key").prefix == "x:///srv/a/b/c/"


@pytest.fixture
def fresh_paths() -> None:
    """local_path remembers URLs it parsed: clear it, so each URL here is parsed anew."""
    local_path.cache_clear()


@pytest.mark.parametrize(
    ("path", "root", "inside"),
    [
        ("/srv/data", "/srv/data", True),
        ("/srv/data/", "/srv/data", True),
        ("/srv/data/x", "/srv/data", True),
        ("/srv/database", "/srv/data", False),
        ("/srv", "/srv/data", False),
        ("/srv/data/x", "/srv/data/", True),
        ("/srv/data/", "/srv/data/", True),
        ("/srv/data", "/srv/data/", False),
        ("/srv/database", "/srv/data/", False),
    ],
)
def test_within(path: str, root: str, inside: bool) -> None:
    assert within(path, root) is inside


@pytest.mark.usefixtures("fresh_paths")
@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("file:///srv/a%20b/c.csv", "/srv/a b/c.csv"),
        ("file:///srv/%41%42", "/srv/AB"),
        ("file:///srv/caf%C3%A9", "/srv/caf\u00e9"),
        ("file:///srv/raw%FFname", "/srv/raw\udcffname"),  # not UTF-8: round-trips as bytes
        ("file:///srv/100%", "/srv/100%"),
        ("file:///srv/x.", "/srv/x."),
        ("file:///srv/...", "/srv/..."),
    ],
)
def test_file_url_segments_decode(url: str, path: str) -> None:
    assert local_path(url) == path


@pytest.mark.usefixtures("fresh_paths")
@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ("%2e", "'.' and '..' path segments are refused, percent-encoded ones too"),
        ("%2E%2e", "'.' and '..' path segments are refused, percent-encoded ones too"),
        ("..", "'.' and '..' path segments are refused, percent-encoded ones too"),
        (
            "a%2Fb",
            "the segment 'a%2Fb' decodes to a separator or NUL byte, which no file name holds",
        ),
        (
            "a%00b",
            "the segment 'a%00b' decodes to a separator or NUL byte, which no file name holds",
        ),
    ],
)
def test_file_url_segments_that_are_refused(segment: str, message: str) -> None:
    url = f"file:///srv/{segment}/x"

    with pytest.raises(requests.exceptions.InvalidURL) as caught:
        local_path(url)

    assert str(caught.value) == f"{url!r}: {message}"
