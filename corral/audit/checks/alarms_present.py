"""The billing alarm and every capacity alarm (EC2 On-Demand and Spot per class, Fargate, Lambda)
per region exist, each with a way to notify."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _spend
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.build import spend_plan
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="alarms-present",
    title="Billing and capacity alarms exist in every region with their actions",
    severity="high",
    risk="Leaked keys launch where nobody looks; a region without its vCPU alarm, or an alarm "
    "whose action reaches no one, lets capacity run for hours before billing shows it.",
    remediation="Run `pulumi up --refresh` to recreate the alarms and their EventBridge "
    "forwarding.",
    actions=("cloudwatch:DescribeAlarms", "events:ListRules", "events:ListTargetsByRule"),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=VERIFY,
    spec_keys=(K.ALARMS,),
)


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """Per site and region judged (``--regions``): a finding per problem, or one PASS."""
    yield from _spend.per_site(ctx, METADATA, _judge)


def _judge(ctx: VerifyContext, site: _spend.Site) -> Iterator[Finding]:
    for region in filter(ctx.judges, site.plan.regions):
        problems = _alarm_problems(ctx, site, region) + _spend.rule_problems(ctx, site, region)
        for resource, message in problems:
            yield failed(METADATA, site.account, region, resource, message)
        count = sum(a.region == region for a in site.plan.alarms)
        if not problems and count:
            how = f"notify topic {site.topic_arn}"
            if region in site.plan.forward_regions:
                rule = spend_plan.names(site.spend)["forward_rule"]
                how = f"reach topic {site.topic_arn} through EventBridge rule {rule}"
            message = (f"All {count} spend alarms of account {site.account} in {region} are "
                       f"present and {how}.")  # fmt: skip
            yield passed(METADATA, site.account, region, f"alarms in {region}", message)


def _alarm_problems(ctx: VerifyContext, site: _spend.Site, region: str) -> list:
    prefix = spend_plan.names(site.spend)["alarm_prefix"]
    out = site.read(ctx, "cloudwatch", "DescribeAlarms", region=region, AlarmNamePrefix=prefix)
    deployed = {a["AlarmName"]: a for a in out.get("MetricAlarms", [])}
    where = f"account {site.account} {region}"
    problems = []
    for alarm in (a for a in site.plan.alarms if a.region == region):
        label, have = alarm.label, deployed.get(alarm.name)
        if have is None:
            message = f"{label} {alarm.name} is missing in {where}; {_spend.REDEPLOY}."
            problems.append((f"alarm {alarm.name}", message))
            continue
        changes = _spend.alarm_differences(alarm, have, site.topic_arn)
        if changes:
            message = (f"{label} {alarm.name} in {where} differs from the spec: "
                       f"{'; '.join(changes)}; {_spend.RESTORE}.")  # fmt: skip
            problems.append((f"alarm {alarm.name}", message))
    return problems
