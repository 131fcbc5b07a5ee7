"""Differential check of ``corral.evaluate.engine`` against an independent reference evaluator.

principalmapper's local policy simulation (the suggested oracle) does not import on
Python 3.11 (``from collections import Mapping``), so the oracle is the deliberately
simple evaluator below, written from AWS's "Policy evaluation logic" and "IAM JSON
policy elements: Condition operators" pages, for a restricted language:

- ``Action``/``NotAction`` (case-insensitive, ``*`` and ``?``), ``Resource``/
  ``NotResource`` (case-sensitive, ``*`` and ``?``);
- ``StringEquals``, ``StringNotEquals``, ``StringEqualsIgnoreCase``, ``StringLike``,
  ``StringNotLike`` (each also with ``IfExists``), ``Null`` and ``Bool``, on
  single-valued keys (key names case-insensitive);
- identity policies (explicit deny > allow > implicit deny) and SCP chains (explicit
  deny anywhere, else every level needs an allow).

Hypothesis draws policies and requests; every decision must agree. What the language
leaves out, and why, is in docs/reliability.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.evaluate.engine import ALLOW, DENY, IMPLICIT_DENY, evaluate
from corral.evaluate.policy import PolicyRef, Request

SETTINGS = settings(
    max_examples=800, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

# --------------------------------------------------------------------------- the reference


def _glob(pattern: str, text: str, fold: bool) -> bool:
    """``*`` any run of characters, ``?`` one character, everything else literal."""
    if fold:
        pattern, text = pattern.lower(), text.lower()
    # dynamic programming over (pattern index, text index): no regex involved
    matches = [[False] * (len(text) + 1) for _ in range(len(pattern) + 1)]
    matches[0][0] = True
    for i in range(1, len(pattern) + 1):
        if pattern[i - 1] == "*":
            matches[i][0] = matches[i - 1][0]
        for j in range(1, len(text) + 1):
            p = pattern[i - 1]
            if p == "*":
                matches[i][j] = matches[i - 1][j] or matches[i][j - 1]
            elif p == "?" or p == text[j - 1]:
                matches[i][j] = matches[i - 1][j - 1]
    return matches[len(pattern)][len(text)]


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _string_test(op: str, wanted: list[str], actual: str) -> bool:
    base = op.removeprefix("String").removesuffix("IfExists")
    if base in ("Equals", "NotEquals"):
        hit = actual in wanted
    elif base == "EqualsIgnoreCase":
        hit = actual.lower() in [w.lower() for w in wanted]
    else:  # Like / NotLike
        hit = any(_glob(w, actual, fold=False) for w in wanted)
    return not hit if "Not" in base else hit


def _condition_holds(op: str, key: str, wanted: list[str], context: Mapping[str, str]) -> bool:
    present = key.lower() in context
    actual = context.get(key.lower())
    if op == "Null":
        return (wanted[0] == "true") == (not present)
    if actual is None:
        if op.endswith("IfExists"):
            return True
        return "Not" in op  # negated operators hold when the key is absent
    if op == "Bool":
        return actual.lower() in [w.lower() for w in wanted]
    return _string_test(op, wanted, actual)


def _applies(statement: Mapping, action: str, resource: str, context: Mapping[str, str]) -> bool:
    if "Action" in statement:
        ok = any(_glob(p, action, fold=True) for p in _listed(statement["Action"]))
    else:
        ok = not any(_glob(p, action, fold=True) for p in _listed(statement["NotAction"]))
    if "Resource" in statement:
        ok = ok and any(_glob(p, resource, fold=False) for p in _listed(statement["Resource"]))
    else:
        ok = ok and not any(
            _glob(p, resource, fold=False) for p in _listed(statement["NotResource"])
        )
    for op, keys in statement.get("Condition", {}).items():
        for key, values in keys.items():
            ok = ok and _condition_holds(op, key, _listed(values), context)
    return ok


def _effects(policies: Sequence[Mapping], action: str, resource: str, ctx: Mapping) -> set[str]:
    return {
        s["Effect"]
        for p in policies
        for s in _listed_statements(p)
        if _applies(s, action, resource, ctx)
    }


def _listed_statements(policy: Mapping) -> list[Mapping]:
    statement = policy["Statement"]
    return [statement] if isinstance(statement, Mapping) else list(statement)


def reference_identity(policies: Sequence[Mapping], action: str, resource: str, ctx) -> str:
    """Explicit deny wins; otherwise an allow; otherwise implicit deny."""
    effects = _effects(policies, action, resource, {k.lower(): v for k, v in ctx.items()})
    return DENY if "Deny" in effects else ALLOW if "Allow" in effects else IMPLICIT_DENY


def reference_scps(levels: Sequence[Sequence[Mapping]], action: str, resource: str, ctx) -> str:
    """Explicit deny at any level wins; otherwise every level needs an allow."""
    lowered = {k.lower(): v for k, v in ctx.items()}
    per_level = [_effects(level, action, resource, lowered) for level in levels]
    if any("Deny" in effects for effects in per_level):
        return DENY
    return ALLOW if all("Allow" in effects for effects in per_level) else IMPLICIT_DENY


# --------------------------------------------------------------------------- strategies

ACTIONS = (
    "ec2:RunInstances",
    "ec2:DescribeInstances",
    "iam:CreateUser",
    "iam:CreateAccessKey",
    "s3:GetObject",
    "sts:AssumeRole",
    "organizations:DetachPolicy",
)
ACTION_PATTERNS = (
    *ACTIONS,
    "*",
    "ec2:*",
    "ec2:Run*",
    "ec2:*Instances",
    "EC2:runinstances",
    "iam:Create*",
    "iam:*Key",
    "s3:Get?bject",
    "sts:*",
    "organizations:Detach*",
)
RESOURCES = (
    "*",
    "arn:aws:ec2:us-east-1:111122223333:instance/i-0abc",
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::111122223333:role/Admin",
    "arn:aws:s3:::bucket-1/key.txt",
)
RESOURCE_PATTERNS = (
    *RESOURCES,
    "arn:aws:ec2:*:*:instance/*",
    "arn:aws:ec2:us-east-1:111122223333:instance/*",
    "arn:aws:iam::*:user/*",
    "arn:aws:iam::111122223333:role/Adm?n",
    "arn:aws:s3:::bucket-?/*",
    "arn:aws:s3:::*",
    "arn:aws:iam::111122223333:USER/alice",
)
CONTEXT_VALUES = {
    "aws:RequestedRegion": ("us-east-1", "eu-west-1", "US-EAST-1"),
    "ec2:InstanceType": ("t3.micro", "c5a.24xlarge"),
    "aws:PrincipalArn": (
        "arn:aws:iam::111122223333:role/BreakGlass",
        "arn:aws:iam::111122223333:user/alice",
    ),
    "aws:SecureTransport": ("true", "false"),
}
CONDITION_VALUES = {
    "aws:RequestedRegion": ("us-east-1", "eu-west-1", "us-*", "*-west-?", "US-EAST-1"),
    "ec2:InstanceType": ("t3.*", "c5a.24xlarge", "t3.micro", "*.24xlarge"),
    "aws:PrincipalArn": ("arn:aws:iam::*:role/Break*", "arn:aws:iam::111122223333:user/alice"),
    "aws:SecureTransport": ("true", "false"),
}
STRING_OPERATORS = (
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "StringEqualsIfExists",
    "StringNotEqualsIfExists",
    "StringLikeIfExists",
    "StringNotLikeIfExists",
)


def _one_or_many(values: st.SearchStrategy[str]) -> st.SearchStrategy:
    return st.one_of(values, st.lists(values, min_size=1, max_size=3))


@st.composite
def conditions(draw: st.DrawFn) -> dict:
    """One to three operators, each with one or two keys (key case varies)."""
    block: dict = {}
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from((*STRING_OPERATORS, "Null", "Bool")))
        keys = draw(st.lists(st.sampled_from(sorted(CONDITION_VALUES)), min_size=1, max_size=2))
        for key in keys:
            spelled = draw(st.sampled_from((key, key.lower(), key.upper())))
            if op == "Null":
                value = draw(st.sampled_from(("true", "false")))
            elif op == "Bool":
                value = draw(st.sampled_from(("true", "false")))
                spelled = "aws:SecureTransport"
            else:
                value = draw(_one_or_many(st.sampled_from(CONDITION_VALUES[key])))
            block.setdefault(op, {})[spelled] = value
    return block


@st.composite
def statements(draw: st.DrawFn) -> dict:
    """A statement of the restricted language."""
    statement: dict = {"Effect": draw(st.sampled_from(("Allow", "Deny")))}
    action_key = draw(st.sampled_from(("Action", "Action", "NotAction")))
    statement[action_key] = draw(_one_or_many(st.sampled_from(ACTION_PATTERNS)))
    resource_key = draw(st.sampled_from(("Resource", "Resource", "NotResource")))
    statement[resource_key] = draw(_one_or_many(st.sampled_from(RESOURCE_PATTERNS)))
    if draw(st.booleans()):
        statement["Condition"] = draw(conditions())
    return statement


POLICIES = st.builds(
    lambda stmts, single: {
        "Version": "2012-10-17",
        "Statement": stmts[0] if single and len(stmts) == 1 else stmts,
    },
    st.lists(statements(), min_size=1, max_size=3),
    st.booleans(),
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str]]:
    """(action, resource, context) with a random subset of the context keys."""
    action = draw(st.sampled_from(ACTIONS))
    resource = draw(st.sampled_from(RESOURCES))
    keys = draw(st.lists(st.sampled_from(sorted(CONTEXT_VALUES)), unique=True))
    context = {k: draw(st.sampled_from(CONTEXT_VALUES[k])) for k in keys}
    return action, resource, context


def _refs(policies: Sequence[dict], target: str) -> list[PolicyRef]:
    return [PolicyRef(f"p{i}", target, p) for i, p in enumerate(policies)]


# --------------------------------------------------------------------------- tests


@SETTINGS
@given(st.lists(POLICIES, min_size=1, max_size=3), requests())
def test_identity_decisions_agree_with_the_reference(policies: list[dict], request: tuple):
    action, resource, context = request
    expected = reference_identity(policies, action, resource, context)
    got = evaluate(
        Request(action, resource, context), identity_policies=_refs(policies, "user/alice")
    )
    assert got.decision == expected, got.to_dict()


@SETTINGS
@given(st.lists(st.lists(POLICIES, min_size=1, max_size=2), min_size=1, max_size=3), requests())
def test_scp_chain_decisions_agree_with_the_reference(levels: list[list[dict]], request: tuple):
    action, resource, context = request
    expected = reference_scps(levels, action, resource, context)
    chain = [_refs(level, f"level-{i}") for i, level in enumerate(levels)]
    got = evaluate(Request(action, resource, context), scp_chain=chain, identity_allows_all=True)
    assert got.decision == expected, got.to_dict()


def test_the_reference_itself_on_known_cases() -> None:
    deny_outside = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {
                "Effect": "Deny",
                "NotAction": "iam:*",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1"]}},
            },
        ],
    }
    run = ("ec2:RunInstances", "*")
    assert reference_identity([deny_outside], *run, {"aws:RequestedRegion": "us-east-1"}) == DENY
    assert reference_identity([deny_outside], *run, {"aws:RequestedRegion": "eu-west-1"}) == ALLOW
    assert reference_identity([deny_outside], "iam:CreateUser", "*", {}) == ALLOW
    assert reference_identity([deny_outside], *run, {}) == DENY  # absent key: negated holds
    assert reference_scps([[deny_outside], []], *run, {"aws:RequestedRegion": "eu-west-1"}) == (
        IMPLICIT_DENY
    )
    assert _glob("ec2:Run*", "EC2:RUNINSTANCES", fold=True)
    assert not _glob("arn:aws:iam::*:USER/*", "arn:aws:iam::1:user/a", fold=False)
    assert not re.search(r"\[", "".join(ACTION_PATTERNS))  # no character classes in use
