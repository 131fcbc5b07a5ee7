"""No instance runs in a region the guardrails do not allow."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _scope
from corral.audit.checks._base import SWEEP_REGION, CheckMetadata, SweepContext, failed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="instances-outside-regions",
    title="No instance runs outside the allowed regions",
    severity="critical",
    risk="Capacity in a region nobody uses is the signature of leaked credentials: the "
    "incident launched 26 c5a.24xlarge across four unused regions in two minutes.",
    remediation="Stop or terminate the instance after capturing what it is, rotate the "
    "credentials that launched it, then deploy the region guardrail.",
    actions=("ec2:DescribeInstances", "organizations:ListParents", "organizations:ListRoots"),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=SWEEP_REGION,
    spec_keys=(K.ALLOWED_REGIONS,),
)


def run(ctx: SweepContext) -> Iterator[Finding]:
    """One FAIL per running or pending instance in a disallowed region."""
    instances = _scope.running(ctx)
    if not instances:
        return
    rules = _scope.rules_for(ctx)
    if rules.region_allowed(ctx.region):
        return
    allowed = ", ".join(rules.allowed_regions) or "none"
    for instance in instances:
        yield failed(
            METADATA,
            ctx.account,
            ctx.region,
            instance["InstanceId"],
            f"Instance {_scope.describe(instance, ctx.region)} runs outside the allowed regions "
            f"({allowed}); capture it, terminate it and rotate the credentials that launched it.",
            instance_type=instance["InstanceType"],
        )
