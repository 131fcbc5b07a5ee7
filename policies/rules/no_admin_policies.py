"""no-admin-policies: no IAM policy grants every action on every resource.

Checks identity policies wherever pulumi-aws takes one (managed, inline, role
inline, IAM Identity Center permission sets), given as JSON text or as a map, and
attachments of the AWS-managed AdministratorAccess policy.

corral's own permissions boundary (account mode: ``/corral/<prefix>-boundary``) is
``Allow *`` plus denies by design: a boundary only ever narrows what a principal's own
policies grant. It is recognised by its path, name and shape (every other statement a
Deny), never by name alone.
"""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    Severity,
)

from corral.build import packconfig as P
from corral.spec import keys as K

from . import support as S
from . import tokens as T

ID = P.NO_ADMIN_POLICIES
DESCRIPTION = "No IAM policy grants every action on every resource."
FIX = "Grant only the actions and resources the principal needs."
DOCUMENTS = {
    T.IAM_POLICY: "policy",
    T.IAM_ROLE_POLICY: "policy",
    T.IAM_USER_POLICY: "policy",
    T.IAM_GROUP_POLICY: "policy",
    T.IAM_ROLE: "inlinePolicies[].policy",
    T.SSO_INLINE_POLICY: "inlinePolicy",
}
ATTACHMENTS = {
    T.IAM_POLICY_ATTACHMENT: "policyArn",
    T.IAM_ROLE_ATTACHMENT: "policyArn",
    T.IAM_USER_ATTACHMENT: "policyArn",
    T.IAM_GROUP_ATTACHMENT: "policyArn",
    T.IAM_ROLE: "managedPolicyArns[]",
    T.SSO_MANAGED_ATTACHMENT: "managedPolicyArn",
}
ADMIN_ARN = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/AdministratorAccess$")
EVERY_ACTION = ("*", "*:*")


def grants_everything(statement: dict[str, Any]) -> bool:
    """True for an Allow statement with Action ``*`` and Resource ``*``."""
    return (
        statement.get("Effect") == "Allow"
        and any(a in EVERY_ACTION for a in S.as_list(statement.get("Action")))
        and "*" in S.as_list(statement.get("Resource"))
    )


def is_corral_boundary(args: ResourceValidationArgs, doc: dict[str, Any]) -> bool:
    """corral's boundary: a /corral/ managed policy named *-boundary, Allow * and denies."""
    props = args.props
    statements = S.statements(doc)
    return (
        args.resource_type == T.IAM_POLICY
        and props.get("path") == K.IAM_PATH
        and str(props.get("name", "")).endswith(f"-{K.BOUNDARY_SUFFIX}")
        and sum(grants_everything(s) for s in statements) == 1
        and all(grants_everything(s) or s.get("Effect") == "Deny" for s in statements)
    )


def _documents(args: ResourceValidationArgs, unknowns: S.Unknowns) -> list[str]:
    found: list[str] = []
    field = DOCUMENTS.get(args.resource_type)
    for path, value in S.walk(args.props, field, unknowns) if field else ():
        try:
            doc = S.parse_document(value)
        except S.UnknownValueError as error:
            unknowns.add(error)
            continue
        if is_corral_boundary(args, doc or {}):
            continue
        for i, statement in enumerate(S.statements(doc or {})):
            if grants_everything(statement):
                sid = statement.get("Sid") or f"#{i + 1}"
                found.append(f"grants Action '*' on Resource '*' (statement {sid} of {path})")
    return found


def _attachments(args: ResourceValidationArgs) -> list[str]:
    # An AWS-managed policy's ARN is a constant; an ARN unknown at preview belongs to a policy
    # created in this stack, which this rule checks on its own, so unknowns are not reported.
    found: list[str] = []
    unknowns = S.Unknowns()
    field = ATTACHMENTS.get(args.resource_type)
    for path, value in S.walk(args.props, field, unknowns) if field else ():
        for arn in S.items(value, unknowns):
            if isinstance(arn, str) and ADMIN_ARN.match(arn):
                found.append(f"attaches {arn} ({path}), which grants '*' on '*'")
    return found


def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Report every statement or attachment that grants ``*`` on ``*``."""
    if args.resource_type not in DOCUMENTS and args.resource_type not in ATTACHMENTS:
        args.not_applicable("the resource carries no IAM identity policy")
    unknowns = S.Unknowns()
    name = S.label(args.resource_type, args.name)
    for problem in _documents(args, unknowns) + _attachments(args):
        report_violation(f"{name} {problem}; the {ID} rule forbids this. {FIX}", None)
    unknowns.raise_any()


POLICY = S.resource_policy(ID, DESCRIPTION, validate, Severity.CRITICAL, FIX)
