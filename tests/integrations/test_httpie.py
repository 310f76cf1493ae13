"""The HTTPie transport plugins, driven through the real ``http`` command.

Each test runs ``http`` in a subprocess whose only configuration is what a user would set:
fsspec's ``FSSPEC_<PROTOCOL>_<OPTION>`` variables or files in its config directory, with
HOME and HTTPie's config directory in temporary folders.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gcsfs.core import GCSFileSystem

from objstore_adapter.httpie import (
    AzureTransportPlugin,
    GSTransportPlugin,
    S3TransportPlugin,
    shared_adapter,
)

from .._proxy import RecordingProxy
from ..conftest import S3_KEY, S3_SECRET, azurite_connection_string, free_port

_HTTP = shutil.which("http", path=str(Path(sys.executable).parent))


def http(
    *args: str, env: dict[str, str], stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run the real ``http`` command; without ``stdin`` it is told to ignore its stdin."""
    assert _HTTP is not None, "HTTPie's http command is not installed in this environment"
    if stdin is None:
        return subprocess.run(
            [_HTTP, "--ignore-stdin", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
    return subprocess.run(
        [_HTTP, *args], input=stdin, capture_output=True, env=env, timeout=60, check=False
    )


def head_of(output: bytes) -> tuple[int, dict[str, str]]:
    """The status code and headers (lower-cased names) of ``http --print=h`` output."""
    status_line, *lines = output.decode().strip().splitlines()
    headers = dict(line.split(": ", 1) for line in lines if line)
    return int(status_line.split()[1]), {name.lower(): value for name, value in headers.items()}


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: no FSSPEC_*, AWS_* or proxy variables from the machine."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "HTTPIE_CONFIG_DIR": str(tmp_path / "httpie"),
        "LANG": "C.UTF-8",
    }


@dataclass
class Cloud:
    """One store as ``http`` reaches it, and an independent client to check what it holds."""

    env: dict[str, str]
    base: str  # a URL prefix unique to the test, no trailing slash
    write: Callable[[str, bytes], None]
    read: Callable[[str], bytes]
    content_type: Callable[[str], str | None]

    def url(self, key: str) -> str:
        return f"{self.base}/{key}"


def s3_variables(endpoint: str) -> dict[str, str]:
    return {
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
        "FSSPEC_S3_KEY": S3_KEY,
        "FSSPEC_S3_SECRET": S3_SECRET,
    }


@pytest.fixture
def s3_cloud(user_env: dict[str, str], moto_endpoint: str, s3_client: Any, s3_bucket: str) -> Cloud:
    prefix = uuid.uuid4().hex[:8]

    def write(key: str, data: bytes) -> None:
        s3_client.put_object(Bucket=s3_bucket, Key=f"{prefix}/{key}", Body=data)

    def read(key: str) -> bytes:
        body: bytes = s3_client.get_object(Bucket=s3_bucket, Key=f"{prefix}/{key}")["Body"].read()
        return body

    def content_type(key: str) -> str | None:
        value: str | None = s3_client.head_object(Bucket=s3_bucket, Key=f"{prefix}/{key}").get(
            "ContentType"
        )
        return value

    env = {**user_env, **s3_variables(moto_endpoint)}
    return Cloud(env, f"s3://{s3_bucket}/{prefix}", write, read, content_type)


@pytest.fixture
def gs_cloud(user_env: dict[str, str], gcs_endpoint: str, gcs_bucket: str) -> Cloud:
    root = f"{gcs_bucket}/{uuid.uuid4().hex[:8]}"
    fs = GCSFileSystem(
        endpoint_url=gcs_endpoint, token="anon", project="test", skip_instance_cache=True
    )

    def write(key: str, data: bytes) -> None:
        fs.pipe_file(f"{root}/{key}", data)

    def read(key: str) -> bytes:
        fs.invalidate_cache()
        data: bytes = fs.cat_file(f"{root}/{key}")
        return data

    def content_type(key: str) -> str | None:
        fs.invalidate_cache()
        value: str | None = fs.info(f"{root}/{key}").get("contentType")
        return value

    # gcsfs's class answers to both "gs" and "gcs": FSSPEC_GS_* is what a gs:// user guesses.
    env = {
        **user_env,
        "FSSPEC_GS_ENDPOINT_URL": gcs_endpoint,
        "FSSPEC_GS_TOKEN": "anon",
        "FSSPEC_GS_PROJECT": "test",
    }
    return Cloud(env, f"gs://{root}", write, read, content_type)


@pytest.fixture
def az_cloud(user_env: dict[str, str], azurite_endpoint: str, az_container: str) -> Cloud:
    from azure.storage.blob import BlobServiceClient

    prefix = uuid.uuid4().hex[:8]
    connection_string = azurite_connection_string(azurite_endpoint)
    client = BlobServiceClient.from_connection_string(connection_string)
    container = client.get_container_client(az_container)

    def write(key: str, data: bytes) -> None:
        container.upload_blob(f"{prefix}/{key}", data, overwrite=True)

    def read(key: str) -> bytes:
        return container.download_blob(f"{prefix}/{key}").readall()

    def content_type(key: str) -> str | None:
        props = container.get_blob_client(f"{prefix}/{key}").get_blob_properties()
        value: str | None = props.content_settings.content_type
        return value

    # adlfs's class answers to "abfs", "az" and "abfss": FSSPEC_AZ_* works for az:// URLs.
    env = {**user_env, "FSSPEC_AZ_CONNECTION_STRING": connection_string}
    return Cloud(env, f"az://{az_container}/{prefix}", write, read, content_type)


@pytest.fixture(params=["s3", "gs", "az"])
def cloud(request: pytest.FixtureRequest) -> Cloud:
    value: Cloud = request.getfixturevalue(f"{request.param}_cloud")
    return value


PAYLOAD = os.urandom(300_000)


# --- every cloud scheme --------------------------------------------------------------------


def test_get_prints_the_object(cloud: Cloud) -> None:
    cloud.write("hello.txt", b"hello, object store\n")

    result = http(cloud.url("hello.txt"), env=cloud.env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hello, object store\n"


def test_put_from_stdin_stores_the_body(cloud: Cloud) -> None:
    result = http(
        "--print=h",
        "PUT",
        cloud.url("from-stdin"),
        "Content-Type:text/plain",
        env=cloud.env,
        stdin=b"piped in\n",
    )

    assert result.returncode == 0, result.stderr
    assert head_of(result.stdout)[0] == 200
    assert cloud.read("from-stdin") == b"piped in\n"
    assert cloud.content_type("from-stdin") == "text/plain"


def test_download_writes_the_object_to_a_file(cloud: Cloud, tmp_path: Path) -> None:
    cloud.write("data.bin", PAYLOAD)
    out = tmp_path / "copy.bin"

    result = http("--download", "--output", str(out), cloud.url("data.bin"), env=cloud.env)

    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == PAYLOAD
    assert b"Done. " in result.stderr


# --- S3 in depth ---------------------------------------------------------------------------


def s3_key(url: str) -> str:
    return url.split("/", 3)[3]


def test_head_answers_the_stored_headers_without_a_body(
    s3_cloud: Cloud, s3_client: Any, s3_bucket: str
) -> None:
    s3_cloud.write("big.bin", PAYLOAD)
    stored = s3_client.head_object(Bucket=s3_bucket, Key=s3_key(s3_cloud.url("big.bin")))

    result = http("--print=hb", "HEAD", s3_cloud.url("big.bin"), env=s3_cloud.env)

    assert result.returncode == 0, result.stderr
    status, headers = head_of(result.stdout)
    assert status == 200
    assert headers["content-length"] == str(len(PAYLOAD))
    assert headers["etag"] == stored["ETag"]
    assert headers["accept-ranges"] == "bytes"
    assert "last-modified" in headers
    assert len(result.stdout) < 1000  # the headers, none of the 300 kB body


def test_put_from_a_file(s3_cloud: Cloud, tmp_path: Path) -> None:
    source = tmp_path / "report.csv"
    source.write_bytes(b"x,y\n" * 10_000)

    result = http(
        "--print=h", "PUT", s3_cloud.url("reports/latest"), f"@{source}", env=s3_cloud.env
    )

    assert result.returncode == 0, result.stderr
    assert head_of(result.stdout)[0] == 200
    assert s3_cloud.read("reports/latest") == source.read_bytes()
    assert s3_cloud.content_type("reports/latest") == "text/csv"  # HTTPie's guess from the file


def test_download_names_the_file_after_the_key(s3_cloud: Cloud, tmp_path: Path) -> None:
    s3_cloud.write("dir/report.csv", b"a,b\n")
    # HTTPie picks a file name only when stdout is a terminal; otherwise it writes to stdout.
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [_HTTP or "http", "--ignore-stdin", "--download", s3_cloud.url("dir/report.csv")],
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=subprocess.PIPE,
            env=s3_cloud.env,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "report.csv").read_bytes() == b"a,b\n"


def test_download_continue_fetches_only_the_rest(
    s3_cloud: Cloud, proxy: RecordingProxy, tmp_path: Path
) -> None:
    s3_cloud.write("resume.bin", PAYLOAD)
    partial = tmp_path / "resume.bin"
    partial.write_bytes(PAYLOAD[:100_000])
    env = {**s3_cloud.env, "FSSPEC_S3_ENDPOINT_URL": proxy.endpoint}

    result = http(
        "--download", "--continue", "--output", str(partial), s3_cloud.url("resume.bin"), env=env
    )

    assert result.returncode == 0, result.stderr
    assert partial.read_bytes() == PAYLOAD
    key = s3_key(s3_cloud.url("resume.bin"))
    reads = [
        headers
        for (method, path), headers in zip(proxy.requests, proxy.request_headers, strict=True)
        if method == "GET" and path.split("?", 1)[0].endswith(key)
    ]
    assert reads, proxy.requests
    assert all(headers.get("Range") == "bytes=100000-" for headers in reads), reads


def test_check_status_exits_4_on_a_missing_key(s3_cloud: Cloud) -> None:
    result = http("--check-status", s3_cloud.url("missing.txt"), env=s3_cloud.env)

    assert result.returncode == 4, result.stderr
    assert b"404 Not Found" in result.stderr
    assert json.loads(result.stdout)["status"] == 404


def test_range_answers_206(s3_cloud: Cloud) -> None:
    s3_cloud.write("digits.txt", b"0123456789")

    result = http("--print=hb", s3_cloud.url("digits.txt"), "Range:bytes=2-5", env=s3_cloud.env)

    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    status, headers = head_of(head)
    assert status == 206
    assert headers["content-range"] == "bytes 2-5/10"
    assert body == b"2345"


def test_if_none_match_answers_304(s3_cloud: Cloud, s3_client: Any, s3_bucket: str) -> None:
    s3_cloud.write("cached.txt", b"same as before")
    stored = s3_client.head_object(Bucket=s3_bucket, Key=s3_key(s3_cloud.url("cached.txt")))

    again = http(
        "--check-status",
        "--print=h",
        s3_cloud.url("cached.txt"),
        f"If-None-Match:{stored['ETag']}",
        env=s3_cloud.env,
    )

    assert again.returncode == 3, again.stderr  # HTTPie's exit status for an unfollowed 3xx
    assert head_of(again.stdout)[0] == 304


@pytest.mark.parametrize("where", ["FSSPEC_CONFIG_DIR", "~/.config/fsspec"])
def test_storage_options_from_an_fsspec_config_file(
    s3_cloud: Cloud, moto_endpoint: str, tmp_path: Path, where: str
) -> None:
    s3_cloud.write("configured.txt", b"from a config file")
    env = {k: v for k, v in s3_cloud.env.items() if not k.startswith("FSSPEC_")}
    if where == "FSSPEC_CONFIG_DIR":
        config_dir = tmp_path / "fsspec-conf"
        env["FSSPEC_CONFIG_DIR"] = str(config_dir)
    else:
        config_dir = Path(env["HOME"]) / ".config/fsspec"
    config_dir.mkdir(parents=True)
    options = {"endpoint_url": moto_endpoint, "key": S3_KEY, "secret": S3_SECRET}
    (config_dir / "s3.json").write_text(json.dumps({"s3": options}))

    result = http(s3_cloud.url("configured.txt"), env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == b"from a config file"


def test_an_unreachable_store_is_an_error_without_credentials(user_env: dict[str, str]) -> None:
    env = {**user_env, **s3_variables(f"http://127.0.0.1:{free_port()}")}

    result = http("--timeout", "5", "s3://bucket/key.txt", env=env)

    assert result.returncode == 1, result.stderr
    assert b"ConnectionError" in result.stderr
    assert S3_SECRET.encode() not in result.stderr + result.stdout
    assert S3_KEY.encode() not in result.stderr + result.stdout


# --- the plugin classes --------------------------------------------------------------------


def test_the_plugins_share_one_adapter() -> None:
    plugins = [S3TransportPlugin(), GSTransportPlugin(), AzureTransportPlugin()]

    assert [plugin.prefix for plugin in plugins] == ["s3://", "gs://", "az://"]
    adapters = {id(plugin.get_adapter()) for plugin in plugins}
    assert adapters == {id(shared_adapter())}


def test_without_httpie_only_the_plugin_module_asks_for_it() -> None:
    code = (
        "import sys; sys.modules['httpie'] = None\n"
        "import objstore_adapter; print('library imported')\n"
        "import objstore_adapter.httpie"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )

    assert result.stdout == "library imported\n"
    assert result.returncode == 1
    assert "pip install 'objstore-adapter[httpie]'" in result.stderr


def test_httpie_lists_the_plugins(user_env: dict[str, str]) -> None:
    httpie = shutil.which("httpie", path=str(Path(sys.executable).parent))
    assert httpie is not None

    result = subprocess.run(
        [httpie, "cli", "plugins", "list"], capture_output=True, env=user_env, timeout=60
    )

    assert result.returncode == 0, result.stderr
    for name in ("objstore_s3", "objstore_gs", "objstore_az"):
        assert f"{name} (httpie.plugins.transport.v1)".encode() in result.stdout


def test_the_commands_in_the_httpie_guide_run(
    user_env: dict[str, str], moto_endpoint: str, s3_client: Any, tmp_path: Path
) -> None:
    guide = (Path(__file__).parents[2] / "docs/guides/httpie.md").read_text()
    block = guide.split("## Use\n\n```sh\n", 1)[1].split("```", 1)[0]
    assert block.count("http ") >= 9
    with contextlib.suppress(s3_client.exceptions.BucketAlreadyOwnedByYou):
        s3_client.create_bucket(Bucket="bucket")
    work = tmp_path / "work"
    work.mkdir()
    summary = b"region,total\n" + b"north,1\n" * 100
    (work / "summary.csv").write_bytes(summary)
    env = {
        **user_env,
        **s3_variables(moto_endpoint),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{user_env['PATH']}",
    }
    # On a terminal, as a user types them: HTTPie reads a stdin that is not a terminal as a body.
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            ["bash", "-e", "-c", block],
            stdin=terminal,
            capture_output=True,
            env=env,
            cwd=work,
            timeout=120,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)

    assert result.returncode == 0, result.stderr
    assert (work / "summary-copy.csv").read_bytes() == summary
    assert b"exists\n" in result.stdout
    assert b'"name": "summary.csv"' in result.stdout  # the listing
    stored = s3_client.get_object(Bucket="bucket", Key="reports/summary.csv")["Body"].read()
    assert stored == summary


# --- transfer settings ---------------------------------------------------------------------


def test_transfer_settings_from_fsspec_variables(s3_cloud: Cloud, moto_endpoint: str) -> None:
    s3_cloud.write("flaky.txt", b"served")
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        env = {**s3_cloud.env, "FSSPEC_S3_ENDPOINT_URL": proxy.endpoint}
        results = []
        for settings in ({}, {"FSSPEC_OBJSTORE_S3_MAX_ATTEMPTS": "1"}):
            proxy.answer(503, times=1, methods=("GET",))
            results.append(http("--print=hb", s3_cloud.url("flaky.txt"), env={**env, **settings}))
        gets = [method for method, _ in proxy.requests if method == "GET"]

    (healed, once) = results
    assert healed.returncode == 0, healed.stderr
    assert head_of(healed.stdout.split(b"\r\n\r\n")[0])[0] == 200  # the 503 was tried again
    assert once.returncode == 0, once.stderr
    assert head_of(once.stdout.split(b"\r\n\r\n")[0])[0] == 503  # tried once, as configured
    assert len(gets) == 3


def test_a_bad_transfer_setting_names_it(s3_cloud: Cloud) -> None:
    env = {**s3_cloud.env, "FSSPEC_OBJSTORE_MAX_ATTEMPTS": "zero"}

    result = http(s3_cloud.url("any.txt"), env=env)

    assert result.returncode == 1
    assert b"max_attempts='zero'" in result.stderr, result.stderr
    assert b"FSSPEC_OBJSTORE_MAX_ATTEMPTS" in result.stderr
