"""Which option ``_diagnose`` blames when a route's filesystem cannot be built or connected,
and how it words the error, on exceptions raised the way backends raise them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from requests import exceptions as rex

from objstore_adapter._diagnose import configuration_error, rejected_option
from objstore_adapter._errors import BackendConfigError
from objstore_adapter._redact import RedactedError


def _raised_from(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        raise outer from inner
    except BaseException as exc:
        return exc


def _configured(options: dict[str, Any], exc: BaseException) -> BackendConfigError:
    return configuration_error("s3://bucket/team/", "s3", options, exc)


def _refusing_call(**kwargs: Any) -> TypeError:
    def create_client(region_name: str | None = None) -> None:
        pass

    with pytest.raises(TypeError, match="unexpected keyword") as caught:
        create_client(**kwargs)
    return caught.value


def test_the_option_a_backend_refused_as_a_keyword() -> None:
    options = {"endpoint_url": "http://127.0.0.1:1", "client_kwargs": {"bogus": "value-1234"}}
    nested = _raised_from(RuntimeError("wrapped"), _refusing_call(bogus=1))
    top = _refusing_call(storage_options={})

    assert rejected_option(nested, options) == "client_kwargs"
    assert rejected_option(top, {"storage_options": {"key": "k"}}) == "storage_options"
    assert rejected_option(top, options) is None  # not an option given: a bug, not a slip
    assert rejected_option(TypeError("unsupported operand"), options) is None
    assert str(_configured(options, nested)).endswith("; check the option 'client_kwargs'")
    assert "value-1234" not in str(_configured(options, nested))


def test_a_configuration_error_names_the_route_and_the_quoted_option() -> None:
    options = {"key": "AKIA-CANARY-1", "region": "eu-west-1", "anon": False}
    exc = ValueError("bad  key\n AKIA-CANARY-1 given")

    error = _configured(options, exc)

    assert str(error) == (
        "the s3:// route 's3://bucket/team/' cannot build its 's3' filesystem "
        "(ValueError: bad key <key> given); check the option 'key'"
    )
    assert isinstance(error, ValueError)
    assert isinstance(error, rex.RequestException)
    assert isinstance(error.__cause__, RedactedError)
    assert "AKIA-CANARY-1" not in str(error.__cause__)


def test_a_configuration_error_names_an_option_the_message_names() -> None:
    options = {"profile": "p", "endpoint_url": "http://127.0.0.1:1"}

    error = _configured(options, ValueError("the config profile (p) could not be found"))

    assert str(error).endswith("; check the option 'profile'")


def test_an_option_named_inside_a_word_is_not_blamed() -> None:
    error = _configured({"key": "k"}, ValueError("the monkey ran off"))

    assert str(error).endswith("; options given: key")


def test_a_configuration_error_names_the_option_a_frame_was_handling(tmp_path: Path) -> None:
    token = str(tmp_path / "token.json")

    def load(path: str) -> None:
        raise ValueError("cannot read the file")

    with pytest.raises(ValueError, match="cannot read") as caught:
        load(token)
    error = _configured({"token": token, "project": "test-project"}, caught.value)

    assert str(error).endswith("; check the option 'token'")


def test_short_or_interned_values_are_no_clue() -> None:
    def load(path: str, flag: bool) -> None:
        raise ValueError("failed")

    with pytest.raises(ValueError, match="failed") as caught:
        load("anon", True)
    error = _configured({"token": "anon", "anon": True, "b": "zz"}, caught.value)

    assert str(error).endswith("; options given: anon, b, token")


def test_a_configuration_error_without_options_or_message() -> None:
    error = configuration_error("gs", "gcs", {}, RuntimeError())

    assert str(error) == (
        "the gs:// route 'gs' cannot build its 'gcs' filesystem "
        "(RuntimeError: no message); no options given"
    )


def test_a_configuration_error_quotes_at_most_300_characters() -> None:
    error = _configured({}, ValueError("x" * 400))

    assert "x" * 300 + "); no options given" in str(error)
    assert "x" * 301 not in str(error)


def test_option_values_of_every_shape_are_redacted() -> None:
    options = {
        "client_kwargs": {"region_name": "secret-region-1"},
        "paths": ["secret-path-2", ("secret-path-3",)],
        "path": Path("/secret/path/4"),
        "retries": 123456,
        "none": None,
    }
    exc = ValueError("secret-region-1 secret-path-2 secret-path-3 /secret/path/4 123456")

    error = _configured(options, exc)

    assert "(ValueError: <client_kwargs> <paths> <paths> <path> 123456)" in str(error)
    assert "check the option 'client_kwargs' or 'paths' or 'path'" in str(error)
