"""Transfer settings by name, as configuration spells them.

Every :class:`TransferConfig` field can be set where a user configures a store: fsspec's
configuration (its ``objstore`` section), the CLI's flags and ``.condarc``. Values arrive as
text or JSON; this module reads them (``"16MiB"``, ``"inf"``, ``"true"``) and names the
setting, and where it was set, when one cannot be taken.

The ``objstore`` section is not a protocol's, so fsspec never passes it to a filesystem and no
name in it can collide with a storage option. In it:

- ``<field>``: for every scheme (``FSSPEC_OBJSTORE_MAX_ATTEMPTS=3``);
- ``<scheme>_<field>``: for one scheme (``FSSPEC_OBJSTORE_S3_PART_SIZE=16MiB``);
- ``<scheme>`` or a URL prefix (``s3://bucket/team/``) → a mapping of fields, in a JSON file in
  ``~/.config/fsspec/`` or ``FSSPEC_OBJSTORE='{...}'``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

import fsspec.config

from ._errors import BackendConfigError
from ._transfer import TransferConfig

#: The section of fsspec's configuration that holds transfer settings.
SECTION = "objstore"

_FIELDS = {field.name: field for field in dataclasses.fields(TransferConfig)}
_SIZES = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([kmgt]?)(i?)b?\s*", re.IGNORECASE)
#: Fields measured in bytes (or bytes per second): they take a unit, 16MiB or 8MB.
_IN_BYTES = {"part_size", "download_part_size", "parallel_below"}


class TransferSettingError(BackendConfigError):
    """A transfer setting that cannot be taken; the message names it and where it was set.

    Raised by ``register`` for the settings it is given, and for a setting in fsspec's
    configuration when a URL it applies to is used (so that, as with storage options, a
    wrong value does not stop the tools that would repair it). A ``ValueError`` and a
    ``requests`` exception both.
    """


def transfer(base: TransferConfig, values: Mapping[str, Any], where: str) -> TransferConfig:
    """``base`` with ``values`` (setting name → value as configuration gives it) applied.

    Args:
        where: where the values were set, for the message of an error.

    Raises:
        TransferSettingError: an unknown name, a value of the wrong kind, or one that
            ``TransferConfig`` refuses.
    """
    if not values:
        return base
    parsed = {
        name: _value(name, value, where.replace("{NAME}", name.upper()))
        for name, value in values.items()
    }
    try:
        return dataclasses.replace(base, **parsed)
    except ValueError as exc:
        shown = ", ".join(f"{name}={values[name]!r}" for name in values)
        named = where.replace(
            "{NAME}", next(iter(values)).upper() if len(values) == 1 else "<NAME>"
        )
        raise TransferSettingError(f"transfer setting {shown} ({named}): {exc}") from None


def size(text: str | int | float) -> int:
    """A size in whole bytes: ``16MiB``, ``8MB``, ``1048576``.

    Raises:
        ValueError: not a size, or not a whole number of bytes.
    """
    return _whole(_bytes(text))


def configured(prefix: str) -> dict[str, Any]:
    """The values fsspec's configuration sets for ``prefix`` itself: for a scheme, those
    given for every scheme, then its own; for a URL prefix, its mapping.

    Raises:
        TransferSettingError: the section names a setting that does not exist.
    """
    section = _section()
    if "://" in prefix:
        found: dict[str, Any] = {}
        for key in section:
            if "://" in key and normal(key) == prefix:
                found.update(_mapping(section, key))
        return found
    found = {name: value for name, value in section.items() if name in _FIELDS}
    found.update(_mapping(section, prefix))
    for name in _FIELDS:
        if f"{prefix}_{name}" in section:
            found[name] = section[f"{prefix}_{name}"]
    return found


def configured_prefixes() -> list[str]:
    """The URL prefixes fsspec's configuration gives settings of their own."""
    return [normal(key) for key in _section() if "://" in key]


def normal(prefix: str) -> str:
    """A URL prefix as the registry keeps it: its scheme in lower case."""
    scheme, rest = prefix.split("://", 1)
    return f"{scheme.lower()}://{rest}"


def where(prefix: str) -> str:
    """Where fsspec's configuration sets ``prefix``'s values, for messages (``{NAME}``
    stands for the setting's name)."""
    if "://" in prefix:
        return f"fsspec's configuration, section {SECTION!r}, key {prefix!r}"
    return (
        f"fsspec's configuration: FSSPEC_OBJSTORE_{prefix.upper()}_{{NAME}}, "
        f"FSSPEC_OBJSTORE_{{NAME}} or section {SECTION!r} of a file in its directory"
    )


def _section() -> Mapping[str, Any]:
    """fsspec's ``objstore`` section, every name in it checked."""
    section = fsspec.config.conf.get(SECTION) or {}
    if not isinstance(section, Mapping):
        raise TransferSettingError(f"fsspec configuration section {SECTION!r} is not a mapping")
    for key, value in section.items():
        if "://" in key and not isinstance(value, Mapping):
            raise TransferSettingError(
                f"fsspec's configuration, section {SECTION!r}: {key!r} must map setting names "
                f"to values, not {value!r}"
            )
        if isinstance(value, Mapping):
            unknown = [name for name in value if name not in _FIELDS]
        elif key in _FIELDS or any(key.endswith(f"_{name}") for name in _FIELDS):
            continue
        else:
            unknown = [key]
        if unknown:
            place = f"in {key!r} " if unknown[0] != key else ""
            raise TransferSettingError(
                f"unknown transfer setting {unknown[0]!r} {place}in fsspec's configuration, "
                f"section {SECTION!r}; the settings are: " + ", ".join(_FIELDS)
            )
    return section


def _mapping(section: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value: Mapping[str, Any] = section.get(key) or {}  # checked by _section
    return value


def _value(name: str, value: Any, where: str) -> Any:
    """``value`` as the type of the setting ``name``."""
    field = _FIELDS.get(name)
    if field is None:
        raise TransferSettingError(
            f"unknown transfer setting {name!r} ({where}); the settings are: " + ", ".join(_FIELDS)
        )
    kind = str(field.type)  # "int", "float", "bool": TransferConfig's annotations, as text
    try:
        if kind == "bool":
            return _flag(value)
        if name in _IN_BYTES:
            amount = _bytes(value)
            return amount if kind == "float" else _whole(amount)
        if kind == "int":
            return _whole(_number(value))
        return _number(value)
    except (TypeError, ValueError) as exc:
        raise TransferSettingError(f"transfer setting {name}={value!r} ({where}): {exc}") from None


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    words = {"true": True, "yes": True, "on": True, "1": True}
    words.update({"false": False, "no": False, "off": False, "0": False})
    if isinstance(value, (str, int)) and str(value).strip().lower() in words:
        return words[str(value).strip().lower()]
    raise ValueError("expected true or false")


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("expected a number")
    number = float(value)
    if math.isnan(number):
        raise ValueError("expected a number")
    return number


def _whole(number: float) -> int:
    if not float(number).is_integer():
        raise ValueError("expected a whole number")
    return int(number)


def _bytes(value: Any) -> float:
    """A size or rate in bytes: a number, ``inf``, or a number with a unit (16MiB, 8MB)."""
    if isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        number, unit, binary = match.groups()
        scale = 1024 ** "bkmgt".index(unit.lower() or "b") if binary else _SIZES[unit.lower()]
        if binary and not unit:
            raise ValueError("expected a size such as 16MiB, 8MB or 1048576")
        return float(number) * scale
    try:
        return _number(value)
    except ValueError:
        raise ValueError("expected a size such as 16MiB, 8MB or 1048576") from None
