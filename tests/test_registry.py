"""SchemeRegistry: routes, defaults, lazy backends, and what it shows of itself."""

from __future__ import annotations

import importlib
import itertools
import pickle
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import requests
from fsspec.implementations.memory import MemoryFileSystem

import objstore_adapter
from objstore_adapter import ObjectStoreAdapter, SchemeRegistry, TransferConfig

from .conftest import S3_KEY, S3_SECRET, free_port

#: The module (``fsspec.registry`` is also the name of its read-only view of the classes).
FSSPEC_REGISTRY = importlib.import_module("fsspec.registry")


def test_public_names_are_pinned() -> None:
    assert objstore_adapter.__all__ == [
        "BackendConfigError",
        "BackendNotInstalled",
        "ObjectStoreAdapter",
        "ObjectStoreSession",
        "SchemeRegistry",
        "TransferConfig",
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
