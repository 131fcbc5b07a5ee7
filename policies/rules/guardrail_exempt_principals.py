"""guardrail-exempt-principals: no exemption in corral's documents matches everyone.

The deny statements exempt break-glass principals through ``aws:PrincipalARN``
conditions; a pattern whose name is only wildcards (``*``, ``role/*``) exempts
every principal and switches the guardrail off. The spec refuses such patterns;
this rule catches documents edited or built around the spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import (
    ReportViolation,
    Severity,
    StackValidationArgs,
)

from corral.build import packconfig as P

from . import support as S
from . import tokens as T

ID = P.EXEMPT_PRINCIPALS
DESCRIPTION = "No exemption in corral's guardrails matches every principal."
FIX = (
    "Exempt only the named break-glass role in corral:exemptPrincipals, e.g. "
    "arn:aws:iam::*:role/corral-break-glass."
)
NEGATED = ("ArnNotLike", "ArnNotEquals", "StringNotLike", "StringNotEquals")
PRINCIPAL_KEY = "aws:principalarn"
FIELDS = {T.ORG_POLICY: "content", T.IAM_POLICY: "policy"}


def matches_everyone(pattern: str) -> bool:
    """True when the pattern's last name segment is only wildcards."""
    tail = re.split(r"[:/]", pattern)[-1]
    return bool(tail) and set(tail) <= {"*", "?"}


def exemptions(statement: dict[str, Any]) -> Iterator[str]:
    """The principal ARN patterns a statement's conditions exempt."""
    condition = statement.get("Condition")
    for operator, pairs in (condition or {}).items() if isinstance(condition, dict) else ():
        if not operator.startswith(NEGATED) or not isinstance(pairs, dict):
            continue
        for key, values in pairs.items():
            if key.lower() == PRINCIPAL_KEY:
                yield from (v for v in S.as_list(values) if isinstance(v, str))


def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Report every exemption pattern that matches every principal."""
    unknowns = S.Unknowns()
    for doc in S.guardrail_documents(args):
        name = S.label(doc.resource_type, doc.name)
        try:
            policy = S.parse_document(S.get(doc.props, FIELDS[doc.resource_type], unknowns, name))
        except S.UnknownValueError as error:
            unknowns.add(error, name)
            continue
        for i, statement in enumerate(S.statements(policy or {})):
            sid = statement.get("Sid") or f"#{i + 1}"
            for pattern in exemptions(statement):
                if matches_everyone(pattern):
                    report_violation(
                        f"{name} exempts '{pattern}' from statement {sid}, which matches every "
                        f"principal, so the guardrail binds nobody; the {ID} rule forbids this. "
                        f"{FIX}",
                        doc.urn,
                    )
    unknowns.raise_any()


POLICY = S.stack_policy(ID, DESCRIPTION, validate, Severity.CRITICAL, FIX)
