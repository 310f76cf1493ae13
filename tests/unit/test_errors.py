"""The rules of ``_errors``, case by case, on the SDKs' own exception classes.

behaviour/test_errors.py makes each SDK meet a real HTTP error through a proxy; here the
table and the status rules are pinned one by one, with exceptions built by the SDK classes
themselves (botocore, azure-core, aiohttp, gcsfs), so a planted bug in ``_errors`` fails here in
milliseconds. Which option a configuration error blames is ``_diagnose``'s (test_diagnose.py).
"""

from __future__ import annotations

import errno
import ftplib
import importlib
import socket
from pathlib import Path
from typing import Any

import aiohttp
import botocore.session
import botocore.utils
import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    EndpointResolutionError,
    ParamValidationError,
)
from gcsfs.retry import HttpError, validate_response
from requests import exceptions as rex
from urllib3.exceptions import MaxRetryError

from objstore_adapter._diagnose import configuration_error
from objstore_adapter._errors import (
    EXCEPTION_TABLE,
    STATUS_MESSAGES,
    BackendConfigError,
    BodySourceError,
    StoreAnswer,
    StoreStatusError,
    describe,
    error_headers,
    outcome_for,
    refused_connection,
    status_error,
    status_for,
    store_answer,
)


@pytest.mark.parametrize(
    ("store", "caller"),
    [
        (300, 502),
        (304, 502),
        (399, 502),
        (400, 400),
        (401, 403),
        (403, 403),
        (404, 404),
        (405, 400),
        (409, 412),
        (412, 412),
        (416, 416),
        (429, 503),
        (499, 400),
        (500, 502),
        (503, 503),
        (599, 502),
    ],
)
def test_status_for(store: int, caller: int) -> None:
    assert status_for(store) == caller


def test_every_status_the_adapter_answers_has_a_message() -> None:
    answered = {status_for(s) for s in range(300, 600)} | {401, 405, 414}
    assert answered <= set(STATUS_MESSAGES)


def _client_error(status: Any, headers: dict[str, str] | None = None) -> ClientError:
    response: Any = {
        "Error": {"Code": "Code", "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
    }
    return ClientError(response, "GetObject")


def _chained(outer: BaseException, inner: BaseException, *, cause: bool) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            if cause:
                raise outer from exc
            raise outer  # noqa: B904 - the implicit __context__ is what is tested
    except BaseException as exc:
        return exc


def test_a_botocore_answer() -> None:
    error = _client_error(503, {"Retry-After": "7", "X-Amz-Id": "i"})

    assert store_answer(error) == StoreAnswer(503, {"retry-after": "7", "x-amz-id": "i"})


def test_an_s3fs_error_raised_from_the_botocore_answer() -> None:
    error = _chained(PermissionError("denied"), _client_error(403), cause=True)

    assert store_answer(error) == StoreAnswer(403, {})
    assert outcome_for(error) == 403


def test_an_answer_found_through_the_implicit_context() -> None:
    error = _chained(OSError("wrapped"), _client_error(409), cause=False)

    assert store_answer(error) == StoreAnswer(409, {})


def test_a_suppressed_context_is_not_searched() -> None:
    error = _chained(OSError("wrapped"), _client_error(409), cause=False)
    error.__suppress_context__ = True

    assert store_answer(error) is None


def test_the_first_answer_in_the_chain_wins() -> None:
    error = _chained(StoreStatusError(404), _client_error(500), cause=True)

    assert store_answer(error) == StoreAnswer(404, {})


def test_a_cyclic_chain_ends() -> None:
    first, second = OSError("a"), OSError("b")
    first.__context__, second.__context__ = second, first

    assert store_answer(first) is None


def test_an_azure_answer() -> None:
    error = HttpResponseError(message="throttled")
    error.status_code = 503

    assert store_answer(error) == StoreAnswer(503, {})
    assert store_answer(ResourceNotFoundError(message="gone")) is None  # no status: the class


def test_an_aiohttp_answer() -> None:
    error = aiohttp.ClientResponseError(
        None,  # type: ignore[arg-type]
        (),
        status=429,
        headers={"Retry-After": "3"},  # type: ignore[arg-type]
    )

    assert store_answer(error) == StoreAnswer(429, {"retry-after": "3"})


@pytest.mark.parametrize(("code", "expected"), [(412, 412), ("403", 403), ("x", None)])
def test_a_gcsfs_answer(code: Any, expected: int | None) -> None:
    error = HttpError({"code": code, "message": "m"})

    answer = store_answer(error)

    assert (answer.status if answer else None) == expected


def test_a_gcsfs_403_that_carries_no_status() -> None:
    # gcsfs turns a 403 into a bare OSError; its validate_response was judging the status.
    with pytest.raises(OSError, match="Forbidden") as caught:
        validate_response(403, b'{"error": {"message": "denied"}}', "bucket/key")

    assert store_answer(caught.value) == StoreAnswer(403, {})
    assert outcome_for(caught.value) == 403


def test_an_oserror_raised_elsewhere_has_no_status() -> None:
    def validate_response() -> None:  # the same name, another module
        status = 403
        raise OSError(f"Forbidden {status}")

    with pytest.raises(OSError, match="Forbidden") as caught:
        validate_response()
    assert store_answer(caught.value) is None
    assert store_answer(OSError("never raised")) is None


@pytest.mark.parametrize("status", [True, 299, 600, "503", None, 200])
def test_what_is_not_an_error_status(status: Any) -> None:
    assert store_answer(_client_error(status)) is None


@pytest.mark.parametrize("status", [300, 599])
def test_the_edges_of_error_statuses(status: int) -> None:
    assert store_answer(_client_error(status)) == StoreAnswer(status, {})


class _ThirdPartyError(Exception):
    """A backend error that carries a status and nothing else."""

    def __init__(self, status: int) -> None:
        super().__init__(f"answered {status}")
        self.status = status


def test_an_answer_without_headers() -> None:
    assert store_answer(_ThirdPartyError(412)) == StoreAnswer(412, {})
    assert outcome_for(_ThirdPartyError(404)) == 404


def test_headers_that_are_no_mapping_are_dropped() -> None:
    error = StoreStatusError(503)
    error.headers = [("Retry-After", "1")]  # type: ignore[assignment]

    assert store_answer(error) == StoreAnswer(503, {})


def test_store_status_errors() -> None:
    headers = {"Retry-After": "5"}
    error = StoreStatusError(503, headers)
    headers["Retry-After"] = "changed"

    assert str(error) == "the store answered 503"
    assert error.status == 503
    assert error.headers == {"Retry-After": "5"}
    assert StoreStatusError(404).headers == {}


@pytest.mark.parametrize(
    ("status", "kind", "text"),
    [
        (404, FileNotFoundError, "b/k"),
        (401, PermissionError, "b/k"),
        (403, PermissionError, "b/k"),
        (412, OSError, "the store answered 412 for b/k"),
        (500, OSError, "the store answered 500 for b/k"),
    ],
)
def test_status_error(status: int, kind: type[OSError], text: str) -> None:
    error = status_error(status, "b/k", {"Retry-After": "1"})

    assert type(error) is kind
    assert str(error) == text
    assert isinstance(error.__cause__, StoreStatusError)
    assert error.__cause__.status == status
    assert error.__cause__.headers == {"Retry-After": "1"}
    assert outcome_for(error) == status_for(status)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", {"Retry-After": "120"}),
        (" 7 ", {"Retry-After": "7"}),
        ("0", {"Retry-After": "0"}),
        ("Wed, 21 Oct 2026 07:28:00 GMT", {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}),
        ("12345678901", {}),
        ("-1", {}),
        ("soon", {}),
        ("", {}),
    ],
)
def test_retry_after_is_passed_on_when_valid(value: str, expected: dict[str, str]) -> None:
    assert error_headers(StoreStatusError(503, {"Retry-After": value}), 503) == expected


def test_retry_after_only_on_a_503_answered_by_the_store() -> None:
    assert error_headers(StoreStatusError(429, {"Retry-After": "1"}), 503) == {"Retry-After": "1"}
    assert error_headers(StoreStatusError(500, {"Retry-After": "1"}), 502) == {}
    assert error_headers(TimeoutError(), 503) == {}
    assert error_headers(StoreStatusError(503), 503) == {}


class _NotFoundHere(FileNotFoundError):
    pass


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (FileNotFoundError("k"), 404),
        (_NotFoundHere("k"), 404),  # a subclass: the first class of its MRO in the table
        (IsADirectoryError(), 404),
        (NotADirectoryError(), 404),
        (PermissionError(), 403),
        (FileExistsError(), 412),
        (ValueError(), None),  # a backend's own mistake as often as a refusal: see below
        (OSError(), 502),
        (TimeoutError(), rex.ReadTimeout),
        (ConnectionRefusedError(), rex.ConnectionError),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), rex.ConnectionError),
        (aiohttp.ClientPayloadError("cut"), rex.ChunkedEncodingError),
        (aiohttp.ServerTimeoutError(), rex.ReadTimeout),
        (aiohttp.ConnectionTimeoutError(), rex.ConnectTimeout),  # a ServerTimeoutError too
        (RuntimeError(), None),
        (KeyError(), None),
    ],
)
def test_outcome_for(exc: BaseException, outcome: object) -> None:
    assert outcome_for(exc) == outcome


def test_a_value_error_maps_as_what_it_was_raised_from() -> None:
    invalid_bucket = ParamValidationError(report="Invalid bucket name")
    # s3fs re-raises botocore's refusal of a bad parameter while handling it.
    s3fs_style = _chained(ValueError("Failed to list path"), invalid_bucket, cause=False)
    with pytest.raises(ValueError, match="Bad Request") as gcsfs_style:
        validate_response(400, b'{"error": {"message": "invalid object name"}}', "b/k")
    adlfs_style = _chained(ValueError("container"), _client_error(409), cause=True)
    unreachable = _chained(ValueError("wrapped"), ConnectionRefusedError(), cause=True)

    assert outcome_for(s3fs_style) == 400
    assert outcome_for(gcsfs_style.value) == 400
    assert outcome_for(adlfs_style) == 412
    assert outcome_for(unreachable) is rex.ConnectionError
    assert outcome_for(ValueError("I/O operation on closed file.")) is None
    assert outcome_for(_chained(ValueError("x"), KeyError("k"), cause=True)) is None


def test_a_name_or_path_too_long_for_a_local_filesystem_is_a_414(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="too long") as too_long:
        (tmp_path / ("n" * 5000)).stat()
    assert too_long.value.errno == errno.ENAMETOOLONG

    assert outcome_for(too_long.value) == 414
    assert outcome_for(_chained(RuntimeError("wrapped"), too_long.value, cause=True)) == 414
    assert outcome_for(OSError(errno.EIO, "I/O error")) == 502  # only that errno
    assert outcome_for(_client_error(400)) == 400  # S3's KeyTooLongError is the store's 400


def _configured(options: dict[str, Any], exc: BaseException) -> BackendConfigError:
    return configuration_error("s3://bucket/team/", "s3", options, exc)


def _botocore_client(**options: Any) -> Any:
    session = botocore.session.Session()
    return session.create_client(
        "s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s", **options
    )


@pytest.mark.parametrize("endpoint", ["http//x", "not a url", "http://", "http://[::1"])
def test_what_fails_while_botocore_builds_its_client_is_a_setting(endpoint: str) -> None:
    with pytest.raises(ValueError, match=r"URL|endpoint") as built:
        _botocore_client(endpoint_url=endpoint)

    assert outcome_for(built.value) is BackendConfigError
    assert outcome_for(_chained(RuntimeError("s3fs"), built.value, cause=True)) is (
        BackendConfigError
    )
    error = _configured({"endpoint_url": endpoint, "key": "k"}, built.value)
    if len(endpoint) >= 6:  # shorter values are no clue (see _MIN_VALUE)
        assert str(error).endswith("; check the option 'endpoint_url'")


def test_an_endpoint_botocore_cannot_resolve_is_a_setting() -> None:
    client = _botocore_client(endpoint_url="ftp://127.0.0.1:1")
    with pytest.raises(EndpointResolutionError) as resolving:
        client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})

    assert outcome_for(resolving.value) is BackendConfigError
    error = _configured({"endpoint_url": "ftp://127.0.0.1:1"}, resolving.value)
    assert str(error).endswith("; check the option 'endpoint_url'")


def test_a_value_error_raised_elsewhere_in_botocore_is_not_a_setting() -> None:
    with pytest.raises(ValueError, match="not a time") as parsing:
        botocore.utils.parse_timestamp("not a time")

    assert outcome_for(parsing.value) is None


def test_a_refusal_is_found_in_the_chain_and_in_sdk_wrappers_and_nothing_else_is() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    answered = _chained(_client_error(503), refused, cause=False)  # the store answered since
    cycle_a, cycle_b = OSError("a"), OSError("b")
    cycle_a.__context__, cycle_b.__context__ = cycle_b, cycle_a

    assert refused_connection(refused)
    assert refused_connection(OSError(errno.ECONNREFUSED, "Connect call failed"))
    assert refused_connection(_chained(OSError("wrapped"), refused, cause=False))
    assert refused_connection(EndpointConnectionError(endpoint_url="http://h", error=refused))
    assert refused_connection(ServiceRequestError("no request was sent", error=refused))
    assert refused_connection(MaxRetryError(None, "/key", reason=refused))  # type: ignore[arg-type]
    assert refused_connection(_chained(TimeoutError(), refused, cause=False))
    assert not refused_connection(answered)
    assert not refused_connection(ConnectionResetError(errno.ECONNRESET, "reset"))
    assert not refused_connection(OSError(errno.ETIMEDOUT, "timed out"))
    assert not refused_connection(TimeoutError())
    assert not refused_connection(EndpointConnectionError(endpoint_url="http://h"))
    assert not refused_connection(cycle_a)


def test_the_table_names_exception_classes_by_dotted_path() -> None:
    for name in EXCEPTION_TABLE:
        module, _, qualname = name.rpartition(".")
        assert module
        assert qualname[0].isupper(), name


@pytest.mark.parametrize("name", list(EXCEPTION_TABLE))
def test_every_class_the_table_names_is_an_exception_class(name: str) -> None:
    module, _, attribute = name.rpartition(".")

    named = getattr(importlib.import_module(module), attribute)

    assert isinstance(named, type)
    assert issubclass(named, BaseException)
    # The table is searched by the dotted names in an exception's MRO: a class an SDK moved
    # (and still re-exports) would never match. An alias (asyncio's TimeoutError is the
    # builtin since 3.11) is found under its class's own name, with the same outcome.
    assert EXCEPTION_TABLE.get(f"{named.__module__}.{named.__qualname__}") == EXCEPTION_TABLE[name]


def test_describe_and_body_source_errors_name_only_the_class() -> None:
    original = OSError("token=abc")
    error = BodySourceError(original)

    assert describe(original) == "OSError"
    assert str(error) == "OSError"
    assert error.original is original


def _raised_from_module(module: str, exc: BaseException) -> BaseException:
    """``exc``, raised from a function defined in ``module`` (as its frames name it)."""
    namespace: dict[str, Any] = {"__name__": module}
    exec("def fail(exc):\n    raise exc\n", namespace)  # a frame of that module
    try:
        namespace["fail"](exc)
    except BaseException as raised:
        return raised
    raise AssertionError("not raised")


def test_a_bare_oserror_from_an_ssh_channel_is_the_connection_failing() -> None:
    closed = _raised_from_module("paramiko.channel", OSError("Socket is closed"))
    answered = _raised_from_module("fsspec.implementations.sftp", OSError("Socket is closed"))

    assert outcome_for(closed) is rex.ConnectionError
    assert outcome_for(answered) == 502  # an OSError from elsewhere: the store's failure


def test_a_socket_file_read_after_it_timed_out_is_a_read_timeout() -> None:
    # ftplib reads its control connection through a socket file; once one read timed out
    # (fsspec's FTP exists() swallows that), every later read raises a bare OSError.
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    client.settimeout(0.05)
    replies = client.makefile("rb")
    try:
        with pytest.raises(TimeoutError):
            replies.readline()
        with pytest.raises(OSError, match="timed out") as later:
            replies.readline()
    finally:
        replies.close()
        for sock in (client, accepted, server):
            sock.close()

    assert type(later.value) is OSError
    assert outcome_for(later.value) is rex.ReadTimeout
    assert outcome_for(_raised_from_module("socket", OSError("Bad file descriptor"))) is (
        rex.ConnectionError
    )


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (ftplib.error_perm("530 Login incorrect."), 403),
        (ftplib.error_perm("550 No such file or directory."), 404),
        (ftplib.error_perm("553 File name not allowed."), 400),
        (ftplib.error_temp("421 Too many connections."), 503),
        (ftplib.error_temp("450 File busy."), 503),
        (ftplib.error_temp("451 Local error."), 503),
        (ftplib.error_perm("501 Syntax error."), 502),
    ],
)
def test_an_ftp_servers_error_reply_is_the_status_it_means(
    reply: ftplib.Error, status: int
) -> None:
    assert outcome_for(reply) == status


def test_an_ftp_error_without_a_reply_code_is_no_answer() -> None:
    assert outcome_for(ftplib.error_proto("unexpected text")) is None
    assert outcome_for(EOFError()) is rex.ConnectionError


def test_an_httpx_status_error_is_the_status_the_server_answered() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/dav/a")
    response = httpx.Response(404, request=request, headers={"Retry-After": "3"})
    error = httpx.HTTPStatusError("not found", request=request, response=response)

    assert outcome_for(error) == 404
    assert outcome_for(httpx.ConnectError("refused")) is rex.ConnectionError
    assert outcome_for(httpx.ReadTimeout("slow")) is rex.ReadTimeout
