"""What the adapter knows about one object, normalised across backends.

Every backend describes an object differently: s3fs says ``ETag``/``LastModified``/
``ContentType``, gcsfs ``etag``/``updated``/``contentType``, adlfs ``etag``/``last_modified``/
``content_settings``, local files and SFTP ``mtime``, FTP ``modify``, webdav4 ``modified`` (its
``created`` is the creation date), fsspec's HTTP filesystem the ``Last-Modified`` header. This
module is the one place those spellings become an :class:`ObjectInfo`.

What a store keeps with an object besides its type (``Content-Encoding``, ``Cache-Control``,
``Content-Disposition``, ``Content-Language``, ``Expires``) is part of the representation and
travels under those header names; user metadata travels as ``X-Object-Meta-<name>`` headers on
every backend, whatever the store calls it (``x-amz-meta-``, ``x-goog-meta-``, Azure metadata).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: What stores record when the uploader named no type (S3: binary/octet-stream; GCS and Azure:
#: application/octet-stream). Treated as "no type stored", so the key's extension decides.
_UNSPECIFIED_TYPES = frozenset({"", "binary/octet-stream", "application/octet-stream"})


#: Representation headers a store keeps with an object, as GET and HEAD answer them.
STORED_HEADERS = (
    "Cache-Control",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Expires",
)

#: The one header prefix for user metadata, on every backend.
META_PREFIX = "X-Object-Meta-"

#: How each backend spells the stored headers in its metadata dicts (S3 and GCS resources,
#: adlfs' content settings).
_SPELLINGS: Mapping[str, tuple[str, ...]] = {
    "Cache-Control": ("CacheControl", "cacheControl", "cache_control"),
    "Content-Disposition": ("ContentDisposition", "contentDisposition", "content_disposition"),
    "Content-Encoding": ("ContentEncoding", "contentEncoding", "content_encoding"),
    "Content-Language": ("ContentLanguage", "contentLanguage", "content_language"),
    "Expires": ("ExpiresString", "Expires", "expires"),
}

#: Metadata prefixes of the stores' own HTTP answers.
_HTTP_META_PREFIXES = ("x-amz-meta-", "x-goog-meta-", "x-ms-meta-")
_STORED_LOWER = tuple((name, name.lower()) for name in STORED_HEADERS)

#: Metadata adlfs writes for its own bookkeeping on every blob: not the user's.
_BOOKKEEPING_METADATA = frozenset({"is_directory", "hdi_isfolder"})


@dataclass(frozen=True)
class ObjectInfo:
    """Size and validators of one object (or a directory marker), and the representation
    headers (:data:`STORED_HEADERS`, ``X-Object-Meta-*``) stored with it."""

    size: int
    content_type: str | None = None
    last_modified: dt.datetime | None = None
    etag: str | None = None
    is_dir: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    generation: str | None = None  # GCS: the version a ranged read can be pinned to
    md5: str | None = None  # hex digest of the bytes, where the store reports it


@dataclass(frozen=True)
class Representation:
    """What a PUT asks the store to keep with the bytes: type, stored headers, metadata."""

    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)  # of STORED_HEADERS
    metadata: Mapping[str, str] = field(default_factory=dict)  # names in lower case


def quote_etag(etag: str | None) -> str | None:
    """Return ``etag`` as an HTTP entity tag: quoted, weak prefix kept."""
    if not etag:
        return None
    if etag.startswith('"') or etag.startswith('W/"'):
        return etag
    return f'"{etag}"'


#: An FTP time value (RFC 3659 section 2.3): fourteen digits, then an optional fraction.
_FTP_TIME = re.compile(r"[0-9]{14}(\.[0-9]+)?")


def to_datetime(value: Any) -> dt.datetime | None:
    """Turn a backend timestamp (datetime, epoch seconds or ISO text) into aware UTC."""
    stamp: dt.datetime | None
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, (int, float)):
        stamp = dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
    elif isinstance(value, str) and _FTP_TIME.fullmatch(value.strip()):
        # An FTP fact (RFC 3659): YYYYMMDDHHMMSS[.sss], in UTC.
        seconds, _, fraction = value.strip().partition(".")
        stamp = dt.datetime.strptime(seconds, "%Y%m%d%H%M%S").replace(
            microsecond=int(fraction.ljust(6, "0")[:6])
        )
    elif isinstance(value, str):
        stamp = _from_text(value)
    else:
        return None
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(dt.timezone.utc)


def _from_text(value: str) -> dt.datetime | None:
    """ISO 8601 text or an HTTP-date (``Sun, 06 Nov 1994 08:49:37 GMT``, as in
    ``Last-Modified``); ``None`` for neither."""
    text = value.strip()
    if "," in text:  # an HTTP-date, most likely: a failed fromisoformat costs more than it
        return parse_http_date(text) or _iso(text)
    return _iso(text) or parse_http_date(text)


def _iso(text: str) -> dt.datetime | None:
    if text.endswith("Z"):  # fromisoformat accepts "Z" only from Python 3.11
        text = text[:-1] + "+00:00"
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)  # an object's Last-Modified is read on each GET of it
def parse_http_date(text: str | None) -> dt.datetime | None:
    """An RFC 9110 HTTP-date (``Sun, 06 Nov 1994 08:49:37 GMT``) as an aware datetime (UTC
    where it names no zone); ``None`` for no text, or text that is not one."""
    if not text:
        return None
    try:
        stamp = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: a huge year
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=dt.timezone.utc)


def stored_type(value: Any) -> str | None:
    """A stored content type, or ``None`` where the store recorded only its default."""
    if not isinstance(value, str) or value in _UNSPECIFIED_TYPES:
        return None
    return value


def _content_type(info: Mapping[str, Any]) -> str | None:
    for key in ("ContentType", "contentType", "content_type", "mimetype"):
        value = info.get(key)
        if isinstance(value, str):
            break
    else:
        settings = info.get("content_settings")
        if isinstance(settings, Mapping):
            value = settings.get("content_type")
        else:
            value = getattr(settings, "content_type", None)
    return stored_type(value)


def _header_text(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return email.utils.format_datetime(value.astimezone(dt.timezone.utc), usegmt=True)
    if isinstance(value, str) and value:
        return value
    return None


def stored_headers(info: Mapping[str, Any]) -> dict[str, str]:
    """The stored headers and user metadata of a backend metadata dict (S3 ``HeadObject``,
    a GCS object resource, adlfs' ``info()``), as response headers."""
    settings = info.get("content_settings")
    if settings is not None and not isinstance(settings, Mapping):  # azure's ContentSettings
        settings = {
            key: getattr(settings, key, None) for keys in _SPELLINGS.values() for key in keys
        }
    sources = [info, settings] if isinstance(settings, Mapping) else [info]
    headers = {}
    for name, keys in _SPELLINGS.items():
        value = next(
            (text for src in sources for key in keys if (text := _header_text(src.get(key)))),
            None,
        )
        if value is not None:
            headers[name] = value
    metadata = _first(info, "Metadata", "metadata")
    if isinstance(metadata, Mapping):
        headers.update(meta_headers(metadata))
    return headers


def meta_headers(metadata: Mapping[str, Any]) -> dict[str, str]:
    """User metadata as ``X-Object-Meta-<name>`` headers, without backend bookkeeping."""
    return {
        f"{META_PREFIX}{name}": str(value)
        for name, value in metadata.items()
        if name.lower() not in _BOOKKEEPING_METADATA and value is not None
    }


def http_stored_headers(named: Mapping[str, str]) -> dict[str, str]:
    """The stored headers and user metadata in a store's own HTTP answer (S3, GCS), its
    fields given :func:`by_lower_name`."""
    headers = {name: value for name, lower in _STORED_LOWER if (value := named.get(lower))}
    for lower, value in named.items():
        if lower.startswith(_HTTP_META_PREFIXES):  # each ends in its only "-meta-"
            headers[META_PREFIX + lower.partition("-meta-")[2]] = value
    return headers


def _first(info: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = info.get(key)
        if value is not None:
            return value
    return None


def from_fsspec(info: Mapping[str, Any]) -> ObjectInfo:
    """Normalise the dict returned by any fsspec ``fs.info(path)``."""
    size = int(info.get("size") or 0)
    modified = to_datetime(
        _first(
            info,
            "LastModified",
            "Last-Modified",
            "last_modified",
            "updated",
            "mtime",
            "modify",
            "modified",
            "created",
        )
    )
    etag = _first(info, "ETag", "etag")
    is_dir = info.get("type") == "directory"
    if not isinstance(etag, str) and modified is not None and not is_dir:
        # Stores without ETags (local files, memory): derive one from the modification time
        # and size, as nginx and Apache do for files, so conditionals work everywhere.
        etag = f"{int(modified.timestamp() * 1_000_000):x}-{size:x}"
    return ObjectInfo(
        size=size,
        content_type=_content_type(info),
        last_modified=modified,
        etag=quote_etag(etag) if isinstance(etag, str) else None,
        is_dir=is_dir,
        headers=stored_headers(info),
        generation=_text(info.get("generation")),
        md5=md5_of(etag, info.get("md5Hash")),
    )


def total_size(content_range: Any, content_length: Any) -> int:
    """The whole object's size: from ``Content-Range`` (``bytes a-b/total``) when the answer
    is a range, else ``Content-Length``."""
    if isinstance(content_range, str) and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        if total.isdigit():
            return int(total)
    return int(content_length or 0)


def from_s3_response(response: Mapping[str, Any]) -> ObjectInfo:
    """Normalise the metadata of an S3 ``HeadObject``/``GetObject`` response.

    For a ranged ``GetObject`` the size is the whole object's, read from ``ContentRange``.
    """
    return ObjectInfo(
        size=total_size(response.get("ContentRange"), response.get("ContentLength")),
        content_type=_content_type(response),
        last_modified=to_datetime(response.get("LastModified")),
        etag=quote_etag(response.get("ETag")),
        headers=stored_headers(response),
        md5=md5_of(response.get("ETag")),
    )


def from_http_headers(fields: Mapping[str, str]) -> ObjectInfo:
    """Normalise a store's own answer to a GET (S3 presigned, GCS media): the whole object's
    size (from ``Content-Range`` for a range), validators and stored headers."""
    named = by_lower_name(fields)
    return ObjectInfo(
        size=total_size(named.get("content-range"), named.get("content-length")),
        content_type=stored_type(named.get("content-type")),
        last_modified=to_datetime(named.get("last-modified")),
        etag=quote_etag(named.get("etag")),
        headers=http_stored_headers(named),
        generation=named.get("x-goog-generation"),
        md5=md5_of(named.get("etag"), named.get("content-md5")),
    )


def by_lower_name(fields: Mapping[str, str]) -> dict[str, str]:
    """HTTP fields by lower-case name, a repeated field's values joined with ``", "`` (as
    urllib3's ``HTTPHeaderDict`` reads them, for aiohttp's multidicts too: a repeated
    ``ETag`` or ``Content-Length`` is then no valid value, where the first one was taken).
    Each field is then looked up in a plain dict, where ``HTTPHeaderDict`` folds the case
    and joins the values on every lookup."""
    named: dict[str, str] = {}
    for name, value in fields.items():
        lower = name.lower()
        named[lower] = f"{named[lower]}, {value}" if lower in named else value
    return named


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def md5_of(etag: Any, digest: Any = None) -> str | None:
    """The MD5 of an object's bytes, as hex: from a base64 digest (GCS ``md5Hash``,
    ``Content-MD5``) or raw bytes (Azure), else from an ETag that is one (S3's for a body
    stored in one request: 32 hex digits, no part count)."""
    if isinstance(digest, (bytes, bytearray)) and len(digest) == 16:
        return bytes(digest).hex()
    if isinstance(digest, str) and digest:
        try:
            raw = base64.b64decode(digest, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == 16:
            return raw.hex()
    if isinstance(etag, str):
        tag = etag.strip().removeprefix("W/").strip('"').lower()
        if len(tag) == 32 and all(c in "0123456789abcdef" for c in tag):
            return tag
    return None
