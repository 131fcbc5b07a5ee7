"""Policy strings and the request context they are read against, as pure functions.

A policy string (an ``Action``, a ``Resource``, a condition value) is split into tokens:
literal text, the wildcards ``*`` and ``?``, and policy variables. Semantics follow AWS's
"IAM policy elements: Variables and tags" and "Single-valued vs. multivalued context keys":

- ``${key}`` and ``${key, 'default'}`` are replaced from the request context; ``${*}``,
  ``${?}`` and ``${$}`` stand for a literal ``*``, ``?`` and ``$``. A variable that cannot
  be resolved (missing or multivalued key, no default) makes that one value not match.
  Variables are only recognised in documents of Version ``2012-10-17``.
- Condition keys are case-insensitive: the request context is normalised to lower-case
  keys, each holding its values as strings.
- ``*`` matches any run of characters and ``?`` one character; in ``ArnLike`` a wildcard
  stays inside its ARN component.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

Context = Mapping[str, tuple[str, ...]]
"""A normalised request context: lower-case key -> its values as strings."""

Part = tuple[str, ...]
"""One token: ``("L", text)``, ``("*",)``, ``("?",)``, ``("V", key)`` or ``("V", key, default)``."""

STAR: Part = ("*",)
QMARK: Part = ("?",)

_VARIABLE_RE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY_RE = re.compile(r"^\s*([A-Za-z0-9_.:/+=@-]+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?$")


class ElementError(ValueError):
    """A malformed policy element: ``path`` names it, ``problem`` says what is wrong."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


# --------------------------------------------------------------------------- context


def normalize_context(context: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Lower-case the keys and turn every value into a tuple of strings.

    ``True``/``False`` become ``"true"``/``"false"``, numbers their decimal text, lists
    and tuples a multivalued key. Any other value type is a ``ValueError`` naming the key.
    """
    normal: dict[str, tuple[str, ...]] = {}
    for key, value in context.items():
        if not isinstance(key, str):
            raise ValueError(f"Context key {key!r} is not a string; use the key's name.")
        items = value if isinstance(value, list | tuple) else (value,)
        normal[key.lower()] = tuple(_context_text(key, item) for item in items)
    return normal


def _context_text(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(
        f"Context key {key!r} has a value of type {type(value).__name__}; "
        "use a string, a number, a bool or a list of those."
    )


# --------------------------------------------------------------------------- patterns


def parse_pattern(text: str, *, wildcards: bool, variables: bool) -> tuple[Part, ...]:
    """Split a policy string into literal, wildcard and variable tokens.

    With ``wildcards`` false, ``*`` and ``?`` are plain text. With ``variables`` false
    (policy Version 2008-10-17), ``${...}`` is plain text too.
    """
    parts: list[Part] = []
    position = 0
    if variables:
        for match in _VARIABLE_RE.finditer(text):
            parts.extend(_plain_parts(text[position : match.start()], wildcards))
            parts.append(_variable_part(match.group(1), text))
            position = match.end()
    parts.extend(_plain_parts(text[position:], wildcards))
    return _merge_literals(parts)


def _plain_parts(text: str, wildcards: bool) -> list[Part]:
    if not wildcards:
        return [("L", text)] if text else []
    parts: list[Part] = []
    for piece in re.split(r"([*?])", text):
        if piece == "*":
            parts.append(STAR)
        elif piece == "?":
            parts.append(QMARK)
        elif piece:
            parts.append(("L", piece))
    return parts


def _variable_part(body: str, text: str) -> Part:
    if body in ("*", "?", "$"):
        return ("L", body)
    match = _VARIABLE_BODY_RE.match(body)
    if match is None:
        raise ElementError(
            repr(text),
            f"the policy variable '${{{body}}}' is malformed; write ${{key}} or "
            "${key, 'default'}, or ${*}, ${?}, ${$} for a literal *, ? or $",
        )
    key, default = match.group(1).lower(), match.group(2)
    return ("V", key) if default is None else ("V", key, default.replace("''", "'"))


def _merge_literals(parts: list[Part]) -> tuple[Part, ...]:
    merged: list[Part] = []
    for part in parts:
        if part[0] == "L" and merged and merged[-1][0] == "L":
            merged[-1] = ("L", merged[-1][1] + part[1])
        else:
            merged.append(part)
    return tuple(merged)


def has_variables(parts: tuple[Part, ...]) -> bool:
    """Whether any token is a policy variable."""
    return any(part[0] == "V" for part in parts)


def resolve(parts: tuple[Part, ...], context: Context) -> tuple[Part, ...] | None:
    """Replace variables by their context value (inserted literally); ``None`` if one
    is missing or multivalued and has no default."""
    if not has_variables(parts):
        return parts
    resolved: list[Part] = []
    for part in parts:
        if part[0] != "V":
            resolved.append(part)
            continue
        values = context.get(part[1])
        if values is not None and len(values) == 1:
            resolved.append(("L", values[0]))
        elif len(part) == 3:
            resolved.append(("L", part[2]))
        else:
            return None
    return _merge_literals(resolved)


def render(parts: tuple[Part, ...]) -> str:
    """The literal text of variable-free tokens, wildcards written as ``*`` and ``?``."""
    return "".join(part[1] if part[0] == "L" else part[0] for part in parts)


@functools.lru_cache(maxsize=8192)
def glob_regex(parts: tuple[Part, ...], flags: int = 0) -> re.Pattern[str]:
    """A regex matching the whole string: ``*`` any run of characters, ``?`` one."""
    body = "".join(
        ".*" if part == STAR else "." if part == QMARK else re.escape(part[1]) for part in parts
    )
    return re.compile(body, flags | re.DOTALL)


@functools.lru_cache(maxsize=8192)
def arn_regex(parts: tuple[Part, ...]) -> re.Pattern[str]:
    """A regex for ``ArnLike``: each of the six colon-separated ARN components is matched
    on its own, so a wildcard stays inside its component (the last one may hold colons).
    A pattern that is not six components long is matched as one whole-string glob."""
    text_parts = [p for p in parts if p[0] == "L"]
    colons = sum(p[1].count(":") for p in text_parts)
    if colons < 5:
        return glob_regex(parts)
    body: list[str] = []
    seen = 0
    for part in parts:
        if part[0] == "L":
            body.append(re.escape(part[1]))
            seen += part[1].count(":")
        else:
            in_last = seen >= 5
            body.append(
                (".*" if in_last else "[^:]*") if part == STAR else "." if in_last else "[^:]"
            )
    return re.compile("".join(body), re.DOTALL)
