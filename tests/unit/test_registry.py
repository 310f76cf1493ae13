"""``_registry``: routes, defaults, lazy backends, and what ``SchemeRegistry`` shows of itself.

The routing rules are pinned case by case, without a server, at the edges a planted bug in
``_registry`` would cross: keys that hold ``://``, routes of mixed kinds on one scheme,
filesystems built once, what the errors say, and backends that are missing or misconfigured.
test_fileurl.py covers file:// routes end to end.
"""

from __future__ import annotations

import importlib
import itertools
import multiprocessing
import pickle
import re
import subprocess
import sys
import textwrap
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import requests
from fsspec.implementations.memory import MemoryFileSystem
from hypothesis import example, given
from hypothesis import strategies as st

import objstore_adapter
from objstore_adapter import (
    BackendConfigError,
    BackendNotInstalled,
    ObjectStoreAdapter,
    SchemeRegistry,
    TransferConfig,
)
from objstore_adapter._fileurl import resolves_within
from objstore_adapter._registry import _has_dot_segment

from ..conftest import S3_KEY, S3_SECRET, free_port

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
        *[
            (url, f"{url!r}: '.' and '..' path segments are refused")
            for url in (
                # As a web client or server reads them: percent-decoded.
                "s3://bucket/pub/%2e%2e/secret",
                "s3://bucket/pub/.%2E/secret",
                "s3://bucket/pub/%2e%2e%2fsecret",
                "s3://bucket/pub/%2E",
                # As FTP and SFTP read them: without the query or fragment.
                "s3://bucket/pub/..?x",
                "s3://bucket/pub/..#x",
                "s3://bucket/pub/.?",
            )
        ],
    ],
)
def test_what_resolving_refuses(url: str, message: str) -> None:
    registry = SchemeRegistry()
    registry.register("memory")
    registry.register("s3", **S3_OPTIONS)

    with pytest.raises(requests.exceptions.InvalidURL) as caught:
        registry.resolve(url)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    "key", ["pub/..foo", "pub/a..b", "pub/.hidden", "pub/%2e%2e.txt", "pub/x?a=..b", "pub/%2fx"]
)
def test_names_with_dots_that_are_no_dot_segments_resolve(key: str) -> None:
    registry = SchemeRegistry()
    registry.register("s3", **S3_OPTIONS)

    assert registry.resolve(f"s3://bucket/{key}").path == f"bucket/{key}"


@given(st.text(alphabet=["a", ".", "/", "?", "#", "%", "0", "2", "3", "e", "E", "f", "A", "\n"]))
@example("..\n")  # a regex "$" matches before a last line break: no segment ends there
@example("bucket/.%0A")
@example("a/%2E%2e?x")
def test_a_dot_segment_is_one_of_the_pieces_between_separators(rest: str) -> None:
    """As written or percent-decoded, split on ``/?#``: a piece that is ``.`` or ``..``."""
    pieces = [
        piece for text in (rest, urllib.parse.unquote(rest)) for piece in re.split("[/?#]", text)
    ]
    assert _has_dot_segment(rest) == any(piece in (".", "..") for piece in pieces)


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


def test_the_schemes_case_never_changes_the_route(tmp_path: Path) -> None:
    registry = SchemeRegistry()
    registry.register("s3://bucket", anon=True)
    registry.register("s3://bucket/team/", anon=True)
    registry.register(tmp_path.as_uri() + "/", protocol="file")

    assert registry.route_for("S3://bucket/key").prefix == "s3://bucket"
    assert registry.route_for("S3://bucket").prefix == "s3://bucket"
    assert registry.route_for("s3://bucket/team/key").prefix == "s3://bucket/team/"
    assert registry.route_for("S3://Bucket/team/key").prefix == "s3"  # bucket names keep case
    assert registry.route_for("s3://bucket2/key").prefix == "s3"
    assert registry.route_for(f"FILE://{tmp_path}/x").prefix == tmp_path.as_uri() + "/"
    assert registry.resolve("S3://bucket/team/key").path == "bucket/team/key"


def test_routing_errors_name_the_scheme_in_lower_case() -> None:
    registry = SchemeRegistry()
    registry.register("memory://a/")

    with pytest.raises(requests.exceptions.InvalidSchema) as outside:
        registry.route_for("MEMORY://c/key")
    with pytest.raises(requests.exceptions.InvalidSchema) as unknown:
        registry.route_for("NoSuch://bucket/key")

    assert str(outside.value) == (
        "'MEMORY://c/key' is outside every prefix registered for memory:// URLs: memory://a/"
    )
    assert str(unknown.value).startswith("No object store registered for 'nosuch' URLs")
    assert str(unknown.value).endswith("Use SchemeRegistry.register('nosuch', ...).")


#: Three registrations whose routes must not depend on the order they are made in.
_ORDERED: list[tuple[str, dict[str, Any]]] = [
    ("s3", {"endpoint_url": "http://127.0.0.1:9", "transfer": TransferConfig(max_attempts=7)}),
    ("s3://bucket", {"anon": True}),
    ("s3://bucket/team/", {"key": "team-key", "transfer": TransferConfig(max_attempts=2)}),
]


def test_a_url_prefix_starts_from_its_schemes_settings_whatever_the_order() -> None:
    for order in itertools.permutations(_ORDERED):
        registry = SchemeRegistry()
        for prefix, options in order:
            registry.register(prefix, **options)

        bucket = registry.route_for("s3://bucket/key")
        team = registry.route_for("s3://bucket/team/key")
        assert dict(bucket.options) == {"endpoint_url": "http://127.0.0.1:9", "anon": True}
        assert dict(team.options) == {"endpoint_url": "http://127.0.0.1:9", "key": "team-key"}
        assert (bucket.transfer.max_attempts, team.transfer.max_attempts) == (7, 2)


def test_a_url_prefix_follows_its_scheme_when_it_is_registered_again() -> None:
    registry = SchemeRegistry()
    registry.register("s3", **S3_OPTIONS)
    registry.register("s3://bucket", key="bucket-key")
    registry.register("s3://pinned", protocol="s3", key="pinned-key")
    built = registry.resolve("s3://bucket/key").fs

    registry.register("s3", **{**S3_OPTIONS, "endpoint_url": "http://127.0.0.1:10"})

    rebuilt = registry.resolve("s3://bucket/key").fs
    assert rebuilt is not built
    assert rebuilt.storage_options["endpoint_url"] == "http://127.0.0.1:10"
    assert rebuilt.storage_options["key"] == "bucket-key"
    registry.register("s3", protocol="memory")
    # Without a protocol of its own, a prefix is served as its scheme is; with one, it keeps it.
    assert registry.prefixes()["s3://bucket"] == "memory"
    assert dict(registry.route_for("s3://bucket/key").options) == {"key": "bucket-key"}
    assert registry.prefixes()["s3://pinned"] == "s3"


def test_a_protocol_fsspec_holds_as_a_class_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    class Mem2(MemoryFileSystem):  # type: ignore[misc]  # fsspec ships no types
        protocol = "mem2"

    monkeypatch.setitem(FSSPEC_REGISTRY._registry, "mem2", Mem2)
    registry = SchemeRegistry()
    registry.register("mem2")
    registry.register("s3://classy/", protocol="mem2")

    assert registry.prefixes()["mem2"] == "mem2"
    assert isinstance(registry.resolve("s3://classy/key").fs, Mem2)


def test_follow_symlinks_is_a_routing_option_for_local_roots_only(tmp_path: Path) -> None:
    registry = SchemeRegistry()
    registry.register(tmp_path.as_uri() + "/", protocol="file", follow_symlinks=True)

    route = registry.route_for(tmp_path.as_uri() + "/x")
    assert route.follow_symlinks
    assert "follow_symlinks" not in route.options  # never handed to fsspec
    for prefix, protocol in (("file", "file"), ("s3://bucket", None), ("x:///srv/", "memory")):
        with pytest.raises(ValueError, match="follow_symlinks is for a route with a root"):
            registry.register(prefix, protocol=protocol, follow_symlinks=True)


@pytest.fixture
def linked_root(tmp_path: Path) -> Path:
    """A root holding links that stay inside it and links that lead out of it."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "inside.txt").write_bytes(b"inside")
    (outside / "secret.txt").write_bytes(b"outside")
    (root / "local-link.txt").symlink_to(root / "inside.txt")
    (root / "sub" / "up-link").symlink_to(root)
    (root / "file-link.txt").symlink_to(outside / "secret.txt")
    (root / "dir-link").symlink_to(outside)
    (root / "dangling-link.txt").symlink_to(outside / "new.txt")
    return root


@pytest.mark.parametrize(
    ("name", "inside"),
    [
        ("inside.txt", True),
        ("local-link.txt", True),
        ("sub/up-link/inside.txt", True),
        ("new/dirs/file.txt", True),
        ("", True),
        ("file-link.txt", False),
        ("dir-link", False),
        ("dir-link/secret.txt", False),
        ("dir-link/new/file.txt", False),
        ("dangling-link.txt", False),
        ("sub/up-link/dir-link/secret.txt", False),
    ],
)
def test_a_path_resolves_within_its_root_with_links_followed(
    linked_root: Path, name: str, inside: bool
) -> None:
    assert resolves_within(f"{linked_root}/{name}", f"{linked_root}/") is inside
    alias = linked_root.parent / "alias"
    alias.symlink_to(linked_root)  # a root reached through a link is the same root
    assert resolves_within(f"{alias}/{name}", str(alias)) is inside


def test_resolving_refuses_a_path_that_links_out_of_its_root(linked_root: Path) -> None:
    registry = SchemeRegistry()
    registry.register(linked_root.as_uri() + "/")
    registry.register("file:///", protocol="file", follow_symlinks=True)
    root = linked_root.as_uri()

    with pytest.raises(PermissionError) as refused:
        registry.resolve(f"{root}/dir-link/new.txt")
    assert refused.value.filename == f"{linked_root}/dir-link/new.txt"
    assert registry.resolve(f"{root}/local-link.txt").path == f"{linked_root}/local-link.txt"
    # Outside the root, the route that follows links serves the same files.
    outside = linked_root.parent / "outside"
    assert registry.resolve(f"{outside.as_uri()}/secret.txt").path == f"{outside}/secret.txt"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_public_names_are_pinned() -> None:
    assert objstore_adapter.__all__ == [
        "BackendConfigError",
        "BackendNotInstalled",
        "ObjectStoreAdapter",
        "ObjectStoreSession",
        "SchemeRegistry",
        "TransferConfig",
        "TransferSettingError",
        "__version__",
        "mount",
        "session",
    ]


def test_default_schemes_are_the_cloud_ones() -> None:
    registry = SchemeRegistry()

    assert registry.schemes() == ["abfs", "abfss", "az", "gcs", "gs", "s3", "s3a"]
    assert registry.prefixes() == {
        "abfs": "abfs",
        "abfss": "abfs",
        "az": "abfs",
        "gcs": "gcs",
        "gs": "gcs",
        "s3": "s3",
        "s3a": "s3",
    }


@pytest.mark.parametrize("url", ["memory://b/key", "file:///etc/hostname"])
def test_local_schemes_are_refused_unless_registered(url: str) -> None:
    with pytest.raises(requests.exceptions.InvalidSchema):
        SchemeRegistry().route_for(url)


def test_register_alias_keeps_or_names_the_protocol() -> None:
    registry = SchemeRegistry()
    registry.register("minio", protocol="s3", endpoint_url="http://127.0.0.1:9000")
    registry.register("S3A", anon=True)
    registry.register("memory")

    assert registry.prefixes()["minio"] == "s3"
    assert registry.prefixes()["s3a"] == "s3"
    assert registry.prefixes()["memory"] == "memory"
    assert "minio" in registry.schemes()


def test_longest_prefix_wins_and_respects_bucket_boundaries() -> None:
    registry = SchemeRegistry()
    registry.register("s3", endpoint_url="http://default")
    registry.register("s3://bucket", key="bucket-key")
    registry.register("s3://bucket/team/", key="team-key")

    assert registry.route_for("s3://other/x").prefix == "s3"
    assert registry.route_for("s3://bucket").prefix == "s3://bucket"
    assert registry.route_for("s3://bucket/x").prefix == "s3://bucket"
    assert registry.route_for("s3://bucket2/x").prefix == "s3"
    assert registry.route_for("s3://bucket/team/x").prefix == "s3://bucket/team/"
    assert registry.route_for("s3://bucket/teams/x").prefix == "s3://bucket"
    # A URL prefix starts from its scheme's options and overrides them.
    assert dict(registry.route_for("s3://bucket/team/x").options) == {
        "endpoint_url": "http://default",
        "key": "team-key",
    }


@pytest.mark.parametrize(
    "order", list(itertools.permutations(range(3))), ids=lambda order: "".join(map(str, order))
)
def test_longest_prefix_wins_whatever_the_order_of_registration(
    order: tuple[int, ...],
) -> None:
    prefixes = ["s3", "s3://bucket", "s3://bucket/team/"]
    registry = SchemeRegistry()
    for index in order:
        registry.register(prefixes[index])

    assert registry.route_for("s3://other/x").prefix == "s3"
    assert registry.route_for("s3://bucket/x").prefix == "s3://bucket"
    assert registry.route_for("s3://bucket/team/x").prefix == "s3://bucket/team/"
    assert registry.route_for("s3://bucket/teams/x").prefix == "s3://bucket"


@pytest.mark.parametrize(
    ("prefix", "protocol", "message"),
    [
        ("", None, "neither a URL scheme"),
        ("1abc", None, "neither a URL scheme"),
        ("nosuchproto", None, "fsspec knows no protocol 'nosuchproto'"),
        ("x", "nosuchproto", "fsspec knows no protocol"),
    ],
)
def test_register_rejects_bad_prefixes_and_protocols(
    prefix: str, protocol: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SchemeRegistry().register(prefix, protocol=protocol)


@pytest.mark.parametrize(("prefix", "protocol"), [("1abc", None), ("x", "nosuchproto")])
def test_register_errors_never_quote_an_option_value(prefix: str, protocol: str | None) -> None:
    with pytest.raises(ValueError, match=r"neither a URL scheme|knows no protocol") as raised:
        SchemeRegistry().register(
            prefix, protocol=protocol, key="AKIA-REGISTER-CANARY", secret="register-canary-pw"
        )

    shown = ""
    error: BaseException | None = raised.value
    while error is not None:  # the message, its repr and every chained cause's
        shown += f"{error} {error!r} {error.args!r}"
        error = error.__cause__ or error.__context__
    assert "REGISTER-CANARY" not in shown
    assert "register-canary-pw" not in shown


def test_no_option_value_shows_in_repr() -> None:
    registry = SchemeRegistry()
    registry.register("s3", key="AKIA-REPR-CANARY", secret="repr-canary-secret")
    adapter = ObjectStoreAdapter(registry)
    session = objstore_adapter.mount(requests.Session(), adapter)

    shown = repr(registry) + repr(adapter) + repr(session.adapters)
    assert "CANARY" not in shown.upper()
    assert "repr-canary-secret" not in shown


def test_mount_serves_every_registered_scheme() -> None:
    registry = SchemeRegistry()
    registry.register("memory")
    session = requests.Session()

    returned = objstore_adapter.mount(session, ObjectStoreAdapter(registry))

    assert returned is session
    for scheme in registry.schemes():
        assert isinstance(session.get_adapter(f"{scheme}://x/y"), ObjectStoreAdapter)
    assert not isinstance(session.get_adapter("https://example.invalid/"), ObjectStoreAdapter)


def test_registry_pickles_without_its_filesystems() -> None:
    registry = SchemeRegistry()
    registry.register("memory")
    route = registry.route_for("memory://x/y")
    registry.filesystem(route)

    clone = pickle.loads(pickle.dumps(registry))

    assert clone.prefixes() == registry.prefixes()
    assert clone.filesystem(clone.route_for("memory://x/y")).protocol == "memory"


def test_missing_backend_names_the_pip_extra() -> None:
    # A fresh interpreter where s3fs cannot be imported, as on a machine without the extra.
    script = textwrap.dedent(
        """
        import sys
        sys.modules["s3fs"] = None
        import objstore_adapter, requests
        try:
            objstore_adapter.session().get("s3://bucket/key")
        except objstore_adapter.BackendNotInstalled as exc:
            assert isinstance(exc, requests.exceptions.InvalidSchema)
            print(exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )

    assert "pip install 'objstore-adapter[s3]'" in result.stdout


def test_scheme_case_never_changes_the_route(
    moto_endpoint: str, s3_client: Any, s3_bucket: str
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="cased.txt", Body=b"bucket route")
    registry = SchemeRegistry()
    # The scheme's default route leads nowhere: only the bucket's route reaches moto.
    registry.register(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        key=S3_KEY,
        secret=S3_SECRET,
        transfer=TransferConfig(max_attempts=1),
    )
    registry.register(f"s3://{s3_bucket}", endpoint_url=moto_endpoint)
    session = objstore_adapter.session(registry)

    for scheme in ("s3", "S3", "s3"):
        assert session.get(f"{scheme}://{s3_bucket}/cased.txt").content == b"bucket route"
    assert session.head(f"S3://{s3_bucket}/cased.txt").headers["Content-Length"] == "12"
    assert session.put(f"S3://{s3_bucket}/written.txt", data=b"upper").ok
    assert s3_client.get_object(Bucket=s3_bucket, Key="written.txt")["Body"].read() == b"upper"


def test_a_bucket_route_starts_from_its_schemes_options_whatever_the_order(
    moto_endpoint: str, s3_client: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A route that lost the scheme's endpoint goes to a refused local port, never to AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    s3_client.put_object(Bucket=s3_bucket, Key="ordered.txt", Body=b"either order")
    registrations: list[tuple[str, dict[str, Any]]] = [
        (f"s3://{s3_bucket}", {"key": S3_KEY, "secret": S3_SECRET}),
        ("s3", {"endpoint_url": moto_endpoint, "transfer": TransferConfig(max_attempts=1)}),
    ]

    for order in (registrations, registrations[::-1]):
        registry = SchemeRegistry()
        for prefix, options in order:
            registry.register(prefix, **options)
        session = objstore_adapter.session(registry)

        assert session.get(f"s3://{s3_bucket}/ordered.txt").content == b"either order", order
        assert registry.route_for(f"s3://{s3_bucket}/x").transfer.max_attempts == 1


class Mem2(MemoryFileSystem):  # type: ignore[misc]  # fsspec ships no types
    """A filesystem fsspec knows only as a class."""

    protocol = "mem2"


def test_a_protocol_registered_with_fsspec_as_a_class_is_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(FSSPEC_REGISTRY._registry, "mem2", Mem2)  # register_implementation
    monkeypatch.setattr(Mem2, "store", {})  # its own, not memory://'s
    monkeypatch.setattr(Mem2, "pseudo_dirs", [""])
    registry = SchemeRegistry()
    registry.register("mem2")
    registry.register("other", protocol="mem2")
    session = objstore_adapter.session(registry)

    assert session.put("mem2://bucket/key.txt", data=b"by class").ok
    assert session.get("mem2://bucket/key.txt").content == b"by class"
    assert session.get("other://bucket/key.txt").content == b"by class"
    assert registry.prefixes()["other"] == "mem2"
    with pytest.raises(ValueError, match="fsspec knows no protocol 'mem3'"):
        registry.register("mem3")


@pytest.fixture(scope="module")
def ftp_address(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(host, port) of an FTP server on 127.0.0.1: a filesystem with a ``host`` option."""
    from urllib.parse import urlsplit

    from objstore_adapter.testing.servers import ftp_server

    with ftp_server(tmp_path_factory.mktemp("ftp"), "user", "password") as base:
        yield urlsplit(base).hostname, urlsplit(base).port


def _ftp_registry(host: str, port: Any) -> SchemeRegistry:
    registry = SchemeRegistry()
    registry.register(
        "ftp", host=host, port=port, username="user", password="password", skip_instance_cache=True
    )
    return registry


@pytest.mark.parametrize(
    ("rest", "served"),
    [
        ("{host}:{port}/p/report", "/p/report"),
        ("{host}/p/report", "/p/report"),  # no port named: the route's
        ("someone@{host}:{port}/p/report", "/p/report"),  # userinfo is no host
        ("{host}:{port}/p/a#b", "/p/a#b"),  # a fragment the path keeps is part of the key
    ],
)
def test_a_url_naming_the_routes_own_host_resolves(
    ftp_address: Any, rest: str, served: str
) -> None:
    host, port = ftp_address
    target = _ftp_registry(host, port).resolve("ftp://" + rest.format(host=host, port=port))
    assert target.path == served


@pytest.mark.parametrize(
    ("rest", "message"),
    [
        ("other.example/p/r", "names the host 'other.example'; its route serves '{host}:{port}'"),
        ("{host}:1/p/r", "names the host '{host}:1'; its route serves '{host}:{port}'"),
        ("{host}:{port}/p/r?draft=1", "the ftp filesystem would read this key without its query"),
    ],
)
def test_a_url_the_route_would_read_as_another_is_refused(
    ftp_address: Any, rest: str, message: str
) -> None:
    host, port = ftp_address
    url = "ftp://" + rest.format(host=host, port=port)

    with pytest.raises(requests.exceptions.InvalidURL) as raised:
        _ftp_registry(host, port).resolve(url)

    assert str(raised.value).startswith(f"{url!r}: " if "?" in url else f"{url!r} ")
    assert message.format(host=host, port=port) in str(raised.value)
