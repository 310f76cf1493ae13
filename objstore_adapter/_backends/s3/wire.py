"""Signed S3 GETs and HEADs over a kept-alive HTTP/1.1 connection of this thread, read whole.

A GET through urllib3 holds the GIL while http.client parses the answer's head (with the
``email`` package) and reads the body through layers of buffers: threads sharing one session
take turns. libcurl releases the GIL, but calls back into Python for every header line, and
each call waits for the GIL again. When the caller reads the body at once (``stream=False``),
nothing is gained by streaming it: here the request goes out in one ``sendall``, the answer
comes in as few ``recv`` calls as the socket allows (each releases the GIL), and its head is
split with bytes methods. That is all of HTTP/1.1 a signed S3 GET needs: no proxy, no
redirect, no request body; a body framed by ``Content-Length``, chunks or the connection's
end; interim (1xx) answers skipped.

A kept connection idle for longer than :data:`CHECK_IDLE_AFTER` is checked before it is used
again, as urllib3 checks each one, since its server may have closed it. One that carried an
answer more recently is used unchecked: the check is a system call, and each system call
hands the GIL to another thread (without it, and with the read timeout set only when it
changes, 16 threads sharing a session made 10% more GETs a second on SeaweedFS). Servers
close idle connections after seconds, not within :data:`CHECK_IDLE_AFTER`. Where one closed
a connection sooner without saying so (right after an answer, with no ``Connection: close``),
or sent bytes no request asked for, the next GET on it fails after one request, as one on a
connection closed without an answer does, and the adapter's retry policy decides whether to
ask again.

The answer is handed on as a urllib3 response over the bytes received, so it is read, judged
and healed exactly as one from urllib3: a body cut short raises ``ProtocolError`` where its
bytes end, a stalled one ``ReadTimeoutError`` (the read timeout bounds each wait for bytes,
as urllib3's does); failures to connect are urllib3's own exceptions, chained from the
``OSError`` that caused them. Nothing is tried again here: the adapter's transfer policy
decides that.

A body larger than ``timeouts.whole`` (the route's download part size: a larger one may be
fetched in parallel parts) is not read here: the answer hands its connection on to be read as
the caller streams it (see :class:`_Streamed`). Read to its end, the connection is kept for
the next request of the thread that read it; closed early or broken, it is closed. Only a body
of no announced length is asked for again, through urllib3 (:class:`TooLarge`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util.wait import wait_for_read

from ..._http import Timeouts
from . import sigv4

#: Sent with each request made here.
USER_AGENT = "objstore-adapter"

#: The longest head read: a store's answer head is a few hundred bytes.
MAX_HEAD = 64 * 1024

#: Seconds a kept connection may have been idle and still be used without checking it first.
CHECK_IDLE_AFTER = 0.1

_RECV = 2**16
_connections = threading.local()


class TooLarge(Exception):
    """The answer's body, of no announced length, is larger than ``timeouts.whole``: it is
    not handed on, and its connection is closed."""


class Whole(urllib3.HTTPResponse):
    """An answer read by :func:`fetch`. When a GET's body came whole (as long as its
    ``Content-Length`` says), ``loaded`` holds it, and the answer itself is left unread. A
    body larger than ``timeouts.whole`` is read from its connection as it is streamed."""

    loaded: bytes | None = None
    streamed = False  # the body is read from the connection, which is the answer's now


def fetch(
    method: str, url: str, headers: Mapping[str, str], timeouts: Timeouts, verify: bool | str
) -> Whole:
    """``method`` (GET or HEAD) ``url`` with ``headers``: the answer, whatever its status,
    read whole, or with a body larger than ``timeouts.whole`` to be streamed (``streamed``).

    Raises:
        TooLarge: the body, of no announced length, is larger than ``timeouts.whole``.
        urllib3.exceptions.HTTPError: no answer: ``NewConnectionError``,
            ``ConnectTimeoutError``, ``SSLError``, ``ReadTimeoutError`` (before the whole
            head), ``ProtocolError``.
    """
    parts = urllib.parse.urlsplit(url)
    tls = parts.scheme == "https"
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if tls else 80)
    except ValueError:
        raise NewConnectionError(None, f"no port to connect to in {host}") from None  # type: ignore[arg-type]
    target = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
    given = {name.lower() for name in headers}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in given:
        lines.append(f"Host: {sigv4.canonical_host(parts.scheme, parts.netloc)}")
    if "user-agent" not in given:
        lines.append(f"User-Agent: {USER_AGENT}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request: bytes | None = None
    with contextlib.suppress(UnicodeEncodeError):  # header text is Latin-1, as urllib3 sends it
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if request is None:  # raised here: the encoding error quotes the request, signature and all
        raise ProtocolError("a request that is not Latin-1 text cannot be sent")
    key = (tls, host, port, verify if tls else None)
    sock, used = _kept().pop(key, (None, 0.0))
    if sock is not None and time.monotonic() - used > CHECK_IDLE_AFTER and _dropped(sock):
        sock.close()
        sock = None
    if sock is None:
        sock = _connect(host, port, timeouts, verify if tls else None)
    try:
        # Setting it is a system call: only a change is set (a value the socket stores
        # rounded, such as 1/3, reads back changed and is set each time, which is harmless).
        if sock.gettimeout() != timeouts.read:
            sock.settimeout(timeouts.read)
        _send(sock, request)
        answer, reusable = _read_answer(sock, method, timeouts.whole, functools.partial(_keep, key))
    except BaseException:
        sock.close()
        raise
    if reusable:
        _keep(key, sock)
    elif not answer.streamed:
        sock.close()
    return answer


def _send(sock: socket.socket, request: bytes) -> None:
    try:
        sock.sendall(request)
    except TimeoutError:
        raise ReadTimeoutError(None, None, "Write timed out.") from None  # type: ignore[arg-type]
    except OSError as exc:  # the server closed or reset it: no answer will come
        raise ProtocolError("Connection aborted.", exc) from exc


class _Kept(dict[tuple[Any, ...], tuple[socket.socket, float]]):
    """One thread's idle connections by host, each with the time its last answer ended;
    closed when the thread ends."""

    def __init__(self) -> None:
        super().__init__()
        self.pid = os.getpid()

    def __del__(self) -> None:
        for sock, _ in self.values():
            sock.close()


def _kept() -> _Kept:
    """This thread's idle connections: none in a forked child (they are its parent's)."""
    kept: _Kept | None = getattr(_connections, "kept", None)
    if kept is None or kept.pid != os.getpid():
        # A forked child's copies of its parent's sockets are closed as the old one goes:
        # that closes this process's descriptors only, not the parent's connections.
        kept = _connections.kept = _Kept()
    return kept


def _keep(key: tuple[Any, ...], sock: socket.socket) -> None:
    """Keep ``sock``, whose answer has just ended, as this thread's idle connection to
    ``key``'s server; one kept there meanwhile (while a streamed body was read) is closed."""
    kept = _kept()
    displaced, _ = kept.get(key, (None, 0.0))
    kept[key] = (sock, time.monotonic())
    if displaced is not None and displaced is not sock:
        displaced.close()


def _dropped(sock: socket.socket) -> bool:
    """True when an idle connection has something to read: its server closed it (or sent
    what no request asked for). Either way it cannot carry another request."""
    try:
        return wait_for_read(sock, timeout=0)  # urllib3's own check before it reuses one
    except (OSError, ValueError):
        return True


def _connect(host: str, port: int, timeouts: Timeouts, verify: bool | str | None) -> socket.socket:
    """A new connection, TLS when ``verify`` is not None, verified as botocore was told."""
    try:
        sock = socket.create_connection((host, port), timeout=timeouts.connect)
    except TimeoutError as exc:
        raise ConnectTimeoutError(
            None, f"Connection to {host} timed out. (connect timeout={timeouts.connect})"
        ) from exc
    except OSError as exc:
        message = f"Failed to establish a new connection to {host}:{port}: {exc}"
        raise NewConnectionError(None, message) from exc  # type: ignore[arg-type]
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if verify is None:
        return sock
    try:
        context = _tls_context(verify)
    except OSError as exc:  # a CA bundle that cannot be read
        sock.close()
        raise SSLError(f"TLS with {host}:{port} cannot be set up: {exc}") from exc
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except TimeoutError as exc:
        sock.close()
        raise ConnectTimeoutError(None, f"TLS with {host} timed out") from exc
    except ssl.SSLError as exc:
        sock.close()
        raise SSLError(f"TLS with {host}:{port} failed: {exc}") from exc
    except OSError as exc:
        sock.close()
        raise ProtocolError("Connection aborted.", exc) from exc


@functools.cache
def _tls_context(verify: bool | str) -> ssl.SSLContext:
    """TLS as botocore verifies it (``presigned.tls_verification``): the CA bundle it loads
    (a path, or for ``True`` its own: certifi's), alone, or no verification at all."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    from botocore.httpsession import get_cert_path

    return ssl.create_default_context(cafile=get_cert_path(verify))


class _Reader:
    """The answer's bytes as they come off one socket, failures as urllib3 names them."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.ended = False  # the connection's end was met: it carries nothing more

    def more(self) -> bool:
        """Receive what has come; False at the connection's end."""
        try:
            chunk = self.sock.recv(_RECV)
        except TimeoutError:
            raise ReadTimeoutError(None, None, "Read timed out.") from None  # type: ignore[arg-type]
        except OSError as exc:
            raise ProtocolError("Connection aborted.", exc) from exc
        self.buffer += chunk
        self.ended = self.ended or not chunk
        return bool(chunk)

    def head(self) -> bytes:
        """One head, up to its blank line, taken from the buffer."""
        scanned = 0
        while (end := self.buffer.find(b"\r\n\r\n", scanned)) < 0:
            if len(self.buffer) > MAX_HEAD:
                raise ProtocolError(f"an answer head of over {MAX_HEAD} bytes")
            scanned = max(0, len(self.buffer) - 3)
            if not self.more():
                message = "Remote end closed connection without response"
                raise ProtocolError("Connection aborted.", ConnectionResetError(message))
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        return head


def _read_answer(
    sock: socket.socket, method: str, whole: int, keep: Callable[[socket.socket], None]
) -> tuple[Whole, bool]:
    """The answer to the request just sent, and whether its connection can carry another
    now. A streamed answer's connection is handed to ``keep`` at its body's end, if it can."""
    reader = _Reader(sock)
    while True:
        status, version, fields = _parse_head(reader.head())
        if not 100 <= status < 200:
            break  # interim answers (100 Continue) are not the answer
    reusable = version == 11 and "close" not in fields.get("Connection", "").lower()
    data = b""
    failure: Exception | None = None
    if method != "HEAD" and status not in (204, 304):
        if "chunked" in fields.get("Transfer-Encoding", "").lower():
            data, failure = _chunked(reader, whole)
        else:
            length = _content_length(fields)
            if length is not None and length > whole:
                # Bytes past the body that came with its head, or the connection's end, leave
                # it out of step (any that come later are looked for at the body's end).
                if not reusable or len(reader.buffer) > length or reader.ended:
                    keep = socket.socket.close
                return _streamed(reader, status, version, fields, length, method, keep), False
            data, failure = _delimited(reader, length, whole)
            reusable = reusable and length is not None  # else it ended with the connection
    reusable = reusable and not reader.buffer and not reader.ended  # else: out of step
    received = io.BytesIO(data)
    body: io.IOBase = received if failure is None else _EndsIn(received, failure)
    answer = _answer(body, status, version, fields, method)
    if method == "GET" and failure is None and fields.get("Content-Length") == str(len(data)):
        # Handed on as it is: urllib3's own read of it (preload_content) would cost a small
        # GET more than parsing its head.
        answer.loaded = data
    return answer, reusable and failure is None


def _answer(
    body: io.IOBase,
    status: int,
    version: int,
    fields: urllib3.HTTPHeaderDict,
    method: str,
) -> Whole:
    return Whole(
        body=body,
        headers=fields,
        status=status,
        version=version,
        preload_content=False,
        decode_content=False,
        enforce_content_length=True,
        request_method=method,
    )


def _streamed(
    reader: _Reader,
    status: int,
    version: int,
    fields: urllib3.HTTPHeaderDict,
    length: int,
    method: str,
    keep: Callable[[socket.socket], None],
) -> Whole:
    """The answer whose body of ``length`` bytes is read from the connection as the caller
    streams it: sent once, not asked for again. ``keep`` takes the connection at its end."""
    raw = _Streamed(reader.sock, bytes(reader.buffer[:length]), length, keep)
    answer = _answer(unbuffered(raw), status, version, fields, method)
    answer.streamed = True
    return answer


def unbuffered(raw: io.RawIOBase) -> io.BufferedReader:
    """A reader over ``raw`` (a socket's) whose every read fills the bytes it returns from
    ``raw`` directly, never through a buffer (``buffer_size=1``): one system call per read
    where the data is there, and no copy (see :class:`.presigned.PresignedBody`)."""
    return io.BufferedReader(raw, buffer_size=1)


class _Streamed(io.RawIOBase):
    """A body's ``length`` bytes: those that came with its head, then the socket's, which
    goes to ``keep`` at the body's end (unless bytes past it wait there), and is closed at
    the connection's end, on a failed read, or when this is closed first. Failures are the
    socket's, which urllib3 names (``ReadTimeoutError``, ``ProtocolError``, a short body's
    ``IncompleteRead``) as it does on its own connections."""

    def __init__(
        self,
        sock: socket.socket,
        received: bytes,
        length: int,
        keep: Callable[[socket.socket], None],
    ) -> None:
        self._sock: socket.socket | None = sock
        self._received = memoryview(received)
        self._left = length
        self._keep = keep

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")[: self._left]
        if not view or self._sock is None:
            return 0
        if self._received:
            n = min(len(view), len(self._received))
            view[:n] = self._received[:n]
            self._received = self._received[n:]
        else:
            try:
                n = self._sock.recv_into(view)
            except BaseException:  # a connection that failed is out of step: never read again
                self._disconnect()
                raise
        self._left -= n
        if not self._left:  # the body's end
            sock, self._sock = self._sock, None
            if _past_the_answer(sock):
                sock.close()
            else:
                self._keep(sock)
        elif not n:
            self._disconnect()  # the connection's end
        return n

    def close(self) -> None:
        self._disconnect()
        super().close()

    def _disconnect(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def _past_the_answer(sock: socket.socket) -> bool:
    """True when bytes no request asked for wait on a connection whose answer has just been
    read to its end (or it was closed): the next request on it would take them for its own
    answer. One system call, made once per streamed body."""
    return (isinstance(sock, ssl.SSLSocket) and sock.pending() > 0) or _dropped(sock)


def _parse_head(head: bytes) -> tuple[int, int, urllib3.HTTPHeaderDict]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    protocol, _, rest = status_line.partition(" ")
    code, _, _ = rest.partition(" ")
    if protocol not in ("HTTP/1.1", "HTTP/1.0") or len(code) != 3 or not _decimal(code):
        raise ProtocolError(f"not an HTTP/1.x answer: {status_line[:40]!r}")
    if code < "100":
        raise ProtocolError(f"not an HTTP status: {status_line[:40]!r}")
    fields = urllib3.HTTPHeaderDict()
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"a malformed header line in the answer: {line[:40]!r}")
        fields.add(name, value.strip())
    return int(code), 11 if protocol == "HTTP/1.1" else 10, fields


def _decimal(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes ``²``, which ``int`` refuses."""
    return text.isascii() and text.isdigit()


def _content_length(fields: urllib3.HTTPHeaderDict) -> int | None:
    """The body's announced length; ``None``: it ends with the connection."""
    values = {value.strip() for value in fields.get_all("Content-Length")}
    if not values:
        return None
    if len(values) > 1 or not all(_decimal(value) and len(value) < 19 for value in values):
        raise ProtocolError(f"an invalid Content-Length: {', '.join(sorted(values))[:40]}")
    return int(values.pop())


def _delimited(reader: _Reader, length: int | None, whole: int) -> tuple[bytes, Exception | None]:
    """``length`` bytes (``None``: up to the connection's end), and the failure that cut
    them short."""
    failure: Exception | None = None
    try:
        while length is None or len(reader.buffer) < length:
            if length is None and len(reader.buffer) > whole:
                raise TooLarge
            if not reader.more():
                if length is not None:
                    failure = ProtocolError(
                        f"Connection broken: {len(reader.buffer)} of {length} bytes received"
                    )
                break
    except (ProtocolError, ReadTimeoutError) as exc:
        failure = exc
    end = len(reader.buffer) if length is None else min(length, len(reader.buffer))
    data = bytes(reader.buffer[:end])
    del reader.buffer[:end]
    return data, failure


def _chunked(reader: _Reader, whole: int) -> tuple[bytes, Exception | None]:
    """A chunked body, decoded, and the failure that cut it short (the bytes that came
    before it are kept, those of a chunk cut in its middle too)."""
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            while (end := reader.buffer.find(b"\r\n")) < 0:
                if len(reader.buffer) > MAX_HEAD or not reader.more():
                    raise ProtocolError("Connection broken: a chunked body ended early")
            line = bytes(reader.buffer[:end]).split(b";", 1)[0].strip()
            if not line or len(line) > 16 or line.strip(_HEX):
                raise ProtocolError(f"an invalid chunk size: {line[:20]!r}")
            length = int(line, 16)
            del reader.buffer[: end + 2]
            if length == 0:
                _trailers(reader)
                break
            size += length
            if size > whole:
                raise TooLarge
            while len(reader.buffer) < length + 2:
                failure: Exception | None = None
                try:
                    more = reader.more()
                except (ProtocolError, ReadTimeoutError) as exc:
                    failure, more = exc, False
                if not more:  # what came of this chunk is handed on before the failure
                    chunks.append(bytes(reader.buffer[:length]))
                    del reader.buffer[:length]
                    raise failure or ProtocolError("Connection broken: a chunk ended early")
            if reader.buffer[length : length + 2] != b"\r\n":
                raise ProtocolError("a chunk longer than its size")
            chunks.append(bytes(reader.buffer[:length]))
            del reader.buffer[: length + 2]
    except (ProtocolError, ReadTimeoutError) as exc:
        return b"".join(chunks), exc
    return b"".join(chunks), None


_HEX = b"0123456789abcdefABCDEF"


def _trailers(reader: _Reader) -> None:
    """Skip the trailer section after the last chunk, up to its blank line. The body is
    whole: where the connection ends or stalls in the trailers, it is only not kept."""
    try:
        while True:
            end = reader.buffer.find(b"\r\n")
            if end == 0:
                del reader.buffer[:2]
                return
            if end > 0:
                del reader.buffer[: end + 2]
            elif len(reader.buffer) > MAX_HEAD or not reader.more():
                reader.ended = True
                return
    except (ProtocolError, ReadTimeoutError):
        reader.ended = True


class _EndsIn(io.RawIOBase):
    """The bytes that came, then the failure that stopped them, raised as urllib3 would meet
    it on a socket (urllib3 turns an ``OSError`` into ``ProtocolError``, a socket timeout
    into ``ReadTimeoutError``)."""

    def __init__(self, received: io.BytesIO, failure: Exception) -> None:
        self._received = received
        self._failure = failure

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._received.readinto(buffer)
        if n == 0 and len(memoryview(buffer)):
            if isinstance(self._failure, ReadTimeoutError):
                raise TimeoutError("read timed out")
            raise ConnectionResetError(str(self._failure))
        return n
