"""Pure HTTP rules: header formatting, content types, timeouts. No I/O here."""

from __future__ import annotations

import datetime as dt
import email.utils
import mimetypes
from dataclasses import dataclass
from http import HTTPStatus

from urllib3.util import Timeout as Urllib3Timeout

from ._info import ObjectInfo

DEFAULT_CONTENT_TYPE = "application/octet-stream"


def http_date(stamp: dt.datetime) -> str:
    """Format an aware datetime as an RFC 9110 HTTP-date (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    return email.utils.format_datetime(stamp.astimezone(dt.timezone.utc), usegmt=True)


def content_type_for(path: str, stored: str | None) -> str:
    """The stored type, else one guessed from the key's extension, else octet-stream."""
    if stored:
        return stored
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or DEFAULT_CONTENT_TYPE


def object_headers(info: ObjectInfo, path: str) -> dict[str, str]:
    """Representation headers of a whole object, as GET and HEAD send them."""
    headers = {
        "Content-Length": str(info.size),
        "Content-Type": content_type_for(path, info.content_type),
        "Accept-Ranges": "bytes",
    }
    if info.last_modified is not None:
        headers["Last-Modified"] = http_date(info.last_modified)
    if info.etag is not None:
        headers["ETag"] = info.etag
    return headers


def reason(status: int) -> str:
    """The standard reason phrase for ``status``."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


@dataclass(frozen=True)
class Timeouts:
    """The ``timeout=`` a caller gave requests, split the way the adapter uses it.

    ``request`` bounds everything up to the response headers (connecting included);
    ``read`` bounds each wait for more body bytes. ``None`` waits forever, as requests does.
    """

    request: float | None = None
    read: float | None = None

    @classmethod
    def from_requests(
        cls, timeout: float | tuple[float | None, float | None] | Urllib3Timeout | None
    ) -> Timeouts:
        """Accept every form ``requests`` accepts: a number, a (connect, read) pair or None."""
        if timeout is None:
            return cls()
        if isinstance(timeout, Urllib3Timeout):
            connect, read = timeout.connect_timeout, timeout.read_timeout
            connect = connect if isinstance(connect, (int, float)) else None
            read = read if isinstance(read, (int, float)) else None
        elif isinstance(timeout, tuple):
            if len(timeout) != 2:
                raise ValueError(
                    f"Invalid timeout {timeout!r}. Pass a (connect, read) timeout tuple, "
                    "or a single float to set both timeouts to the same value."
                )
            connect, read = timeout
        else:
            connect = read = float(timeout)
        request = None if connect is None or read is None else connect + read
        return cls(request=request, read=read)
