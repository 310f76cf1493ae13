"""file:// URLs (RFC 8089): which local path a URL names, and whether it lies under a root.

A file URL names a file on this machine: its host is empty or ``localhost``, and its path is
percent-encoded, so ``pathlib.Path(p).as_uri()`` round-trips every file name. Object-store keys
are taken literally; file paths are decoded segment by segment, and a URL is refused when a
decoded segment could change which file is meant (``.``, ``..``, a separator, a NUL byte).
Whether a path lies under a root is asked twice: of the URL as written (which route serves it)
and of the file it resolves to with symbolic links followed (whether the route may serve it).
"""

from __future__ import annotations

import functools
import os
import re
from urllib.parse import unquote_to_bytes

from requests.exceptions import InvalidURL

#: Hosts that name this machine in a file URL (RFC 8089, section 2).
_LOCAL_HOSTS = frozenset({"", "localhost"})
#: What a single file name can never hold: decoded, these would split or end the path.
_NOT_IN_A_NAME = re.compile(f"[{re.escape('/' + os.sep + (os.altsep or '') + chr(0))}]")


@functools.lru_cache(maxsize=1024)  # resolve() and each route it compares parse one URL
def local_path(url: str) -> str:
    """The absolute local path that a file URL names, percent-decoded.

    Repeated slashes collapse (``/a//b`` is ``/a/b``, as POSIX resolves it); a trailing slash
    is kept, since it marks a directory. A query or fragment is not part of the path and is
    dropped, as ``urllib.parse`` and requests-file do.

    Args:
        url: a URL such as ``file:///srv/data/a%20b.csv`` or ``file://localhost/srv/``.

    Returns:
        The path, such as ``/srv/data/a b.csv``; never relative to the working directory.

    Raises:
        requests.exceptions.InvalidURL: the URL names another host, has user information or
            no path, or a decoded segment is ``.``/``..`` or holds a separator or NUL byte.
    """
    scheme, _, rest = url.partition("://")
    for delimiter in "?#":
        rest = rest.split(delimiter, 1)[0]
    authority, slash, encoded = rest.partition("/")
    if authority.lower() not in _LOCAL_HOSTS:
        # Never echo user information: it may be a password.
        what = "user information" if "@" in authority else f"the host {authority!r}"
        raise InvalidURL(
            f"{scheme}:// URLs name files on this machine, so {what} is refused: "
            f"use {scheme}:///PATH or {scheme}://localhost/PATH"
        )
    if not slash:
        raise InvalidURL(f"{url!r} names no path: use {scheme}:///PATH")
    names = [_decode(segment, url) for segment in encoded.split("/") if segment]
    path = "/" + "/".join(names)
    return path + "/" if names and encoded.endswith("/") else path


def within(path: str, root: str) -> bool:
    """True when ``path`` is ``root`` or lies under it (both from :func:`local_path`).

    A root without a trailing slash claims itself and what is under it, never a sibling that
    merely starts with the same characters (``/srv/data`` does not claim ``/srv/database``).
    """
    if root.endswith("/"):
        return path.startswith(root)
    return path == root or path.startswith(root + "/")


def resolves_within(path: str, root: str) -> bool:
    """True when ``path`` lies under ``root`` once both have their symbolic links followed.

    A path that does not exist yet (a file a PUT would create, in directories it would
    create) is judged by its nearest existing ancestor: ``os.path.realpath`` follows the links
    it meets and keeps the missing rest as written, which holds no ``..`` (refused before).

    Args:
        path: a local path, as :func:`local_path` returns it.
        root: the local path of the root it must stay under.
    """
    return within(os.path.realpath(path), os.path.realpath(root))


def _decode(segment: str, url: str) -> str:
    name = segment
    if "%" in segment:
        try:
            # fsdecode is the inverse of the fsencode that Path.as_uri() quotes: names that
            # are not valid UTF-8 round-trip too.
            name = os.fsdecode(unquote_to_bytes(segment))
        except UnicodeDecodeError:
            raise InvalidURL(f"{url!r}: {segment!r} decodes to no file name here") from None
    if name in (".", ".."):
        raise InvalidURL(
            f"{url!r}: '.' and '..' path segments are refused, percent-encoded ones too"
        )
    if _NOT_IN_A_NAME.search(name):
        raise InvalidURL(
            f"{url!r}: the segment {segment!r} decodes to a separator or NUL byte, "
            "which no file name holds"
        )
    return name
