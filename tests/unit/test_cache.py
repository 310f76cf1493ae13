"""fsspec's caching filesystems over a store: each answer's bytes are the version its
validators name, or the route is refused."""

from __future__ import annotations

import time

import fsspec
import pytest

import objstore_adapter
from objstore_adapter import BackendConfigError, SchemeRegistry


@pytest.fixture
def store() -> fsspec.AbstractFileSystem:
    memory = fsspec.filesystem("memory", skip_instance_cache=True)
    memory.pipe("/cached/x.txt", b"version one")
    return memory


@pytest.mark.parametrize("replacement", [b"version TWO", b"version two, longer"])
def test_a_cached_copy_of_an_older_version_is_fetched_again(
    store: fsspec.AbstractFileSystem, replacement: bytes
) -> None:
    registry = SchemeRegistry()
    registry.register("c", protocol="filecache", target_protocol="memory", skip_instance_cache=True)
    session = objstore_adapter.session(registry)
    first = session.get("c://cached/x.txt")
    assert first.content == b"version one"
    time.sleep(0.002)  # the memory store's version is its creation time

    store.pipe("/cached/x.txt", replacement)
    second = session.get("c://cached/x.txt")

    assert second.content == replacement
    assert second.headers["ETag"] != first.headers["ETag"]
    assert second.headers["Content-Length"] == str(len(replacement))


def test_a_route_through_simplecache_is_refused_naming_what_to_use() -> None:
    registry = SchemeRegistry()
    registry.register("c", protocol="simplecache", target_protocol="memory")

    with pytest.raises(BackendConfigError, match="use protocol='filecache'"):
        objstore_adapter.session(registry).get("c://cached/x.txt")
