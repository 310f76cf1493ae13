"""Read a CSV and a Parquet file into pandas through a requests session.

The CSV streams through ``response.raw``; the Parquet file is read with range requests by a
small seekable file object, so pyarrow fetches only the footer and the columns it needs.

    python examples/read_pandas.py
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import requests

import objstore_adapter
from objstore_adapter.testing import ensure_bucket, s3_endpoint, s3_registry


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over an object URL: each read is one Range request."""

    def __init__(self, session: requests.Session, url: str) -> None:
        super().__init__()
        self.session, self.url, self.position = session, url, 0
        head = session.head(url)
        head.raise_for_status()
        self.size = int(head.headers["Content-Length"])
        self.requests = 1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        if self.position >= self.size or len(buffer) == 0:
            return 0
        end = min(self.position + len(buffer), self.size) - 1
        response = self.session.get(self.url, headers={"Range": f"bytes={self.position}-{end}"})
        response.raise_for_status()
        data = response.content
        self.requests += 1
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


def main(session: requests.Session, base: str) -> dict[str, Any]:
    """Write a CSV and a Parquet file under ``base``, then read both back into pandas."""
    frame = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"], "temp": [4.5, 19.0, 31.2]})
    session.put(f"{base}/weather.csv", data=frame.to_csv(index=False).encode()).raise_for_status()
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)
    session.put(f"{base}/weather.parquet", data=parquet.getvalue()).raise_for_status()

    # --8<-- [start:csv]
    response = session.get(f"{base}/weather.csv", stream=True)
    response.raise_for_status()
    csv_frame = pd.read_csv(response.raw)
    # --8<-- [end:csv]

    # --8<-- [start:parquet]
    with RangeFile(session, f"{base}/weather.parquet") as remote:
        parquet_frame = pd.read_parquet(io.BufferedReader(remote, buffer_size=64 * 1024))
    # --8<-- [end:parquet]
    print(csv_frame, parquet_frame, sep="\n\n")
    print(f"Parquet read with {remote.requests} requests")
    return {"csv": csv_frame, "parquet": parquet_frame, "frame": frame}


if __name__ == "__main__":
    with s3_endpoint() as endpoint:
        registry = s3_registry(endpoint)
        ensure_bucket(registry, "examples")
        main(objstore_adapter.session(registry), "s3://examples/pandas")
