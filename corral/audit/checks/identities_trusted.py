"""Exempt roles and corral's own roles trust only their account (organization) and carry
only what corral deploys: the leaked key cannot mint or hijack an exempt identity unseen."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _accounts, _identities
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="identities-trusted",
    title="Exempt and corral-owned roles are not hijacked",
    severity="critical",
    risk="A role matching an exempt pattern, or one of corral's own roles, that trusts another "
    "account or an AWS service, or carries a policy corral did not deploy, lends whoever "
    "controls that principal the guardrails' own exemption.",
    remediation="Restore the role's trust policy and policies (`pulumi up --refresh` for "
    "corral's own roles), delete roles corral does not deploy, and rotate the credentials that "
    "changed them.",
    actions=(
        "iam:ListRoles",
        "iam:GetRole",
        "iam:ListAttachedRolePolicies",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:ListUsers",
        *_accounts.ACTIONS,
        "organizations:ListPolicies",
    ),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=VERIFY,
    spec_keys=(K.EXEMPT_PRINCIPALS, K.PROTECTIONS),
)
ROTATE = "rotate the credentials that changed it."
OWN = "policies corral deploys."


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """Per account read: one FAIL per problem of each protected role, else one PASS."""
    yield from _identities.per_place(ctx, METADATA, _judge)


def _judge(ctx: VerifyContext, place: _identities.Place) -> Iterator[Finding]:
    a, spec = place.account, ctx.spec
    roles = [r for r in place.read(ctx, "ListRoles").get("Roles", [])
             if _identities.corral_owned(r) or _identities.exempt(spec, r["Arn"])]  # fmt: skip
    for listed in roles:
        name = listed["RoleName"]
        tails, ok = _role(ctx, place, place.read(ctx, "GetRole", RoleName=name)["Role"])
        for tail in tails or [ok]:
            emit = failed if tails else passed
            yield emit(METADATA, a, None, f"role {name}", f"Role {name} in account {a} {tail}")
    for user in place.read(ctx, "ListUsers").get("Users", []):
        if _identities.exempt(spec, user["Arn"]):
            message = (f"User {user['UserName']} in account {a} matches corral:exemptPrincipals "
                       "(its credentials are not judged here).")  # fmt: skip
            yield passed(METADATA, a, None, f"user {user['UserName']}", message)
    if not roles:
        message = f"No role in account {a} matches corral:exemptPrincipals or lies under /corral/."
        yield passed(METADATA, a, None, "roles", message)


def _role(ctx: VerifyContext, place: _identities.Place, role: dict) -> tuple[list[str], str]:
    """(sentence tails of each problem, the tail of the PASS) for one protected role."""
    name, trust = role["RoleName"], role.get("AssumeRolePolicyDocument")
    scope = "organization" if ctx.spec.mode == K.ORGANIZATION else "account"
    accounts = _identities.trusted_accounts(ctx, place)
    outside = [f"trusts {p}, outside the {scope}; " for p in _identities.foreign(trust, accounts)]
    planned = _identities.expected_roles(ctx, place)
    if role.get("Path") == K.IAM_PATH and name in planned:
        changes = _identities.trust_changes(planned[name].trust, trust)
        tails = [f"has a trust policy corral did not deploy: {'; '.join(changes)}; run `pulumi "
                 f"up --refresh` to restore it and {ROTATE}"] if changes else []  # fmt: skip
        tails += _identities.policy_problems(ctx, place, name, planned[name])
        return tails, f"is corral's own service role, with exactly the trust and {OWN}"
    if _identities.corral_owned(role):
        tails = [f"lies under {K.IAM_PATH}, but corral deploys no such role there; delete it "
                 "and rotate the credentials that created it."]  # fmt: skip
        tails += [f"{t}delete the role and {ROTATE}" for t in outside]
        return tails + _identities.policy_problems(ctx, place, name, _identities.NOTHING), ""
    tails = [
        f"{t}restore its trust policy to the break-glass account and {ROTATE}" for t in outside
    ]
    return tails, f"matches corral:exemptPrincipals and trusts only principals of the {scope}."
