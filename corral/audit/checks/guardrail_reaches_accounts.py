"""Every member account is reached, along its root -> OU -> account path, by its guardrails."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _deployed
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="guardrail-reaches-accounts",
    title="Guardrails reach every account below their targets",
    severity="high",
    risk="An account moved out of a guarded OU, or below a detached document, runs unguarded.",
    remediation="Attach the documents again with `pulumi up --refresh`, or move the account back.",
    actions=(
        "organizations:ListRoots",
        "organizations:ListOrganizationalUnitsForParent",
        "organizations:ListAccountsForParent",
        "organizations:ListPoliciesForTarget",
    ),
    modes=(K.ORGANIZATION,),
    scope=VERIFY,
    spec_keys=(K.TARGETS,),
)


def _walk(ctx: VerifyContext) -> Iterator[tuple[list[tuple[str, str]], dict]]:
    """Yield (path of (id, label) from the root, account) for every account."""
    stack = [
        [(r["Id"], f"root {r['Id']}")] for r in ctx.conn.read("organizations", "ListRoots")["Roots"]
    ]
    while stack:
        path = stack.pop()
        parent = path[-1][0]
        out = ctx.conn.read("organizations", "ListOrganizationalUnitsForParent", ParentId=parent)
        for ou in out.get("OrganizationalUnits", []):
            stack.append([*path, (ou["Id"], f"OU {ou['Name']} ({ou['Id']})")])
        accounts = ctx.conn.read("organizations", "ListAccountsForParent", ParentId=parent)
        for account in accounts.get("Accounts", []):
            yield path, account


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One finding per selected account."""
    planned = {d.name: d for d in ctx.plan.documents}
    for path, account in _walk(ctx):
        account_id = account["Id"]
        if not ctx.selected(account_id):
            continue
        chain = [*path, (account_id, f"{account_id} {account.get('Name', '')}".strip())]
        labels = [label for _, label in chain]
        expected = {
            a.document: label
            for node, label in chain
            for a in ctx.plan.attachments
            if a.target_id == node
        }
        reached = {
            name: label
            for node, label in chain
            for name in _deployed.scps_on(ctx, node)
            if name in planned
        }
        guards = sorted({g for name in reached for g in planned[name].guardrails})
        resource = f"account {account_id}"
        if account_id == ctx.account:
            yield passed(
                METADATA,
                account_id,
                None,
                resource,
                f"{account_id} is the management account; SCPs do not apply to it.",
                path=labels,
                reached=["(management: SCPs do not apply)"],
            )
            continue
        problems = _problems(ctx, expected, reached, guards)
        if not problems:
            names = ", ".join(sorted(reached)) or "no guardrail, as planned"
            yield passed(
                METADATA,
                account_id,
                None,
                resource,
                f"Account {account_id} is reached by {names}.",
                path=labels,
                reached=guards,
            )
            continue
        yield failed(
            METADATA,
            account_id,
            None,
            resource,
            f"Account {account_id} runs without part of its guardrails: {'; '.join(problems)}; "
            "attach them again with `pulumi up --refresh`, or move the account under a "
            "guarded target.",
            path=labels,
            reached=guards,
        )


def _problems(
    ctx: VerifyContext, expected: dict[str, str], reached: dict[str, str], guards: list[str]
) -> list[str]:
    """Planned documents missing on the path, and guardrails the spec applies elsewhere."""
    missing = sorted(set(expected) - set(reached))
    problems = [f"{name} is not attached at {expected[name]}" for name in missing]
    elsewhere: dict[str, set[str]] = {}
    for a in ctx.plan.attachments:
        for guardrail in ctx.plan.document(a.document).guardrails:
            elsewhere.setdefault(guardrail, set()).add(f"{a.target_kind} {a.target_name}")
    covered = set(guards) | {g for name in missing for g in ctx.plan.document(name).guardrails}
    for guardrail in sorted(set(elsewhere) - covered):
        where = ", ".join(sorted(elsewhere[guardrail]))
        problems.append(f"no {guardrail} guardrail reaches it (the spec applies one at {where})")
    return problems
