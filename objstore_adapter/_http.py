"""Pure HTTP rules: header formatting, content types, timeouts. No I/O here."""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from requests.structures import CaseInsensitiveDict
from urllib3.util import Timeout as Urllib3Timeout

from ._info import META_PREFIX, STORED_HEADERS, ObjectInfo, Representation, parse_http_date

DEFAULT_CONTENT_TYPE = "application/octet-stream"


def http_date(stamp: dt.datetime) -> str:
    """Format an aware datetime as an RFC 9110 HTTP-date (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    # Cached in UTC only: two datetimes of a zone that differ only in ``fold`` are equal,
    # and hash alike, yet they are an hour apart.
    return _utc_http_date(stamp.astimezone(dt.timezone.utc))


@functools.lru_cache(maxsize=256)  # an object's Last-Modified is sent on each GET of it
def _utc_http_date(stamp: dt.datetime) -> str:
    return email.utils.format_datetime(stamp, usegmt=True)


def content_type_for(path: str, stored: str | None) -> str:
    """The stored type, else one guessed from the key's extension, else octet-stream."""
    if stored:
        return stored
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or DEFAULT_CONTENT_TYPE


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(\s*;[ -~]*)?")


def valid_media_type(value: str) -> bool:
    """True for a ``type/subtype[; params]`` value safe to store and send back as a header."""
    return _MEDIA_TYPE.fullmatch(value) is not None


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
    headers.update(info.headers)
    return headers


def representation(headers: Mapping[str, str], path: str) -> Representation:
    """What a PUT's headers ask the store to keep: the type (else one guessed from the key),
    :data:`STORED_HEADERS`, and ``X-Object-Meta-*`` as user metadata.

    Raises:
        BadHeader: the ``Content-Type`` is not a media type, or a metadata name is empty.
    """
    content_type = headers.get("Content-Type")
    if content_type is not None and not valid_media_type(content_type):
        raise BadHeader("Content-Type is not a media type")
    stored = {name: value for name in STORED_HEADERS if (value := headers.get(name))}
    metadata = {}
    for name, value in headers.items():
        if name.lower().startswith(META_PREFIX.lower()):
            key = name[len(META_PREFIX) :].lower()
            if not re.fullmatch(_TOKEN, key):
                raise BadHeader(f"{name} names no metadata key")
            metadata[key] = value
    return Representation(content_type_for(path, content_type), stored, metadata)


class BadHeader(ValueError):
    """A request header whose value cannot be sent on as HTTP text."""


_FORBIDDEN_IN_VALUES = re.compile(r"[\r\n\x00]")


def text_headers(headers: Mapping[Any, str | bytes]) -> CaseInsensitiveDict[str]:
    """The request's headers with every name and value as text.

    requests accepts ``str`` and ``bytes`` alike (HTTPie sends bytes); HTTP header text is
    Latin-1. Bytes are decoded as such; a ``str`` that Latin-1 cannot encode, or any value with
    a line break or NUL, raises :class:`BadHeader` naming the header.
    """
    text: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for name, value in headers.items():
        name_text = name.decode("latin-1") if isinstance(name, bytes) else name
        if isinstance(value, bytes):
            value_text = value.decode("latin-1")
        else:
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                raise BadHeader(f"the {name_text} header is not Latin-1 text") from None
            value_text = value
        if _FORBIDDEN_IN_VALUES.search(value_text):
            raise BadHeader(f"the {name_text} header holds a line break or NUL")
        text[name_text] = value_text
    return text


def reason(status: int) -> str:
    """The standard reason phrase for ``status``."""
    return _REASONS.get(status, "")


_REASONS = {status.value: status.phrase for status in HTTPStatus}


@dataclass(frozen=True)
class Timeouts:
    """The ``timeout=`` a caller gave requests, split the way the adapter uses it.

    ``request`` bounds everything up to the response headers (connecting included);
    ``read`` bounds each wait for more body bytes, ``connect`` a connection where the adapter
    connects itself. ``None`` waits forever, as requests does. ``whole`` travels with them:
    the largest body a transport may read whole before answering, because the caller reads
    it at once (``stream=False``) and no body that size is fetched in parallel parts; ``0``
    when it is streamed. It is not a timeout: two ``Timeouts`` compare without it.
    """

    request: float | None = None
    read: float | None = None
    connect: float | None = None
    whole: int = field(default=0, compare=False)

    @classmethod
    def from_requests(
        cls, timeout: float | tuple[float | None, float | None] | Urllib3Timeout | None
    ) -> Timeouts:
        """Accept every form ``requests`` accepts: a number, a (connect, read) pair or None."""
        if timeout is None:
            return cls()
        if isinstance(timeout, Urllib3Timeout):
            # A total bounds the whole request; urllib3 splits it only once a timer started.
            timer = timeout.clone()
            timer.start_connect()
            connect, read = timer.connect_timeout, timer.read_timeout  # read: None or seconds
            connect = connect if isinstance(connect, (int, float)) else None  # or a sentinel
            if isinstance(timeout.total, (int, float)):
                return cls(request=timeout.total, read=read, connect=connect)
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
        return cls(request=request, read=read, connect=connect)

    @property
    def read_at_once(self) -> bool:
        """True when the caller reads the body at once (``stream=False``): ``whole`` is set."""
        return self.whole > 0

    def each_wait(self, default: float | None) -> float | None:
        """The bound of each wait of a client that takes one number for every wait on its
        sockets (ftplib, paramiko): the read timeout; where the caller gave no ``timeout=``,
        ``default``, the route's own."""
        return default if self == Timeouts() else self.read


@dataclass(frozen=True)
class ByteRange:
    """An absolute, satisfiable byte range: ``start`` to ``end`` inclusive."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


#: ``parse_range``'s answer for a valid range that selects nothing: 416.
UNSATISFIABLE = "unsatisfiable"


#: RFC 9110's DIGIT is ASCII only: ``str.isdigit`` (and ``int``) also take "²" and "٣".
_DIGITS = re.compile(r"[0-9]+")
#: The largest byte position any store takes (a signed 64-bit offset).
_MAX_POSITION = 2**63 - 1
_OWS = " \t"


def _position(text: str) -> int | None:
    """A ``first-pos``/``last-pos``/``suffix-length`` as an int; ``None`` when it is not
    ASCII digits or names a position no store can hold (such a range is ignored, as one
    the server does not understand, rather than parsed into a 4,300-digit int)."""
    if not _DIGITS.fullmatch(text):
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > len(str(_MAX_POSITION)):
        return None
    value = int(significant)
    return value if value <= _MAX_POSITION else None


def _single_range(header: str | None) -> tuple[int | None, int | None] | None:
    """``bytes=first-last`` as its two positions (``None`` where one is left out); ``None``
    for no header, another unit, a list, or anything malformed."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip(_OWS).lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip(_OWS).partition("-")
    first, last = first.strip(_OWS), last.strip(_OWS)
    if not dash or (first == "" and last == ""):
        return None
    start = None if first == "" else _position(first)
    end = None if last == "" else _position(last)
    if (first and start is None) or (last and end is None):
        return None
    if start is not None and end is not None and end < start:
        return None
    return start, end


def parse_range(header: str | None, size: int) -> ByteRange | str | None:
    """Resolve a ``Range`` header against an object of ``size`` bytes (RFC 9110 §14.1.2).

    Returns a :class:`ByteRange` (serve 206), :data:`UNSATISFIABLE` (serve 416) or ``None``:
    no header, a malformed one (digits other than ASCII ones, positions beyond any store's),
    another unit or several ranges, all of which RFC 9110 lets a server ignore by serving the
    whole object with 200. Suffix (``bytes=-n``) and open (``bytes=a-``) ranges become
    absolute here, so backends never see them.
    """
    positions = _single_range(header)
    if positions is None:
        return None
    start, end = positions
    if start is None:
        suffix = end or 0
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return ByteRange(max(size - suffix, 0), size - 1)
    if start >= size:
        return UNSATISFIABLE
    return ByteRange(start, size - 1 if end is None else min(end, size - 1))


def parse_simple_range(header: str | None) -> tuple[int, int | None] | None:
    """``bytes=a-b`` or ``bytes=a-`` as ``(a, b or None)``: a range a store can resolve
    without the size. Anything else (suffixes, lists, malformed) is ``None``."""
    positions = _single_range(header)
    if positions is None or positions[0] is None:
        return None
    return positions[0], positions[1]


def _etags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _weak_match(tag: str, etag: str) -> bool:
    return tag.removeprefix("W/") == etag.removeprefix("W/")


def _strong_match(tag: str, etag: str) -> bool:
    return not tag.startswith("W/") and not etag.startswith("W/") and tag == etag


def _seconds(stamp: dt.datetime) -> dt.datetime:
    return stamp.replace(microsecond=0)  # HTTP-dates carry whole seconds


def precondition_status(
    headers: Mapping[str, str], info: ObjectInfo | None, method: str
) -> int | None:
    """Evaluate If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since.

    In RFC 9110 §13.2.2's order, against the object's validators (``info`` is ``None`` when
    the object does not exist). Returns 412 or 304 when a condition stops the request, else
    ``None``.
    """
    etag = info.etag if info else None
    modified = _seconds(info.last_modified) if info and info.last_modified else None
    if_match = headers.get("If-Match")
    if if_match is not None:
        tags = _etags(if_match)
        if info is None or not (
            "*" in tags or (etag is not None and any(_strong_match(t, etag) for t in tags))
        ):
            return 412
    else:
        since = parse_http_date(headers.get("If-Unmodified-Since"))
        if since is not None and info is not None and modified is not None and modified > since:
            return 412
    safe = method in ("GET", "HEAD")
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        tags = _etags(if_none_match)
        if info is not None and (
            "*" in tags or (etag is not None and any(_weak_match(t, etag) for t in tags))
        ):
            return 304 if safe else 412
    elif safe and info is not None and modified is not None:
        since = parse_http_date(headers.get("If-Modified-Since"))
        if since is not None and modified <= since:
            return 304
    return None


def range_applies(headers: Mapping[str, str], info: ObjectInfo) -> bool:
    """``If-Range``: serve the range only if the validator still matches (RFC 9110 §13.1.5)."""
    if_range = headers.get("If-Range")
    if if_range is None:
        return True
    if if_range.startswith('"') or if_range.startswith('W/"'):
        return info.etag is not None and _strong_match(if_range, info.etag)
    since = parse_http_date(if_range)
    return (
        since is not None
        and info.last_modified is not None
        and _seconds(info.last_modified) == since
    )


def store_conditions(headers: Mapping[str, str]) -> dict[str, str] | None:
    """A GET's preconditions as a store that evaluates them itself (S3) should get them.

    RFC 9110 ignores ``If-Unmodified-Since`` beside ``If-Match`` and ``If-Modified-Since``
    beside ``If-None-Match``; stores and emulators do not all agree, so those are dropped
    here. ``None`` where only the adapter can judge as RFC 9110 does: ``If-Range``, ``*``,
    lists of tags, a weak tag in ``If-Match``, a date that does not parse.
    """
    if "If-Range" in headers:
        return None
    conditions = {}
    if_match = headers.get("If-Match")
    if if_match is not None:
        tags = _etags(if_match)
        if len(tags) != 1 or tags[0] == "*" or tags[0].startswith("W/"):
            return None
        conditions["If-Match"] = tags[0]
    elif (unmodified := headers.get("If-Unmodified-Since")) is not None:
        if parse_http_date(unmodified) is None:
            return None
        conditions["If-Unmodified-Since"] = unmodified
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        tags = _etags(if_none_match)
        if len(tags) != 1 or tags[0] == "*":
            return None
        conditions["If-None-Match"] = tags[0].removeprefix("W/")  # weak comparison
    elif (modified := headers.get("If-Modified-Since")) is not None:
        if parse_http_date(modified) is None:
            return None
        conditions["If-Modified-Since"] = modified
    return conditions


#: Request headers that make a GET or HEAD look at the object's validators first.
CONDITIONAL_HEADERS = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")


@dataclass(frozen=True)
class WriteCondition:
    """A condition a write sends to the store, which judges it atomically with the write.

    ``create``: only if no object exists (``If-None-Match: *``); ``etag``: only if the object's
    current ETag is this one (``If-Match``).
    """

    create: bool = False
    etag: str | None = None


#: A write that only creates.
CREATE_ONLY = WriteCondition(create=True)


def write_condition(headers: Mapping[str, str]) -> WriteCondition | None:
    """A PUT's or DELETE's preconditions as one condition the store can judge itself.

    ``If-None-Match: *`` alone is "create only"; one strong tag in ``If-Match`` alone is
    "replace only that version". ``None`` for anything else (dates, lists, weak tags,
    ``If-Match: *``, both headers): the adapter reads the validators, judges as RFC 9110
    has it, and then pins the write to the version it judged.
    """
    present = [name for name in CONDITIONAL_HEADERS if name in headers]
    if present == ["If-None-Match"] and _etags(headers["If-None-Match"]) == ["*"]:
        return CREATE_ONLY
    if present == ["If-Match"]:
        tags = _etags(headers["If-Match"])
        if len(tags) == 1 and tags[0] != "*" and not tags[0].startswith("W/"):
            return WriteCondition(etag=tags[0])
    return None
