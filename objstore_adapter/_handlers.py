"""One function per HTTP method: a resolved target in, a :class:`Reply` out.

Each handler applies the HTTP rules (preconditions, ranges) to what the backend reports, so
every backend answers alike.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import requests

from ._backends import Backend
from ._body import ChunkSource, LoadedBody, body_stream, request_chunks
from ._errors import STATUS_MESSAGES, status_error
from ._http import (
    CONDITIONAL_HEADERS,
    CREATE_ONLY,
    UNSATISFIABLE,
    BadHeader,
    ByteRange,
    Timeouts,
    WriteCondition,
    http_date,
    object_headers,
    parse_range,
    parse_simple_range,
    precondition_status,
    range_applies,
    reason,
    representation,
    store_conditions,
    write_condition,
)
from ._info import ObjectInfo
from ._listing import listing_body
from ._redact import redact_url
from ._registry import Target
from ._transfer.parallel import ParallelSource
from ._transfer.resume import ResumingSource
from ._transfer.upload import file_body


@dataclass
class Reply:
    """Status, headers and body of a response before it becomes a ``requests.Response``."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: io.BufferedIOBase | bytes | Iterator[bytes] = b""


Handler = Callable[[Target, requests.PreparedRequest, Timeouts], Reply]


def _stat_or_none(backend: Backend, target: Target, timeouts: Timeouts) -> ObjectInfo | None:
    info = backend.stat_or_none(target.fs, target.path, timeouts)
    if info is None:
        return None
    if info.is_dir:
        raise IsADirectoryError(target.path)
    return info


def _validators(info: ObjectInfo) -> dict[str, str]:
    headers = {}
    if info.etag is not None:
        headers["ETag"] = info.etag
    if info.last_modified is not None:
        headers["Last-Modified"] = http_date(info.last_modified)
    return headers


def _stopped(status: int, info: ObjectInfo, url: str) -> Reply:
    """The answer when a precondition stops a request: 304 or 412."""
    if status == 304:
        return Reply(304, _validators(info))
    return error_reply(412, url, _validators(info))


def get_object(target: Target, request: requests.PreparedRequest, timeouts: Timeouts) -> Reply:
    """GET: the object (or the range asked for), streamed; a prefix ending in ``/`` lists.

    A plain GET costs the backend one request where it can; preconditions and ranges first
    read the object's metadata, since they must be judged before any byte is sent.
    """
    if target.is_prefix:
        return list_prefix(target, request, timeouts)
    backend = target.backend
    attempts = target.attempts(timeouts)
    headers = request.headers
    conditional = "If-Range" in headers or any(name in headers for name in CONDITIONAL_HEADERS)
    simple = parse_simple_range(headers.get("Range"))
    conditions = store_conditions(headers)
    if (
        conditions is not None
        and (conditions or simple is not None)
        and (simple is not None or "Range" not in headers)
    ):  # let the store resolve the range and preconditions: one request, not two
        answer = attempts.call(
            lambda: backend.open_direct(target.fs, target.path, timeouts, simple, conditions)
        )
        if answer is not None:
            if answer.body is None:
                return _stopped(answer.status, answer.info, target.url)
            return _ranged_reply(target, answer.info, answer.body, answer.served, timeouts)
    if "Range" not in headers and not conditional:
        info, source = attempts.call(lambda: backend.open(target.fs, target.path, timeouts, None))
        return _ranged_reply(target, info, source, None, timeouts)
    # The validators are judged, then the object opened: two steps. The answer describes the
    # version opened, so the judgement must hold for it: else judge that version again.
    judged = attempts.call(lambda: backend.stat(target.fs, target.path, timeouts))
    for _ in range(JUDGED_OPENS):
        outcome = _judge(headers, judged, target.url)
        if isinstance(outcome, Reply):
            return outcome
        byte_range = outcome
        info, source = attempts.call(
            functools.partial(backend.open, target.fs, target.path, timeouts, byte_range)
        )
        if (info.etag, info.size) == (judged.etag, judged.size) or _judge(
            headers, info, target.url
        ) == byte_range:
            return _ranged_reply(target, info, source, byte_range, timeouts)
        source.close()  # replaced between the two steps, and judged otherwise now
        judged = info
    raise status_error(503, target.path)  # replaced faster than it can be read


def _judge(headers: Mapping[str, str], info: ObjectInfo, url: str) -> Reply | ByteRange | None:
    """A GET's preconditions and range judged on ``info``: the answer that stops it (304,
    412, 416), or the range to serve (``None``: all of it)."""
    if info.is_dir:
        raise IsADirectoryError(url)
    status = precondition_status(headers, info, "GET")
    if status is not None:
        return _stopped(status, info, url)
    wanted = parse_range(headers.get("Range"), info.size) if range_applies(headers, info) else None
    if wanted == UNSATISFIABLE:
        return error_reply(416, url, {"Content-Range": f"bytes */{info.size}"})
    return wanted if isinstance(wanted, ByteRange) else None


#: How often a GET judges its preconditions and range again when the object was replaced
#: between reading its validators and opening it.
JUDGED_OPENS = 10


def _ranged_reply(
    target: Target,
    info: ObjectInfo,
    source: ChunkSource,
    served: ByteRange | None,
    timeouts: Timeouts,
) -> Reply:
    """200 with the whole object, or 206 with the ``served`` range of it (which may be all of
    it: ``bytes=0-`` is 206 with ``Content-Range``, as every object store answers)."""
    headers = object_headers(info, target.path)
    start, stop = (served.start, served.end + 1) if served else (0, info.size)
    body: io.BufferedIOBase | bytes
    if isinstance(source, LoadedBody) and len(source.data) == stop - start:
        body = source.data
    else:
        body = body_stream(
            _transfer_policy(target, info, source, start, stop, timeouts),
            stop - start,
            redact_url(target.url),  # quoted by errors while the body is read
        )
    if served is None:
        return Reply(200, headers, body)
    headers["Content-Length"] = str(served.length)
    headers["Content-Range"] = served.content_range(info.size)
    return Reply(206, headers, body)


def _transfer_policy(
    target: Target,
    info: ObjectInfo,
    source: ChunkSource,
    start: int,
    stop: int,
    timeouts: Timeouts,
) -> ChunkSource:
    """``source`` as the route's transfer settings want it read: resumed on the same version
    where it is cut, and the rest of a large body fetched in parallel parts where the one
    stream is slow. Both need a backend that can fetch bytes of one pinned version."""
    config = target.route.transfer
    backend = target.backend
    if not backend.can_resume(target.fs, info):
        return source

    def open_part(first: int, end: int) -> ChunkSource:
        return backend.open_part(target.fs, target.path, timeouts, first, end, info)

    if config.max_attempts > 1:
        source = ResumingSource(source, open_part, start, stop, config, timeouts.request)
    if stop - start > config.one_stream_up_to:
        source = ParallelSource(source, open_part, start, stop, config, timeouts.request)
    return source


def head_object(target: Target, request: requests.PreparedRequest, timeouts: Timeouts) -> Reply:
    """HEAD: GET's status and headers from one metadata request; the object is never opened."""
    if target.is_prefix:
        return list_prefix(target, request, timeouts)
    backend = target.backend
    attempts = target.attempts(timeouts)
    info = attempts.call(lambda: backend.stat(target.fs, target.path, timeouts))
    if info.is_dir:
        raise IsADirectoryError(target.path)
    status = precondition_status(request.headers, info, "HEAD")
    if status is not None:
        return _stopped(status, info, target.url)
    return Reply(200, object_headers(info, target.path))


def put_object(target: Target, request: requests.PreparedRequest, timeouts: Timeouts) -> Reply:
    """PUT: store the body, streamed to the backend, in one store request where it fits in
    one part.

    200 with the stored version's ``ETag`` (the store's answer to a write does not say
    whether it replaced an object); with ``If-None-Match: *``, 201 once created or 412; with
    ``If-Match``, 204 once replaced or 412. The store judges those conditions with the write,
    atomically, where it can (S3, GCS, Azure); other preconditions are judged on the
    validators first, and the write is then pinned to the version judged.

    The type and the representation headers (``Content-Encoding``, ``Cache-Control``, ...,
    ``X-Object-Meta-*``) are stored with it where the backend can keep them. A body that
    fails part way leaves no object behind, and the failure reaches the caller.
    """
    if target.is_prefix:
        return error_reply(400, target.url, detail="a URL ending in / names no object")
    backend = target.backend
    attempts = target.attempts(timeouts)
    try:
        stored = representation(request.headers, target.path)
    except BadHeader as exc:
        return error_reply(400, target.url, detail=str(exc))
    condition = write_condition(request.headers)
    if condition is None and any(name in request.headers for name in CONDITIONAL_HEADERS):
        existing = attempts.call(lambda: _stat_or_none(backend, target, timeouts))
        if precondition_status(request.headers, existing, "PUT") is not None:
            return error_reply(412, target.url, _validators(existing) if existing else {})
        condition = _pinned(existing)
    chunks = file_body(request.body) or request_chunks(request.body)
    try:
        written = backend.write(
            target.fs, target.path, chunks, stored, timeouts, attempts, condition
        )
    except FileNotFoundError:
        if condition is None or condition.etag is None:
            raise
        # If-Match and nothing stored there (deleted meanwhile): no version to replace.
        return error_reply(412, target.url)
    if written is None or written.etag is None:  # the store's answer named no version
        written = attempts.call(lambda: backend.stat(target.fs, target.path, timeouts))
    status = 200 if condition is None else 201 if condition.create else 204
    return Reply(status, {**_validators(written), "Content-Length": "0"})


def _pinned(existing: ObjectInfo | None) -> WriteCondition | None:
    """The condition that keeps a write to the version its preconditions were judged on."""
    if existing is None:
        return CREATE_ONLY
    return WriteCondition(etag=existing.etag) if existing.etag is not None else None


def delete_object(target: Target, request: requests.PreparedRequest, timeouts: Timeouts) -> Reply:
    """DELETE: one store request; 204 once nothing is stored under the URL, whether or not
    something was (S3's DeleteObject does not say, so no backend says).

    With ``If-Match``, the store removes only that version (412 otherwise), judged with the
    removal where it can; other preconditions are judged on the validators first.
    """
    if target.is_prefix:
        return error_reply(400, target.url, detail="a URL ending in / names no object")
    backend = target.backend
    attempts = target.attempts(timeouts)
    condition = write_condition(request.headers)
    if condition is not None and condition.create:
        condition = None  # If-None-Match: * on DELETE: judged below, like any other
    if condition is None and any(name in request.headers for name in CONDITIONAL_HEADERS):
        existing = attempts.call(lambda: _stat_or_none(backend, target, timeouts))
        if precondition_status(request.headers, existing, "DELETE") is not None:
            return error_reply(412, target.url, _validators(existing) if existing else {})
        if existing is None:
            return Reply(204, {"Content-Length": "0"})
        condition = _pinned(existing)
    etag = condition.etag if condition is not None else None

    def remove() -> bool:
        """Whether the object is gone; ``False``: ``If-Match`` found no object to remove."""
        try:
            backend.delete(target.fs, target.path, timeouts, etag)
        except FileNotFoundError:
            return etag is None
        return True

    def settled() -> bool | None:
        # The answer was lost: removed if nothing is there now.
        return True if _stat_or_none(backend, target, timeouts) is None else None

    if not attempts.call(remove, settled):
        return error_reply(412, target.url)
    return Reply(204, {"Content-Length": "0"})


def list_prefix(target: Target, request: requests.PreparedRequest, timeouts: Timeouts) -> Reply:
    """GET on ``.../prefix/``: a JSON listing of what lies directly under the prefix."""
    backend = target.backend
    attempts = target.attempts(timeouts)
    entries = attempts.call(lambda: backend.list(target.fs, target.path, timeouts))
    if not entries:
        raise FileNotFoundError(target.path)
    body = listing_body(target.url, entries, target.percent_encoded)
    return Reply(200, {"Content-Type": "application/json"}, body)


HANDLERS: dict[str, Handler] = {
    "DELETE": delete_object,
    "GET": get_object,
    "HEAD": head_object,
    "PUT": put_object,
}


def error_reply(
    status: int, url: str, headers: dict[str, str] | None = None, detail: str | None = None
) -> Reply:
    """A small JSON error body: what went wrong and for which URL, never a credential (the
    URL's userinfo is redacted)."""
    message = STATUS_MESSAGES.get(status) or reason(status)
    document: dict[str, object] = {"error": message, "status": status, "url": redact_url(url)}
    if detail:
        document["detail"] = detail
    body = json.dumps(document).encode()
    all_headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        **(headers or {}),
    }
    return Reply(status, all_headers, body)
