"""conda channels built from scratch, to test and time conda against a bucket (see
:mod:`objstore_adapter.conda`): packages and repodata. Needs ``zstandard``.

A package is a real ``.conda`` archive (a stored zip of ``metadata.json`` and two zstd tars:
``info/`` with ``index.json`` and ``paths.json``, and the payload), as conda-package-handling
reads it. A channel is ``noarch/repodata.json``, the same as ``repodata.json.zst``, an empty
``linux-64/repodata.json`` and the packages; no sharded repodata and no
``current_repodata.json``, so conda's 404 fallbacks for those run every time.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

try:
    import zstandard
except ImportError as exc:
    raise ImportError(
        "objstore_adapter.testing.conda_channel needs zstandard: pip install zstandard",
        name=exc.name,
    ) from exc

#: The platform subdir to pin conda to (``CONDA_SUBDIR``); its repodata lists nothing.
PLATFORM = "linux-64"


@dataclass(frozen=True)
class Package:
    """A built package: its file name, its bytes and its repodata record."""

    filename: str
    data: bytes
    record: Mapping[str, object]

    @property
    def name(self) -> str:
        return str(self.record["name"])


def _tar_zst(members: Mapping[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
    # Level 1: a payload of random bytes is not worth compressing harder.
    return zstandard.ZstdCompressor(level=1).compress(raw.getvalue())


def build_package(
    name: str,
    version: str = "1.0",
    files: Mapping[str, bytes] | None = None,
    depends: Iterable[str] = (),
) -> Package:
    """A noarch ``.conda`` package installing ``files`` (path in the prefix → content)."""
    files = dict(files or {f"share/{name}/hello.txt": f"hello from {name}\n".encode()})
    build = "0"
    stem = f"{name}-{version}-{build}"
    index = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": list(depends),
        "license": "BSD-3-Clause",
        "noarch": "generic",
        "subdir": "noarch",
        "timestamp": 1_700_000_000_000,
    }
    paths = {
        "paths": [
            {
                "_path": path,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size_in_bytes": len(data),
            }
            for path, data in sorted(files.items())
        ],
        "paths_version": 1,
    }
    info = {
        "info/index.json": json.dumps(index, indent=2).encode(),
        "info/paths.json": json.dumps(paths, indent=2).encode(),
        "info/files": "".join(f"{path}\n" for path in sorted(files)).encode(),
    }
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        zf.writestr(f"pkg-{stem}.tar.zst", _tar_zst(files))
        zf.writestr(f"info-{stem}.tar.zst", _tar_zst(info))
    data = archive.getvalue()
    record = {
        **index,
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    return Package(f"{stem}.conda", data, record)


def repodata(subdir: str, packages: Iterable[Package] = ()) -> bytes:
    """The ``repodata.json`` of ``subdir`` listing ``packages``."""
    document = {
        "info": {"subdir": subdir},
        "packages": {},
        "packages.conda": {p.filename: dict(p.record) for p in packages},
        "removed": [],
        "repodata_version": 1,
    }
    return json.dumps(document, indent=1, sort_keys=True).encode()


@dataclass
class Channel:
    """The objects of a channel: key under the channel's URL → bytes."""

    packages: list[Package] = field(default_factory=list)

    def objects(self) -> Iterator[tuple[str, bytes]]:
        noarch = repodata("noarch", self.packages)
        yield "noarch/repodata.json", noarch
        yield "noarch/repodata.json.zst", zstandard.ZstdCompressor().compress(noarch)
        yield f"{PLATFORM}/repodata.json", repodata(PLATFORM)
        for package in self.packages:
            yield f"noarch/{package.filename}", package.data


def random_payload(size: int) -> bytes:
    """``size`` incompressible bytes: a package that is as large on the wire as on disk."""
    return os.urandom(size)
