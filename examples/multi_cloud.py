"""One session for S3, GCS and Azure, with credentials per bucket.

    python examples/multi_cloud.py          # S3 only, on an embedded server
    OBJSTORE_GCS_ENDPOINT=http://127.0.0.1:4443 \\
    OBJSTORE_AZURE_CONNECTION_STRING="DefaultEndpointsProtocol=http;..." \\
    python examples/multi_cloud.py          # plus GCS and Azure emulators
"""

from __future__ import annotations

import os

import requests

import objstore_adapter
from objstore_adapter import SchemeRegistry
from objstore_adapter.testing import s3_endpoint


# --8<-- [start:registry]
def build_registry(
    s3_endpoint: str,
    gcs_endpoint: str | None = None,
    azure_connection_string: str | None = None,
) -> SchemeRegistry:
    registry = SchemeRegistry()
    # Every s3:// bucket uses team A's credentials...
    registry.register("s3", endpoint_url=s3_endpoint, key="team-a-key", secret="team-a-secret")
    # ...except this one, which keeps the endpoint and has credentials of its own.
    registry.register("s3://team-b-data", key="team-b-key", secret="team-b-secret")
    if gcs_endpoint:
        registry.register("gs", endpoint_url=gcs_endpoint, token="anon", project="example")
    if azure_connection_string:
        registry.register("az", connection_string=azure_connection_string)
    return registry


# --8<-- [end:registry]


def main(session: requests.Session, urls: list[str]) -> dict[str, bytes]:
    """Write a small object to every URL, read each back, and return what came back."""
    found = {}
    for url in urls:
        session.put(url, data=f"hello from {url}".encode()).raise_for_status()
        found[url] = session.get(url).content
        print(f"{url}: {found[url]!r}")
    return found


if __name__ == "__main__":
    gcs = os.environ.get("OBJSTORE_GCS_ENDPOINT")
    azure = os.environ.get("OBJSTORE_AZURE_CONNECTION_STRING")
    with s3_endpoint() as endpoint:
        registry = build_registry(endpoint, gcs, azure)
        for bucket in ("team-a-data", "team-b-data"):
            fs = registry.filesystem(registry.route_for(f"s3://{bucket}"))
            if not fs.exists(bucket):
                fs.mkdir(bucket)
        urls = ["s3://team-a-data/hello.txt", "s3://team-b-data/hello.txt"]
        urls += ["gs://examples/hello.txt"] if gcs else []
        urls += ["az://examples/hello.txt"] if azure else []
        main(objstore_adapter.session(registry), urls)
