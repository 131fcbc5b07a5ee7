"""Policy documents and requests: the input model of the evaluator, and its compiler.

Pure: no I/O, no clients. Documents are parsed and compiled once, when a ``PolicyRef``
is made (wildcards become regexes; JSON text is cached), so one ``PolicyRef`` can answer
many requests quickly. A malformed document is a ``ValueError`` naming the policy, its
target and the bad element: only ``Version``, ``Id`` and ``Statement`` at the top, and
``Sid``, ``Effect``, ``Action``/``NotAction``, ``Resource``/``NotResource`` and
``Condition`` in a statement (``Principal`` belongs in resource policies). How the
compiled statements decide a request is :mod:`corral.evaluate.engine`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from corral.evaluate.conditions import Condition, compile_condition
from corral.evaluate.patterns import (
    Context,
    ElementError,
    Part,
    glob_regex,
    has_variables,
    normalize_context,
    parse_pattern,
    resolve,
)

ContextValue = str | bool | int | float | Sequence[str]

VERSION_CURRENT = "2012-10-17"
VERSION_LEGACY = "2008-10-17"
PRINCIPAL_ARN_KEY = "aws:principalarn"
PRINCIPAL_ACCOUNT_KEY = "aws:principalaccount"

_DOCUMENT_KEYS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)
_ACTION_RE = re.compile(r"^(\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?_.-]+)$")


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Request:
    """One API request: the action, the resource ARN (``*`` for actions without
    resource-level permissions), the request context, and who makes it.

    ``principal_arn`` and ``account`` also fill ``aws:PrincipalArn`` and
    ``aws:PrincipalAccount`` when ``context`` does not set them.
    """

    action: str
    resource: str = "*"
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal_arn: str | None = None
    account: str | None = None
    facts: Context = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.action, str) or not self.action:
            raise ValueError("Request action is empty; give an action such as 'ec2:RunInstances'.")
        facts = normalize_context(self.context)
        if self.principal_arn is not None:
            facts.setdefault(PRINCIPAL_ARN_KEY, (self.principal_arn,))
        if self.account is not None:
            facts.setdefault(PRINCIPAL_ACCOUNT_KEY, (self.account,))
        object.__setattr__(self, "facts", facts)


@dataclass(frozen=True)
class NameSet:
    """Compiled ``Action``/``Resource`` patterns: exact names, one regex, and patterns
    holding policy variables (resolved per request)."""

    everything: bool
    exact: frozenset[str]
    pattern: re.Pattern[str] | None
    dynamic: tuple[tuple[Part, ...], ...] = ()

    def matches(self, name: str, context: Context) -> bool:
        """Whether ``name`` (an action already lower-cased, or a resource) matches."""
        if self.everything or name in self.exact:
            return True
        if self.pattern is not None and self.pattern.fullmatch(name):
            return True
        for parts in self.dynamic:
            resolved = resolve(parts, context)
            if resolved is not None and glob_regex(resolved).fullmatch(name):
                return True
        return False


@dataclass(frozen=True)
class Statement:
    """One compiled statement; ``sid`` is its Sid, or ``#index`` when it has none."""

    sid: str
    effect: Literal["Allow", "Deny"]
    actions: NameSet
    not_action: bool
    resources: NameSet
    not_resource: bool
    conditions: tuple[Condition, ...]

    def applies(self, action: str, resource: str, context: Context) -> bool:
        """Whether the statement covers this lower-cased action and this resource."""
        if self.actions.matches(action, context) == self.not_action:
            return False
        if self.resources.matches(resource, context) == self.not_resource:
            return False
        return all(condition.evaluate(context) for condition in self.conditions)


@dataclass(frozen=True)
class PolicyRef:
    """A policy document (JSON text or parsed) attached to ``target``: a root, OU or
    account id for an SCP, or the principal for an identity policy."""

    name: str
    target: str
    document: Mapping[str, Any] | str
    statements: tuple[Statement, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            statements = compile_document(self.document)
        except ElementError as error:
            raise ValueError(
                f"Policy {self.name!r} attached to {self.target!r} has a malformed "
                f"{error.path}: {error.problem}."
            ) from None
        object.__setattr__(self, "statements", statements)


# --------------------------------------------------------------------------- compiling


def compile_document(document: Mapping[str, Any] | str) -> tuple[Statement, ...]:
    """Validate and compile a policy document; raise ``ElementError`` naming the element."""
    if isinstance(document, str):
        return _compile_text(document)
    return _compile_parsed(document)


@functools.lru_cache(maxsize=1024)
def _compile_text(text: str) -> tuple[Statement, ...]:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ElementError(
            "document", f"is not valid JSON ({error.msg} at line {error.lineno}); fix the text"
        ) from None
    return _compile_parsed(parsed)


def _compile_parsed(document: object) -> tuple[Statement, ...]:
    if not isinstance(document, Mapping):
        raise ElementError("document", "is not a JSON object; give {'Statement': [...]}")
    unknown = sorted(set(document) - _DOCUMENT_KEYS)
    if unknown:
        raise ElementError(repr(unknown[0]), "is not a policy element; use Version, Id, Statement")
    version = document.get("Version", VERSION_LEGACY)
    if version not in (VERSION_CURRENT, VERSION_LEGACY):
        raise ElementError("Version", f"{version!r} is unknown; use {VERSION_CURRENT!r}")
    raw = document.get("Statement")
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, list) or not items:
        raise ElementError("Statement", "is missing or empty; give one statement or a list")
    variables = version == VERSION_CURRENT
    return tuple(_compile_statement(item, i, variables) for i, item in enumerate(items))


def _compile_statement(raw: object, index: int, variables: bool) -> Statement:
    path = f"Statement[{index}]"
    if not isinstance(raw, Mapping):
        raise ElementError(path, "is not a JSON object")
    unknown = sorted(set(raw) - _STATEMENT_KEYS)
    if unknown:
        raise ElementError(
            f"{path}.{unknown[0]}",
            "is not allowed in an identity policy or SCP; remove it "
            "(Principal belongs in resource policies)",
        )
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise ElementError(f"{path}.Effect", f"is {effect!r}; use 'Allow' or 'Deny'")
    action_key = _exactly_one(raw, path, "Action", "NotAction")
    resource_key = _exactly_one(raw, path, "Resource", "NotResource")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise ElementError(f"{path}.Sid", "is not a string")
    return Statement(
        sid=sid if sid else f"#{index}",
        effect=effect,
        actions=_compile_actions(raw[action_key], f"{path}.{action_key}"),
        not_action=action_key == "NotAction",
        resources=_compile_resources(raw[resource_key], f"{path}.{resource_key}", variables),
        not_resource=resource_key == "NotResource",
        conditions=_compile_conditions(raw.get("Condition"), f"{path}.Condition", variables),
    )


def _exactly_one(raw: Mapping[str, Any], path: str, key: str, negated: str) -> str:
    present = [name for name in (key, negated) if name in raw]
    if len(present) != 1:
        raise ElementError(path, f"needs exactly one of {key} and {negated}; give one")
    return present[0]


def _strings(raw: object, path: str) -> list[str]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise ElementError(path, "must be a string or a non-empty list of strings")
    return items


def _compile_actions(raw: object, path: str) -> NameSet:
    items = _strings(raw, path)
    for item in items:
        if not _ACTION_RE.match(item):
            raise ElementError(path, f"{item!r} is not an action; write 'service:Action' or '*'")
    return _name_set(items, fold=True, variables=False)


def _compile_resources(raw: object, path: str, variables: bool) -> NameSet:
    try:
        return _name_set(_strings(raw, path), fold=False, variables=variables)
    except ElementError as error:
        raise ElementError(path, error.problem) from None


def _name_set(items: list[str], *, fold: bool, variables: bool) -> NameSet:
    everything = "*" in items
    exact: set[str] = set()
    bodies: list[str] = []
    dynamic: list[tuple[Part, ...]] = []
    for item in items:
        parts = parse_pattern(item, wildcards=True, variables=variables)
        if has_variables(parts):
            dynamic.append(parts)
        elif all(part[0] == "L" for part in parts):
            text = "".join(part[1] for part in parts)
            exact.add(text.lower() if fold else text)
        else:
            bodies.append(glob_regex(parts).pattern)
    flags = re.IGNORECASE | re.DOTALL if fold else re.DOTALL
    pattern = re.compile("|".join(f"(?:{b})" for b in bodies), flags) if bodies else None
    return NameSet(everything, frozenset(exact), pattern, tuple(dynamic))


def _compile_conditions(raw: object, path: str, variables: bool) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ElementError(path, "is not a JSON object of operator -> {key: values}")
    conditions: list[Condition] = []
    for name, block in raw.items():
        if not isinstance(block, Mapping) or not block:
            raise ElementError(f"{path}.{name}", "must be a non-empty object of key -> values")
        for key, values in block.items():
            conditions.append(
                compile_condition(name, key, values, path=f"{path}.{name}", variables=variables)
            )
    return tuple(conditions)
