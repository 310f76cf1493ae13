"""Bad input gets the status the docs promise, on every backend.

A malformed ``Range`` is ignored (200, the whole object, as RFC 9110 lets a server do with a
range it does not understand); a name or path a store cannot take is a 400 or a 414 with a
message, never a 502 or an unexpected exception; an option botocore only checks when it
connects is a :class:`BackendConfigError` naming the option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

import objstore_adapter
from objstore_adapter import BackendConfigError, SchemeRegistry

from ..conftest import S3_KEY, S3_SECRET, Store

MALFORMED_RANGES = [
    "bytes=\u00b2-5",  # superscript two: str.isdigit() says yes, RFC 9110's DIGIT says no
    "bytes=1-\u00b3",
    "bytes=-\u00b9",
    "bytes=0-" + "9" * 5000,  # more digits than int() parses
    "bytes=" + "1" * 5000 + "-",
    "bytes=-" + "9" * 5000,
]


@pytest.mark.parametrize("header", MALFORMED_RANGES, ids=range(len(MALFORMED_RANGES)))
def test_a_malformed_range_is_ignored(store: Store, header: str) -> None:
    store.write("ranged.txt", b"0123456789", "text/plain")

    response = store.session.get(store.url("ranged.txt"), headers={"Range": header})

    assert response.status_code == 200, response.text
    assert response.content == b"0123456789"
    assert "Content-Range" not in response.headers


def test_a_name_too_long_for_the_store_is_refused_with_a_message(store: Store) -> None:
    url = store.url("n" * 5000)

    put = store.session.put(url, data=b"x")
    get = store.session.get(url)
    delete = store.session.delete(url)

    if put.status_code == 200:  # fsspec's memory filesystem and the emulators take it
        assert (get.status_code, get.content, delete.status_code) == (200, b"x", 204)
    else:  # S3 (SeaweedFS as AWS) refuses it with a 400, a local filesystem with 414
        assert put.status_code in (400, 414), put.text
        assert put.json()["error"]
        assert get.status_code in (404, put.status_code), get.text
        assert delete.status_code in (204, put.status_code), delete.text


def test_a_file_name_longer_than_the_filesystem_takes_is_a_414(file_store: Store) -> None:
    url = file_store.url("n" * 5000)

    put = file_store.session.put(url, data=b"x")
    get = file_store.session.get(url)

    assert (put.status_code, get.status_code) == (414, 414)
    assert get.json()["error"] == "the name or path is too long for the object store"


def test_a_path_longer_than_the_filesystem_takes_is_a_414(file_store: Store) -> None:
    url = file_store.url("/".join(["d" * 200] * 30) + "/f")  # 6,000 characters, short names

    assert file_store.session.put(url, data=b"x").status_code == 414
    assert file_store.session.get(url).status_code == 414


def test_a_deep_new_file_path_is_written_or_refused_with_a_status(tmp_path: Path) -> None:
    registry = SchemeRegistry()
    registry.register("file")
    session = objstore_adapter.session(registry)
    url = tmp_path.as_uri() + "/a" * 2000 + "/f"

    try:
        response = session.put(url, data=b"x")

        assert response.status_code in (200, 414), response.text
        if response.status_code == 200:
            assert session.get(url).content == b"x"
    finally:
        _remove_chain(tmp_path / "a", 2000)


def _remove_chain(top: Path, depth: int) -> None:
    """Remove ``top/a/a/...`` from the deepest folder up: deeper than ``shutil.rmtree`` can
    recurse, so pytest's clean-up of its temporary folders would fail on it (a
    RecursionError that also left ``os.scandir`` iterators unclosed)."""
    chain = [top]
    for _ in range(depth - 1):
        chain.append(chain[-1] / "a")
    for folder in reversed(chain):
        if folder.is_dir():
            for child in folder.iterdir():
                if not child.is_dir():
                    child.unlink()
            folder.rmdir()


def _s3_session(**options: Any) -> requests.Session:
    registry = SchemeRegistry()
    registry.register("s3", key=S3_KEY, secret=S3_SECRET, skip_instance_cache=True, **options)
    return objstore_adapter.session(registry)


@pytest.mark.parametrize(
    ("options", "blamed"),
    [
        ({"endpoint_url": "http//127.0.0.1:1"}, "endpoint_url"),
        ({"endpoint_url": "not a url"}, "endpoint_url"),
        ({"endpoint_url": "ftp://127.0.0.1:1"}, "endpoint_url"),
        ({"endpoint_url": "http://127.0.0.1:1", "config_kwargs": "retries"}, "config_kwargs"),
        ({"endpoint_url": "http://127.0.0.1:1", "client_kwargs": "verify"}, "client_kwargs"),
        (
            {"endpoint_url": "http://127.0.0.1:1", "config_kwargs": {"retries": 3}},
            "config_kwargs",
        ),
    ],
)
def test_an_s3_option_botocore_checks_when_it_connects_is_a_configuration_error(
    options: dict[str, Any], blamed: str
) -> None:
    session = _s3_session(**options)

    for method in ("GET", "PUT"):
        with pytest.raises(BackendConfigError, match=f"check the option '{blamed}'") as raised:
            session.request(method, "s3://bucket/key", data=b"x", timeout=5)
        assert raised.value.request is not None
