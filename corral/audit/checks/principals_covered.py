"""Account mode: every IAM user and role (bar service-linked and exempt ones) carries the deny."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _deployed, _identities
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.build import alerts, spend_plan
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="principals-covered",
    title="Every IAM user and role carries the guardrail policy",
    severity="critical",
    risk="In a standalone account the guardrails are identity policies: a user or role "
    "without them (leaked keys, a forgotten CI role) can launch anything anywhere.",
    remediation="Add the principal (or one of its groups) to corral:principals and run "
    "`pulumi up`, or delete the principal.",
    actions=(
        "iam:ListPolicies",
        "iam:ListEntitiesForPolicy",
        "iam:ListUsers",
        "iam:ListGroupsForUser",
        "iam:ListRoles",
    ),
    modes=(K.ACCOUNT,),
    scope=VERIFY,
    spec_keys=(K.PRINCIPALS,),
)
SERVICE_LINKED_PATH = _identities.SERVICE_LINKED_PATH


def _exempt(ctx: VerifyContext, arn: str) -> bool:
    return _identities.exempt(ctx.spec, arn)


def _corral_service_role(ctx: VerifyContext, role: dict) -> bool:
    """A role spend detection deploys (by path and name), that only AWS services can assume;
    identities-trusted compares its trust and policies with what corral deploys."""
    if role.get("Path") != K.IAM_PATH or role["RoleName"] not in spend_plan.service_roles(
        ctx.spec.spend
    ) | alerts.service_roles(ctx.spec):  # and the alerts' (docs/alerts.md)
        return False
    trusted = _identities.principals(role.get("AssumeRolePolicyDocument"))
    return bool(trusted) and all(kind == "Service" for kind, _ in trusted)


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One finding per user and per role."""
    found = _deployed.listed(ctx)
    names = [d.name for d in ctx.plan.guardrail_documents]
    attached: dict[str, set[str]] = {}
    for name in names:
        if name in found:
            deployed = _deployed.Deployed(name, found[name], "")
            attached[name] = _deployed.attached_to(ctx, deployed)
        else:
            attached[name] = set()
    policies = " and ".join(names)

    def missing(keys: set[str]) -> list[str]:
        return [n for n in names if not attached[n] & keys]

    for user in ctx.conn.read("iam", "ListUsers").get("Users", []):
        if _exempt(ctx, user["Arn"]):
            yield passed(
                METADATA,
                ctx.account,
                None,
                f"user {user['UserName']}",
                f"User {user['UserName']} is exempt (corral:exemptPrincipals).",
            )
            continue
        groups = ctx.conn.read("iam", "ListGroupsForUser", UserName=user["UserName"])
        keys = {f"user:{user['UserName']}"} | {f"group:{g['GroupName']}" for g in groups["Groups"]}
        yield _judge(ctx, "user", user["UserName"], user["Arn"], missing(keys), policies)
    for role in ctx.conn.read("iam", "ListRoles").get("Roles", []):
        if role.get("Path", "/").startswith(SERVICE_LINKED_PATH):
            continue
        if _corral_service_role(ctx, role):
            yield passed(
                METADATA,
                ctx.account,
                None,
                f"role {role['RoleName']}",
                f"Role {role['RoleName']} is corral's own service role, assumable only by AWS "
                "services; it needs no guardrail.",
            )
            continue
        if _exempt(ctx, role["Arn"]):
            yield passed(
                METADATA,
                ctx.account,
                None,
                f"role {role['RoleName']}",
                f"Role {role['RoleName']} is exempt (corral:exemptPrincipals).",
            )
            continue
        keys = {f"role:{role['RoleName']}"}
        yield _judge(ctx, "role", role["RoleName"], role["Arn"], missing(keys), policies)


def _judge(
    ctx: VerifyContext, kind: str, name: str, arn: str, lacking: list[str], policies: str
) -> Finding:
    resource = f"{kind} {name}"
    if not lacking:
        return passed(
            METADATA, ctx.account, None, resource, f"IAM {kind} {name} carries {policies}."
        )
    via = " (directly or through a group)" if kind == "user" else ""
    verb = "is" if len(lacking) == 1 else "are"
    fix = (
        f"corral:principals.{K.USERS} (or to a guarded group)"
        if kind == "user"
        else (f"corral:principals.{K.ROLES}")
    )
    return failed(
        METADATA,
        ctx.account,
        None,
        resource,
        f"IAM {kind} {name} ({arn}) is not guarded: {' and '.join(lacking)} {verb} not attached "
        f"to it{via}; add it to {fix} and run `pulumi up`, or delete the {kind}.",
    )
