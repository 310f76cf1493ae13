"""Transfer settings by name, from fsspec's configuration, the registry, the CLI and .condarc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import fsspec.config
import pytest
import requests

from objstore_adapter import SchemeRegistry, TransferConfig, TransferSettingError
from objstore_adapter._settings import configured, size, transfer
from objstore_adapter._transfer import DEFAULT_TRANSFER

MiB = 2**20


@pytest.fixture
def conf(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """fsspec's ``objstore`` section, empty for the test (fsspec reads variables and files
    once, when imported: the test writes what they would have given)."""
    section: dict[str, object] = {}
    monkeypatch.setitem(fsspec.config.conf, "objstore", section)
    return section


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16MiB", 16 * MiB),
        ("16 MiB", 16 * MiB),
        ("16Mi", 16 * MiB),
        ("8MB", 8_000_000),
        ("8mb", 8_000_000),
        ("1.5GiB", 3 * 2**29),
        ("5242880", 5 * MiB),
        (5 * MiB, 5 * MiB),
        ("2KiB", 2048),
        ("3k", 3000),
        ("7B", 7),
    ],
)
def test_sizes_take_units(text: str | int, expected: int) -> None:
    assert size(text) == expected


@pytest.mark.parametrize("text", ["big", "16MiBs", "1.5", "-1MiB", "", "MiB", "0.5B", "1iB"])
def test_a_size_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(
        ValueError, match=r"^expected a (size such as 16MiB, 8MB or 1048576|whole number)$"
    ):
        size(text)


def test_each_setting_is_read_as_its_kind() -> None:
    values = {
        "max_attempts": "3",
        "backoff_base": "0.5",
        "backoff_max": 2,
        "retry_deadline": "30",
        "part_size": "16MiB",
        "max_concurrency": 4,
        "parallel_below": "inf",
        "download_part_size": "1MiB",
        "download_concurrency": "2",
        "native_gets": "false",
    }

    assert transfer(DEFAULT_TRANSFER, values, "here") == TransferConfig(
        max_attempts=3,
        backoff_base=0.5,
        backoff_max=2.0,
        retry_deadline=30.0,
        part_size=16 * MiB,
        max_concurrency=4,
        parallel_below=float("inf"),
        download_part_size=MiB,
        download_concurrency=2,
        native_gets=False,
    )
    assert transfer(DEFAULT_TRANSFER, {"parallel_below": "64MiB"}, "here").parallel_below == (
        64 * MiB
    )
    sizes = transfer(DEFAULT_TRANSFER, {"part_size": "8MiB", "download_part_size": 1e6}, "here")
    assert type(sizes.part_size) is type(sizes.download_part_size) is int  # sizes are whole


@pytest.mark.parametrize("word", ["true", "True", "yes", "on", "1", True, 1])
def test_true_flags(word: object) -> None:
    pytest.importorskip("obstore")
    assert transfer(DEFAULT_TRANSFER, {"native_gets": word}, "here").native_gets is True


@pytest.mark.parametrize("word", ["false", "no", "off", "0", False, 0])
def test_false_flags(word: object) -> None:
    base = TransferConfig(max_attempts=2)
    assert transfer(base, {"native_gets": word}, "here") == base


def test_no_values_keep_the_base() -> None:
    base = TransferConfig(max_attempts=2)
    assert transfer(base, {}, "here") is base


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"max_attempts": "2.5"},
            r"^transfer setting max_attempts='2\.5' \(on the moon\): expected a whole number$",
        ),
        ({"max_attempts": True}, ": expected a number$"),
        ({"max_attempts": None}, ": expected a number$"),
        ({"backoff_base": "nan"}, ": expected a number$"),
        ({"native_gets": "maybe"}, "native_gets='maybe' .*: expected true or false$"),
        (
            {"part_size": "lots"},
            "part_size='lots' .*: expected a size such as 16MiB, 8MB or 1048576$",
        ),
        ({"part_size": "1MiB"}, "part_size must be at least 5 MiB"),
        ({"max_attempts": 0}, r"max_attempts=0 \(on the moon\): max_attempts counts the first"),
        (
            {"retries": 3},
            r"^unknown transfer setting 'retries' \(on the moon\); the settings are: "
            "max_attempts, backoff_base, backoff_max, retry_deadline, part_size, "
            "max_concurrency, parallel_below, download_part_size, download_concurrency, "
            "native_gets$",
        ),
    ],
)
def test_a_value_that_cannot_be_taken_is_named_with_where_it_was_set(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(TransferSettingError, match=message):
        transfer(DEFAULT_TRANSFER, values, "on the moon")


def test_the_configuration_gives_every_scheme_then_each_its_own(conf: dict[str, object]) -> None:
    conf.update(
        {
            "max_attempts": 3,
            "part_size": "8MiB",
            "s3_max_attempts": "2",
            "gs": {"part_size": "16MiB", "backoff_base": 0},
            "s3://team/": {"download_concurrency": "2"},
        }
    )

    assert configured("s3") == {"max_attempts": "2", "part_size": "8MiB"}
    assert configured("gs") == {"max_attempts": 3, "part_size": "16MiB", "backoff_base": 0}
    assert configured("az") == {"max_attempts": 3, "part_size": "8MiB"}
    assert configured("s3://team/") == {"download_concurrency": "2"}
    assert configured("s3://other/") == {}


def test_a_url_prefix_keeps_what_follows_its_scheme(conf: dict[str, object]) -> None:
    conf.update({"S3://Bucket/odd://key/": {"max_attempts": 2}})

    assert SchemeRegistry().route_for("s3://Bucket/odd://key/x").transfer.max_attempts == 2


def test_routes_take_their_settings_from_the_configuration(conf: dict[str, object]) -> None:
    conf.update(
        {
            "max_attempts": 4,
            "s3_part_size": "16MiB",
            "s3://team/": {"max_attempts": "2", "parallel_below": "0"},
            "S3://Shared": {"max_concurrency": 3},
        }
    )

    registry = SchemeRegistry()

    s3 = registry.route_for("s3://bucket/key")
    assert s3.prefix == "s3"
    assert (s3.transfer.max_attempts, s3.transfer.part_size) == (4, 16 * MiB)
    team = registry.route_for("s3://team/key")
    assert team.prefix == "s3://team/"
    assert team.transfer == TransferConfig(max_attempts=2, part_size=16 * MiB, parallel_below=0)
    assert registry.route_for("s3://Shared/key").transfer.max_concurrency == 3
    gs = registry.route_for("gs://bucket/key").transfer
    assert (gs.max_attempts, gs.part_size) == (4, DEFAULT_TRANSFER.part_size)


def test_a_scheme_registered_in_python_gets_the_configuration_too(
    conf: dict[str, object],
) -> None:
    conf.update({"minio_max_attempts": 2, "s3://team/": {"max_concurrency": 3}})
    registry = SchemeRegistry()

    registry.register("minio", protocol="s3", endpoint_url="http://127.0.0.1:9")
    registry.register("s3", endpoint_url="http://127.0.0.1:9")

    assert registry.route_for("minio://b/k").transfer.max_attempts == 2
    assert registry.route_for("s3://team/k").transfer.max_concurrency == 3


def test_settings_registered_by_name_go_over_the_configuration(conf: dict[str, object]) -> None:
    conf.update({"max_attempts": 4, "part_size": "16MiB"})
    registry = SchemeRegistry()

    registry.register("s3", transfer={"max_attempts": "2"})
    registry.register("s3://team", transfer={"max_concurrency": 3})
    registry.register("s3", transfer={"download_concurrency": 5})  # again: kept, and more

    s3 = registry.route_for("s3://b/k").transfer
    assert (s3.max_attempts, s3.part_size, s3.download_concurrency) == (2, 16 * MiB, 5)
    team = registry.route_for("s3://team/k").transfer
    assert (team.max_attempts, team.max_concurrency, team.part_size) == (2, 3, 16 * MiB)


def test_a_transfer_config_given_whole_is_taken_as_it_is(conf: dict[str, object]) -> None:
    conf.update({"max_attempts": 4})
    registry = SchemeRegistry()
    given = TransferConfig(part_size=32 * MiB)

    registry.register("s3", transfer=given)

    assert registry.route_for("s3://b/k").transfer is given


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"max_atempts": 3}, "unknown transfer setting 'max_atempts' in fsspec's configuration"),
        ({"s3": {"part_sise": 1}}, "unknown transfer setting 'part_sise' in 's3' in fsspec's"),
        (
            {"s3_part_size": "big"},
            r"part_size='big' \(fsspec's configuration: FSSPEC_OBJSTORE_S3_PART_SIZE, "
            r"FSSPEC_OBJSTORE_PART_SIZE or section 'objstore'",
        ),
        ({"s3://t/": {"max_concurrency": 2.5}}, r"section 'objstore', key 's3://t/'\): expected"),
        ({"s3": "fast"}, "unknown transfer setting 's3' in fsspec's configuration"),
        ({"s3://t/my_part_size": 8}, r"'s3://t/my_part_size' must map setting names to values"),
        ({"max_attempts": 0}, r"FSSPEC_OBJSTORE_MAX_ATTEMPTS.*: max_attempts counts the first"),
    ],
)
def test_a_bad_configuration_is_an_error_naming_the_setting_when_used(
    conf: dict[str, object], section: dict[str, object], message: str
) -> None:
    conf.update(section)
    registry = SchemeRegistry()  # the tools that would repair it still start

    with pytest.raises(TransferSettingError, match=message) as raised:
        registry.resolve("s3://t/key")
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, requests.RequestException)


def test_a_bad_setting_for_one_scheme_leaves_the_others(conf: dict[str, object]) -> None:
    conf.update({"s3_part_size": "big", "gs_max_attempts": 2})
    registry = SchemeRegistry()

    assert registry.route_for("s3://b/k").problem is not None
    assert registry.route_for("s3://b/k").transfer == DEFAULT_TRANSFER
    assert registry.route_for("gs://b/k").problem is None
    assert registry.route_for("gs://b/k").transfer.max_attempts == 2


def test_a_bad_setting_of_a_scheme_reaches_its_prefixes(conf: dict[str, object]) -> None:
    conf.update({"s3_part_size": "big"})
    registry = SchemeRegistry()
    registry.register("s3", endpoint_url="http://127.0.0.1:9")  # again, as the CLI does
    registry.register("s3://team", transfer={"max_attempts": 2})

    with pytest.raises(TransferSettingError, match="FSSPEC_OBJSTORE_S3_PART_SIZE"):
        registry.resolve("s3://team/key")
    with pytest.raises(TransferSettingError, match="FSSPEC_OBJSTORE_S3_PART_SIZE"):
        registry.resolve("s3://other/key")


def test_settings_registered_by_name_are_checked_at_once(conf: dict[str, object]) -> None:
    registry = SchemeRegistry()

    with pytest.raises(TransferSettingError, match=r"max_attempts='x' \(registered for 's3'\)"):
        registry.register("s3", transfer={"max_attempts": "x"})
    with pytest.raises(TransferSettingError, match="unknown transfer setting 'retries'"):
        registry.register("s3://team", transfer={"retries": 3})
    assert registry.route_for("s3://team/k").prefix == "s3"  # neither was registered


def test_every_name_in_the_section_is_checked(conf: dict[str, object]) -> None:
    conf.update({"max_attempts": 3, "s3_part_size": "8MiB", "max_atempts": 3})

    with pytest.raises(
        TransferSettingError,
        match=r"^unknown transfer setting 'max_atempts' in fsspec's configuration, section "
        r"'objstore'; the settings are: max_attempts, backoff_base, backoff_max, "
        "retry_deadline, part_size, max_concurrency, parallel_below, download_part_size, "
        "download_concurrency, native_gets$",
    ):
        SchemeRegistry().resolve("s3://bucket/key")


def test_values_refused_together_are_named_together() -> None:
    values = {"max_concurrency": 0, "download_concurrency": "0"}

    with pytest.raises(TransferSettingError) as refused:
        transfer(DEFAULT_TRANSFER, values, "FSSPEC_X_{NAME}")

    assert str(refused.value) == (
        "transfer setting max_concurrency=0, download_concurrency='0' (FSSPEC_X_<NAME>): "
        "max_concurrency and download_concurrency must be at least 1"
    )


def test_a_section_that_is_not_a_mapping_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(fsspec.config.conf, "objstore", "fast")
    registry = SchemeRegistry()

    with pytest.raises(TransferSettingError, match="section 'objstore' is not a mapping"):
        registry.resolve("gs://bucket/key")


def _routes_in_a_new_process(env: dict[str, str], config_dir: Path) -> dict[str, object]:
    """The transfer settings of s3 and s3://team/ in a fresh interpreter, as fsspec reads its
    variables and files when it is imported."""
    code = textwrap.dedent(
        """
        import dataclasses, json
        from objstore_adapter import SchemeRegistry
        registry = SchemeRegistry()
        print(json.dumps({
            url: dataclasses.asdict(registry.route_for(url).transfer)
            for url in ("s3://bucket/key", "s3://team/key")
        }))
        """
    )
    clean = {name: value for name, value in os.environ.items() if not name.startswith("FSSPEC")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "FSSPEC_CONFIG_DIR": str(config_dir), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    routes: dict[str, object] = json.loads(result.stdout)
    return routes


def test_fsspec_variables_set_transfer_settings(tmp_path: Path) -> None:
    routes = _routes_in_a_new_process(
        {
            "FSSPEC_OBJSTORE_MAX_ATTEMPTS": "3",
            "FSSPEC_OBJSTORE_S3_PART_SIZE": "16MiB",
            "FSSPEC_OBJSTORE": json.dumps({"s3://team/": {"max_concurrency": 2}}),
        },
        tmp_path,
    )

    assert routes["s3://bucket/key"] == {
        **routes["s3://bucket/key"],  # type: ignore[dict-item]
        "max_attempts": 3,
        "part_size": 16 * MiB,
        "max_concurrency": 8,
    }
    assert routes["s3://team/key"]["max_concurrency"] == 2  # type: ignore[index]


def test_fsspec_files_set_transfer_settings(tmp_path: Path) -> None:
    (tmp_path / "objstore.json").write_text(
        json.dumps({"objstore": {"s3": {"max_attempts": 2}, "s3://team/": {"part_size": "8MiB"}}})
    )
    (tmp_path / "more.ini").write_text("[objstore]\ns3_backoff_base = 0.25\n")

    routes = _routes_in_a_new_process({}, tmp_path)

    team = routes["s3://team/key"]
    assert (team["max_attempts"], team["part_size"], team["backoff_base"]) == (  # type: ignore[index]
        2,
        8 * MiB,
        0.25,
    )
