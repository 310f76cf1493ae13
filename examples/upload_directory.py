"""Upload a local directory, file by file, streamed.

python examples/upload_directory.py [DIRECTORY]
"""

from __future__ import annotations

import sys
from pathlib import Path

import requests

import objstore_adapter
from objstore_adapter.testing import ensure_bucket, s3_endpoint, s3_registry


# --8<-- [start:upload]
def main(session: requests.Session, directory: Path, base: str) -> list[str]:
    """PUT every file under ``directory`` to ``base``/relative/path; return the URLs."""
    uploaded = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        url = f"{base}/{path.relative_to(directory).as_posix()}"
        with path.open("rb") as handle:  # a file object is streamed, not read into memory
            session.put(url, data=handle).raise_for_status()
        uploaded.append(url)
        print(f"{path} -> {url}")
    return uploaded


# --8<-- [end:upload]


if __name__ == "__main__":
    source = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
    with s3_endpoint() as endpoint:
        registry = s3_registry(endpoint)
        ensure_bucket(registry, "examples")
        main(objstore_adapter.session(registry), source, "s3://examples/uploaded")
