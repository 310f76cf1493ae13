"""Routing to gs://, az:// and user-registered protocols through the same code path."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import requests

import objstore_adapter
from objstore_adapter import SchemeRegistry

from .._proxy import RecordingProxy
from ..conftest import Store, azurite_connection_string, free_port


def test_any_fsspec_protocol_works_once_registered(tmp_path: Path) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("inner/readme.txt", "zipped text")
    registry = SchemeRegistry()
    registry.register("myzip", protocol="zip", fo=str(archive))
    session = objstore_adapter.session(registry)

    response = session.get("myzip://inner/readme.txt")

    assert response.status_code == 200
    assert response.text == "zipped text"
    assert response.headers["Content-Type"] == "text/plain"
    assert session.get("myzip://inner/missing.txt").status_code == 404


def test_gs_bucket_prefix_and_alias_get_their_own_endpoint(
    gs_store: Store, gcs_endpoint: str, gcs_bucket: str
) -> None:
    gs_store.write("routed.txt", b"via gcs", None)
    key = gs_store.base.split("/", 3)[3] + "/routed.txt"
    registry = SchemeRegistry()
    registry.register("gs", endpoint_url=f"http://127.0.0.1:{free_port()}", token="anon")
    registry.register(f"gs://{gcs_bucket}", endpoint_url=gcs_endpoint, project="test")
    registry.register("fakegcs", protocol="gcs", endpoint_url=gcs_endpoint, token="anon")
    session = objstore_adapter.session(registry)

    assert session.get(f"gs://{gcs_bucket}/{key}").content == b"via gcs"
    assert session.get(f"fakegcs://{gcs_bucket}/{key}").content == b"via gcs"


def test_az_aliases_and_container_prefix(
    az_store: Store, azurite_endpoint: str, az_container: str
) -> None:
    az_store.write("routed.txt", b"via azure", None)
    key = az_store.base.split("/", 3)[3] + "/routed.txt"
    dead = azurite_connection_string(f"http://127.0.0.1:{free_port()}")
    registry = SchemeRegistry()
    registry.register("az", connection_string=dead)
    registry.register(
        f"az://{az_container}", connection_string=azurite_connection_string(azurite_endpoint)
    )
    registry.register("abfs", connection_string=azurite_connection_string(azurite_endpoint))
    session = objstore_adapter.session(registry)

    assert session.get(f"az://{az_container}/{key}").content == b"via azure"
    assert session.get(f"abfs://{az_container}/{key}").content == b"via azure"
    response = session.get(f"abfs://{az_container}/{key}.missing")
    assert response.status_code == 404
    with pytest.raises(requests.HTTPError, match="404"):
        response.raise_for_status()


@pytest.mark.parametrize(
    ("headers", "status", "requests_made"),
    [
        ({}, 200, 1),  # properties come with the first range
        ({"Range": "bytes=2-5"}, 206, 1),
        ({"If-Match": '"0x0000000000000"'}, 412, 1),  # the store judges
        ({"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, 412, 1),
        ({"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, 200, 1),
    ],
)
def test_az_get_of_a_small_blob_is_one_request(
    az_store: Store,
    azurite_endpoint: str,
    headers: dict[str, str],
    status: int,
    requests_made: int,
) -> None:
    az_store.write("small.txt", b"0123456789", None)
    with RecordingProxy(int(azurite_endpoint.rsplit(":", 1)[1])) as proxy:
        registry = SchemeRegistry()
        registry.register(
            "az",
            connection_string=azurite_connection_string(proxy.endpoint),
            skip_instance_cache=True,
        )
        session = objstore_adapter.session(registry)

        response = session.get(az_store.url("small.txt"), headers=headers)

        assert response.status_code == status
        assert len(proxy.requests) == requests_made, proxy.requests
    if status == 200:
        assert response.content == b"0123456789"
    if status == 206:
        assert response.content == b"2345"
