"""No corral-named document exists that the spec does not build."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _deployed
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.build import spend_plan
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="guardrail-no-extra",
    title="No unexpected corral-named documents",
    severity="medium",
    risk="A stale or hand-made policy carrying corral's name gives false comfort to anyone "
    "matching guardrails by name, and may be attached in place of the real one.",
    remediation="Delete the extra policy, or add what it expresses to the spec.",
    actions=("organizations:ListPolicies", "iam:ListPolicies"),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=VERIFY,
    spec_keys=(K.NAME_PREFIX, K.TARGETS, K.PRINCIPALS),
)


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One FAIL per extra document, or one PASS."""
    if not ctx.org_level:
        return
    planned = {d.name for d in ctx.plan.documents} | set(ctx.policy_ids)
    planned |= spend_plan.deployed_policies(ctx.spec.spend)  # the circuit breaker's deny policy
    org = ctx.spec.mode == K.ORGANIZATION
    found = _deployed.listed(ctx)
    extra = sorted(
        (name, pid)
        for name, pid in found.items()
        if name not in planned and (not org or _deployed.is_corral_name(ctx, name))
    )
    what = "SCP" if org else f"IAM policy under {K.IAM_PATH}"
    for name, policy_id in extra:
        yield failed(
            METADATA,
            ctx.account,
            None,
            f"{name} ({policy_id})",
            f"The {what} {name} ({policy_id}) carries corral's name but the spec does not "
            "build it; delete it, or add what it expresses to the spec.",
        )
    if not extra:
        yield passed(
            METADATA,
            ctx.account,
            None,
            "policies",
            f"Every corral-named {what} is one the spec builds.",
        )
