"""Mirror everything under a prefix to a local directory, with a progress bar.

python examples/mirror_prefix.py [TARGET_DIRECTORY]
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import requests
from tqdm import tqdm

import objstore_adapter
from objstore_adapter.testing import ensure_bucket, s3_endpoint, s3_registry


def walk(session: requests.Session, prefix: str) -> Iterator[dict[str, object]]:
    """Every file under ``prefix`` (a URL ending in ``/``), descending into directories."""
    listing = session.get(prefix)
    listing.raise_for_status()
    for entry in listing.json()["entries"]:
        if entry["type"] == "directory":
            yield from walk(session, str(entry["url"]))
        else:
            yield entry


# --8<-- [start:mirror]
def main(session: requests.Session, prefix: str, target: Path) -> list[Path]:
    """Download every object under ``prefix`` into ``target``, keeping the layout."""
    entries = list(walk(session, prefix))
    written = []
    total = sum(int(str(entry["size"])) for entry in entries)
    with tqdm(total=total, unit="B", unit_scale=True, desc=prefix) as bar:
        for entry in entries:
            path = target / str(entry["url"])[len(prefix) :]
            path.parent.mkdir(parents=True, exist_ok=True)
            with session.get(str(entry["url"]), stream=True) as response, path.open("wb") as out:
                response.raise_for_status()
                for chunk in response.iter_content(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
            written.append(path)
    return written


# --8<-- [end:mirror]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    with s3_endpoint() as endpoint:
        registry = s3_registry(endpoint)
        ensure_bucket(registry, "examples")
        session = objstore_adapter.session(registry)
        for name in ("a.txt", "sub/b.txt", "sub/deeper/c.bin"):
            session.put(f"s3://examples/mirror/{name}", data=name.encode() * 1000)
        for path in main(session, "s3://examples/mirror/", target):
            print(path)
