"""Account mode: every IAM user and role (bar service-linked, exempt and corral's own)
carries corral's permissions boundary."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _identities
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="principals-bounded",
    title="Every IAM user and role carries corral's permissions boundary",
    severity="high",
    risk="A principal without the boundary is capped by nothing once no guardrail policy "
    "reaches it (a user taken out of a guarded group, a role nobody listed), and it may "
    "create users and roles that are just as unbounded.",
    remediation="Set corral's boundary policy as the principal's permissions boundary, or "
    "list the principal under corral:exemptPrincipals.",
    actions=("iam:ListUsers", "iam:GetUser", "iam:ListRoles", "iam:GetRole"),
    modes=(K.ACCOUNT,),
    scope=VERIFY,
    spec_keys=(K.PRINCIPALS, K.PROTECTIONS),
)
GETTERS = {"user": ("GetUser", "UserName", "User"), "role": ("GetRole", "RoleName", "Role")}


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One finding per user and per role (none when the boundary is not deployed)."""
    if not ctx.spec.protections.principals or ctx.plan.boundary is None:
        return
    boundary = f"arn:{ctx.spec.partition}:iam::{ctx.account}:policy{K.IAM_PATH}{ctx.plan.boundary}"
    listed = [("user", u) for u in ctx.conn.read("iam", "ListUsers").get("Users", [])]
    listed += [("role", r) for r in ctx.conn.read("iam", "ListRoles").get("Roles", [])]
    for kind, entity in listed:
        if entity.get("Path", "/").startswith(_identities.SERVICE_LINKED_PATH):
            continue  # IAM sets no boundary on a service-linked role
        if _identities.corral_owned(entity):
            continue  # corral's own roles are judged by identities-trusted
        operation, key, field = GETTERS[kind]
        name = entity[key]
        resource, head = f"{kind} {name}", f"IAM {kind} {name} in account {ctx.account}"
        if _identities.exempt(ctx.spec, entity["Arn"]):
            message = f"{head} is exempt (corral:{K.EXEMPT_PRINCIPALS})."
            yield passed(METADATA, ctx.account, None, resource, message)
            continue
        found = ctx.conn.read("iam", operation, **{key: name})[field]
        have = found.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
        if have == boundary:
            message = f"{head} carries the permissions boundary {ctx.plan.boundary}."
            yield passed(METADATA, ctx.account, None, resource, message)
            continue
        what = f"has the permissions boundary {have} instead of corral's" if have else (
            "has no permissions boundary")  # fmt: skip
        yield failed(
            METADATA,
            ctx.account,
            None,
            resource,
            f"{head} {what}, so nothing caps it, or the principals it creates, once no guardrail "
            f"policy reaches it; set {boundary} as its permissions boundary, or list it under "
            f"corral:{K.EXEMPT_PRINCIPALS}.",
        )
