"""Third-party clients, run for real, on every backend.

Each test hands ``Response.raw`` or a session to a library that was written for HTTP
(requests-cache, requests-seekable, smart_open, pyarrow, pandas, pickle and the stdlib's
stream readers) and checks it gets what it would get from a web server. Where a request count
matters, :class:`RecordingAdapter` (the real adapter, noting what it answered) counts them.
"""

from __future__ import annotations

import gzip
import io
import json
import pickle
import random
import shutil
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import brotli  # type: ignore[import-untyped]
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
import requests
import smart_open.http
import zstandard
from requests_cache import CachedSession
from requests_seekable import SeekableResponse

import objstore_adapter
from objstore_adapter import ObjectStoreAdapter, SchemeRegistry

from ..conftest import Store, azurite_connection_string

#: Backends that keep no HTTP metadata beyond the bytes (no Content-Encoding, Cache-Control).
CANNOT_STORE_HTTP_METADATA = {
    "memory": "fsspec's memory filesystem keeps only the bytes, no HTTP metadata",
    "file": "a local file keeps only the bytes, no HTTP metadata",
}


@dataclass
class Sent:
    """One request the adapter answered."""

    method: str
    headers: dict[str, str]
    status: int
    response_headers: dict[str, str]


class RecordingAdapter(ObjectStoreAdapter):
    """The real adapter, noting each request it answers, so tests can count them."""

    def __init__(self, registry: SchemeRegistry) -> None:
        super().__init__(registry)
        self.sent: list[Sent] = []

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        response = super().send(request, stream, timeout, verify, cert, proxies)
        self.sent.append(
            Sent(
                request.method or "",
                dict(request.headers),
                response.status_code,
                dict(response.headers),
            )
        )
        return response


def recorded(store: Store, session: requests.Session | None = None) -> RecordingAdapter:
    """Mount a :class:`RecordingAdapter` for ``store`` on ``session`` (default: the store's)."""
    adapter = RecordingAdapter(store.registry)
    objstore_adapter.mount(session if session is not None else store.session, adapter)
    return adapter


@pytest.fixture
def metadata_store(store: Store, request: pytest.FixtureRequest) -> Store:
    """``store``, with the test expected to fail where the backend keeps no HTTP metadata."""
    if store.name in CANNOT_STORE_HTTP_METADATA:
        request.applymarker(
            pytest.mark.xfail(strict=True, reason=CANNOT_STORE_HTTP_METADATA[store.name])
        )
    return store


#: The boto3 client fixture of each S3 server.
S3_CLIENTS = {"s3": "s3_client", "s3_native": "s3_client", "seaweed": "seaweed_s3_client"}


def stored_metadata(
    store: Store, key: str, request: pytest.FixtureRequest
) -> dict[str, Any] | None:
    """Content-Encoding and Cache-Control as the backend's own client reports them, or
    ``None`` for local backends, which have no client but the adapter's."""
    container, prefix = store.base.split("://", 1)[1].split("/", 1)
    name = f"{prefix}/{key}"
    if store.name in S3_CLIENTS:
        client = request.getfixturevalue(S3_CLIENTS[store.name])
        head = client.head_object(Bucket=container, Key=name)
        return {"encoding": head.get("ContentEncoding"), "cache": head.get("CacheControl")}
    if store.name == "gs":
        endpoint = request.getfixturevalue("gcs_endpoint")
        resource = requests.get(
            f"{endpoint}/storage/v1/b/{container}/o/{quote(name, safe='')}", timeout=10
        ).json()
        return {"encoding": resource.get("contentEncoding"), "cache": resource.get("cacheControl")}
    if store.name == "az":
        from azure.storage.blob import BlobServiceClient

        endpoint = request.getfixturevalue("azurite_endpoint")
        client = BlobServiceClient.from_connection_string(azurite_connection_string(endpoint))
        settings = client.get_blob_client(container, name).get_blob_properties().content_settings
        return {"encoding": settings.content_encoding, "cache": settings.cache_control}
    return None


def assert_stored(store: Store, key: str, request: pytest.FixtureRequest, **expected: str) -> None:
    """Check with the backend's own client that the adapter's PUT stored ``expected``."""
    found = stored_metadata(store, key, request)
    if found is not None:
        assert {name: found[name] for name in expected} == expected


def write_natively(
    store: Store,
    key: str,
    data: bytes,
    request: pytest.FixtureRequest,
    *,
    content_type: str,
    encoding: str | None = None,
    cache_control: str | None = None,
) -> None:
    """Write with the backend's own client and HTTP metadata, as other tools would."""
    container, prefix = store.base.split("://", 1)[1].split("/", 1)
    name = f"{prefix}/{key}"
    if store.name in S3_CLIENTS:
        extra = {"ContentEncoding": encoding} if encoding else {}
        extra |= {"CacheControl": cache_control} if cache_control else {}
        request.getfixturevalue(S3_CLIENTS[store.name]).put_object(
            Bucket=container, Key=name, Body=data, ContentType=content_type, **extra
        )
    elif store.name == "gs":
        from gcsfs.core import GCSFileSystem

        endpoint = request.getfixturevalue("gcs_endpoint")
        fixed = {"content_encoding": encoding} if encoding else {}
        fixed |= {"cache_control": cache_control} if cache_control else {}
        writer = GCSFileSystem(
            endpoint_url=endpoint, token="anon", project="test", skip_instance_cache=True
        )
        writer.pipe_file(
            f"{container}/{name}", data, content_type=content_type, fixed_key_metadata=fixed
        )
    elif store.name == "az":
        from azure.storage.blob import BlobServiceClient, ContentSettings

        endpoint = request.getfixturevalue("azurite_endpoint")
        client = BlobServiceClient.from_connection_string(azurite_connection_string(endpoint))
        settings = ContentSettings(
            content_type=content_type, content_encoding=encoding, cache_control=cache_control
        )
        client.get_blob_client(container, name).upload_blob(
            data, overwrite=True, content_settings=settings
        )
    else:
        store.write(key, data, content_type)


def payload(size: int, seed: int = 0) -> bytes:
    """Incompressible bytes, the same for the same seed."""
    return random.Random(seed).randbytes(size)


def parquet_table() -> Any:
    rows = 60_000
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "name": [f"row-{i:06d}" for i in range(rows)],
            "value": [i * 0.5 for i in range(rows)],
        }
    )


def parquet_bytes(table: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=20_000, compression="none")
    return sink.getvalue()


# requests-cache ---------------------------------------------------------------------------


def cached_session(store: Store, **options: Any) -> tuple[CachedSession, RecordingAdapter]:
    session = CachedSession(backend="memory", **options)
    return session, recorded(store, session)


def test_requests_cache_serves_max_age_from_the_cache(
    metadata_store: Store, request: pytest.FixtureRequest
) -> None:
    store = metadata_store
    url = store.url("cc/fresh.json")
    put = store.session.put(url, data=b'{"v": 1}', headers={"Cache-Control": "max-age=60"})
    assert put.status_code == 200
    assert_stored(store, "cc/fresh.json", request, cache="max-age=60")
    session, adapter = cached_session(store, cache_control=True)

    first = session.get(url)
    second = session.get(url)

    assert first.headers["Cache-Control"] == "max-age=60"
    assert not first.from_cache
    assert second.from_cache
    assert second.json() == {"v": 1}
    # Fresh for a minute: the second GET never reached the adapter, let alone the store.
    assert [sent.method for sent in adapter.sent] == ["GET"]


@pytest.mark.parametrize("directive", ["no-cache", "max-age=0"])
def test_requests_cache_revalidates_what_must_be_revalidated(
    metadata_store: Store, request: pytest.FixtureRequest, directive: str
) -> None:
    store = metadata_store
    url = store.url("cc/stale.json")
    store.session.put(url, data=b'{"v": 1}', headers={"Cache-Control": directive})
    assert_stored(store, "cc/stale.json", request, cache=directive)
    session, adapter = cached_session(store, cache_control=True)

    first = session.get(url)
    second = session.get(url)

    assert first.headers["Cache-Control"] == directive
    assert second.from_cache
    assert second.json() == {"v": 1}
    revalidation = adapter.sent[1]
    assert revalidation.headers["If-None-Match"] == first.headers["ETag"]
    assert revalidation.status == 304


def test_requests_cache_never_stores_no_store(
    metadata_store: Store, request: pytest.FixtureRequest
) -> None:
    store = metadata_store
    url = store.url("cc/secret.json")
    store.session.put(url, data=b'{"v": 1}', headers={"Cache-Control": "no-store"})
    assert_stored(store, "cc/secret.json", request, cache="no-store")
    session, adapter = cached_session(store, cache_control=True)

    responses = [session.get(url), session.get(url)]

    assert [r.from_cache for r in responses] == [False, False]
    assert [(sent.status, "If-None-Match" in sent.headers) for sent in adapter.sent] == [
        (200, False),
        (200, False),
    ]
    assert not session.cache.contains(url=url)


def test_requests_cache_revalidates_with_304s_on_every_backend(store: Store) -> None:
    url = store.url("cc/any.csv")
    store.write("cc/any.csv", b"a,b\n1,2\n", None)
    session, adapter = cached_session(store, always_revalidate=True)

    first = session.get(url)
    second = session.get(url)
    store.write("cc/any.csv", b"a,b\n3,4\n5,6\n", None)
    third = session.get(url)

    assert (first.from_cache, second.from_cache, third.from_cache) == (False, True, False)
    assert second.content == b"a,b\n1,2\n"
    assert third.content == b"a,b\n3,4\n5,6\n"
    assert [(sent.headers.get("If-None-Match"), sent.status) for sent in adapter.sent] == [
        (None, 200),
        (first.headers["ETag"], 304),
        (first.headers["ETag"], 200),
    ]


# Range readers: requests-seekable, smart_open, pyarrow ----------------------------------


def test_range_from_zero_is_partial_content(store: Store) -> None:
    data = payload(3000)
    store.write("ranges/zero.bin", data, None)

    response = store.session.get(store.url("ranges/zero.bin"), headers={"Range": "bytes=0-"})

    # Range readers ask bytes=0- to start over and refuse a 200 as "range ignored".
    assert response.status_code == 206
    assert response.headers["Content-Range"] == "bytes 0-2999/3000"
    assert response.headers["Content-Length"] == "3000"
    assert response.content == data


def test_requests_seekable_reads_parquet_columns(store: Store) -> None:
    table = parquet_table()
    data = parquet_bytes(table)
    store.write("pq/table.parquet", data, None)
    adapter = recorded(store)

    with store.session.get(store.url("pq/table.parquet"), stream=True) as response:
        reader = SeekableResponse(response)
        columns = pq.ParquetFile(reader).read(columns=["name", "value"])

    assert columns.equals(table.select(["name", "value"]))
    first, *ranged = adapter.sent
    assert (first.status, "Range" in first.headers) == (200, False)
    assert ranged, "pyarrow should have seeked to the footer and the column chunks"
    for sent in ranged:
        start = int(sent.headers["range"].removeprefix("bytes=").removesuffix("-"))
        if start == len(data):  # pyarrow's seek to the end: nothing there, which 416 says
            assert sent.status == 416
            assert sent.response_headers["Content-Range"] == f"bytes */{len(data)}"
            continue
        assert sent.status == 206
        assert sent.response_headers["Content-Range"] == (
            f"bytes {start}-{len(data) - 1}/{len(data)}"
        )
    assert any(sent.status == 206 for sent in ranged)


def test_requests_seekable_seeks_back_to_the_start(store: Store) -> None:
    data = payload(200_000, seed=1)
    store.write("pq/rewind.bin", data, None)
    adapter = recorded(store)

    with store.session.get(store.url("pq/rewind.bin"), stream=True) as response:
        reader = SeekableResponse(response)
        reader.seek(150_000)
        tail = reader.read(10)
        reader.seek(0)
        whole = reader.read()

    assert tail == data[150_000:150_010]
    assert whole == data
    assert [sent.headers.get("range") for sent in adapter.sent] == [
        None,
        "bytes=150000-",
        "bytes=0-",
    ]
    assert [sent.status for sent in adapter.sent] == [200, 206, 206]


def test_smart_open_http_reads_parquet_columns(store: Store) -> None:
    table = parquet_table()
    data = parquet_bytes(table)
    store.write("pq/smart.parquet", data, None)
    adapter = recorded(store)

    with smart_open.http.open(store.url("pq/smart.parquet"), "rb", session=store.session) as f:
        columns = pq.ParquetFile(f).read(columns=["id"])
        f.seek(0)
        magic = f.read(4)

    assert columns.equals(table.select(["id"]))
    assert magic == b"PAR1"
    ranged = adapter.sent[1:]
    assert ranged
    # smart_open pins the version it first read with If-Match on every range request.
    assert {sent.headers.get("If-Match") for sent in ranged} == {
        adapter.sent[0].response_headers["ETag"]
    }
    assert {sent.status for sent in ranged} == {206}
    assert ranged[-1].headers["range"] == "bytes=0-"


def test_smart_open_transport_params_session(store: Store) -> None:
    data = payload(100_000, seed=2)
    store.write("so/blob.bin", data, None)

    with smart_open.http.open_uri(store.url("so/blob.bin"), "rb", {"session": store.session}) as f:
        f.seek(-1000, io.SEEK_END)
        tail = f.read()
        f.seek(10)
        middle = f.read(90)

    assert tail == data[-1000:]
    assert middle == data[10:100]


# pandas ----------------------------------------------------------------------------------


def test_pandas_reads_csv_from_the_raw_stream(store: Store) -> None:
    frame = pd.DataFrame({"city": ["Zürich", "東京", "São Paulo"] * 20_000, "n": range(60_000)})
    store.write("pd/cities.csv", frame.to_csv(index=False).encode(), None)

    with store.session.get(store.url("pd/cities.csv"), stream=True) as response:
        read = pd.read_csv(response.raw)

    pd.testing.assert_frame_equal(read, frame)


@pytest.mark.parametrize("reader", ["requests-seekable", "smart_open"])
def test_pandas_reads_parquet_through_a_range_reader(store: Store, reader: str) -> None:
    table = parquet_table()
    store.write("pd/table.parquet", parquet_bytes(table), None)
    url = store.url("pd/table.parquet")

    if reader == "smart_open":
        with smart_open.http.open(url, "rb", session=store.session) as f:
            read = pd.read_parquet(f, columns=["value"])
    else:
        with store.session.get(url, stream=True) as response:
            read = pd.read_parquet(SeekableResponse(response), columns=["value"])

    pd.testing.assert_frame_equal(read, table.select(["value"]).to_pandas())


# pickle ----------------------------------------------------------------------------------


def test_pickle_loads_from_the_raw_stream(store: Store) -> None:
    # > 4 MiB, so reads cross every backend's chunk boundary (1 MiB buffers, 4 MiB on Azure);
    # many small frames and one large bytes object that pickle reads in one read(n).
    value = {
        "blob": payload(3 * 2**20 + 12_345, seed=3),
        "numbers": list(range(150_000)),
        "words": [f"w{i}" for i in range(50_000)],
        "buffer": bytearray(payload(70_000, seed=4)),
    }
    data = pickle.dumps(value, protocol=5)
    assert len(data) > 4 * 2**20
    store.write("pk/value.pickle", data, None)

    with store.session.get(store.url("pk/value.pickle"), stream=True) as response:
        loaded = pickle.load(response.raw)
        rest = response.raw.read()

    assert loaded == value
    assert rest == b""


# Response.raw as an io.BufferedIOBase ----------------------------------------------------


def test_raw_read_n_returns_exactly_n_bytes(store: Store) -> None:
    data = payload(5 * 2**20 + 7, seed=5)
    store.write("io/exact.bin", data, None)
    sizes = [1, 7, 65_535, 65_536, 100_000, 2**20 - 3, 2**20, 2**20 + 1, 3 * 2**20]

    with store.session.get(store.url("io/exact.bin"), stream=True) as response:
        raw = response.raw
        parts = []
        for size in sizes:
            before = raw.tell()
            part = raw.read(size)
            parts.append(part)
            assert len(part) == min(size, len(data) - before), f"read({size}) at {before}"
            assert raw.tell() == before + len(part)
        assert raw.read(10) == b""

    assert b"".join(parts) == data


def test_raw_read1_readinto_and_state(store: Store) -> None:
    data = payload(2 * 2**20 + 11, seed=6)
    store.write("io/state.bin", data, None)

    response = store.session.get(store.url("io/state.bin"), stream=True)
    raw = response.raw
    assert raw.readable()
    assert not raw.closed
    buffer = bytearray(300_000)
    assert raw.readinto(buffer) == len(buffer)
    got = [bytes(buffer)]
    while chunk := raw.read1(2**20):
        assert len(chunk) <= 2**20
        got.append(chunk)
    assert raw.tell() == len(data)
    assert raw.readinto(bytearray(10)) == 0
    response.close()

    assert b"".join(got) == data
    assert raw.closed


def test_raw_read_all_after_a_partial_read(store: Store) -> None:
    data = payload(2 * 2**20 + 5, seed=7)
    store.write("io/all.bin", data, None)

    with store.session.get(store.url("io/all.bin"), stream=True) as response:
        head = response.raw.read(123)
        rest = response.raw.read()

    assert head + rest == data


def test_shutil_copyfileobj_copies_the_raw_stream(store: Store) -> None:
    data = payload(3 * 2**20 + 1, seed=8)
    store.write("io/copy.bin", data, None)
    target = io.BytesIO()

    with store.session.get(store.url("io/copy.bin"), stream=True) as response:
        shutil.copyfileobj(response.raw, target, 100_000)

    assert target.getvalue() == data


def test_text_io_wrapper_decodes_lines_across_chunks(store: Store) -> None:
    lines = [f"{i},Zürich,東京,{'é' * (i % 7)}\n" for i in range(120_000)]
    store.write("io/lines.csv", "".join(lines).encode(), None)

    with store.session.get(store.url("io/lines.csv"), stream=True) as response:
        # Over HTTP this needs raw.auto_close = False first (urllib3 reports an exhausted
        # body as closed, which io wrappers refuse); the adapter's raw stays open until closed.
        # urllib3's annotations stop short of the buffer protocol TextIOWrapper declares.
        text = io.TextIOWrapper(response.raw, encoding="utf-8", newline="")  # type: ignore[type-var]
        read = list(text)

    assert read == lines


def test_gzip_file_reads_a_gzip_object(store: Store) -> None:
    data = payload(500_000, seed=9) * 3
    store.write("io/data.bin.gz", gzip.compress(data), None)

    with store.session.get(store.url("io/data.bin.gz"), stream=True) as response:
        assert "Content-Encoding" not in response.headers
        read = gzip.GzipFile(fileobj=response.raw).read()

    assert read == data


def test_zstandard_stream_reader_reads_a_zstd_object(store: Store) -> None:
    data = payload(700_000, seed=10) * 3
    store.write("io/data.bin.zst", zstandard.ZstdCompressor().compress(data), None)

    with store.session.get(store.url("io/data.bin.zst"), stream=True) as response:
        reader = zstandard.ZstdDecompressor().stream_reader(response.raw)  # type: ignore[arg-type]
        read = reader.read()

    assert read == data


def test_tarfile_streams_members(store: Store) -> None:
    members = {
        "small.txt": b"hello",
        "large.bin": payload(1_500_000, seed=11),
        "nested/data.csv": b"a,b\n" * 50_000,
    }
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    store.write("io/archive.tar.gz", archive.getvalue(), None)

    read = {}
    with (
        store.session.get(store.url("io/archive.tar.gz"), stream=True) as response,
        tarfile.open(fileobj=response.raw, mode="r|gz") as tar,
    ):
        for member in tar:
            extracted = tar.extractfile(member)
            assert extracted is not None
            read[member.name] = extracted.read()

    assert read == members


def test_zipfile_reads_through_a_seekable_range_reader(store: Store) -> None:
    members = {"a.txt": b"alpha" * 1000, "b.bin": payload(600_000, seed=12)}
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    store.write("io/archive.zip", archive.getvalue(), None)

    # zipfile needs seek() for the central directory: a Range reader gives it one.
    with (
        store.session.get(store.url("io/archive.zip"), stream=True) as response,
        zipfile.ZipFile(SeekableResponse(response)) as zf,
    ):
        read = {name: zf.read(name) for name in zf.namelist()}

    assert read == members


# Stored Content-Encoding -----------------------------------------------------------------

ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}

#: What requests decodes over HTTP: zstd needs compression.zstd (Python 3.14) or
#: backports.zstd, which the test extra installs.
ENCODING_PARAMS = sorted(ENCODINGS)


@pytest.mark.parametrize("encoding", ENCODING_PARAMS)
def test_stored_content_encoding_is_decoded_by_requests(
    metadata_store: Store, request: pytest.FixtureRequest, encoding: str
) -> None:
    store = metadata_store
    document = {"rows": [{"i": i, "name": f"row {i}"} for i in range(20_000)]}
    plain = json.dumps(document).encode()
    stored = ENCODINGS[encoding](plain)
    url = store.url(f"enc/doc-{encoding}.json")

    put = store.session.put(
        url,
        data=stored,
        headers={"Content-Encoding": encoding, "Content-Type": "application/json"},
    )
    assert put.status_code == 200
    assert_stored(store, f"enc/doc-{encoding}.json", request, encoding=encoding)

    head = store.session.head(url)
    response = store.session.get(url)
    with store.session.get(url, stream=True) as streamed:
        chunks = b"".join(streamed.iter_content(8192))
    with store.session.get(url, stream=True) as untouched:
        raw_bytes = untouched.raw.read()

    assert head.headers["Content-Encoding"] == encoding
    assert head.headers["Content-Length"] == str(len(stored))
    assert response.headers["Content-Encoding"] == encoding
    assert response.content == plain
    assert response.json() == document
    assert chunks == plain
    assert raw_bytes == stored


@pytest.mark.parametrize("encoding", ENCODING_PARAMS)
def test_content_encoding_written_by_the_stores_own_client(
    metadata_store: Store, request: pytest.FixtureRequest, encoding: str
) -> None:
    store = metadata_store
    plain = json.dumps({"rows": list(range(30_000))}).encode()
    stored = ENCODINGS[encoding](plain)
    key = f"enc/native-{encoding}.json"
    write_natively(store, key, stored, request, content_type="application/json", encoding=encoding)

    with store.session.get(store.url(key), stream=True) as untouched:
        raw_bytes = untouched.raw.read()
    response = store.session.get(store.url(key))

    # The stored bytes, as a web server would send them; requests decodes them itself.
    assert raw_bytes == stored
    assert response.headers["Content-Encoding"] == encoding
    assert response.headers["Content-Length"] == str(len(stored))
    assert response.content == plain


def test_cache_control_written_by_the_stores_own_client(
    metadata_store: Store, request: pytest.FixtureRequest
) -> None:
    store = metadata_store
    write_natively(
        store,
        "cc/native.json",
        b"{}",
        request,
        content_type="application/json",
        cache_control="public, max-age=60",
    )
    session, adapter = cached_session(store, cache_control=True)

    first = session.get(store.url("cc/native.json"))
    second = session.get(store.url("cc/native.json"))

    assert first.headers["Cache-Control"] == "public, max-age=60"
    assert second.from_cache
    assert len(adapter.sent) == 1
