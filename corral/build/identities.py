"""Statements that keep the key holder from minting or hijacking an unguarded identity.

- Both modes (``protections.principals``): every IAM write (create, re-trust,
  re-permission, tag, pass, delete) on a role or user that matches an exempt pattern,
  and on corral's own roles, users and policies (path ``/corral/``), is denied to every
  principal that is not exempt. Reads stay allowed, so ``corral verify`` can audit them.
- Account mode, the permissions-boundary model (AWS's pattern for delegated IAM
  administration): corral deploys the boundary ``/corral/<prefix>-boundary``; guarded
  principals may create users and roles, or set a boundary, only with that boundary,
  may not remove a boundary, may not take users out of the guarded groups or delete
  those groups, and may not create an Organization or accounts, or join another one.
  The boundary itself is ``Allow *`` plus every guardrail deny, so a principal created
  under it is as guarded as its creator.
"""

from __future__ import annotations

from corral.build.documents import deny, exempt_condition, minify
from corral.spec import keys as K
from corral.spec.model import Spec

SID_IDENTITIES = "CorralProtectIdentities"
SID_REQUIRE_BOUNDARY = "CorralRequireBoundary"
SID_KEEP_BOUNDARY = "CorralProtectBoundary"
SID_GROUPS = "CorralProtectGuardedGroups"
SID_NO_ORGANIZATION = "CorralDenyNewOrganization"

# Every IAM write; Get*/List*/Generate*/Simulate* reads are left out on purpose.
IAM_WRITES = (
    "iam:Add*",
    "iam:Attach*",
    "iam:Create*",
    "iam:Deactivate*",
    "iam:Delete*",
    "iam:Detach*",
    "iam:Enable*",
    "iam:PassRole",
    "iam:Put*",
    "iam:Remove*",
    "iam:Reset*",
    "iam:Resync*",
    "iam:SetDefaultPolicyVersion",
    "iam:Tag*",
    "iam:Untag*",
    "iam:Update*",
    "iam:Upload*",
)
BOUNDARY_SETTERS = (
    "iam:CreateRole",
    "iam:CreateUser",
    "iam:PutRolePermissionsBoundary",
    "iam:PutUserPermissionsBoundary",
)
BOUNDARY_REMOVERS = ("iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary")
GROUP_ACTIONS = ("iam:DeleteGroup", "iam:RemoveUserFromGroup")
ORGANIZATION_ACTIONS = (
    "organizations:AcceptHandshake",
    "organizations:CreateAccount",
    "organizations:CreateGovCloudAccount",
    "organizations:CreateOrganization",
)


def boundary_name(spec: Spec) -> str:
    """The boundary policy's name (account mode)."""
    return f"{spec.name_prefix}-{K.BOUNDARY_SUFFIX}"


def boundary_arn_pattern(spec: Spec) -> str:
    """The boundary's ARN in any account (the spec does not know the account id)."""
    return f"arn:{spec.partition}:iam::*:policy{K.IAM_PATH}{boundary_name(spec)}"


def protected_identities(spec: Spec) -> list[str]:
    """ARN patterns of the exempt principals and of everything corral owns in IAM."""
    owned = [
        f"arn:{spec.partition}:iam::*:{kind}{K.IAM_PATH}*" for kind in ("policy", "role", "user")
    ]
    return sorted({*spec.exempt_principals, *owned})


def identity_statements(spec: Spec) -> list[dict]:
    """The principal protections of ``spec`` (empty when ``protections.principals`` is off)."""
    if not spec.protections.principals:
        return []
    exempt = exempt_condition(spec)
    statements = [deny(SID_IDENTITIES, IAM_WRITES, exempt, protected_identities(spec))]
    if spec.mode != K.ACCOUNT:
        return statements
    not_like = {"iam:PermissionsBoundary": [boundary_arn_pattern(spec)]}
    not_like.update(exempt.get("ArnNotLike", {}))
    statements.append(deny(SID_REQUIRE_BOUNDARY, BOUNDARY_SETTERS, {"ArnNotLike": not_like}))
    statements.append(deny(SID_KEEP_BOUNDARY, BOUNDARY_REMOVERS, exempt))
    groups = [f"arn:{spec.partition}:iam::*:group/{g}" for g in spec.principals.groups]
    if groups:
        statements.append(deny(SID_GROUPS, GROUP_ACTIONS, exempt, groups))
    if spec.protections.leave_organization:
        statements.append(deny(SID_NO_ORGANIZATION, ORGANIZATION_ACTIONS, exempt))
    return statements


# --------------------------------------------------------------------------- the boundary

# Which statements the boundary keeps first when not all fit its one document.
BOUNDARY_PRIORITY = (K.PROTECTION, K.REGIONS, K.INSTANCE_TYPES, K.CAPACITY)
SID_BOUNDARY_DENIES = "CorralBoundaryDenies"
ALLOW_ALL = {"Sid": "CorralBoundaryAllowsAll", "Effect": "Allow", "Action": "*", "Resource": "*"}


def boundary_statements(
    statements_by_guardrail: dict[str, list[dict]], limit: int, overhead: int
) -> tuple[list[dict], list[str]]:
    """``(statements, omitted sids)`` of the permissions boundary: ``Allow *`` and the
    guardrail denies without their exemption (exempt principals never carry the
    boundary), in :data:`BOUNDARY_PRIORITY` order while they fit ``limit``. Denies left
    with no condition on ``Resource: *`` share one statement, :data:`SID_BOUNDARY_DENIES`."""
    kept, omitted, merged = [ALLOW_ALL], [], deny(SID_BOUNDARY_DENIES, [], {})
    used = overhead + len(minify(ALLOW_ALL)) + 1 + len(minify(merged))
    for guardrail in BOUNDARY_PRIORITY:
        for statement in statements_by_guardrail.get(guardrail, []):
            bare = _without_exemption(statement)
            plain = "Condition" not in bare and bare["Resource"] == "*"
            new = [a for a in bare["Action"] if a not in merged["Action"]] if plain else []
            size = sum(len(a) + 3 for a in new) if plain else len(minify(bare)) + 1
            if used + size > limit:
                omitted.append(statement["Sid"])
                continue
            used += size
            if plain:
                merged["Action"] = sorted([*merged["Action"], *new])
            else:
                kept.append(bare)
    if merged["Action"]:
        kept.append(merged)
    return sorted(kept, key=lambda s: s["Sid"]), sorted(omitted)


def _without_exemption(statement: dict) -> dict:
    condition = {
        op: {k: v for k, v in values.items() if k != "aws:PrincipalARN"}
        for op, values in statement.get("Condition", {}).items()
    }
    condition = {op: values for op, values in condition.items() if values}
    bare = {k: v for k, v in statement.items() if k != "Condition"}
    return {**bare, "Condition": condition} if condition else bare
