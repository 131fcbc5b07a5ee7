"""What spend detection deployed in each account ("site"), and how it differs from the plan.

The expected values come from :mod:`corral.build.spend_requests`'s own request builders, so the
verifier compares against exactly what ``pulumi up`` creates. Member sites are read
through the assumed role; a site that cannot be read is an ERROR for that account
alone, never a PASS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from corral.audit.aws import ReadError
from corral.audit.checks._base import CheckMetadata, VerifyContext, per_account
from corral.audit.findings import Finding
from corral.build import spend_plan, spend_requests
from corral.spec import keys as K
from corral.spec import spend as spend_spec

NOT_FOUND = "NotFoundException"
REDEPLOY = "run `pulumi up --refresh` to recreate it"
RESTORE = "run `pulumi up --refresh` to restore it"
# Alarm fields compared with what the builder requests (AlarmActions and Dimensions apart).
ALARM_FIELDS = (
    "Namespace",
    "MetricName",
    "Statistic",
    "Period",
    "EvaluationPeriods",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "ActionsEnabled",
)
# Target fields that change what a rule delivers; corral's program sets none of them.
TARGET_REWRITES = ("Input", "InputPath", "InputTransformer")


@dataclass(frozen=True)
class Site:
    """One account's planned spend resources and how to read them."""

    plan: spend_plan.SitePlan
    spend: spend_spec.SpendSpec
    account: str
    read_as: str | None  # None: the caller's own credentials

    def role_arn(self, role: str) -> str:
        """The ARN of corral's service role ``role`` (``forward_role``, ``breaker_role``)."""
        name = spend_plan.names(self.spend)[role]
        return f"arn:{self.spend.partition}:iam::{self.account}:role{K.IAM_PATH}{name}"

    @property
    def topic_arn(self) -> str:
        """The ARN the alert topic has when deployed."""
        p, home = self.spend.partition, self.plan.home
        return f"arn:{p}:sns:{home}:{self.account}:{self.plan.topic}"

    def read(self, ctx: VerifyContext, service: str, operation: str, **params: Any) -> dict:
        """A memoised read in this site's account (``region=`` selects the region)."""
        return ctx.conn.read(service, operation, account=self.read_as, **params)


def sites(ctx: VerifyContext) -> list[Site]:
    """The sites this run covers (none unless spend detection is on)."""
    spend = getattr(ctx.spec, "spend", None)
    if spend is None or not spend.enabled:
        return []
    found = []
    for site in spend_plan.plan(spend):
        if site.account_id is None:
            if ctx.org_level:
                found.append(Site(site, spend, ctx.account, None))
        elif ctx.selected(site.account_id):
            found.append(Site(site, spend, site.account_id, site.account_id))
    return found


def per_site(
    ctx: VerifyContext,
    meta: CheckMetadata,
    judge: Callable[[VerifyContext, Site], Iterable[Finding]],
) -> Iterator[Finding]:
    """``judge`` every site; a failed read ends that site with an ERROR for its account,
    after the findings already made, and the other sites are still judged."""
    yield from per_account(ctx, meta, sites(ctx), judge, "spend detection")


def alarm_label(alarm: spend_plan.AlarmPlan) -> str:
    """``vCPU alarm`` or ``Billing alarm``."""
    return "vCPU alarm" if alarm.kind == K.VCPU else "Billing alarm"


def alarm_differences(
    alarm: spend_plan.AlarmPlan, found: Mapping[str, Any], topic: str
) -> list[str]:
    """How the deployed alarm ``found`` differs from what the builder requests."""
    want = spend_requests.alarm_request(alarm, topic)
    changes = [
        f"its {name} is {found.get(name)!r} instead of {want[name]!r}"
        for name in ALARM_FIELDS
        if found.get(name) != want[name]
    ]
    have_dims = sorted((d["Name"], d["Value"]) for d in found.get("Dimensions", []))
    if have_dims != sorted(alarm.dimensions):
        changes.append(f"its dimensions are {have_dims} instead of {sorted(alarm.dimensions)}")
    if alarm.direct and topic not in found.get("AlarmActions", []):
        changes.append(f"it does not notify topic {topic}")
    return changes


def rule_problems(ctx: VerifyContext, site: Site, region: str) -> list[tuple[str, str]]:
    """(resource, sentence) for the EventBridge rule ``region`` needs, if it is missing or
    differs: the forward rule outside the home region, the deliver rule at home."""
    spend, home, where = site.spend, site.plan.home, f"account {site.account} {region}"
    if region in site.plan.forward_regions:
        request, target = (
            spend_requests.forward_rule_request(spend),
            (spend_requests.bus_arn(spend, home, site.account), site.role_arn("forward_role")),
        )
        effect = f"the spend alarms in {region} reach no one"
    elif region == home and site.plan.forward_regions:
        request, target = spend_requests.deliver_rule_request(spend), (site.topic_arn, None)
        effect = "alarms forwarded from other regions reach no one"
    else:
        return []
    name = request["Name"]
    changes = _rule_changes(ctx, site, region, request, target)
    if changes is None:
        message = f"EventBridge rule {name} is missing in {where}, so {effect}; {REDEPLOY}."
    elif changes:
        message = (f"EventBridge rule {name} in {where} differs from the spec: "
                   f"{'; '.join(changes)}, so {effect}; {RESTORE}.")  # fmt: skip
    else:
        return []
    return [(f"rule {name}", message)]


def _rule_changes(
    ctx: VerifyContext, site: Site, region: str, request: dict, target: tuple[str, str | None]
) -> list[str] | None:
    """How EventBridge rule ``request['Name']`` in ``region`` differs, its ``target``
    (ARN, role ARN or None) included; None when the rule is missing."""
    name = request["Name"]
    listed = site.read(ctx, "events", "ListRules", region=region, NamePrefix=name)
    rule = next((r for r in listed.get("Rules", []) if r["Name"] == name), None)
    if rule is None:
        return None
    changes = []
    if rule.get("State") != "ENABLED":
        changes.append(f"it is {rule.get('State')} instead of ENABLED")
    if json.loads(rule.get("EventPattern") or "{}") != json.loads(request["EventPattern"]):
        changes.append("its event pattern no longer matches corral's spend alarms")
    targets = site.read(ctx, "events", "ListTargetsByRule", region=region, Rule=name)
    return changes + target_changes(targets.get("Targets", []), *target)


def target_changes(targets: list[dict], arn: str, role: str | None) -> list[str]:
    """How the rule's target ``arn`` differs from what the program wires: the role EventBridge
    uses to deliver (the forwarder's, or none), and no rewriting of the event."""
    found = next((t for t in targets if t.get("Arn") == arn), None)
    if found is None:
        return [f"it has no target {arn}"]
    changes = []
    if found.get("RoleArn") != role:
        changes.append(f"its target {arn} uses role {found.get('RoleArn') or 'none'} instead of "
                       f"{role or 'none'}")  # fmt: skip
    rewrites = [key for key in TARGET_REWRITES if found.get(key)]
    if rewrites:
        changes.append(f"its target {arn} rewrites the event ({', '.join(rewrites)}), which "
                       "corral does not set")  # fmt: skip
    return changes


def deployed_budgets(ctx: VerifyContext, site: Site) -> dict[str, dict]:
    """The site's budgets by name; AWS may answer NotFoundException when there are none."""
    try:
        out = site.read(ctx, "budgets", "DescribeBudgets", AccountId=site.account)
    except ReadError as exc:
        if exc.reason.startswith(NOT_FOUND):
            return {}
        raise
    return {b["BudgetName"]: b for b in out.get("Budgets", [])}


def budget_changes(site: Site, budget: spend_plan.BudgetPlan, have: Mapping[str, Any]) -> list[str]:
    """How the deployed budget ``have`` differs from what the builder requests."""
    want = spend_requests.budget_request(site.spend, budget, site.account, site.topic_arn)["Budget"]
    limit = have.get("BudgetLimit", {})
    shown = f"{float(limit.get('Amount', 0)):.2f} {limit.get('Unit')}"
    changes, currency = [], spend_spec.CURRENCY
    if shown != f"{want['BudgetLimit']['Amount']} {currency}":
        changes.append(
            f"its limit is {shown} instead of {spend_requests.money(budget.limit)} {currency}"
        )
    for key in ("TimeUnit", "BudgetType", "CostFilters"):
        if key in want and have.get(key) != want[key]:
            changes.append(f"its {key} is {have.get(key)} instead of {want[key]}")
    return changes


def notification_problems(
    ctx: VerifyContext, site: Site, budget: spend_plan.BudgetPlan
) -> list[str]:
    """A sentence per planned notification that is missing or lacks a subscriber."""
    a, name = site.account, budget.name
    stored = site.read(ctx, "budgets", "DescribeNotificationsForBudget", AccountId=a,
                       BudgetName=name).get("Notifications", [])  # fmt: skip
    by_key = {_notification_key(n): n for n in stored}
    expected = {
        (s["SubscriptionType"], s["Address"])
        for s in spend_requests.subscribers(site.spend, site.topic_arn)
    }
    problems = []
    for note in budget.notifications:
        when = f"{note.kind.lower()} spend passes {note.threshold:g}% of its limit"
        have = by_key.get(_notification_key(spend_requests.notification_request(note)))
        if have is None:
            problems.append(f"Budget {name} in account {a} has no notification when {when}; "
                            f"{REDEPLOY}.")  # fmt: skip
            continue
        subs = site.read(ctx, "budgets", "DescribeSubscribersForNotification", AccountId=a,
                         BudgetName=name, Notification=have).get("Subscribers", [])  # fmt: skip
        missing = expected - {(s["SubscriptionType"], s["Address"]) for s in subs}
        if missing:
            who = ", ".join(f"{address} ({kind})" for kind, address in sorted(missing))
            problems.append(f"Budget {name} in account {a} does not notify {who} when {when}; "
                            "run `pulumi up --refresh` to add the subscriber again.")  # fmt: skip
    return problems


def _notification_key(note: Mapping[str, Any]) -> tuple:
    return (note["NotificationType"], note["ComparisonOperator"], float(note["Threshold"]),
            note.get("ThresholdType", "PERCENTAGE"))  # fmt: skip


# --------------------------------------------------------------------------- circuit breakers

# Budget action fields compared as they are, and how messages call them.
BREAKER_FIELDS = (
    ("ActionType", "action type"),
    ("NotificationType", "notification type"),
    ("ApprovalModel", "approval model"),
)
# Definition members naming who the action applies its policy to, as messages call them.
BREAKER_TARGETS = (("TargetIds", "account"), ("Groups", "group"), ("Users", "user"),
                   ("Roles", "role"))  # fmt: skip
POLICY_REF = {"ScpActionDefinition": "PolicyId", "IamActionDefinition": "PolicyArn"}


def budget_actions(ctx: VerifyContext, site: Site, budget: str) -> list[dict]:
    """The budget actions on ``budget``; none when AWS answers that the budget is missing."""
    try:
        out = site.read(ctx, "budgets", "DescribeBudgetActionsForBudget", AccountId=site.account,
                        BudgetName=budget)  # fmt: skip
    except ReadError as exc:
        if exc.reason.startswith(NOT_FOUND):
            return []
        raise
    return list(out.get("Actions", []))


def breaker_changes(want: Mapping[str, Any], have: Mapping[str, Any]) -> list[str]:
    """How the deployed budget action ``have`` differs from the request ``want`` (its
    ``Definition`` policy reference left empty when the planned policy is not deployed)."""
    changes = [
        f"its {label} is {have.get(key)} instead of {want[key]}"
        for key, label in BREAKER_FIELDS
        if have.get(key) != want[key]
    ]
    if threshold(have) != threshold(want):
        changes.append(f"it acts at {threshold(have)} instead of {threshold(want)}")
    role = want.get("ExecutionRoleArn")
    if role and have.get("ExecutionRoleArn") != role:
        changes.append(f"it runs as {have.get('ExecutionRoleArn')} instead of {role}")
    [(kind, planned)] = want["Definition"].items()
    deployed = have.get("Definition", {}).get(kind, {})
    ref = POLICY_REF[kind]
    if planned[ref] and deployed.get(ref) != planned[ref]:
        changes.append(f"it applies policy {deployed.get(ref)} instead of {planned[ref]}")
    for key, label in BREAKER_TARGETS:
        have, want_names = sorted(deployed.get(key, [])), sorted(planned.get(key, []))
        if have != want_names:
            changes.append(f"it applies to {_named(label, have)} instead of "
                           f"{_named(label, want_names)}")  # fmt: skip
    return changes


def _named(label: str, names: list[str]) -> str:
    """``no group``, ``group developers`` or ``users alice, bob``."""
    if not names:
        return f"no {label}"
    return f"{label}{'s' if len(names) > 1 else ''} {', '.join(names)}"


def threshold(action: Mapping[str, Any]) -> str:
    """``120% of the budget`` or ``250 USD`` for a budget action's threshold."""
    limit = action.get("ActionThreshold", {})
    value = float(limit.get("ActionThresholdValue", 0))
    if limit.get("ActionThresholdType") == "PERCENTAGE":
        return f"{value:g}% of the budget"
    return f"{value:g} {spend_spec.CURRENCY}"


def breaker_targets(want: Mapping[str, Any]) -> str:
    """``account 222233334444`` or ``group developers, user ci-deployer`` for a request."""
    [definition] = want["Definition"].values()
    return ", ".join(f"{label} {name}" for key, label in BREAKER_TARGETS
                     for name in sorted(definition.get(key, [])))  # fmt: skip
