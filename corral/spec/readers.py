"""Reading raw stack-config values: :class:`SpecError`, key paths and the generic value readers.

Config values may be native (from the stack file) or JSON text (as the Pulumi engine hands
structured config to a program); every reader accepts both and raises a :class:`SpecError`
whose one-line message names the full key path and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from corral.spec import catalog
from corral.spec import keys as K

MAX_LIST = 1000


def printable(text: str, limit: int = 120) -> str:
    """``text`` on one line: control characters escaped, clipped to ``limit`` characters."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


class SpecError(ValueError):
    """A config problem; ``str()`` is one line naming the key and the fix.

    Whatever the config holds, the message stays one printable line: control
    characters are escaped and user text is clipped.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = printable(key, 100)
        super().__init__(f"{self.key}: {printable(message, 400)}")


def key_path(*parts: str | int) -> str:
    """The full config key of ``parts``: ``key_path("targets", 0, "id")`` is
    ``corral:targets[0].id``."""
    path = K.NAMESPACE + ":"
    for i, part in enumerate(parts):
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += part if i == 0 else f".{part}"
    return path


def decode(value: Any, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    """Accept native values and the JSON strings Pulumi hands to programs."""
    if isinstance(value, str) and kind is not str:
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise SpecError(key, f"must be {what}, got the text {value[:60]!r}.") from None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SpecError(key, f"must be {what}, got {type(value).__name__}.")
    return value


def reject_unknown(
    raw: Mapping[str, Any], allowed: Iterable[str], base: str, sep: str = "."
) -> None:
    """Raise SpecError for the first key of ``raw`` not in ``allowed``, with a suggestion."""
    allowed = tuple(allowed)
    for name in raw:
        if name in allowed:
            continue
        if not isinstance(name, str):
            raise SpecError(f"{base}{sep}{name!r}", "is not a valid key name; keys are text.")
        hint = catalog.suggest(name, allowed)
        fix = f"did you mean '{hint}'?" if hint else f"valid keys are {', '.join(allowed)}."
        raise SpecError(f"{base}{sep}{name}", f"is not a known key; {fix}")


def list_of(value: Any, key: str, what: str = "a list") -> list[Any]:
    """``value`` as a list (native or JSON text) of at most :data:`MAX_LIST` entries."""
    items = decode(value, key, list, what)
    if len(items) > MAX_LIST:
        raise SpecError(key, f"has {len(items)} entries; at most {MAX_LIST} are supported.")
    return items


def strings(value: Any, key: str) -> tuple[str, ...]:
    """``value`` as a list of distinct non-empty strings."""
    items = list_of(value, key, "a list of strings")
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise SpecError(f"{key}[{i}]", "must be a non-empty string.")
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item in seen:
            raise SpecError(f"{key}[{i}]", f"repeats '{item}'; list each value once.")
        seen.add(item)
    return tuple(items)


def as_bool(value: Any, key: str) -> bool:
    """``value`` as a boolean; ``"true"``/``"false"`` text (from ``pulumi config set``) too."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise SpecError(key, f"must be true or false, got {value!r:.60}.")
    return value


def as_mapping(value: Any, key: str) -> dict[str, Any]:
    """``value`` as a map (native or JSON text)."""
    return decode(value, key, dict, "a map")


def number(value: Any, key: str, what: str) -> float:
    """``value`` as a number (int or float, not bool)."""
    found = decode(value, key, (int, float), what)
    if isinstance(found, bool):
        raise SpecError(key, f"must be {what}, got bool.")
    return float(found)


def positive(value: Any, key: str, ceiling: float, unit: str) -> float:
    """``value`` as a number of ``unit`` above 0 and at most ``ceiling``."""
    amount = number(value, key, f"a number of {unit}")
    if amount <= 0:
        raise SpecError(key, f"{amount:g} is not more than 0; set a positive amount of {unit}.")
    if amount > ceiling:
        raise SpecError(key, f"{amount:g} is more than {ceiling:g} {unit}; lower it.")
    return amount


def choice(
    raw: Mapping[str, Any], name: str, choices: tuple[str, ...], key: str, required: bool
) -> str:
    """``raw[name]``, one of ``choices``; when absent, an error if ``required``, else the first."""
    if name not in raw:
        if required:
            raise SpecError(key, f"is required; set it to one of {', '.join(choices)}.")
        return choices[0]
    value = raw[name]
    if value not in choices:
        hint = catalog.suggest(str(value), choices)
        fix = f"did you mean '{hint}'?" if hint else f"use one of {', '.join(choices)}."
        raise SpecError(key, f"'{printable(str(value), 60)}' is not a valid value; {fix}")
    return value
