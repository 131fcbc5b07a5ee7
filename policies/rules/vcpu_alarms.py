"""vcpu-alarms: in every account that has them, EC2 vCPU alarms reach someone in every region.

A vCPU alarm is a CloudWatch metric alarm on ``AWS/Usage`` ``ResourceCount`` with
dimensions Service=EC2, Type=Resource, Resource=vCPU (directly or in a metric
query). CloudWatch only notifies a topic in the alarm's own region, so a region
counts as covered when one of its vCPU alarms has an alarm action, or when an
EventBridge rule in that region forwards alarm state changes. The account is the
one the alarm's provider assumes a role into, else the deploying account; the
region is the alarm's ``region`` input or its provider's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pulumi_policy import (
    ReportViolation,
    Severity,
    StackValidationArgs,
)

from corral.build import packconfig as P

from . import support as S
from . import tokens as T

ID = P.VCPU_ALARMS
DESCRIPTION = "EC2 vCPU usage alarms reach someone in every region of every account watched."
FIX = (
    "Add an AWS/Usage ResourceCount alarm (Service=EC2, Type=Resource, Resource=vCPU) in every "
    "region, with an alarm action or an EventBridge rule forwarding its state changes."
)
DEPLOYING = S.DEPLOYING


def _is_vcpu(metric: Any, unknowns: S.Unknowns) -> bool:
    dims = S.get(metric, "dimensions", unknowns) or {}
    return (
        S.get(metric, "namespace", unknowns) == T.USAGE_NAMESPACE
        and S.get(metric, "metricName", unknowns) == T.USAGE_METRIC
        and all(S.get(dims, k, unknowns) == v for k, v in T.VCPU_DIMENSIONS.items())
    )


def watches_vcpus(alarm: Any, unknowns: S.Unknowns) -> bool:
    """True when the alarm watches EC2 vCPU usage."""
    queries = [m for _, m in S.walk(alarm.props, "metricQueries[].metric", unknowns)]
    return any(_is_vcpu(m, unknowns) for m in [alarm.props, *queries])


def region_of(resource: Any, unknowns: S.Unknowns) -> str | None:
    """The region a resource lives in."""
    where = S.label(resource.resource_type, resource.name)
    region = S.region_of(resource.props, unknowns, where)
    if region is None and resource.provider is not None:
        region = S.region_of(resource.provider.props, unknowns, where)
    return region


def _forwards(rule: Any, unknowns: S.Unknowns) -> bool:
    pattern = S.get(rule.props, "eventPattern", unknowns)
    return isinstance(pattern, str) and T.ALARM_STATE_CHANGE in pattern


def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Report, per watched account, the regions where no vCPU alarm reaches anyone."""
    S.guardrail_documents(args)
    config = args.get_config()
    unknowns = S.Unknowns()
    alarms = [a for a in S.by_type(args.resources, T.METRIC_ALARM) if watches_vcpus(a, unknowns)]
    if not alarms and not config.get(P.REQUIRED):
        unknowns.raise_any()
        args.not_applicable("the stack deploys no vCPU alarms and the pack config requires none")
    watched: dict[str, set] = defaultdict(set)
    reached: dict[str, set] = defaultdict(set)
    for alarm in alarms:
        account, region = S.account_of(alarm, unknowns), region_of(alarm, unknowns)
        watched[account].add(region)
        if S.count(S.get(alarm.props, "alarmActions", unknowns)):
            reached[account].add(region)
    for rule in S.by_type(args.resources, T.EVENT_RULE):
        if _forwards(rule, unknowns):
            reached[S.account_of(rule, unknowns)].add(region_of(rule, unknowns))
    unknowns.raise_any()
    for account in sorted(watched or {DEPLOYING: set()}):
        missing = [r for r in config.get(P.REGIONS) or () if r not in watched[account]]
        silent = [
            r for r in config.get(P.REGIONS) or () if r in watched[account] - reached[account]
        ]
        for regions, what in (
            (missing, "no vCPU alarm"),
            (silent, "vCPU alarms that reach nobody"),
        ):
            if regions:
                report_violation(
                    f"{account[0].upper()}{account[1:]} has {what} in {len(regions)} "
                    f"region{'s' if len(regions) > 1 else ''} "
                    f"({', '.join(regions)}), so a launch there goes unnoticed; the {ID} rule "
                    f"forbids this. {FIX}",
                    None,
                )


POLICY = S.stack_policy(ID, DESCRIPTION, validate, Severity.HIGH, FIX)
