"""The methods the network benchmark compares: the adapter and its peers, per operation.

Each method is a label and a ``setup(job)`` that builds its client (and warms it up with one
request, so connections and lazily built clients exist; for GETs, a GET of the object's first
byte, streamed as the timed GET is, since the adapter's GETs read at once, streamed GETs and
HEADs take different paths) and returns the operation to time:

* ``GET``: a :data:`Reader`, which hands every chunk of one large object to a sink;
* ``PUT``: a :data:`Writer`, which uploads the job's local file;
* ``SMALL``: a :data:`Getter`, key to body, called from many threads at once.

The older scripts take some of them under their own labels (``bench_large.py``,
``bench_small.py``).

Clients are imported inside each setup, so a child process measuring one method loads only
that method's libraries.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import CHUNK, KEY, REGION, SECRET, adapter_session, boto3_client, s3fs_filesystem
from _harness import Method, Reader, Sink

Writer = Callable[[], None]
Getter = Callable[[str], bytes]


@dataclass(frozen=True)
class Job:
    """What one child process measures, sent to it as JSON."""

    case: str  # "get", "put" or "small"
    method: str
    endpoint: str  # the S3 endpoint as the client sees it (direct, or the shaping proxy)
    bucket: str
    key: str  # get: the object read; put: the key written; small: unused
    size: int  # get, put: bytes of the object; small: bytes of each object
    sha256: str = ""  # get: the object's digest
    source: str = ""  # put: the local file uploaded
    count: int = 0  # small: GETs timed
    threads: int = 0  # small: threads sharing one client
    keys: int = 0  # small: distinct objects, cycled

    @property
    def path(self) -> str:
        return f"{self.bucket}/{self.key}"

    @property
    def url(self) -> str:
        return f"s3://{self.path}"


def small_key(i: int) -> str:
    return f"small/{i:05d}.bin"


def small_body(i: int, size: int) -> bytes:
    """The content of small object ``i``: random, and the same in every process."""
    return random.Random(i).randbytes(size)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def obstore_store(job: Job) -> Any:
    from obstore.store import S3Store

    return S3Store(
        job.bucket,
        endpoint=job.endpoint,
        access_key_id=KEY,
        secret_access_key=SECRET,
        region=REGION,
        client_options={"allow_http": True},
    )


class _SinkFile:
    """A write-only, non-seekable file: s3transfer then hands it the parts in order."""

    def __init__(self, sink: Sink) -> None:
        self.write = sink

    def seekable(self) -> bool:
        return False


# --- GET: one large object, whole -------------------------------------------------------------


def get_adapter(job: Job, native_gets: bool = False, into: bool = False) -> Reader:
    session = adapter_session(job.endpoint, native_gets)
    # Streamed, as the timed GET is: a GET read at once goes over a connection of its own,
    # which the timed GET would not use.
    with session.get(job.url, headers={"Range": "bytes=0-0"}, stream=True) as warm:
        warm.raise_for_status()
        warm.content  # noqa: B018 - read, so the connection goes back to the pool

    buffer = memoryview(bytearray(CHUNK))

    def read(sink: Sink) -> None:
        with session.get(job.url, stream=True) as response:
            response.raise_for_status()
            if into:
                while n := response.raw.readinto(buffer):
                    sink(buffer[:n])
            else:
                for chunk in response.iter_content(CHUNK):
                    sink(chunk)

    return read


def get_boto3(job: Job) -> Reader:
    client = boto3_client(job.endpoint)
    client.get_object(Bucket=job.bucket, Key=job.key, Range="bytes=0-0")["Body"].read()

    def read(sink: Sink) -> None:
        for chunk in client.get_object(Bucket=job.bucket, Key=job.key)["Body"].iter_chunks(CHUNK):
            sink(chunk)

    return read


def get_boto3_into(job: Job) -> Reader:
    client = boto3_client(job.endpoint)
    client.get_object(Bucket=job.bucket, Key=job.key, Range="bytes=0-0")["Body"].read()
    buffer = memoryview(bytearray(CHUNK))

    def read(sink: Sink) -> None:
        body = client.get_object(Bucket=job.bucket, Key=job.key)["Body"]
        while n := body.readinto(buffer):
            sink(buffer[:n])

    return read


def get_download_fileobj(job: Job) -> Reader:
    client = boto3_client(job.endpoint)
    client.get_object(Bucket=job.bucket, Key=job.key, Range="bytes=0-0")["Body"].read()

    def read(sink: Sink) -> None:
        client.download_fileobj(job.bucket, job.key, _SinkFile(sink))

    return read


def get_obstore(job: Job) -> Reader:
    import obstore

    store = obstore_store(job)
    obstore.get_range(store, job.key, start=0, end=1)

    def read(sink: Sink) -> None:
        for chunk in obstore.get(store, job.key).stream():
            sink(memoryview(chunk))  # obstore.Bytes: no copy

    return read


def get_s3fs(job: Job) -> Reader:
    fs = s3fs_filesystem(job.endpoint)
    fs.cat_file(job.path, start=0, end=1)

    def read(sink: Sink) -> None:
        with fs.open(job.path, "rb") as f:  # s3fs's default block size and cache
            while chunk := f.read(CHUNK):
                sink(chunk)

    return read


def get_adapter_native(job: Job) -> Reader:
    return get_adapter(job, native_gets=True)


def get_adapter_into(job: Job) -> Reader:
    return get_adapter(job, into=True)


GET: dict[str, Method[Job, Reader]] = {
    "adapter": Method("adapter: session.get(stream=True), iter_content(1 MiB)", get_adapter),
    "adapter_native": Method("adapter, native_gets=True: the same", get_adapter_native),
    "adapter_into": Method(
        "adapter: the same, raw.readinto(a 1 MiB buffer, reused)", get_adapter_into
    ),
    "boto3": Method('boto3: get_object()["Body"].iter_chunks(1 MiB)', get_boto3),
    "boto3_into": Method(
        'boto3: get_object()["Body"].readinto(a 1 MiB buffer, reused)', get_boto3_into
    ),
    "download_fileobj": Method(
        "boto3: download_fileobj (s3transfer, defaults)", get_download_fileobj
    ),
    "obstore": Method("obstore: get().stream()", get_obstore),
    "s3fs": Method('s3fs: open("rb"), read(1 MiB)', get_s3fs),
}


# --- PUT: one large object from a local file --------------------------------------------------


def put_adapter(job: Job) -> Writer:
    session = adapter_session(job.endpoint)
    session.head(job.url)  # warm-up: the key need not exist

    def write() -> None:
        with open(job.source, "rb") as f:
            session.put(job.url, data=f).raise_for_status()

    return write


def put_boto3(job: Job) -> Writer:
    client = boto3_client(job.endpoint)
    client.head_bucket(Bucket=job.bucket)

    def write() -> None:
        with open(job.source, "rb") as f:
            client.put_object(Bucket=job.bucket, Key=job.key, Body=f)

    return write


def put_upload_file(job: Job) -> Writer:
    client = boto3_client(job.endpoint)
    client.head_bucket(Bucket=job.bucket)

    def write() -> None:
        client.upload_file(job.source, job.bucket, job.key)

    return write


def put_obstore(job: Job) -> Writer:
    import obstore

    store = obstore_store(job)
    obstore.list(store, prefix="none/", chunk_size=1).collect()

    def write() -> None:
        obstore.put(store, job.key, Path(job.source))

    return write


def put_s3fs(job: Job) -> Writer:
    fs = s3fs_filesystem(job.endpoint)
    fs.exists(job.path)

    def write() -> None:
        fs.put_file(job.source, job.path)

    return write


PUT: dict[str, Method[Job, Writer]] = {
    "adapter": Method("adapter: session.put(data=file)", put_adapter),
    "boto3": Method("boto3: put_object(Body=file)", put_boto3),
    "upload_file": Method("boto3: upload_file (s3transfer, defaults)", put_upload_file),
    "obstore": Method("obstore: put(Path)", put_obstore),
    "s3fs": Method("s3fs: put_file", put_s3fs),
}


# --- SMALL: many small GETs from threads sharing one client -----------------------------------


def small_adapter(job: Job, native_gets: bool = False) -> Getter:
    session = adapter_session(job.endpoint, native_gets)
    base = f"s3://{job.bucket}/"

    def get(key: str) -> bytes:
        response = session.get(base + key)
        response.raise_for_status()
        return response.content

    return get


def small_boto3(job: Job) -> Getter:
    client = boto3_client(job.endpoint, max_pool_connections=max(10, job.threads))

    def get(key: str) -> bytes:
        body: bytes = client.get_object(Bucket=job.bucket, Key=key)["Body"].read()
        return body

    return get


def small_obstore(job: Job) -> Getter:
    import obstore

    store = obstore_store(job)

    def get(key: str) -> bytes:
        return bytes(obstore.get(store, key).bytes())

    return get


def small_adapter_native(job: Job) -> Getter:
    return small_adapter(job, native_gets=True)


SMALL: dict[str, Method[Job, Getter]] = {
    "adapter": Method("adapter: session.get(url).content", small_adapter),
    "adapter_native": Method("adapter, native_gets=True: the same", small_adapter_native),
    "boto3": Method('boto3: get_object()["Body"].read()', small_boto3),
    "obstore": Method("obstore: get().bytes()", small_obstore),
}
