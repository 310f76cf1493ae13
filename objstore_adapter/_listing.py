"""The JSON listing served for a GET on a prefix (a URL ending in ``/``)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ._info import from_fsspec


def listing_entries(path: str, found: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What ``fs.ls(path, detail=True)`` found directly under ``path``, as listing entries.

    Names are relative to the prefix; directories end with ``/``; the prefix's own marker
    object (S3's zero-byte ``dir/`` keys) is left out. Sorted by name.
    """
    base = path.rstrip("/") + "/"
    entries = []
    for item in found:
        name = str(item.get("name", ""))
        if not name.startswith(base) and not name.startswith(base.lstrip("/")):
            continue
        relative = name[len(base) if name.startswith(base) else len(base.lstrip("/")) :]
        relative = relative.rstrip("/")
        if not relative:
            continue
        info = from_fsspec(item)
        entry: dict[str, Any] = {"name": relative + "/" if info.is_dir else relative}
        entry["type"] = "directory" if info.is_dir else "file"
        if not info.is_dir:
            entry["size"] = info.size
            if info.last_modified is not None:
                entry["last_modified"] = info.last_modified.isoformat().replace("+00:00", "Z")
            if info.etag is not None:
                entry["etag"] = info.etag
        entries.append(entry)
    entries.sort(key=lambda entry: entry["name"])
    return entries


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
