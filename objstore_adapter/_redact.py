"""Credentials kept out of what a user can read: messages, exception chains, tracebacks with
their frame locals, and log records.

Backends carry secrets in URLs (``X-Amz-Signature=``, ``X-Amz-Security-Token=``, ``sig=``,
``access_token=``, a ``user:password@`` userinfo), in headers (``Authorization``) and in their
own debug logs (botocore prints its canonical request, urllib3 every presigned URL, fsspec's
HTTP filesystem the URL with its userinfo). :func:`redact` removes them from text by their
shape and by their value: the values of secret storage options are :func:`remember`-ed when a
filesystem is built; :func:`redact_url` removes the userinfo of a URL the adapter echoes.
:func:`stand_in` rebuilds an exception chain from redacted copies that carry no frames (a
frame's locals hold passwords and storage options, and crash reporters print them),
:func:`without_own_frames` takes the adapter's frames out of the tracebacks of a chain it
raises, and :func:`install_log_filter` redacts the records of the loggers that print such
things.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus, unquote

REDACTED = "<redacted>"

# name=value and name: value pairs, also quoted as in a dict's repr or JSON. Words like
# "SignatureDoesNotMatch" do not match: the name must be followed by = or :.
_PAIR = re.compile(
    r"""(?ix)
    \b(x-amz-signature|x-amz-credential|x-goog-signature|x-goog-credential|signature|sig
      |token|access_token|refresh_token|id_token|client_secret|secret|password|private_key
      |private_key_id|accountkey|sharedaccesssignature|credential|api_key|apikey
      |awsaccesskeyid|assertion|code_verifier)
    (['"]?\s*[:=]\s*['"]?)
    ([^\s'"&;,<>)\]}]+)
    """
)
# Headers whose whole value is secret, spaces included, up to the end of the line or quote.
_HEADER = re.compile(
    r"""(?ix)
    \b(authorization|proxy-authorization|x-amz-security-token|x-goog-iam-authorization-token
      |x-ms-encryption-key|cookie)
    (['"]?\s*[:=]\s*['"]?)
    ([^'"\r\n]+)
    """
)
_SCHEMES = re.compile(r"(?i)\b(bearer|sharedkey|sharedkeylite)\s+[A-Za-z0-9._~+/=:%-]+")
# The userinfo of a URL (``scheme://user:password@host``): fsspec's HTTP filesystem (aiohttp)
# sends it as Basic auth. Up to the last @ before the path, whatever it holds.
_USERINFO = re.compile(r"""(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s'"<>]+@""")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)

#: Secret values seen in storage options: redacted wherever they appear, however they arrived.
_known: dict[str, str] = {}
_known_lock = threading.Lock()

#: Values too short or too common to redact literally ("anon" is a gcsfs token method).
_MIN_SECRET = 8


def redact(text: str, values: Mapping[str, str] | None = None) -> str:
    """``text`` without credentials.

    Args:
        text: a message, log line or formatted traceback.
        values: literal values to replace, each by its label (``{"/etc/key.json":
            "<token>"}``), on top of the secret values remembered so far.
    """
    for value, label in _literals(values):
        if value in text:
            text = text.replace(value, label)
    text = _USERINFO.sub(rf"\g<1>{REDACTED}@", text)
    text = _PEM.sub(REDACTED, text)
    text = _HEADER.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    text = _SCHEMES.sub(lambda m: f"{m[1]} {REDACTED}", text)
    return _PAIR.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)


def redact_url(url: str) -> str:
    """``url`` without its userinfo: ``web://alice:pw@host/x`` is ``web://<redacted>@host/x``.

    The whole ``user:password@`` goes (a user name alone may be a token), so that a URL the
    adapter echoes in an error body, a message or a log record carries no credential.
    """
    scheme, separator, rest = url.partition("://")
    authority_end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if found != -1:
            authority_end = min(authority_end, found)
    at = rest.rfind("@", 0, authority_end)
    if not separator or at == -1:
        return url
    return f"{scheme}://{REDACTED}{rest[at:]}"


def _literals(values: Mapping[str, str] | None) -> Iterator[tuple[str, str]]:
    with _known_lock:
        known = dict(_known)
    known.update(values or {})
    # Longest first, so a secret that contains another is replaced whole.
    for value in sorted(known, key=len, reverse=True):
        label = known[value]
        yield value, label
        for encoded in {quote(value, safe=""), quote_plus(value, safe="")} - {value}:
            yield encoded, label


def secret_values(options: Mapping[str, Any]) -> dict[str, str]:
    """The secret strings among storage options, each labelled with its option's name.

    An option counts as secret when its name says so (key, secret, token, password,
    credential, connection string, SAS); inside one, every string counts.
    """
    found: dict[str, str] = {}
    for name, value in options.items():
        if _SECRET_NAME.search(str(name)):
            for text in _strings(value):
                if len(text) >= _MIN_SECRET and text not in _NOT_SECRET:
                    found[text] = f"<{name}>"
                    found.update(_embedded_secrets(text, str(name)))
        elif isinstance(value, Mapping):
            for text, label in secret_values(value).items():
                found[text] = f"<{name}.{label[1:]}"
    return found


_SECRET_NAME = re.compile(r"(?i)key|secret|token|passw|credential|connection_string|sas|sig|auth")


def _embedded_secrets(text: str, option: str) -> dict[str, str]:
    """Secrets inside a connection string or SAS (``AccountKey=...;``, ``sig=...&``): a store
    may quote one alone, as Azure quotes the signature it refused."""
    found = {}
    for pair in re.split(r"[;&?]", text):
        name, _, value = pair.partition("=")
        if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET:
            for form in {value, unquote(value)}:
                found[form] = f"<{option}.{name.strip()}>"
    return found


#: gcsfs token= methods, not secrets.
_NOT_SECRET = frozenset({"google_default", "browser"})


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def remember(values: Mapping[str, str]) -> None:
    """Redact these values (value → label) from every later message and log record."""
    with _known_lock:
        _known.update(values)


class RedactedError(Exception):
    """Stands in for a backend exception in a chain a user may print or pickle.

    It keeps the original's type name and its message with credentials removed, and says
    where it was raised in a note (file, line and function of each frame), but it carries no
    traceback: the frames' locals hold passwords, storage options and signed requests, and
    ``capture_locals``, ``pytest -l``, Sentry and rich print them. Nor does it keep the
    original's attributes, which can hold signed URLs, requests or responses.
    """

    def __init__(self, message: str, original_type: str) -> None:
        super().__init__(message)
        self.original_type = original_type

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.args[0], self.original_type)


def stand_in(exc: BaseException, values: Mapping[str, str] | None = None) -> RedactedError:
    """A redacted copy of ``exc`` and of the exceptions it was chained from.

    The copy's chain mirrors the original's ``__cause__`` / ``__context__`` links, without
    cycles, so printing it (``traceback.format_exception``, with frame locals or not) shows
    what happened and where, never a credential.
    """
    copies: dict[int, RedactedError] = {}

    def copy(link: BaseException) -> RedactedError:  # called only for links not yet copied
        kind = f"{type(link).__module__}.{type(link).__qualname__}"
        message = redact(_text(link), values)
        twin = RedactedError(f"{kind}: {message}" if message else kind, kind)
        copies[id(link)] = twin  # no traceback: its frames' locals hold the secrets
        for attribute in ("__cause__", "__context__"):
            nxt = getattr(link, attribute)
            if nxt is not None and id(nxt) not in copies:
                setattr(twin, attribute, copy(nxt))
        twin.__suppress_context__ = link.__suppress_context__
        notes = [redact(str(note), values) for note in getattr(link, "__notes__", None) or ()]
        if link.__traceback__ is not None:
            notes.append(redact(_where(link.__traceback__), values))
        if notes:  # printed under the message since Python 3.11 (3.10 keeps them unshown)
            setattr(twin, "__notes__", notes)  # noqa: B010 - an attribute 3.10 does not declare
        return twin

    return copy(exc)


def _where(tb: TracebackType) -> str:
    """Where an exception was raised, frame by frame, without the frames' locals."""
    lines = [
        f"  {frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(tb)
    ]
    return "\n".join(["raised at (frames dropped: their locals may hold credentials):", *lines])


#: Modules whose frames are taken out of the tracebacks of exceptions raised to the caller.
_OWN_MODULES = "objstore_adapter."


def without_own_frames(exc: BaseException) -> BaseException:
    """``exc`` with the adapter's frames taken out of its traceback and the tracebacks of the
    exceptions it was chained from (``__cause__``, ``__context__``); returns ``exc``.

    The adapter's frames hold the request's URL (with its userinfo), the resolved route and
    the backend exception being mapped, whose locals a crash reporter would print. Frames of
    other code (a caller's body generator, requests reading a body) are kept, in order.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        link = pending.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        link.__traceback__ = _foreign_frames(link.__traceback__)
        pending += [nxt for nxt in (link.__cause__, link.__context__) if nxt is not None]
    return exc


def _foreign_frames(tb: TracebackType | None) -> TracebackType | None:
    kept: list[TracebackType] = []
    while tb is not None:
        if not str(tb.tb_frame.f_globals.get("__name__", "")).startswith(_OWN_MODULES):
            kept.append(tb)
        tb = tb.tb_next
    rebuilt: TracebackType | None = None
    for entry in reversed(kept):
        rebuilt = TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return rebuilt


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not hide the error being reported
        return ""


class RedactingFilter(logging.Filter):
    """Redact a record's message and traceback in place; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # leave a record that cannot format for logging to report
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_text = record.exc_text.rstrip("\n")
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()

#: Loggers of the backends and their transports that print URLs, headers or requests.
LOGGER_PREFIXES = (
    "objstore_adapter",
    "fsspec",
    "urllib3",
    "requests",
    "aiohttp",
    "botocore",
    "aiobotocore",
    "s3fs",
    "gcsfs",
    "google",
    "google_auth_httplib2",
    "azure",
    "adlfs",
)


def install_log_filter(prefixes: Iterable[str] = LOGGER_PREFIXES) -> None:
    """Redact the records of these loggers and of every existing logger below them.

    A logger's filters see only the records logged to that very logger, so each is given
    the filter; call again after importing a backend, whose modules create more loggers.
    """
    prefixes = tuple(prefixes)
    names = [
        name
        for name in list(logging.root.manager.loggerDict)
        if name.startswith(tuple(f"{p}." for p in prefixes))
    ]
    for name in (*prefixes, *names):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
