"""IAM condition operators and compiled conditions, as pure functions.

Semantics follow AWS's "IAM JSON policy elements: Condition operators", "Conditions with
multiple context keys or values", "Single-valued vs. multivalued context keys" and "IAM
policy elements: Variables and tags":

- Multiple keys in one operator block are ANDed (the caller ANDs blocks too); multiple
  policy values for one key are ORed, and for a negated operator (``StringNotEquals``
  ...) NORed: it is true only when the request value matches *none* of them.
- A key missing from the request context makes a positive operator false and a negated
  operator true. ``...IfExists`` makes a missing key true. ``Null`` tests presence.
- ``ForAllValues:`` is true when the key is missing or empty and otherwise needs every
  request value to satisfy the operator; ``ForAnyValue:`` is false when the key is
  missing and otherwise needs one request value to satisfy it. A single-valued key is a
  one-element set.
- ``ForAllValues:Null`` and ``ForAnyValue:Null`` are accepted and mean exactly ``Null``:
  a qualifier does not change a presence test. "Condition operators" exempts the Null
  check from the missing-key rule ("This logic applies to all condition operators except
  ...IfExists and Null check"), and "Single-valued vs. multivalued context keys" defines
  the qualifiers over the request's values, which a presence test does not look at. So
  ``ForAllValues:Null`` with ``false`` on a missing key is false (the key is absent), not
  the vacuous true of ``ForAllValues`` over an empty set; with ``true`` it is true. Cloud
  Copilot's iam-simulate, an open re-implementation of the IAM policy simulator, reads
  the qualified Null the same way.
- Without a set qualifier a multivalued request key matches a positive operator when any
  of its values does, and a negated operator when none of its values matches the
  positive form (the negated operator is the complement of the positive one on values of
  the operator's type).
- A request value that cannot be read as the operator's type (``abc`` for a Numeric
  operator, ``yesterday`` for a Date one, ``not-an-ip`` for an IP one, ``not-an-arn`` for
  an ARN one, text that is not base64 for BinaryEquals, anything but true/false for Bool;
  String operators read any text) satisfies neither the operator nor its negation, as in
  the IAM policy simulator: ``NumericNotEquals`` against ``abc`` is false, not "not
  equal". Under a set qualifier such a value does not satisfy the operator; without one
  it is no match for a positive operator and makes a negated operator false.
- Condition keys are case-insensitive; values are case-sensitive except for the
  ``IgnoreCase`` operators and ``Bool``.
- Policy values may hold wildcards and policy variables; how they are parsed and resolved
  against the request context is :mod:`corral.evaluate.patterns`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from corral.evaluate.patterns import (
    Context,
    ElementError,
    Part,
    arn_regex,
    glob_regex,
    has_variables,
    parse_pattern,
    render,
    resolve,
)

FOR_ALL = "ForAllValues"
FOR_ANY = "ForAnyValue"
IF_EXISTS = "IfExists"

_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_EPOCH_RE = re.compile(r"^-?\d+(?:\.\d+)?$")


# --------------------------------------------------------------------------- value kinds


def _number(text: str) -> float:
    if not _NUMBER_RE.match(text.strip()):
        raise ValueError(f"{text!r} is not a number")
    return float(text)


def parse_date(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 date/time (UTC unless an offset is given)
    or of a plain epoch-seconds number."""
    stripped = text.strip()
    if _EPOCH_RE.match(stripped):
        return float(stripped)
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or epoch seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _bool(text: str) -> str:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"{text!r} is not true or false")
    return lowered


def _binary(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError(f"{text!r} is not base64") from None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text.strip(), strict=False)


def _arn(text: str) -> str:
    if not text.startswith("arn:") or text.count(":") < 5:
        raise ValueError(f"{text!r} is not an ARN (arn:partition:service:region:account:resource)")
    return text


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text.strip())


def _in_network(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> bool:
    return address.version == network.version and address in network


def _ordered(parse: Callable[[str], float], compare: Callable[[float, float], bool]) -> Kind:
    return Kind(prepare=lambda parts: parse(render(parts)), compare=compare, read=parse)


def _regex_match(value: str, prepared: re.Pattern[str]) -> bool:
    return prepared.fullmatch(value) is not None


@dataclass(frozen=True)
class Kind:
    """How one operator family reads a policy value and compares a request value to it.

    ``prepare`` turns resolved tokens into a comparable (raising ``ValueError`` if the
    policy value is malformed); ``read`` turns one request value into the family's type
    (raising ``ValueError`` if it is not of that type; ``None`` keeps the text as it is);
    ``compare`` tells whether a read request value matches one prepared policy value.
    """

    prepare: Callable[[tuple[Part, ...]], Any]
    compare: Callable[[Any, Any], bool]
    read: Callable[[str], Any] | None = None
    wildcards: bool = False


_STRING_EQUALS = Kind(prepare=render, compare=operator.eq)
_STRING_EQUALS_IC = Kind(
    prepare=lambda parts: render(parts).casefold(), compare=operator.eq, read=str.casefold
)
_STRING_LIKE = Kind(prepare=glob_regex, compare=_regex_match, wildcards=True)
_ARN_LIKE = Kind(prepare=arn_regex, compare=_regex_match, read=_arn, wildcards=True)
_BOOL = Kind(prepare=lambda parts: _bool(render(parts)), compare=operator.eq, read=_bool)
_BINARY = Kind(prepare=lambda parts: _binary(render(parts)), compare=operator.eq, read=_binary)
_IP = Kind(prepare=lambda parts: _network(render(parts)), compare=_in_network, read=_address)
_NULL = Kind(prepare=lambda parts: _bool(render(parts)) == "true", compare=operator.eq)

_COMPARISONS: dict[str, tuple[Callable[[float, float], bool], bool]] = {
    "Equals": (operator.eq, False),
    "NotEquals": (operator.eq, True),
    "LessThan": (operator.lt, False),
    "LessThanEquals": (operator.le, False),
    "GreaterThan": (operator.gt, False),
    "GreaterThanEquals": (operator.ge, False),
}


@dataclass(frozen=True)
class OperatorSpec:
    """A base condition operator (without qualifier or ``IfExists``)."""

    name: str
    kind: Kind
    negated: bool


def _operator_table() -> dict[str, OperatorSpec]:
    specs = [
        OperatorSpec("StringEquals", _STRING_EQUALS, False),
        OperatorSpec("StringNotEquals", _STRING_EQUALS, True),
        OperatorSpec("StringEqualsIgnoreCase", _STRING_EQUALS_IC, False),
        OperatorSpec("StringNotEqualsIgnoreCase", _STRING_EQUALS_IC, True),
        OperatorSpec("StringLike", _STRING_LIKE, False),
        OperatorSpec("StringNotLike", _STRING_LIKE, True),
        OperatorSpec("Bool", _BOOL, False),
        OperatorSpec("BinaryEquals", _BINARY, False),
        OperatorSpec("IpAddress", _IP, False),
        OperatorSpec("NotIpAddress", _IP, True),
        OperatorSpec("ArnEquals", _ARN_LIKE, False),
        OperatorSpec("ArnLike", _ARN_LIKE, False),
        OperatorSpec("ArnNotEquals", _ARN_LIKE, True),
        OperatorSpec("ArnNotLike", _ARN_LIKE, True),
        OperatorSpec("Null", _NULL, False),
    ]
    for suffix, (compare, negated) in _COMPARISONS.items():
        specs.append(OperatorSpec(f"Numeric{suffix}", _ordered(_number, compare), negated))
        specs.append(OperatorSpec(f"Date{suffix}", _ordered(parse_date, compare), negated))
    return {spec.name.lower(): spec for spec in specs}


OPERATORS: dict[str, OperatorSpec] = _operator_table()
"""Every base operator, by lower-case name."""


# --------------------------------------------------------------------------- conditions

Qualifier = Literal["ForAllValues", "ForAnyValue"] | None


@dataclass(frozen=True)
class Condition:
    """One key under one operator, with its policy values compiled."""

    operator: str
    key: str
    spec: OperatorSpec
    qualifier: Qualifier
    if_exists: bool
    static: tuple[Any, ...]
    dynamic: tuple[tuple[Part, ...], ...]

    def evaluate(self, context: Context) -> bool:
        """Whether this key satisfies the operator in ``context``."""
        values = context.get(self.key) or ()
        if self.spec.name == "Null":
            return (not values) in self.static
        if not values:
            if self.if_exists or self.qualifier == FOR_ALL:
                return True
            if self.qualifier == FOR_ANY:
                return False
            return self.spec.negated
        prepared = self.static + self._resolved(context) if self.dynamic else self.static
        negated = self.spec.negated
        # ForAllValues, and a negated operator without a qualifier, need every request
        # value to satisfy the operator; ForAnyValue and a plain positive operator, one
        every = self.qualifier == FOR_ALL or (self.qualifier is None and negated)
        kind = self.spec.kind
        read, compare = kind.read, kind.compare
        for text in values:
            value: Any = text
            if read is not None:
                try:
                    value = read(text)
                except ValueError:  # not of the operator's type: satisfies neither form
                    if every:
                        return False
                    continue
            hit = False
            for item in prepared:
                if compare(value, item):
                    hit = True
                    break
            if hit is not negated:
                if not every:
                    return True
            elif every:
                return False
        return every

    def _resolved(self, context: Context) -> tuple[Any, ...]:
        prepared: list[Any] = []
        for parts in self.dynamic:
            resolved = resolve(parts, context)
            if resolved is None:
                continue
            try:
                prepared.append(self.spec.kind.prepare(resolved))
            except ValueError:
                continue
        return tuple(prepared)


def split_operator(name: str, path: str) -> tuple[OperatorSpec, Qualifier, bool]:
    """Parse ``[ForAllValues:|ForAnyValue:]Base[IfExists]`` into its three parts."""
    qualifier: Qualifier = None
    base = name
    if ":" in name:
        prefix, base = name.split(":", 1)
        for candidate in (FOR_ALL, FOR_ANY):
            if prefix.lower() == candidate.lower():
                qualifier = candidate
        if qualifier is None:
            raise ElementError(
                path, f"the set qualifier {prefix!r} is unknown; use ForAllValues or ForAnyValue"
            )
    if_exists = base.lower().endswith(IF_EXISTS.lower())
    if if_exists:
        base = base[: -len(IF_EXISTS)]
    spec = OPERATORS.get(base.lower())
    if spec is None:
        raise ElementError(
            path,
            f"{name!r} is not a condition operator; use one listed in "
            "'IAM JSON policy elements: Condition operators'",
        )
    if spec.name == "Null" and if_exists:
        raise ElementError(path, "Null takes no IfExists (it tests presence itself); write Null")
    return spec, qualifier, if_exists


def _policy_text(item: str | float) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item)


def compile_condition(name: str, key: str, raw: object, *, path: str, variables: bool) -> Condition:
    """Compile one ``"Operator": {"key": value-or-values}`` entry."""
    spec, qualifier, if_exists = split_operator(name, path)
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise ElementError(f"{path}.{key}", "has no values; give at least one value")
    static: list[Any] = []
    dynamic: list[tuple[Part, ...]] = []
    for item in items:
        if not isinstance(item, str | int | float):
            raise ElementError(f"{path}.{key}", f"value {item!r} is not a string, number or bool")
        text = _policy_text(item)
        parts = parse_pattern(
            text, wildcards=spec.kind.wildcards, variables=variables and spec.name != "Null"
        )
        if has_variables(parts):
            dynamic.append(parts)
            continue
        try:
            static.append(spec.kind.prepare(parts))
        except ValueError as error:
            raise ElementError(
                f"{path}.{key}", f"{error} as {spec.name} needs; fix the value"
            ) from None
    return Condition(name, key.lower(), spec, qualifier, if_exists, tuple(static), tuple(dynamic))
