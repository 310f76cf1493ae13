"""``objstore demo``: an embedded S3 server, sample objects, and requests fetching them."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

import requests

from ._registry import SchemeRegistry
from ._session import session as new_session
from .testing import local_s3

BUCKET = "objstore-demo"


def _show(title: str, response: requests.Response, body: bool = True) -> None:
    print(f"\n$ {title}")
    print(f"  {response.status_code} {response.reason}")
    for key, value in response.headers.items():
        print(f"  {key}: {value}")
    if body and response.content:
        print(f"  body: {response.content[:200]!r}")


def demo(size_mib: int) -> int:
    """Start an in-process S3 server, upload samples and fetch them through requests."""
    try:
        import moto.server  # noqa: F401 - the embedded server
        from tqdm import tqdm
    except ImportError as exc:
        print(
            f"objstore demo needs {exc.name}: pip install 'objstore-adapter[demo]'",
            file=sys.stderr,
        )
        return 2

    with local_s3() as endpoint:
        print(f"Embedded S3 server (moto) at {endpoint}")
        registry = SchemeRegistry()
        registry.register("s3", endpoint_url=endpoint, key="demo-key", secret="demo-secret")
        fs = registry.filesystem(registry.route_for(f"s3://{BUCKET}"))
        fs.mkdir(BUCKET)
        fs.pipe_file(f"{BUCKET}/hello.txt", b"Hello from an object store!\n")
        fs.pipe_file(f"{BUCKET}/data/table.csv", b"city,temp\nOslo,4\nLima,19\n")
        big = os.urandom(size_mib * 2**20)
        fs.pipe_file(f"{BUCKET}/big.bin", big)
        expected = hashlib.sha256(big).hexdigest()
        del big
        print(f"Uploaded s3://{BUCKET}/hello.txt, data/table.csv and big.bin ({size_mib} MiB)")

        session = new_session(registry)
        _show(f"GET s3://{BUCKET}/hello.txt", session.get(f"s3://{BUCKET}/hello.txt"))
        _show(
            f"HEAD s3://{BUCKET}/data/table.csv",
            session.head(f"s3://{BUCKET}/data/table.csv"),
            body=False,
        )
        missing = session.get(f"s3://{BUCKET}/no/such/key.txt")
        _show(f"GET s3://{BUCKET}/no/such/key.txt", missing)
        print(f"  json: {json.dumps(missing.json())}")

        url = f"s3://{BUCKET}/big.bin"
        print(f"\n$ GET {url} (stream=True, iter_content of 1 MiB)")
        started = time.perf_counter()
        response = session.get(url, stream=True)
        first_byte = None
        digest = hashlib.sha256()
        total = int(response.headers["Content-Length"])
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024) as bar:
            for chunk in response.iter_content(2**20):
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                digest.update(chunk)
                bar.update(len(chunk))
        seconds = time.perf_counter() - started
        ok = digest.hexdigest() == expected
        print(
            f"  {total / 2**20:.0f} MiB in {seconds:.2f} s ({total / 2**20 / seconds:.0f} MiB/s), "
            f"first byte after {first_byte or 0:.3f} s, sha256 {'verified' if ok else 'MISMATCH'}"
        )
        return 0 if ok else 1
