"""Redaction rules of ``_redact``, case by case: by shape, by value, in chains and log records.

behaviour/test_security.py proves that real SDK secrets never reach a user; these pin each
rule so that a planted bug in one of them fails here, in milliseconds.
"""

from __future__ import annotations

import logging
import pickle
import sys
import traceback
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from objstore_adapter._redact import (
    LOGGER_PREFIXES,
    REDACTED,
    RedactedError,
    RedactingFilter,
    install_log_filter,
    redact,
    redact_url,
    remember,
    secret_values,
    stand_in,
    without_own_frames,
)


def _fresh(prefix: str = "s") -> str:
    """A secret no other test (nor the global list of remembered values) has seen."""
    return f"{prefix}{uuid.uuid4().hex}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET /k?X-Amz-Signature=abc123&X-Amz-Credential=AKIA%2F2024&x=1",
            f"GET /k?X-Amz-Signature={REDACTED}&X-Amz-Credential={REDACTED}&x=1",
        ),
        ("?sig=Zm9v%3D&sv=2024", f"?sig={REDACTED}&sv=2024"),
        ("{'token': 'ya29.abc', 'n': 1}", f"{{'token': '{REDACTED}', 'n': 1}}"),
        ('{"client_secret": "shh"}', f'{{"client_secret": "{REDACTED}"}}'),
        ("password = hunter2;", f"password = {REDACTED};"),
        ("AccountKey=abc/def==;", f"AccountKey={REDACTED};"),
        ("SignatureDoesNotMatch: the signature we computed", None),
        ("a token of esteem", None),
        (
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=ff\nHost: h",
            f"Authorization: {REDACTED}\nHost: h",
        ),
        ("{'x-amz-security-token': 'FQo Gz=='}", f"{{'x-amz-security-token': '{REDACTED}'}}"),
        ("Cookie: a=b; c=d", f"Cookie: {REDACTED}"),
        ("header Bearer ya29.a0-b_c~d+e/f=", f"header Bearer {REDACTED}"),
        ("SharedKey devstoreaccount1:c2lnbmF0dXJl", f"SharedKey {REDACTED}"),
        ("bearer token-value", f"bearer {REDACTED}"),
        (
            "key: -----BEGIN PRIVATE KEY-----\nMIIE\nabc\n-----END PRIVATE KEY----- end",
            f"key: {REDACTED} end",
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----",
            REDACTED,
        ),
        ("no secrets here: s3://bucket/key.csv", None),
        ("Retrieve http://alice:pw%2F1@h:80/x", f"Retrieve http://{REDACTED}@h:80/x"),
        ("<File-like object, web://tok@h/x>", f"<File-like object, web://{REDACTED}@h/x>"),
        ("'s3://b/k@v2' and me@example.com", None),
    ],
)
def test_redact_by_shape(text: str, expected: str | None) -> None:
    assert redact(text) == (text if expected is None else expected)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("web://alice:pw@host/x", f"web://{REDACTED}@host/x"),
        ("web://alice:p%40w@b@host:8080/x?y#z", f"web://{REDACTED}@host:8080/x?y#z"),
        ("web://token@host", f"web://{REDACTED}@host"),
        ("s3://bucket/key@v2?a=b@c", None),
        ("s3://bucket", None),
        ("not a url @ all", None),
    ],
)
def test_redact_url_drops_the_userinfo(url: str, expected: str | None) -> None:
    assert redact_url(url) == (url if expected is None else expected)


def _own_module_raiser() -> Callable[[Callable[[], None]], None]:
    """A function whose frames count as the adapter's (its module is under objstore_adapter)."""
    namespace: dict[str, Any] = {"__name__": "objstore_adapter._fake"}
    exec("def call(inner):\n    password = 'own-frame-secret'\n    inner()\n", namespace)
    return namespace["call"]  # type: ignore[no-any-return]


def test_without_own_frames_keeps_the_other_frames_of_every_link() -> None:
    call = _own_module_raiser()

    def callers_body() -> None:
        raise ValueError("the caller's")

    def mapped() -> None:
        try:
            call(callers_body)
        except ValueError as exc:
            raise KeyError("mapped") from exc

    try:
        call(mapped)
    except KeyError as exc:
        error = without_own_frames(exc)

    rendered = traceback.TracebackException.from_exception(error, capture_locals=True)
    text = "".join(rendered.format())
    assert "own-frame-secret" not in text
    names = [f.name for f in traceback.extract_tb(error.__traceback__)]
    assert names[1:] == ["mapped"]  # under this test's frame, without the own call's
    cause = error.__cause__
    assert cause is not None
    names = [f.name for f in traceback.extract_tb(cause.__traceback__)]
    assert names == ["mapped", "callers_body"]


def test_redact_by_value_in_every_spelling() -> None:
    secret = _fresh() + "/+ ="
    text = f"plain {secret} quoted {quote(secret, safe='')} plus {quote_plus(secret, safe='')}"

    assert redact(text, {secret: "<key>"}) == "plain <key> quoted <key> plus <key>"


def test_redact_replaces_the_longest_secret_first() -> None:
    short = _fresh()
    long = short + "-and-more"

    assert redact(f"[{long}] [{short}]", {short: "<a>", long: "<b>"}) == "[<b>] [<a>]"
    assert redact(f"[{long}] [{short}]", {long: "<b>", short: "<a>"}) == "[<b>] [<a>]"
    # By length, not by spelling: a longer secret may sort before the one it contains.
    inner = "z" + _fresh()
    outer = "a-" + inner
    assert redact(f"[{outer}] [{inner}]", {inner: "<a>", outer: "<b>"}) == "[<b>] [<a>]"


def test_remembered_values_are_redacted_everywhere_later() -> None:
    secret = _fresh()
    assert redact(f"x {secret} y") == f"x {secret} y"

    remember({secret: "<secret>"})

    assert redact(f"x {secret} y") == "x <secret> y"
    assert redact(f"x {secret} y", {"other-value": "<o>"}) == "x <secret> y"


def test_secret_values_picks_secrets_by_option_name() -> None:
    options = {
        "key": "AKIAEXAMPLE00000",
        "secret": "12345678",
        "token": "short",  # too short to redact literally
        "password": "google_default",  # a gcsfs token method, no secret
        "sas_token": "browser",
        "endpoint_url": "http://127.0.0.1:9000/long-enough",
        "anon": False,
        "api_KEY": ["first-secret", {"nested": "second-secret"}, 3],
        "client_kwargs": {"aws_secret_access_key": "nested-secret", "region": "us-east-1-x"},
        "config": {"inner": {"auth_token": "deep-secret-1"}},
    }

    assert secret_values(options) == {
        "AKIAEXAMPLE00000": "<key>",
        "12345678": "<secret>",
        "first-secret": "<api_KEY>",
        "second-secret": "<api_KEY>",
        "nested-secret": "<client_kwargs.aws_secret_access_key>",
        "deep-secret-1": "<config.inner.auth_token>",
    }


@pytest.mark.parametrize(
    "name", ["key", "Secret", "TOKEN", "passwd", "credentials", "connection_string", "sas", "sig"]
)
def test_secret_option_names(name: str) -> None:
    assert secret_values({name: "value-of-8"}) == {"value-of-8": f"<{name}>"}
    assert secret_values({"auth_" + name: "value-of-8"}) == {"value-of-8": f"<auth_{name}>"}


def test_secret_values_finds_what_a_connection_string_or_sas_holds() -> None:
    connection = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=a2V5a2V5a2V5;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
    )
    sas = "sv=2024-01-01&sig=c2ln%2Bc2ln%3D&se=2030"

    found = secret_values({"connection_string": connection, "credential": sas})

    assert found == {
        connection: "<connection_string>",
        "a2V5a2V5a2V5": "<connection_string.AccountKey>",
        sas: "<credential>",
        "c2ln%2Bc2ln%3D": "<credential.sig>",
        "c2ln+c2ln=": "<credential.sig>",
    }


def test_an_embedded_key_keeps_its_base64_padding() -> None:
    key = "a2V5a2V5a2V5a2V5a2V5==" + _fresh()[:4] + "=="
    connection = f"AccountName=acct;AccountKey={key};BlobEndpoint=http://127.0.0.1:1/acct;"

    assert secret_values({"connection_string": connection})[key] == (
        "<connection_string.AccountKey>"
    )


def test_an_embedded_secret_needs_a_secret_name_and_eight_characters() -> None:
    found = secret_values({"sas_token": "a=1234567890&sig=1234567&AccountKey=12345678"})

    assert found == {
        "a=1234567890&sig=1234567&AccountKey=12345678": "<sas_token>",
        "12345678": "<sas_token.AccountKey>",
    }


def _raise_chain() -> BaseException:
    secret = "sig=SECRETSIG123"
    try:
        try:
            raise KeyError(f"inner {secret}")
        except KeyError as inner:
            raise ValueError(f"middle {secret}") from inner
    except ValueError:
        try:
            raise OSError(f"outer {secret}")
        except OSError as outer:
            outer.add_note(f"note {secret}")
            return outer


def test_stand_in_mirrors_the_chain_without_secrets() -> None:
    original = _raise_chain()

    copy = stand_in(original)

    assert isinstance(copy, RedactedError)
    assert copy.original_type == "builtins.OSError"
    assert str(copy) == f"builtins.OSError: outer sig={REDACTED}"
    assert copy.__traceback__ is None  # its frames' locals hold the secret
    assert copy.__notes__[0] == f"note sig={REDACTED}"
    assert copy.__notes__[1].startswith("raised at")
    assert f"{__file__}:" in copy.__notes__[1]
    assert copy.__notes__[1].endswith(" in _raise_chain")
    assert copy.__cause__ is None
    middle = copy.__context__
    assert isinstance(middle, RedactedError)
    assert str(middle) == f"builtins.ValueError: middle sig={REDACTED}"
    assert isinstance(middle.__cause__, RedactedError)
    assert str(middle.__cause__) == f"builtins.KeyError: 'inner sig={REDACTED}'"
    assert middle.__suppress_context__
    assert not copy.__suppress_context__
    printed = "".join(traceback.format_exception(copy))
    with_locals = traceback.TracebackException.from_exception(copy, capture_locals=True)
    assert "SECRETSIG123" not in printed + "".join(with_locals.format())
    assert "outer sig=" in printed
    assert "middle sig=" in printed
    assert "inner sig=" in printed


def test_stand_in_says_where_without_the_frames() -> None:
    secret = _fresh()

    def connect(password: str) -> None:
        raise ConnectionError("refused")

    try:
        connect(password=secret)
    except ConnectionError as exc:
        copy = stand_in(exc)

    for link in (copy, pickle.loads(pickle.dumps(copy))):
        rendered = traceback.TracebackException.from_exception(link, capture_locals=True)
        assert secret not in "".join(rendered.format())
    assert copy.__notes__[0].splitlines()[-1].endswith(" in connect")


def test_stand_in_redacts_given_values_in_notes_too() -> None:
    secret = _fresh()
    error = ValueError("plain")
    error.add_note(f"while using {secret}")

    assert stand_in(error, {secret: "<opt>"}).__notes__ == ["while using <opt>"]


def test_stand_in_names_the_class_by_its_module() -> None:
    class Failure(Exception):
        pass

    copy = stand_in(Failure("x"))

    assert (
        copy.original_type
        == f"{__name__}.test_stand_in_names_the_class_by_its_module.<locals>.Failure"
    )
    assert str(copy) == f"{copy.original_type}: x"


def test_stand_in_redacts_given_values_and_cuts_cycles() -> None:
    secret = _fresh()
    first, second = ValueError(f"a {secret}"), KeyError("b")
    first.__context__, second.__context__ = second, first

    copy = stand_in(first, {secret: "<opt>"})

    assert str(copy) == "builtins.ValueError: a <opt>"
    assert copy.__context__ is not None
    assert str(copy.__context__) == "builtins.KeyError: 'b'"
    assert copy.__context__.__context__ is None  # printing it must end


def test_stand_in_of_an_exception_without_text_or_with_a_broken_str() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    assert str(stand_in(RuntimeError())) == "builtins.RuntimeError"
    broken = stand_in(Broken())
    assert str(broken) == broken.original_type
    assert broken.original_type.endswith(".<locals>.Broken")
    assert not hasattr(stand_in(RuntimeError()), "__notes__")


def test_a_redacted_error_pickles_as_itself() -> None:
    error = RedactedError("builtins.OSError: message", "builtins.OSError")

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is RedactedError
    assert copy.args == ("builtins.OSError: message",)
    assert copy.original_type == "builtins.OSError"


def _record(
    msg: str, *args: object, exc: bool = False, stack: str | None = None, text: str = ""
) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("token=EXCSECRET1" + text)
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.LogRecord("botocore.x", logging.DEBUG, __file__, 1, msg, args, exc_info)
    record.stack_info = stack
    return record


def test_the_filter_redacts_messages_and_args() -> None:
    record = _record("url %s", "?X-Amz-Signature=ARGSECRET")

    assert RedactingFilter().filter(record) is True

    assert record.getMessage() == f"url ?X-Amz-Signature={REDACTED}"
    assert record.args == ()


def test_the_filter_leaves_clean_records_as_they_were() -> None:
    record = _record("fetched %s", "s3://bucket/key")

    assert RedactingFilter().filter(record) is True

    assert record.msg == "fetched %s"
    assert record.args == ("s3://bucket/key",)


def test_the_filter_redacts_tracebacks_and_stacks() -> None:
    record = _record("failed", exc=True, stack="Stack (most recent call last):\n sig=STACKSECRET")

    RedactingFilter().filter(record)

    assert record.exc_text is not None
    assert "EXCSECRET1" not in record.exc_text
    assert record.exc_text.startswith("Traceback (most recent call last):")
    assert record.exc_text.endswith(f"ValueError: token={REDACTED}")
    assert record.stack_info == f"Stack (most recent call last):\n sig={REDACTED}"
    assert "EXCSECRET1" not in logging.Formatter().format(record)


@pytest.mark.parametrize("text", [" ends in X", " ends in a space ", ""])
def test_the_filter_keeps_the_traceback_as_logging_formats_it(text: str) -> None:
    record = _record("failed", exc=True, text=text)
    assert record.exc_info is not None
    printed = logging.Formatter().formatException(record.exc_info)

    RedactingFilter().filter(record)

    assert record.exc_text == printed.replace("EXCSECRET1", REDACTED)


def test_the_filter_redacts_an_exception_that_was_never_raised() -> None:
    record = logging.LogRecord("botocore.x", logging.ERROR, __file__, 1, "failed", (), None)
    error = ValueError("token=NEVERRAISED1")
    record.exc_info = (ValueError, error, None)  # logging.error(..., exc_info=error) does this

    RedactingFilter().filter(record)

    assert "NEVERRAISED1" not in logging.Formatter().format(record)


def test_the_filter_keeps_a_traceback_already_formatted() -> None:
    record = _record("failed", exc=True)
    record.exc_text = "formatted already"

    RedactingFilter().filter(record)

    assert record.exc_text == "formatted already"


def test_the_filter_keeps_a_record_that_cannot_format() -> None:
    record = _record("%d items", "not a number")

    assert RedactingFilter().filter(record) is True
    assert record.args == ("not a number",)


def test_install_log_filter_covers_the_prefixes_and_the_loggers_below_them() -> None:
    prefix = f"redact-test-{uuid.uuid4().hex}"
    child = logging.getLogger(f"{prefix}.child")
    sibling = logging.getLogger(f"{prefix}sibling")  # a longer name, not below the prefix

    install_log_filter([prefix])
    install_log_filter([prefix])  # twice: still one filter

    for logger in (logging.getLogger(prefix), child):
        assert [type(f) for f in logger.filters] == [RedactingFilter]
    assert sibling.filters == []


def test_install_log_filter_defaults_to_the_backends_loggers() -> None:
    logging.getLogger("botocore.endpoint-test")

    install_log_filter()

    assert "botocore" in LOGGER_PREFIXES
    assert "objstore_adapter" in LOGGER_PREFIXES
    for name in (*LOGGER_PREFIXES, "botocore.endpoint-test"):
        assert any(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters)
