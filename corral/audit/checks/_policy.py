"""Semantic comparison of policy documents, and a plain-words description of each change.

Documents are compared after normalisation: statements keyed by Sid, lists as sets,
action names and condition keys folded to lower case (AWS treats both as
case-insensitive), condition values sorted. Name matching alone proves nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_LIST_ELEMENTS = ("Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal")
_FOLDED = ("Action", "NotAction")
# Condition keys whose values, under a negated operator, are what a Deny still permits.
_PERMITTED_NOUN = {
    "aws:requestedregion": ("allows", "region", "regions"),
    "ec2:instancetype": ("allows", "instance type pattern", "instance type patterns"),
    "autoscaling:instancetypes": ("allows", "instance type pattern", "instance type patterns"),
    "aws:principalarn": ("exempts", "principal", "principals"),
}


def _as_set(value: Any, fold: bool) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(
        sorted(
            {
                (str(v).lower() if fold else json.dumps(v) if not isinstance(v, str) else v)
                for v in items
            }
        )
    )


def canonical_statement(statement: Mapping[str, Any]) -> dict[str, Any]:
    """One statement in canonical form (without its Sid)."""
    result: dict[str, Any] = {"Effect": statement.get("Effect")}
    for element in _LIST_ELEMENTS:
        if element in statement:
            result[element] = _as_set(statement[element], element in _FOLDED)
    conditions: dict[tuple[str, str], tuple[str, ...]] = {}
    for operator, block in (statement.get("Condition") or {}).items():
        for key, values in (block or {}).items():
            conditions[(operator, key.lower())] = _as_set(values, False)
    result["Condition"] = conditions
    return result


def canonical(document: Mapping[str, Any] | str) -> dict[str, dict[str, Any]]:
    """Statements of ``document`` keyed by Sid (or by their content when unnamed)."""
    policy = json.loads(document) if isinstance(document, str) else document
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    result = {}
    for statement in statements:
        body = canonical_statement(statement)
        sid = statement.get("Sid") or "unnamed " + repr(sorted(body.items()))
        result[sid] = body
    return result


def equivalent(expected: Mapping[str, Any] | str, actual: Mapping[str, Any] | str) -> bool:
    """True when both documents say the same thing."""
    return canonical(expected) == canonical(actual)


def describe_changes(
    expected: Mapping[str, Any] | str, actual: Mapping[str, Any] | str
) -> list[str]:
    """What ``actual`` changes relative to ``expected``, one clause per change."""
    want, have = canonical(expected), canonical(actual)
    changes = []
    for sid in sorted(set(want) - set(have)):
        changes.append(f"statement {sid} is missing")
    for sid in sorted(set(have) - set(want)):
        changes.append(f"it has an extra statement {sid} ({have[sid]['Effect']})")
    for sid in sorted(set(want) & set(have)):
        changes += [f"statement {sid} {c}" for c in _statement_changes(want[sid], have[sid])]
    return changes


def _statement_changes(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    changes = []
    if want["Effect"] != have["Effect"]:
        changes.append(f"changes Effect from {want['Effect']} to {have['Effect']}")
    deny = want["Effect"] == "Deny"
    for element in _LIST_ELEMENTS:
        old, new = set(want.get(element, ())), set(have.get(element, ()))
        if old == new:
            continue
        if element == "Action" and deny:
            changes += _phrase("no longer denies", old - new) + _phrase("also denies", new - old)
        elif element == "NotAction" and deny:
            changes += _phrase("exempts more actions:", new - old)
            changes += _phrase("no longer exempts", old - new)
        else:
            changes.append(f"changes {element} from {_join(old)} to {_join(new)}")
    changes += _condition_changes(want["Condition"], have["Condition"], deny)
    return changes


def _condition_changes(want: dict, have: dict, deny: bool) -> list[str]:
    changes = []
    for operator, key in sorted(set(want) - set(have)):
        changes.append(f"drops the condition {operator} {key} ({_join(want[(operator, key)])})")
    for operator, key in sorted(set(have) - set(want)):
        changes.append(f"adds the condition {operator} {key} ({_join(have[(operator, key)])})")
    for operator, key in sorted(set(want) & set(have)):
        old, new = set(want[(operator, key)]), set(have[(operator, key)])
        added, removed = sorted(new - old), sorted(old - new)
        negated = "Not" in operator
        noun = _PERMITTED_NOUN.get(key)
        if deny and noun and negated:
            changes += _counted(noun, added, more=True) + _counted(noun, removed, more=False)
        elif deny and key in ("ec2:instancetype", "autoscaling:instancetypes"):
            changes += _phrase("no longer denies instance type", set(removed))
            changes += _phrase("also denies instance type", set(added))
        else:
            changes += _phrase(f"adds to {operator} {key}:", set(added))
            changes += _phrase(f"removes from {operator} {key}:", set(removed))
    return changes


def _counted(noun: tuple[str, str, str], values: list[str], more: bool) -> list[str]:
    if not values:
        return []
    verb, word = noun[0], noun[1 + (len(values) > 1)]
    if more:
        amount = "one more" if len(values) == 1 else f"{len(values)} more"
        return [f"{verb} {amount} {word} {_join(values)}"]
    return [f"no longer {verb} {word} {_join(values)}"]


def _phrase(verb: str, values: set[str]) -> list[str]:
    return [f"{verb} {_join(values)}"] if values else []


def _join(values: Any) -> str:
    items = sorted(values)
    return ", ".join(items) if items else "nothing"
