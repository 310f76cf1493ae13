"""Which storage option a failure to build or connect a route's filesystem blames."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ._errors import BackendConfigError, describe, exception_chain
from ._redact import redact, stand_in


def configuration_error(
    prefix: str, protocol: str, options: Mapping[str, Any], exc: BaseException
) -> BackendConfigError:
    """A :class:`BackendConfigError` for route ``prefix`` whose ``protocol`` filesystem failed
    with ``exc`` while it was built or connected.

    It names the option to check (the one whose value the failure mentions or was handling,
    else the options given) and quotes the backend's message with every option's value
    removed; the backend exception is chained only as a redacted copy.
    """
    scheme = prefix.split("://", 1)[0]
    values = {
        text: f"<{name}>"
        for name, value in options.items()
        for text in _option_strings(value)
        if len(text) >= _MIN_VALUE
    }
    detail = redact(" ".join(str(exc).split()), values)[:300] or "no message"
    blamed = _blame(options, exc)
    if blamed:
        check = "check the option " + " or ".join(repr(name) for name in blamed)
    elif options:
        check = "options given: " + ", ".join(sorted(map(str, options)))
    else:
        check = "no options given"
    message = (
        f"the {scheme}:// route {prefix!r} cannot build its {protocol!r} filesystem "
        f"({describe(exc)}: {detail}); {check}"
    )
    error = BackendConfigError(message)
    error.__cause__ = stand_in(exc, values)
    return error


#: Shorter option values ("anon", "test") are too common in messages to look for or redact.
_MIN_VALUE = 6

#: How Python words a call given a keyword its function does not take.
_UNEXPECTED_KEYWORD = re.compile(r"unexpected keyword argument '([^']+)'")


def rejected_option(exc: BaseException, options: Mapping[str, Any]) -> str | None:
    """The storage option a backend refused when it connected: ``exc`` is (or was raised
    from) a ``TypeError`` for an unexpected keyword that is one of ``options`` or a key
    inside one (s3fs hands options it does not know to botocore's session, and
    ``client_kwargs`` to its client). ``None``: no option was refused.
    """
    for link in exception_chain(exc):
        match = _UNEXPECTED_KEYWORD.search(str(link)) if isinstance(link, TypeError) else None
        if match is None:
            continue
        for name, value in options.items():
            if match[1] == name or match[1] in _keys(value):
                return str(name)
    return None


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _keys(item)


def _option_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _option_strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _option_strings(item)
    elif value is not None and not isinstance(value, (bool, int, float)):
        yield str(value)  # a path


def _blame(options: Mapping[str, Any], exc: BaseException) -> list[str]:
    """The options a failure points at, by four clues in turn: a call refused it as an
    unexpected keyword; its text quotes an option's value; its text names an option; a
    frame it was raised through was handling the option's value (gcsfs reports an
    unreadable token file without naming it)."""
    refused = rejected_option(exc, options)
    if refused is not None:
        return [refused]
    texts = [str(link) for link in exception_chain(exc)]
    quoted = [
        name
        for name, value in options.items()
        if any(len(s) >= _MIN_VALUE and s in text for s in _option_strings(value) for text in texts)
    ]
    if quoted:
        return quoted
    named = [
        name
        for name in options
        if any(re.search(rf"\b{re.escape(str(name))}\b", text) for text in texts)
    ]
    if named:
        return named
    objects = {id(value): name for name, value in options.items() if _traceable(value)}
    for link in exception_chain(exc):
        frames = []
        tb = link.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame)
            tb = tb.tb_next
        for frame in reversed(frames):  # innermost first
            for local in frame.f_locals.values():
                if id(local) in objects:
                    return [objects[id(local)]]
    return []


def _traceable(value: Any) -> bool:
    # Interned small values (True, 0, "a") are the same object everywhere: no clue.
    return isinstance(value, (str, bytes, Mapping, list, tuple)) and len(value) >= _MIN_VALUE
