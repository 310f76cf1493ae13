"""ArchiveBackend: a zip or tar archive's members are served read-only; a write or a delete
is 405, and the archive is left as it was."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
import requests

import objstore_adapter
from objstore_adapter import SchemeRegistry


def _zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("docs/readme.txt", b"inside the zip")


def _tar(path: Path) -> None:
    with tarfile.open(path, "w") as archive:
        member = tarfile.TarInfo("docs/readme.txt")
        member.size = len(b"inside the zip")
        archive.addfile(member, io.BytesIO(b"inside the zip"))


@pytest.fixture(params=["zip", "tar"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, requests.Session]:
    path = tmp_path / f"archive.{request.param}"
    (_zip if request.param == "zip" else _tar)(path)
    registry = SchemeRegistry()
    registry.register(request.param, fo=str(path), skip_instance_cache=True)
    return path, objstore_adapter.session(registry)


def test_a_member_is_served(archive: tuple[Path, requests.Session]) -> None:
    path, session = archive
    scheme = path.suffix[1:]

    response = session.get(f"{scheme}://docs/readme.txt", headers={"Range": "bytes=7-"})

    assert response.status_code == 206
    assert response.content == b"the zip"
    assert session.head(f"{scheme}://docs/missing.txt").status_code == 404


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("key", ["docs/readme.txt", "docs/new.txt"])
def test_a_write_or_delete_is_405_and_leaves_the_archive(
    archive: tuple[Path, requests.Session], method: str, key: str
) -> None:
    path, session = archive
    scheme = path.suffix[1:]
    before = path.read_bytes()

    response = session.request(method, f"{scheme}://{key}", data=b"replacement")

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert response.json()["detail"] == f"a {scheme.title()}FileSystem archive is served read-only"
    assert path.read_bytes() == before
    assert session.get(f"{scheme}://docs/readme.txt").content == b"inside the zip"
