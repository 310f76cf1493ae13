"""The quickstart: mount, read, stream, write, list and handle errors.

python examples/quickstart.py
"""

from __future__ import annotations

import requests

import objstore_adapter
from objstore_adapter import SchemeRegistry
from objstore_adapter.testing import ensure_bucket, s3_endpoint


def main(registry: SchemeRegistry, base: str) -> dict[str, object]:
    """Walk through the everyday calls against ``base`` (e.g. ``s3://bucket/prefix``)."""
    # --8<-- [start:session]
    session = objstore_adapter.session(registry)  # a requests.Session, object stores mounted
    # --8<-- [end:session]

    # --8<-- [start:write]
    created = session.put(f"{base}/hello.txt", data=b"Hello, object store!\n")
    print(created.status_code)  # 200, one request (If-None-Match: * would give 201)
    # --8<-- [end:write]

    # --8<-- [start:read]
    response = session.get(f"{base}/hello.txt")
    print(response.status_code, response.headers["Content-Type"], response.text)
    head = session.head(f"{base}/hello.txt")  # headers only; the object is never opened
    print(head.headers["Content-Length"], head.headers["ETag"], head.headers["Last-Modified"])
    # --8<-- [end:read]

    # --8<-- [start:stream]
    with session.get(f"{base}/hello.txt", stream=True) as streamed:
        for chunk in streamed.iter_content(1 << 20):  # constant memory, whatever the size
            print(len(chunk))
    # --8<-- [end:stream]

    # --8<-- [start:range]
    partial = session.get(f"{base}/hello.txt", headers={"Range": "bytes=0-4"})
    print(partial.status_code, partial.headers["Content-Range"], partial.content)  # 206
    # --8<-- [end:range]

    # --8<-- [start:list]
    listing = session.get(f"{base}/").json()  # a URL ending in / lists the prefix
    print([entry["name"] for entry in listing["entries"]])
    # --8<-- [end:list]

    # --8<-- [start:errors]
    missing = session.get(f"{base}/no-such-key.txt")
    print(missing.status_code, missing.json()["error"])  # 404 no such object
    try:
        missing.raise_for_status()
    except requests.HTTPError as exc:
        print("raise_for_status:", exc)
    try:
        session.get("s3://")  # no bucket
    except requests.exceptions.InvalidURL as exc:
        print("InvalidURL:", exc)
    # --8<-- [end:errors]

    # --8<-- [start:delete]
    print(session.delete(f"{base}/hello.txt").status_code)  # 204
    # --8<-- [end:delete]
    return {
        "created": created.status_code,
        "text": response.text,
        "partial": partial.content,
        "listing": [entry["name"] for entry in listing["entries"]],
        "missing": missing.status_code,
    }


if __name__ == "__main__":
    with s3_endpoint() as endpoint:
        # --8<-- [start:registry]
        registry = SchemeRegistry()
        registry.register("s3", endpoint_url=endpoint, key="local-key", secret="local-secret")
        # --8<-- [end:registry]
        ensure_bucket(registry, "examples")
        main(registry, "s3://examples/quickstart")
