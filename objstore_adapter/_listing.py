"""The JSON listing served for a GET on a prefix (a URL ending in ``/``)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ._info import from_fsspec


def _relative(base: str, name: str) -> str | None:
    """``name`` relative to the prefix ``base`` (which ends in ``/``); ``None``: not under it."""
    if name.startswith(base):
        return name[len(base) :]
    if name.startswith(base.lstrip("/")):  # filesystems that drop the root's marker
        return name[len(base.lstrip("/")) :]
    return None


def hides_keys(path: str, item: Mapping[str, Any]) -> bool:
    """True for what ``ls`` reports when keys lie under an empty segment (``a//b`` under
    ``a/``): a directory named like the prefix itself (s3fs, gcsfs), which lists back to
    the prefix."""
    name = str(item.get("name", "")).rstrip("/")
    return item.get("type") == "directory" and name.lstrip("/") == path.strip("/")


def listing_entries(path: str, found: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What a filesystem found under ``path``, as listing entries of what lies directly under
    it: whatever lies deeper becomes the directory it is in.

    Names are relative to the prefix; directories end with ``/``; the prefix's own marker
    object (S3's zero-byte ``dir/`` keys) is left out. A key under an empty segment
    (``a//b.txt``) keeps its leading slashes in its name (``/b.txt`` in the listing of
    ``a/``, or the directory ``/b/`` for ``a//b/c``), so the name appended to the
    listing's URL is the key's URL again. Sorted by name.
    """
    base = path.rstrip("/") + "/"
    entries: dict[str, dict[str, Any]] = {}
    for item in found:
        relative = _relative(base, str(item.get("name", "")))
        if relative is None or not relative.strip("/"):
            continue
        slashes = len(relative) - len(relative.lstrip("/"))
        first, deeper, _ = relative[slashes:].partition("/")
        info = from_fsspec(item)
        if deeper or info.is_dir:
            name = relative[:slashes] + first + "/"
            entries.setdefault(name, {"name": name, "type": "directory"})
            continue
        # A size the store does not report (a web server's index) is unknown, not 0 bytes.
        size = info.size if item.get("size") is not None else None
        entry: dict[str, Any] = {"name": relative, "type": "file", "size": size}
        if info.last_modified is not None:
            entry["last_modified"] = info.last_modified.isoformat().replace("+00:00", "Z")
        if info.etag is not None:
            entry["etag"] = info.etag
        entries[relative] = entry
    return [entries[name] for name in sorted(entries)]


def listing_body(
    url: str, entries: Sequence[Mapping[str, Any]], percent_encoded: bool = False
) -> Iterator[bytes]:
    """The listing document, encoded piece by piece so a large one is never one string.

    Each entry's ``url`` leads back to it: percent-encoded where the scheme's paths are
    (file://), literal where keys are (object stores).
    """
    base = url if url.endswith("/") else url + "/"
    yield b'{"url": ' + json.dumps(url).encode() + b', "entries": ['
    for index, entry in enumerate(entries):
        name = entry["name"]
        if percent_encoded:  # file names that are not UTF-8 arrive as surrogate escapes
            name = quote(name, errors="surrogateescape")
        item = {"name": entry["name"], "url": base + name, **entry}
        yield (b", " if index else b"") + json.dumps(item).encode()
    yield b"]}"
