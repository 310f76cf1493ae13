"""The ``objstore`` console script."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from objstore_adapter._cli import _parser, _session, main

from .._proxy import RecordingProxy
from ..conftest import S3_KEY, S3_SECRET, Store, free_port


def test_demo_fetches_through_an_embedded_s3_server() -> None:
    script = shutil.which("objstore", path=str(Path(sys.executable).parent))
    assert script is not None, "the objstore console script is not installed"

    result = subprocess.run(
        [script, "demo", "--size-mib", "3"], capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "$ GET s3://objstore-demo/hello.txt\n  200 OK" in out
    assert "Hello from an object store!" in out
    assert "$ HEAD s3://objstore-demo/data/table.csv\n  200 OK" in out
    assert "404 Not Found" in out
    assert "3 MiB in" in out
    assert "sha256 verified" in out


def _s3_options(moto_endpoint: str) -> list[str]:
    return [
        "--endpoint-url",
        moto_endpoint,
        "--option",
        f"key={S3_KEY}",
        "--option",
        f"secret={S3_SECRET}",
        "-q",
    ]


def test_put_head_get_ls_rm_round_trip(
    s3_store: Store, moto_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b"a,b\n" * 1000)
    url = s3_store.url("cli/in.csv")
    opts = _s3_options(moto_endpoint)

    assert main(["put", str(source), url, "--content-type", "text/csv", *opts]) == 0
    assert "200 OK" in capsys.readouterr().out
    assert main(["head", url, *opts]) == 0
    assert "Content-Type: text/csv" in capsys.readouterr().out
    assert main(["get", url, "-o", str(tmp_path / "out.csv"), *opts]) == 0
    assert (tmp_path / "out.csv").read_bytes() == source.read_bytes()
    assert main(["ls", s3_store.url("cli"), *opts]) == 0
    assert "in.csv" in capsys.readouterr().out
    assert main(["rm", url, *opts]) == 0
    assert main(["head", url, *opts]) == 4
    assert "404 Not Found" in capsys.readouterr().err


def test_exit_codes_follow_failures(
    moto_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    creds = ["--option", f"key={S3_KEY}", "--option", f"secret={S3_SECRET}"]
    assert main(["get", "s3://bucket/x", "--endpoint-url", dead, "--timeout", "1", *creds]) == 3
    # No credentials at all: botocore refuses to sign, a 401 before any connection.
    assert main(["head", "s3://bucket/x", "--endpoint-url", dead]) == 4
    assert "check the credentials" in capsys.readouterr().err
    assert main(["get", "s3://", *_s3_options(moto_endpoint)]) == 2
    assert main(["get", f"file://{tmp_path}/missing.txt", "-q"]) == 4
    capsys.readouterr()
    # Options arrive as JSON where they parse as JSON: a dict reaches s3fs as a dict.
    retries = json.dumps({"retries": {"max_attempts": 1}})
    assert (
        main(
            [
                "head",
                "s3://bucket/x",
                "--endpoint-url",
                dead,
                *creds,
                "--option",
                f"config_kwargs={retries}",
            ]
        )
        == 3
    )


def test_missing_backend_is_a_clear_message() -> None:
    code = (
        "import sys; sys.modules['gcsfs'] = None\n"
        "from objstore_adapter._cli import main\n"
        "sys.exit(main(['head', 'gs://bucket/key']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )

    assert result.returncode == 3
    assert "pip install 'objstore-adapter[gcs]'" in result.stderr


def test_the_commands_in_the_cli_guide_run(
    s3_client: Any, moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guide = (Path(__file__).parents[2] / "docs/guides/cli.md").read_text()
    block = guide.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.startswith("objstore ")]
    with contextlib.suppress(s3_client.exceptions.BucketAlreadyOwnedByYou):
        s3_client.create_bucket(Bucket="bucket")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4 not really\n")

    for line in lines:
        argv = shlex.split(line)[1:]
        if argv[0] != "demo":  # the demo has its own test
            assert main([*argv, *_s3_options(moto_endpoint)]) == 0, line
    assert (tmp_path / "copy.pdf").read_bytes() == (tmp_path / "report.pdf").read_bytes()


# --- transfer settings ---------------------------------------------------------------------


def test_transfer_settings_from_flags_and_fsspec_variables(
    s3_store: Store, moto_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3_store.write("flaky.txt", b"served", None)
    url = s3_store.url("flaky.txt")
    script = shutil.which("objstore", path=str(Path(sys.executable).parent))
    assert script is not None
    with RecordingProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        opts = _s3_options(proxy.endpoint)
        proxy.answer(503, times=1, methods=("GET",))
        healed = main(["get", url, *opts])  # the defaults: tried again
        proxy.answer(503, times=1, methods=("GET",))
        flagged = main(["get", url, "--retries", "0", *opts])
        proxy.answer(503, times=1, methods=("GET",))
        variable = subprocess.run(
            [script, "get", url, *opts],
            env={**os.environ, "FSSPEC_OBJSTORE_S3_MAX_ATTEMPTS": "1"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        gets = [method for method, _ in proxy.requests if method == "GET"]

    assert healed == 0
    assert flagged != 0
    assert variable.returncode != 0
    assert "503" in variable.stderr, variable.stderr
    assert len(gets) == 4, "two for the defaults, one for each setting"
    assert capsys.readouterr().out.count("served") == 1


def test_transfer_flags_reach_the_route() -> None:
    url = "s3://bucket/key"
    flags = ["--retries", "2", "--parallel", "3", "--part-size", "16MiB"]
    args = _parser().parse_args(["head", url, *flags])

    adapter = _session(url, args).get_adapter(url)

    transfer = adapter.registry.route_for(url).transfer  # type: ignore[attr-defined]
    assert (transfer.max_attempts, transfer.max_concurrency, transfer.download_concurrency) == (
        3,
        3,
        3,
    )
    assert (transfer.part_size, transfer.download_part_size) == (16 * 2**20, 16 * 2**20)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--part-size", "lots"], "argument --part-size: 'lots': expected a size"),
        (["--retries", "-1"], "argument --retries: '-1' is not a whole number"),
        (["--parallel", "two"], "argument --parallel: 'two' is not a whole number"),
    ],
)
def test_a_transfer_flag_that_is_not_a_value_is_refused(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["head", "s3://bucket/key", *flags])

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--part-size", "1MiB"], "part_size must be at least 5 MiB"),
        (["--parallel", "0"], "max_concurrency and download_concurrency must be at least 1"),
    ],
)
def test_a_transfer_flag_the_settings_refuse_is_an_error_naming_it(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["head", "s3://bucket/key", *flags]) == 2

    err = capsys.readouterr().err
    assert err.startswith("objstore: transfer setting ")
    assert message in err
