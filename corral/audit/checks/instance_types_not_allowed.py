"""No instance runs with a type the instance rule does not permit."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _scope
from corral.audit.checks._base import SWEEP_REGION, CheckMetadata, SweepContext, failed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="instance-types-not-allowed",
    title="No instance runs with a forbidden type",
    severity="high",
    risk="Large instance types multiply spend: one c5a.24xlarge has 96 vCPUs.",
    remediation="Stop or resize the instance, then deploy the instance-type guardrail.",
    actions=("ec2:DescribeInstances", "organizations:ListParents", "organizations:ListRoots"),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=SWEEP_REGION,
    spec_keys=(K.INSTANCES,),
)


def run(ctx: SweepContext) -> Iterator[Finding]:
    """One FAIL per running or pending instance of a type the rules do not permit."""
    instances = _scope.running(ctx)
    if not instances:
        return
    rules = _scope.rules_for(ctx)
    for instance in instances:
        if rules.type_allowed(instance["InstanceType"]):
            continue
        yield failed(
            METADATA,
            ctx.account,
            ctx.region,
            instance["InstanceId"],
            f"Instance {_scope.describe(instance, ctx.region)} has type "
            f"{instance['InstanceType']}, which corral:instances does not permit; stop or "
            "resize it.",
            instance_type=instance["InstanceType"],
        )
