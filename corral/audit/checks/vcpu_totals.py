"""Running vCPUs per account and region, with the instance count per type."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from corral.audit.checks import _scope
from corral.audit.checks._base import SWEEP_REGION, CheckMetadata, SweepContext, failed, passed
from corral.audit.findings import Finding
from corral.spec import catalog
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="vcpu-totals",
    title="Running vCPUs per region",
    severity="medium",
    risk="vCPU totals show at a glance where capacity runs and how much it costs.",
    remediation="Stop what should not run; the vCPU alarms catch the next burst.",
    actions=("ec2:DescribeInstances", "organizations:ListParents", "organizations:ListRoots"),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=SWEEP_REGION,
    spec_keys=(K.INSTANCES, K.ALARMS),
)


def run(ctx: SweepContext) -> Iterator[Finding]:
    """One finding per region: FAIL when any instance there breaks a rule."""
    instances = _scope.running(ctx)
    types = Counter(i["InstanceType"] for i in instances)
    known = catalog.vcpus()
    total = sum(known.get(t, 0) * n for t, n in types.items())
    unknown = sorted(t for t in types if t not in known)
    mix = ", ".join(f"{n} {t}" for t, n in sorted(types.items())) or "none"
    details = {"instances": len(instances), "vcpus": total, "types": dict(sorted(types.items()))}
    resource = f"region {ctx.region}"
    note = f" ({', '.join(unknown)} of unknown size not counted)" if unknown else ""
    summary = (
        f"Account {ctx.account} runs {len(instances)} instances with {total} vCPUs in "
        f"{ctx.region}: {mix}{note}"
    )
    if not instances:
        yield passed(METADATA, ctx.account, ctx.region, resource, summary + ".", **details)
        return
    rules = _scope.rules_for(ctx)
    bad = not rules.region_allowed(ctx.region) or not all(rules.type_allowed(t) for t in types)
    if bad:
        yield failed(
            METADATA,
            ctx.account,
            ctx.region,
            resource,
            summary + ", outside the guardrails; see the instance findings and "
            "stop what should not run.",
            **details,
        )
    else:
        yield passed(
            METADATA,
            ctx.account,
            ctx.region,
            resource,
            summary + ", within the guardrails.",
            **details,
        )
