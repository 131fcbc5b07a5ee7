"""Every level from the root down to each guarded account keeps an allowing SCP."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _accounts, _deployed, _effects
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="guardrail-full-access",
    title="Every level above a guarded account keeps an allowing SCP",
    severity="high",
    risk="An SCP only filters: a root, OU or account without an allowing SCP denies every "
    "request below it, including the owner's own work.",
    remediation="Attach FullAWSAccess (or the intended allow list) at every level from the root "
    "down to each account the guardrails reach.",
    actions=(
        "organizations:DescribeOrganization",
        *_accounts.ACTIONS,  # with ListRoots and ListOrganizationalUnitsForParent (paths)
        "organizations:ListParents",
        "organizations:ListPoliciesForTarget",
        "organizations:DescribePolicy",
    ),
    modes=(K.ORGANIZATION,),
    scope=VERIFY,
    spec_keys=(K.TARGETS,),
)


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One finding per level: each planned target (first shard only), and the root, every OU
    and the account on the path of each selected account below a planned target."""
    planned = {a.target_id: (a.target_kind, a.target_name) for a in ctx.plan.attachments}
    parents: dict[str, str | None] = dict.fromkeys(planned) if ctx.org_level else {}
    management = _effects.management_account(ctx)
    for account in _effects.accounts(ctx):
        if account == management or not ctx.selected(account):
            continue
        try:
            chain = _deployed.chain_ids(ctx.conn, account, tree=True)
        except _deployed.ChainProblem as exc:
            message = (f"The path from the root to account {account} cannot be read because "
                       f"{exc}; fix the account's place in the organization.")  # fmt: skip
            yield failed(METADATA, account, None, f"account {account}", message)
            continue
        if planned.keys() & set(chain):
            parents.update(zip(chain, [None, *chain[:-1]], strict=True))
    for level, parent in sorted(parents.items()):
        kind, name = planned.get(level) or _deployed.level_name(ctx, level, parent)
        yield _judge(ctx, level, kind, name)


def _judge(ctx: VerifyContext, level: str, kind: str, name: str) -> Finding:
    label = f"{kind} {name} ({level})"
    account = level if kind == K.ACCOUNT_TARGET else ctx.account
    attached = _deployed.scps_on(ctx, level)
    allowing = sorted(
        n for n, pid in attached.items() if n == K.FULL_AWS_ACCESS or _deployed.allows(ctx, pid)
    )
    below = "in it" if kind == K.ACCOUNT_TARGET else "below it"
    if allowing:
        message = (f"{label} keeps the allowing SCP {', '.join(allowing)}, so requests {below} "
                   "are denied only where a guardrail denies them.")  # fmt: skip
        return passed(METADATA, account, None, label, message)
    full = K.FULL_AWS_ACCESS
    message = (f"{label} has no SCP that allows anything ({full} is detached), so every request "
               f"{below} is denied; attach {full} to {level}.")  # fmt: skip
    return failed(METADATA, account, None, label, message)
