"""The conda plugin, driven through the real conda client against the local stores.

conda is not on PyPI: the suite unpacks the snapshot in ``../shared/vendor/`` and runs
``python -m conda`` (classic solver) with it on ``PYTHONPATH``; conda's own dependencies come
with the test extra. The plugin is found the way a user's conda finds it, through the
``conda`` entry point of the installed distribution. Each test keeps conda's ``HOME``,
package cache and environments in its own temporary folder, and names its channels with
``--override-channels``, so conda never looks for a channel elsewhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pty
import re
import struct
import subprocess
import sys
import tarfile
import termios
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gcsfs.core import GCSFileSystem

from objstore_adapter.testing.conda_channel import (
    PLATFORM,
    Channel,
    Package,
    build_package,
    random_payload,
)

from .._proxy import RecordingProxy, offline_environment
from ..conftest import AZURITE_KEY, S3_KEY, S3_SECRET, azurite_connection_string

VENDOR = Path(__file__).resolve().parents[3] / "shared" / "vendor"
SNAPSHOTS = sorted(VENDOR.glob("conda-*.tar.gz"))


@pytest.fixture(scope="session")
def conda_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vendored conda snapshot, unpacked once for the session."""
    if not SNAPSHOTS:
        pytest.skip(f"the conda snapshot is absent ({VENDOR}/conda-*.tar.gz)")
    root = tmp_path_factory.mktemp("conda-src")
    with tarfile.open(SNAPSHOTS[-1]) as tar:
        tar.extractall(root, filter="data")
    return root


@dataclass
class Conda:
    """``python -m conda`` in a user's clean environment: its own HOME, caches and envs."""

    root: Path
    env: dict[str, str]

    @property
    def pkgs(self) -> Path:
        return self.root / "pkgs"

    @property
    def envs(self) -> Path:
        return self.root / "envs"

    @property
    def home(self) -> Path:
        return Path(self.env["HOME"])

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, prelude: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run conda; ``prelude`` is Python run in the same process first."""
        argv = [sys.executable, "-m", "conda"]
        if prelude is not None:
            argv = [
                sys.executable,
                "-c",
                f"{prelude}\nfrom conda.cli import main; sys.exit(main())",
            ]
        return subprocess.run(
            [*argv, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            cwd=self.root,
            timeout=240,
            check=False,
        )

    def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        result = self("--json", *args, env=env)
        assert result.stdout, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def conda(tmp_path: Path, conda_source: Path) -> Conda:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "PYTHONPATH": str(conda_source),
        "CONDA_SOLVER": "classic",  # conda-libmamba-solver is not on PyPI
        "CONDA_PKGS_DIRS": str(tmp_path / "pkgs"),
        "CONDA_ENVS_DIRS": str(tmp_path / "envs"),
        "CONDA_SUBDIR": PLATFORM,
        # Metadata services and proxies point at the suite's refuser: nothing leaves the machine.
        **offline_environment(),
    }
    return Conda(tmp_path, env)


@dataclass
class Store:
    """One object store as a conda user reaches it: fsspec settings in the environment."""

    name: str
    env: dict[str, str]
    base: str  # a channel URL unique to the test, no trailing slash
    write: Callable[..., None]  # key, data, cache_control=None
    delete: Callable[[str], None]
    published: list[Package] = field(default_factory=list)

    def publish(self, channel: Channel) -> str:
        for key, data in channel.objects():
            self.write(key, data)
        self.published.extend(channel.packages)
        return self.base


@pytest.fixture
def s3_channel(moto_endpoint: str, s3_client: Any, s3_bucket: str) -> Store:
    prefix = f"conda-{uuid.uuid4().hex[:8]}"

    def write(key: str, data: bytes, cache_control: str | None = None) -> None:
        extra = {"CacheControl": cache_control} if cache_control else {}
        s3_client.put_object(Bucket=s3_bucket, Key=f"{prefix}/{key}", Body=data, **extra)

    def delete(key: str) -> None:
        s3_client.delete_object(Bucket=s3_bucket, Key=f"{prefix}/{key}")

    env = {
        "FSSPEC_S3_ENDPOINT_URL": moto_endpoint,
        "FSSPEC_S3_KEY": S3_KEY,
        "FSSPEC_S3_SECRET": S3_SECRET,
    }
    return Store("s3", env, f"s3://{s3_bucket}/{prefix}", write, delete)


@pytest.fixture
def gs_channel(gcs_endpoint: str, gcs_bucket: str) -> Store:
    root = f"{gcs_bucket}/conda-{uuid.uuid4().hex[:8]}"
    fs = GCSFileSystem(
        endpoint_url=gcs_endpoint, token="anon", project="test", skip_instance_cache=True
    )

    def write(key: str, data: bytes, cache_control: str | None = None) -> None:
        extra = {"metadata": {"Cache-Control": cache_control}} if cache_control else {}
        fs.pipe_file(f"{root}/{key}", data, **extra)

    def delete(key: str) -> None:
        fs.rm_file(f"{root}/{key}")

    env = {
        "FSSPEC_GS_ENDPOINT_URL": gcs_endpoint,
        "FSSPEC_GS_TOKEN": "anon",
        "FSSPEC_GS_PROJECT": "test",
    }
    return Store("gs", env, f"gs://{root}", write, delete)


@pytest.fixture
def az_channel(azurite_endpoint: str, az_container: str) -> Store:
    from azure.storage.blob import BlobServiceClient, ContentSettings

    prefix = f"conda-{uuid.uuid4().hex[:8]}"
    connection_string = azurite_connection_string(azurite_endpoint)
    container = BlobServiceClient.from_connection_string(connection_string).get_container_client(
        az_container
    )

    def write(key: str, data: bytes, cache_control: str | None = None) -> None:
        settings = ContentSettings(cache_control=cache_control) if cache_control else None
        container.upload_blob(f"{prefix}/{key}", data, overwrite=True, content_settings=settings)

    def delete(key: str) -> None:
        container.delete_blob(f"{prefix}/{key}")

    env = {"FSSPEC_AZ_CONNECTION_STRING": connection_string}
    return Store("az", env, f"az://{az_container}/{prefix}", write, delete)


@pytest.fixture(params=["s3", "gs", "az"])
def store(request: pytest.FixtureRequest) -> Store:
    value: Store = request.getfixturevalue(f"{request.param}_channel")
    return value


def tiny() -> Package:
    return build_package("tinypkg", files={"share/tinypkg/hello.txt": b"hello from a bucket\n"})


def requests_logged(output: str) -> list[str]:
    """The adapter's own record of each request (``-vvv``): ``GET <url> -> <status>``."""
    return re.findall(r"objstore_adapter:_?send\(\d+\): (\S+ \S+ -> \d+)", output)


def cache_states(conda: Conda) -> dict[str, Any]:
    """conda's cache state files (``pkgs/cache/*.info.json``), by subdir URL."""
    states = {}
    for path in (conda.pkgs / "cache").glob("*.info.json"):
        state = json.loads(path.read_text())
        states[state["url"]] = state
    return states


# --- conda search, create and a revalidation on every store --------------------------------


def test_search_lists_the_package(conda: Conda, store: Store) -> None:
    channel = store.publish(Channel([tiny()]))

    result = conda(
        "--json", "search", "-c", channel, "--override-channels", "tinypkg", "-vvv", env=store.env
    )

    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert [(p["name"], p["version"], p["url"]) for p in found["tinypkg"]] == [
        ("tinypkg", "1.0", f"{channel}/noarch/tinypkg-1.0-0.conda")
    ]
    # Sharded repodata first, then repodata.json.zst (read through ZstdFile(response.raw)),
    # falling back to repodata.json on 404s. Subdirs are fetched in parallel threads.
    assert sorted(requests_logged(result.stderr)) == [
        f"GET {channel}/{PLATFORM}/repodata.json -> 200",
        f"GET {channel}/{PLATFORM}/repodata.json.zst -> 404",
        f"GET {channel}/{PLATFORM}/repodata_shards.msgpack.zst -> 404",
        f"GET {channel}/noarch/repodata.json.zst -> 200",
        f"GET {channel}/noarch/repodata_shards.msgpack.zst -> 404",
    ]


def test_create_installs_the_package(conda: Conda, store: Store) -> None:
    package = tiny()
    channel = store.publish(Channel([package]))

    result = conda(
        "create", "-n", "demo", "-c", channel, "--override-channels", "tinypkg", "-y", env=store.env
    )

    assert result.returncode == 0, result.stderr
    prefix = conda.envs / "demo"
    assert (prefix / "share/tinypkg/hello.txt").read_bytes() == b"hello from a bucket\n"
    record = json.loads((prefix / f"conda-meta/{package.filename[:-6]}.json").read_text())
    assert record["url"] == f"{channel}/noarch/{package.filename}"
    assert record["sha256"] == package.record["sha256"]


def test_a_second_search_revalidates_with_304s(conda: Conda, store: Store) -> None:
    channel = store.publish(Channel([tiny()]))
    args = ("search", "-c", channel, "--override-channels", "tinypkg")
    first = conda(*args, env=store.env)
    assert first.returncode == 0, first.stderr
    cached = {url: state["etag"] for url, state in cache_states(conda).items()}

    again = conda(*args, "-vvv", env=store.env)

    assert again.returncode == 0, again.stderr
    assert "tinypkg" in again.stdout
    logged = requests_logged(again.stderr)
    assert f"GET {channel}/noarch/repodata.json.zst -> 304" in logged, logged
    assert f"GET {channel}/{PLATFORM}/repodata.json -> 304" in logged, logged
    assert f"304 NOT MODIFIED for '{channel}/noarch/repodata.json'" in again.stderr
    assert {url: state["etag"] for url, state in cache_states(conda).items()} == cached


# --- repodata ------------------------------------------------------------------------------


def test_stored_cache_control_spares_the_next_request(conda: Conda, s3_channel: Store) -> None:
    for key, data in Channel([tiny()]).objects():
        s3_channel.write(key, data, cache_control="public, max-age=3600")
    args = ("search", "-c", s3_channel.base, "--override-channels", "tinypkg")
    assert conda(*args, env=s3_channel.env).returncode == 0

    again = conda(*args, "-vvv", env=s3_channel.env)

    assert again.returncode == 0, again.stderr
    assert "tinypkg" in again.stdout
    assert not [line for line in requests_logged(again.stderr) if "repodata" in line]
    state = cache_states(conda)[f"{s3_channel.base}/noarch"]
    assert state["cache_control"] == "public, max-age=3600"


def test_current_repodata_and_shards_fall_back_on_404s(conda: Conda, s3_channel: Store) -> None:
    channel = s3_channel.publish(Channel([tiny()]))

    result = conda(
        "create",
        "-n",
        "x",
        "--dry-run",
        "-c",
        channel,
        "--override-channels",
        "tinypkg",
        "-vvv",
        env=s3_channel.env,
    )

    assert result.returncode == 0, result.stderr
    logged = requests_logged(result.stderr)
    assert f"GET {channel}/noarch/current_repodata.json.zst -> 404" in logged, logged
    assert f"GET {channel}/noarch/current_repodata.json -> 404" in logged, logged
    assert f"GET {channel}/noarch/repodata.json.zst -> 200" in logged, logged
    assert "tinypkg-1.0-0" in result.stdout


# --- package downloads ---------------------------------------------------------------------

LARGE = 24 * 2**20


@pytest.fixture(scope="module")
def large_package() -> Package:
    return build_package("largepkg", files={"share/largepkg/blob.bin": random_payload(LARGE)})


def download_only(conda: Conda, channel: str, name: str, env: dict[str, str]) -> str:
    """``conda create --download-only`` on a terminal, as a user sees its progress bar."""
    controller, terminal = pty.openpty()
    # A terminal 100 columns wide: on one of no size, tqdm draws a bar of no width.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    output = bytearray()
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "conda",
                "create",
                "-n",
                "never",
                "--download-only",
                "-y",
                "-c",
                channel,
                "--override-channels",
                name,
            ],
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
            # Redraw on every update: a local store serves the package faster than tqdm's 0.1 s.
            env={**conda.env, "TERM": "xterm", "TQDM_MININTERVAL": "0", **env},
            cwd=conda.root,
        )
        os.close(terminal)
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(240) == 0, output.decode(errors="replace")
    finally:
        os.close(controller)
    return output.decode(errors="replace")


@pytest.mark.slow
def test_download_only_streams_a_large_package(
    conda: Conda, store: Store, large_package: Package
) -> None:
    channel = store.publish(Channel([large_package]))

    output = download_only(conda, channel, "largepkg", store.env)

    fetched = conda.pkgs / large_package.filename
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == large_package.record["sha256"]
    assert not (conda.pkgs / f"{large_package.filename}.partial").exists()
    assert not (conda.envs / "never").exists()
    # The progress bar moved while the body streamed: several distinct percentages.
    assert len(set(re.findall(r"\b(\d{1,3})%", output))) >= 10, output


@pytest.mark.slow
def test_download_resumes_a_partial_file(
    conda: Conda, s3_channel: Store, large_package: Package, moto_endpoint: str
) -> None:
    channel = s3_channel.publish(Channel([large_package]))
    assert (
        conda(
            "search", "-c", channel, "--override-channels", "largepkg", env=s3_channel.env
        ).returncode
        == 0
    )
    half = len(large_package.data) // 2
    conda.pkgs.mkdir(exist_ok=True)
    (conda.pkgs / f"{large_package.filename}.partial").write_bytes(large_package.data[:half])

    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        env = {**s3_channel.env, "FSSPEC_S3_ENDPOINT_URL": proxy.endpoint}
        download_only(conda, channel, "largepkg", env)

    fetched = conda.pkgs / large_package.filename
    assert fetched.read_bytes() == large_package.data
    reads = [
        headers.get("Range")
        for (method, path), headers in zip(proxy.requests, proxy.request_headers, strict=True)
        if method == "GET" and path.split("?", 1)[0].endswith(large_package.filename)
    ]
    assert reads == [f"bytes={half}-"], proxy.requests


def test_a_404_removes_the_partial_file(conda: Conda, s3_channel: Store) -> None:
    package = tiny()
    channel = s3_channel.publish(Channel([package]))
    s3_channel.delete(f"noarch/{package.filename}")
    conda.pkgs.mkdir()
    partial = conda.pkgs / f"{package.filename}.partial"
    partial.write_bytes(package.data[:100])

    result = conda(
        "create",
        "-n",
        "x",
        "--download-only",
        "-y",
        "-c",
        channel,
        "--override-channels",
        "tinypkg",
        env=s3_channel.env,
    )

    assert result.returncode != 0
    assert "404" in result.stderr, result.stderr
    assert not partial.exists()
    assert not (conda.pkgs / package.filename).exists()


# --- errors as conda reports them ----------------------------------------------------------


def test_a_missing_channel_is_an_unavailable_channel(conda: Conda, store: Store) -> None:
    missing = f"{store.base}/no-such-channel"

    report = conda.json("search", "-c", missing, "--override-channels", "tinypkg", env=store.env)

    assert report["exception_name"] == "UnavailableInvalidChannel"
    assert report["status_code"] == 404
    assert report["channel_url"] == missing


def test_access_denied_shows_condas_403_help(conda: Conda, az_channel: Store) -> None:
    channel = az_channel.publish(Channel([tiny()]))
    wrong_key = "d3Jvbmcta2V5LWZvci10aGUtdGVzdC1zdWl0ZQ=="  # base64, but not the account's
    env = {
        "FSSPEC_AZ_CONNECTION_STRING": az_channel.env["FSSPEC_AZ_CONNECTION_STRING"].replace(
            AZURITE_KEY, wrong_key
        )
    }

    result = conda("search", "-c", channel, "--override-channels", "tinypkg", env=env)

    assert result.returncode == 1
    assert "CondaHTTPError: HTTP 403" in result.stderr, result.stderr
    assert "You do not have permission to access this resource." in result.stderr
    assert wrong_key not in result.stderr + result.stdout


def test_a_missing_backend_names_the_pip_extra(conda: Conda, gs_channel: Store) -> None:
    channel = gs_channel.publish(Channel([tiny()]))

    result = conda(
        "search",
        "-c",
        channel,
        "--override-channels",
        "tinypkg",
        env=gs_channel.env,
        prelude="import sys; sys.modules['gcsfs'] = None",
    )

    assert result.returncode == 1
    assert "CondaDependencyError" in result.stderr, result.stderr
    assert "pip install 'objstore-adapter[gcs]'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("store_name", ["s3", "az"])
def test_no_credential_in_verbose_output(
    conda: Conda, request: pytest.FixtureRequest, store_name: str
) -> None:
    store: Store = request.getfixturevalue(f"{store_name}_channel")
    channel = store.publish(Channel([tiny()]))

    result = conda(
        "create",
        "-n",
        "x",
        "-y",
        "-c",
        channel,
        "--override-channels",
        "tinypkg",
        "-vvv",
        env=store.env,
    )

    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    # Lines that carry credentials were logged, with the credentials taken out: the SigV4
    # signature botocore logs for each request it signs (a GET without a body is signed in
    # its Authorization header) and Azure's signed requests (the Azure SDK's own log).
    assert {
        "s3": "Signature:\n<redacted>\n",
        "az": "'Authorization': 'REDACTED'",
    }[store_name] in output
    for secret in (S3_KEY, S3_SECRET, AZURITE_KEY, AZURITE_KEY[:20]):
        assert secret not in output


# --- plugins off, offline ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["CONDA_NO_PLUGINS", "--no-plugins"])
def test_without_plugins_conda_has_no_gs_adapter(conda: Conda, gs_channel: Store, how: str) -> None:
    channel = gs_channel.publish(Channel([tiny()]))
    args = ["search", "-c", channel, "--override-channels", "tinypkg"]
    env = dict(gs_channel.env)
    if how == "--no-plugins":
        args.insert(0, how)
    else:
        env[how] = "true"

    result = conda(*args, env=env)

    assert result.returncode == 1
    assert "No connection adapters were found" in result.stderr, result.stderr


def test_offline_reads_the_cache_and_never_the_store(conda: Conda, gs_channel: Store) -> None:
    channel = gs_channel.publish(Channel([tiny()]))
    args = ("-c", channel, "--override-channels", "tinypkg")
    assert conda("search", *args, env=gs_channel.env).returncode == 0

    found = conda("search", "--offline", *args, "-vvv", env=gs_channel.env)
    download = conda.json("create", "-n", "x", "-y", "--offline", *args, env=gs_channel.env)

    assert found.returncode == 0, found.stderr
    assert "tinypkg" in found.stdout
    assert requests_logged(found.stderr) == []
    # conda's own guard answers for our schemes too: no package comes from the store.
    assert {error["exception_name"] for error in download["errors"]} == {"OfflineError"}, download
    assert not (conda.pkgs / tiny().filename).exists()


# --- configuration -------------------------------------------------------------------------


def test_storage_options_per_prefix_from_condarc(
    conda: Conda, s3_channel: Store, moto_endpoint: str
) -> None:
    channel = s3_channel.publish(Channel([tiny()]))
    bucket = channel.split("/")[2]
    (conda.home / ".condarc").write_text(
        "plugins:\n"
        "  objstore_storage_options:\n"
        "    s3:\n"
        "      endpoint_url: http://127.0.0.1:9\n"  # nothing listens there
        f"    s3://{bucket}:\n"
        f"      endpoint_url: {moto_endpoint}\n"
        f"      key: {S3_KEY}\n"
        f"      secret: {S3_SECRET}\n"
        "    mybucket:\n"
        "      protocol: s3\n"
        f"      endpoint_url: {moto_endpoint}\n"
        f"      key: {S3_KEY}\n"
        f"      secret: {S3_SECRET}\n"
    )

    by_prefix = conda.json("search", "-c", channel, "--override-channels", "tinypkg")
    custom = channel.replace("s3://", "mybucket://", 1)
    by_scheme = conda.json("search", "-c", custom, "--override-channels", "tinypkg")

    assert by_prefix["tinypkg"][0]["url"].startswith(channel)
    assert by_scheme["tinypkg"][0]["url"].startswith(custom)


def test_storage_options_from_an_fsspec_config_file(conda: Conda, az_channel: Store) -> None:
    channel = az_channel.publish(Channel([tiny()]))
    config = conda.home / ".config/fsspec"
    config.mkdir(parents=True)
    connection_string = az_channel.env["FSSPEC_AZ_CONNECTION_STRING"]
    (config / "az.json").write_text(json.dumps({"az": {"connection_string": connection_string}}))

    found = conda.json("search", "-c", channel, "--override-channels", "tinypkg")

    assert found["tinypkg"][0]["name"] == "tinypkg"


def test_a_bad_setting_is_reported_when_used(conda: Conda, s3_channel: Store) -> None:
    channel = s3_channel.publish(Channel([tiny()]))
    (conda.home / ".condarc").write_text(
        "plugins:\n  objstore_storage_options:\n    mystore:\n      protocol: no-such-fs\n"
    )

    config = conda("config", "--show", "plugins.objstore_storage_options")
    searches = [
        conda("search", "-c", url, "--override-channels", "tinypkg", env=s3_channel.env)
        for url in (channel, "mystore://bucket/channel")
    ]

    assert config.returncode == 0, config.stderr  # conda config still works, to repair it
    assert "no-such-fs" in config.stdout
    for search in searches:
        assert search.returncode == 1
        assert "CondaValueError: plugins.objstore_storage_options" in search.stderr, search.stderr
        assert "no-such-fs" in search.stderr


def test_an_unexpected_store_failure_is_a_conda_error(conda: Conda, s3_channel: Store) -> None:
    channel = s3_channel.publish(Channel([tiny()]))
    bucket = channel.split("/")[2]
    # s3fs takes any option, and its AWS session refuses this one when it first connects.
    (conda.home / ".condarc").write_text(
        f"plugins:\n  objstore_storage_options:\n    s3://{bucket}:\n      no_such_option: 5\n"
    )

    result = conda("search", "-c", channel, "--override-channels", "tinypkg", env=s3_channel.env)

    assert result.returncode == 1
    assert "ERROR REPORT" not in result.stderr, result.stderr  # no report asked for conda
    assert re.search(rf"Conda\w*Error: .*s3://{bucket}", result.stderr), result.stderr


def test_conda_lists_the_plugin(conda: Conda) -> None:
    result = conda("plugins", "list", "--json")

    assert result.returncode == 0, result.stderr
    plugins = {plugin["canonical_name"]: plugin for plugin in json.loads(result.stdout)}
    assert plugins["objstore_adapter.conda"]["status"] == "active"
    assert plugins["objstore_adapter.conda"]["name"] == "objstore-adapter"


# --- conda's Python API --------------------------------------------------------------------

API_SCRIPT = """
import concurrent.futures, hashlib, json, sys
from conda.base.context import context
from conda.gateways.connection.download import download
from conda.gateways.connection.session import CondaSession, get_session

context.__init__()
url, target = sys.argv[1], sys.argv[2]
worker = concurrent.futures.ThreadPoolExecutor(1)  # a download thread, alive throughout

def adapter_in_worker():
    return type(CondaSession().get_adapter(url)).__name__

before = {"get_session": type(get_session(url).get_adapter(url)).__name__,
          "thread": worker.submit(adapter_in_worker).result()}

import objstore_adapter.conda
objstore_adapter.conda.install()

after = {"get_session": type(get_session(url).get_adapter(url)).__name__,
         "thread": worker.submit(adapter_in_worker).result()}
worker.submit(download, url, target).result()
print(json.dumps({"before": before, "after": after,
                  "sha256": hashlib.sha256(open(target, "rb").read()).hexdigest()}))
"""


def test_install_reaches_sessions_built_before_and_in_threads(
    conda: Conda, s3_channel: Store
) -> None:
    package = tiny()
    channel = s3_channel.publish(Channel([package]))
    url = f"{channel}/noarch/{package.filename}"
    target = conda.root / package.filename

    result = subprocess.run(
        [sys.executable, "-c", API_SCRIPT, url, str(target)],
        capture_output=True,
        text=True,
        env={**conda.env, **s3_channel.env},
        cwd=conda.root,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # Before: conda's own S3Adapter, on the main thread's cached session and the worker's.
    assert report["before"] == {"get_session": "S3Adapter", "thread": "S3Adapter"}
    assert report["after"] == {
        "get_session": "CondaObjectStoreAdapter",
        "thread": "CondaObjectStoreAdapter",
    }
    assert report["sha256"] == package.record["sha256"]


# --- the guide -----------------------------------------------------------------------------


def test_the_commands_in_the_conda_guide_run(
    conda: Conda,
    s3_client: Any,
    moto_endpoint: str,
    gcs_endpoint: str,
    azurite_endpoint: str,
) -> None:
    import requests
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    guide = (Path(__file__).parents[2] / "docs/guides/conda.md").read_text()
    block = guide.split("## Use\n\n```sh\n", 1)[1].split("```", 1)[0]
    assert block.count("conda ") >= 6
    package = build_package("mytool", files={"bin/mytool": b"#!/bin/sh\necho mytool 1.0\n"})
    objects = list(Channel([package]).objects())
    # The stores and names the guide uses, on the local servers.
    with contextlib.suppress(s3_client.exceptions.BucketAlreadyOwnedByYou):
        s3_client.create_bucket(Bucket="my-bucket")
    created = requests.post(
        f"{gcs_endpoint}/storage/v1/b?project=test", json={"name": "my-bucket"}, timeout=10
    )
    assert created.status_code in (200, 409), created.text  # 409: made by an earlier run
    connection_string = azurite_connection_string(azurite_endpoint)
    service = BlobServiceClient.from_connection_string(connection_string)
    with contextlib.suppress(ResourceExistsError):
        service.create_container("my-container")
    container = service.get_container_client("my-container")
    gcs = GCSFileSystem(
        endpoint_url=gcs_endpoint, token="anon", project="test", skip_instance_cache=True
    )
    for key, data in objects:
        s3_client.put_object(Bucket="my-bucket", Key=f"channel/{key}", Body=data)
        gcs.pipe_file(f"my-bucket/channel/{key}", data)
        container.upload_blob(f"channel/{key}", data, overwrite=True)
    bin_dir = conda.root / "bin"
    bin_dir.mkdir()
    (bin_dir / "conda").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m conda "$@"\n')
    (bin_dir / "conda").chmod(0o755)
    env = {
        **conda.env,
        "PATH": f"{bin_dir}{os.pathsep}{conda.env['PATH']}",
        "FSSPEC_S3_ENDPOINT_URL": moto_endpoint,
        "FSSPEC_S3_KEY": S3_KEY,
        "FSSPEC_S3_SECRET": S3_SECRET,
        "FSSPEC_GS_ENDPOINT_URL": gcs_endpoint,
        "FSSPEC_GS_TOKEN": "anon",
        "FSSPEC_GS_PROJECT": "test",
        "FSSPEC_AZ_CONNECTION_STRING": connection_string,
    }

    result = subprocess.run(
        ["bash", "-e", "-c", block],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=conda.root,
        timeout=240,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    for name in ("from-s3", "from-gcs", "from-azure"):
        assert (conda.envs / name / "bin/mytool").read_bytes().startswith(b"#!/bin/sh")
    assert not (conda.envs / "later").exists()
    assert (conda.pkgs / package.filename).read_bytes() == package.data
    assert len(re.findall(r"^mytool +1\.0 +0 +channel", result.stdout, re.MULTILINE)) == 2


def test_transfer_settings_per_prefix_from_condarc(
    conda: Conda, s3_channel: Store, moto_endpoint: str
) -> None:
    channel = s3_channel.publish(Channel([tiny()]))
    bucket = channel.split("/")[2]
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        env = {**s3_channel.env, "FSSPEC_S3_ENDPOINT_URL": proxy.endpoint}
        searches = []
        for condarc in (
            "",  # the defaults: the 503 is tried again, and conda finds the package
            f"plugins:\n  objstore_storage_options:\n    s3://{bucket}:\n"
            "      transfer.max_attempts: 1\n",
        ):
            (conda.home / ".condarc").write_text(condarc)
            proxy.requests.clear()
            proxy.answer(503, times=1, methods=("GET",))
            searches.append(
                (
                    conda("search", "-c", channel, "--override-channels", "tinypkg", env=env),
                    [path for method, path in proxy.requests if method == "GET"],
                )
            )

    (healed, healed_gets), (failed, failed_gets) = searches
    assert healed.returncode == 0, healed.stderr
    assert max(Counter(healed_gets).values()) == 2, "the 503 was tried again"
    assert failed.returncode == 1
    assert "503" in failed.stderr, failed.stderr
    assert max(Counter(failed_gets).values()) == 1, "transfer.max_attempts: 1 tries once"


def test_a_bad_transfer_setting_in_condarc_names_it(conda: Conda, s3_channel: Store) -> None:
    channel = s3_channel.publish(Channel([tiny()]))
    (conda.home / ".condarc").write_text(
        "plugins:\n  objstore_storage_options:\n    s3:\n      transfer.max_attempts: zero\n"
    )

    result = conda("search", "-c", channel, "--override-channels", "tinypkg", env=s3_channel.env)

    assert result.returncode == 1
    assert "CondaValueError: plugins.objstore_storage_options" in result.stderr, result.stderr
    assert "max_attempts='zero'" in result.stderr


def test_a_bad_transfer_setting_in_fsspecs_configuration_names_it(
    conda: Conda, s3_channel: Store
) -> None:
    channel = s3_channel.publish(Channel([tiny()]))
    env = {**s3_channel.env, "FSSPEC_OBJSTORE_S3_PART_SIZE": "1MiB"}

    result = conda("search", "-c", channel, "--override-channels", "tinypkg", env=env)

    assert result.returncode == 1
    assert "CondaValueError" in result.stderr, result.stderr
    assert "FSSPEC_OBJSTORE_S3_PART_SIZE" in result.stderr
    assert "part_size must be at least 5 MiB" in result.stderr
