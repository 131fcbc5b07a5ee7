"""guardrail-attachment-quota: no target gets more policies than AWS allows.

Organization mode: each root, OU or account holds at most 5 SCPs, and one slot
belongs to FullAWSAccess, which corral's deny-only SCPs need. Account mode: each
IAM group, user or role holds at most 10 managed policies. Counted over the
attachments this stack makes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pulumi_policy import (
    ReportViolation,
    Severity,
    StackValidationArgs,
)

from corral.build import packconfig as P
from corral.spec import keys as K

from . import support as S
from . import tokens as T

ID = P.ATTACHMENT_QUOTA
DESCRIPTION = "No target gets more SCPs or IAM managed policies than AWS allows."
FIX = (
    "Use fewer or broader instance patterns so corral packs its statements into fewer "
    "documents, and keep FullAWSAccess attached."
)
PRINCIPALS = {T.IAM_ROLE_ATTACHMENT: "role", T.IAM_USER_ATTACHMENT: "user"}
PRINCIPALS[T.IAM_GROUP_ATTACHMENT] = "group"


def _is_scp(attachment: Any, unknowns: S.Unknowns) -> bool:
    for dep in attachment.property_dependencies.get("policyId", []):
        if dep.resource_type == T.ORG_POLICY:
            kind = S.get(dep.props, "type", unknowns, S.label(dep.resource_type, dep.name))
            return kind in (None, T.SCP_TYPE)
    return True


def _scps(args: StackValidationArgs, unknowns: S.Unknowns) -> dict[str, list[Any]]:
    by_target: dict[str, list[Any]] = defaultdict(list)
    for att in S.by_type(args.resources, T.ORG_POLICY_ATTACHMENT):
        where = S.label(att.resource_type, att.name)
        target = S.get(att.props, "targetId", unknowns, where)
        policy = S.get(att.props, "policyId", unknowns, where)
        if isinstance(target, str) and policy != K.FULL_AWS_ACCESS_ID and _is_scp(att, unknowns):
            by_target[target].append(att)
    return by_target


def _managed(args: StackValidationArgs, unknowns: S.Unknowns) -> dict[str, list[Any]]:
    by_principal: dict[str, list[Any]] = defaultdict(list)
    for att in args.resources:
        kind = PRINCIPALS.get(att.resource_type)
        name = (
            S.get(att.props, kind, unknowns, S.label(att.resource_type, att.name)) if kind else None
        )
        if isinstance(name, str):
            by_principal[f"IAM {kind} {name}"].append(att)
    return by_principal


def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Report every target or principal over its quota."""
    S.guardrail_documents(args)
    unknowns = S.Unknowns()
    limit = K.SCP_MAX_PER_TARGET
    for target, found in sorted(_scps(args, unknowns).items()):
        atts = sorted(found, key=lambda a: a.name)
        if len(atts) + 1 > limit:
            names = ", ".join(a.name for a in atts)
            report_violation(
                f"Target {target} gets {len(atts)} SCPs from this stack ({names}) and keeps "
                f"{K.FULL_AWS_ACCESS}, {len(atts) + 1} in all, more than the {limit} AWS allows; "
                f"the {ID} rule forbids this. {FIX}",
                atts[-1].urn,
            )
    limit = K.IAM_MAX_MANAGED_POLICIES_PER_PRINCIPAL
    for principal, found in sorted(_managed(args, unknowns).items()):
        atts = sorted(found, key=lambda a: a.name)
        if len(atts) > limit:
            report_violation(
                f"{principal} gets {len(atts)} managed policies from this stack, more than the "
                f"{limit} AWS allows; the {ID} rule forbids this. {FIX}",
                atts[-1].urn,
            )
    unknowns.raise_any()


POLICY = S.stack_policy(ID, DESCRIPTION, validate, Severity.HIGH, FIX)
