"""One function per HTTP method: a resolved target in, a :class:`Reply` out."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from ._backends import backend_for
from ._body import body_stream
from ._errors import STATUS_MESSAGES
from ._http import Timeouts, object_headers, reason
from ._registry import Target


@dataclass
class Reply:
    """Status, headers and body of a response before it becomes a ``requests.Response``."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: io.BufferedIOBase | bytes = b""


Handler = Callable[[Target, requests.PreparedRequest, Timeouts], Reply]


def get_object(target: Target, request: requests.PreparedRequest, timeouts: Timeouts) -> Reply:
    """GET: the whole object, streamed."""
    if target.is_prefix:
        raise IsADirectoryError(target.path)
    info, source = backend_for(target.fs).open(target.fs, target.path, timeouts)
    body = body_stream(source, info.size, target.url)
    return Reply(200, object_headers(info, target.path), body)


def head_object(target: Target, request: requests.PreparedRequest, timeouts: Timeouts) -> Reply:
    """HEAD: GET's status and headers from one metadata request; the object is never opened."""
    if target.is_prefix:
        raise IsADirectoryError(target.path)
    info = backend_for(target.fs).stat(target.fs, target.path, timeouts)
    if info.is_dir:
        raise IsADirectoryError(target.path)
    return Reply(200, object_headers(info, target.path))


HANDLERS: dict[str, Handler] = {"GET": get_object, "HEAD": head_object}


def error_reply(status: int, url: str, headers: dict[str, str] | None = None) -> Reply:
    """A small JSON error body: what went wrong and for which URL, never a credential."""
    message = STATUS_MESSAGES.get(status) or reason(status)
    body = json.dumps({"error": message, "status": status, "url": url}).encode()
    all_headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        **(headers or {}),
    }
    return Reply(status, all_headers, body)
