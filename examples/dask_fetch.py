"""Fetch many objects in parallel on a Dask cluster of processes, with one pickled session.

python examples/dask_fetch.py
"""

from __future__ import annotations

import hashlib

import requests
from dask.distributed import Client, LocalCluster

import objstore_adapter
from objstore_adapter.testing import ensure_bucket, s3_endpoint, s3_registry


def digest(session: requests.Session, url: str) -> tuple[str, str]:
    """Runs on a worker: the session arrives pickled and builds its own clients there."""
    response = session.get(url)
    response.raise_for_status()
    return url, hashlib.sha256(response.content).hexdigest()


# --8<-- [start:dask]
def main(session: requests.Session, urls: list[str], workers: int = 2) -> dict[str, str]:
    """sha256 of every URL, computed on a local cluster of ``workers`` processes."""
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=2, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        shared = client.scatter(session, broadcast=True)  # pickled once per worker
        futures = client.map(digest, [shared] * len(urls), urls)
        return dict(client.gather(futures))


# --8<-- [end:dask]


if __name__ == "__main__":
    with s3_endpoint() as endpoint:
        registry = s3_registry(endpoint)
        ensure_bucket(registry, "examples")
        session = objstore_adapter.session(registry)
        urls = [f"s3://examples/dask/{i}.bin" for i in range(20)]
        for i, url in enumerate(urls):
            session.put(url, data=bytes([i]) * 10_000)
        for url, sha in main(session, urls).items():
            print(url, sha[:16])
