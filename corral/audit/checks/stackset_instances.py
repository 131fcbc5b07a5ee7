"""corral's StackSet is as the spec builds it, with automatic deployment on, and every account
below a targeted root or OU has a CURRENT stack instance in every region and its alarms."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from corral.audit.aws import ReadError
from corral.audit.checks import _spend, alarms_present
from corral.audit.checks._base import (
    VERIFY,
    CheckMetadata,
    VerifyContext,
    failed,
    passed,
    per_account,
)
from corral.audit.findings import Finding
from corral.build import spend_plan, stackset
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="stackset-instances",
    title="corral's StackSet reaches every account below its root and OU targets",
    severity="high",
    risk="An account below a targeted root or OU without a current stack instance has no "
    "capacity alarms, so leaked keys launch there unseen; with automatic deployment off, "
    "accounts created or moved there later never get them.",
    remediation="Run `pulumi up --refresh` to restore the StackSet and its instances; for an "
    "instance that is not CURRENT, read its status reason in the CloudFormation console and retry.",
    actions=(
        "cloudformation:DescribeStackSet",
        "cloudformation:ListStackInstances",
        "organizations:ListOrganizationalUnitsForParent",
        "organizations:ListAccountsForParent",
        "cloudwatch:DescribeAlarms",
        "events:ListRules",
        "events:ListTargetsByRule",
    ),
    modes=(K.ORGANIZATION,),
    scope=VERIFY,
    spec_keys=(K.ALARMS, K.TARGETS),
)
CALL_AS = "SELF"
CURRENT = "CURRENT"
MISSING = "StackSetNotFoundException"


@dataclass(frozen=True)
class Member:
    """An account below a targeted root or OU, and its stack instances by region."""

    account: str
    below: str  # the root or OU it was found under
    instances: dict[str, dict]


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """The StackSet (first shard), then one finding or more per selected member account."""
    plan = stackset.stackset_plan(ctx.spec)
    if plan is None:
        return
    name = plan.name
    found = _read(ctx, "DescribeStackSet", name)
    if ctx.org_level:
        yield from _judge_stack_set(ctx, plan, found and found["StackSet"])
    listed = _read(ctx, "ListStackInstances", name) if found else None
    by_account: dict[str, dict[str, dict]] = {}
    for summary in (listed or {}).get("Summaries", []):
        by_account.setdefault(summary["Account"], {})[summary["Region"]] = summary
    members = [Member(a, unit, by_account.get(a, {})) for a, unit in _members(ctx, plan)]
    yield from per_account(ctx, METADATA, members, _judge_member, "StackSet detection")


def _read(ctx: VerifyContext, operation: str, name: str) -> dict | None:
    try:
        return ctx.conn.read("cloudformation", operation, StackSetName=name, CallAs=CALL_AS)
    except ReadError as exc:
        if exc.reason.startswith(MISSING):
            return None
        raise


def _judge_stack_set(ctx: VerifyContext, plan: stackset.StackSetPlan, have) -> Iterator[Finding]:
    resource = f"StackSet {plan.name}"
    if have is None:
        yield failed(METADATA, ctx.account, plan.home, resource,
                     f"StackSet {plan.name} is missing in {plan.home}, so no account below "
                     f"{', '.join(plan.organizational_unit_ids)} gets spend detection from it; "
                     f"{_spend.REDEPLOY}.")  # fmt: skip
        return
    auto = have.get("AutoDeployment") or {}
    problems = []
    if have.get("PermissionModel") != stackset.PERMISSION_MODEL:
        problems.append(f"its permission model is {have.get('PermissionModel')!r} instead of "
                        f"{stackset.PERMISSION_MODEL!r}")  # fmt: skip
    if auto.get("Enabled") is not True:
        problems.append("automatic deployment is off, so accounts created or moved below its "
                        "targets later get no detection")  # fmt: skip
    if _template(have.get("TemplateBody")) != json.loads(plan.template_body):
        problems.append("its template differs from the one the spec builds")
    if problems:
        message = f"StackSet {plan.name} differs from the spec: {'; '.join(problems)}; "
        yield failed(METADATA, ctx.account, plan.home, resource, message + f"{_spend.RESTORE}.")
        return
    yield passed(METADATA, ctx.account, plan.home, resource,
                 f"StackSet {plan.name} is service-managed with automatic deployment on and "
                 "holds the template the spec builds.")  # fmt: skip


def _template(body: str | None) -> object:
    try:
        return json.loads(body or "")
    except ValueError:
        return None


def _members(ctx: VerifyContext, plan: stackset.StackSetPlan) -> list[tuple[str, str]]:
    """(account, root or OU) for every active account below a target, at any depth, but the
    management account and the account targets (which have a site of their own)."""
    skip = {ctx.account, *plan.excluded_accounts}
    found: dict[str, str] = {}
    for unit in plan.organizational_unit_ids:
        parents = [unit]
        while parents:
            parent = parents.pop()
            out = ctx.conn.read("organizations", "ListOrganizationalUnitsForParent",
                                ParentId=parent)  # fmt: skip
            parents += [ou["Id"] for ou in out.get("OrganizationalUnits", [])]
            out = ctx.conn.read("organizations", "ListAccountsForParent", ParentId=parent)
            for account in out.get("Accounts", []):
                if account.get("Status", "ACTIVE") == "ACTIVE" and account["Id"] not in skip:
                    found.setdefault(account["Id"], unit)
    return sorted((a, u) for a, u in found.items() if ctx.selected(a))


def _judge_member(ctx: VerifyContext, member: Member) -> Iterator[Finding]:
    plan = stackset.stackset_plan(ctx.spec)
    spend, account = ctx.spec.spend, member.account
    regions = [r for r in plan.regions if ctx.judges(r)]
    problems = _instance_problems(plan, member, regions)
    site = _spend.Site(spend_plan.member_site(spend, account), spend, account, account)
    for region in regions:
        # the same comparison alarms-present makes for an account target's alarms and rules
        found = alarms_present._alarm_problems(ctx, site, region)
        problems += [(region, r, m) for r, m in found + _spend.rule_problems(ctx, site, region)]
    for region, resource, message in problems:
        yield failed(METADATA, account, region, resource, message)
    if not problems:
        count = sum(a.region in regions for a in site.plan.alarms)
        yield passed(METADATA, account, None, f"stack instances of account {account}",
                     f"Account {account} (below {member.below}) has a CURRENT stack instance of "
                     f"StackSet {plan.name} in each of {len(regions)} regions and all {count} "
                     "spend alarms, forwarded to its topic.")  # fmt: skip


def _instance_problems(plan, member: Member, regions: list[str]) -> list[tuple]:
    """(region, resource, sentence) for the regions without an instance (one finding) and for
    each instance that is not CURRENT (OUTDATED, INOPERABLE: failed or stale)."""
    account, problems = member.account, []
    missing = [r for r in regions if r not in member.instances]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        problems.append((None, f"stack instances of account {account}",
                         f"Account {account} (below {member.below}) has no stack instance of "
                         f"StackSet {plan.name} in {', '.join(missing[:5])}{more}, so it has no "
                         f"spend alarms there; {_spend.REDEPLOY}."))  # fmt: skip
    for region in (r for r in regions if r in member.instances):
        instance = member.instances[region]
        if instance.get("Status") != CURRENT:
            reason = instance.get("StatusReason") or "no reason given"
            problems.append((region, f"stack instance {account} {region}",
                             f"The stack instance of StackSet {plan.name} for account {account} "
                             f"in {region} is {instance.get('Status')}, not CURRENT ({reason}), "
                             "so its spend detection may be missing or stale; fix the cause and "
                             "run `pulumi up --refresh`."))  # fmt: skip
    return problems
