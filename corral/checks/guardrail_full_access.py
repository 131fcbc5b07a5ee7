"""Where corral attaches guardrails, something still allows (FullAWSAccess or an allow)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from corral import keys as K
from corral.checks import _deployed
from corral.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.findings import Finding

METADATA = CheckMetadata(
    id="guardrail-full-access",
    title="Guarded targets keep an allowing SCP",
    severity="high",
    risk="An SCP only filters: a target with deny statements but no allowing SCP denies every "
    "request below it, including the owner's own work.",
    remediation="Attach FullAWSAccess (or the intended allow list) to the target.",
    actions=("organizations:ListPoliciesForTarget", "organizations:DescribePolicy"),
    modes=(K.ORGANIZATION,),
    scope=VERIFY,
)


def _allows(ctx: VerifyContext, policy_id: str) -> bool:
    content = ctx.conn.read("organizations", "DescribePolicy", PolicyId=policy_id)
    statements = json.loads(content["Policy"]["Content"]).get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return any(s.get("Effect") == "Allow" for s in statements)


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One finding per target the plan attaches guardrails to."""
    if not ctx.org_level:
        return
    targets = {a.target_id: a for a in ctx.plan.attachments}
    for target_id, attachment in sorted(targets.items()):
        label = f"{attachment.target_kind} {attachment.target_name} ({target_id})"
        attached = _deployed.scps_on(ctx, target_id)
        if K.FULL_AWS_ACCESS in attached:
            yield passed(
                METADATA,
                ctx.account,
                None,
                label,
                f"{label} keeps {K.FULL_AWS_ACCESS} beside corral's guardrails.",
            )
            continue
        allowing = sorted(n for n, pid in attached.items() if _allows(ctx, pid))
        if allowing:
            yield passed(
                METADATA, ctx.account, None, label, f"{label} is allowed by {', '.join(allowing)}."
            )
        else:
            yield failed(
                METADATA,
                ctx.account,
                None,
                label,
                f"{label} has no SCP that allows anything ({K.FULL_AWS_ACCESS} is detached), "
                f"so every request below it is denied; attach {K.FULL_AWS_ACCESS} to "
                f"{target_id}.",
            )
