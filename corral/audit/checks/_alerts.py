"""What the alerts deployed in each account ("site"), and how it differs from the plan.

The expected rules, targets, gate and roles come from :mod:`corral.build.alerts`, the
builders ``pulumi up`` uses, so a rule is compared by its pattern, state, target, role and
message, never matched by name alone. A site that cannot be read is an ERROR for that
account alone, never a PASS.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from corral.audit.checks._base import CheckMetadata, VerifyContext, per_account
from corral.audit.findings import Finding
from corral.build import alerts

REDEPLOY = "run `pulumi up --refresh` to recreate it"
RESTORE = "run `pulumi up --refresh` to restore it"
EFFECTS = {
    "attempts": "calls denied there by corral's guardrails reach no one",
    "tamper": "changes to corral's guardrails there reach no one",
    "findings": "GuardDuty findings there reach no one",
}


@dataclass(frozen=True)
class Site:
    """One account's planned alerts and how to read them."""

    plan: alerts.AlertSite
    account: str
    read_as: str | None  # None: the caller's own credentials

    def read(self, ctx: VerifyContext, service: str, operation: str, **params: Any) -> dict:
        """A memoised read in this site's account (``region=`` selects the region)."""
        return ctx.conn.read(service, operation, account=self.read_as, **params)

    def topic_arn(self, ctx: VerifyContext) -> str:
        """The spend topic the alerts end in."""
        return alerts.topic_arn(ctx.spec, self.plan, self.account)


def sites(ctx: VerifyContext) -> list[Site]:
    """The sites this run covers (as the spend checks choose them)."""
    found = []
    for site in alerts.plan(ctx.spec):
        account_id = site.site.account_id
        if account_id is None:
            if ctx.org_level:
                found.append(Site(site, ctx.account, None))
        elif ctx.selected(account_id):
            found.append(Site(site, account_id, account_id))
    return found


def per_site(
    ctx: VerifyContext, meta: CheckMetadata, judge: Callable[[VerifyContext, Site], Iterable]
) -> Iterator[Finding]:
    """``judge`` every site; a failed read ends that site with an ERROR for its account,
    after the findings already made, and the other sites are still judged."""
    yield from per_account(ctx, meta, sites(ctx), judge, "alerts")


def planned_rules(ctx: VerifyContext, site: Site) -> list[tuple[alerts.RulePlan, str]]:
    """Every rule of the site with its pattern."""
    return alerts.rules(ctx.spec, site.plan, ctx.plan, site.account)


def rule_problem(
    ctx: VerifyContext, site: Site, rule: alerts.RulePlan, pattern: str
) -> tuple[str, str] | None:
    """(resource, sentence) when ``rule`` is missing or differs from the plan, else None."""
    where = f"account {site.account} {rule.region}"
    effect = EFFECTS[rule.kind]
    changes = rule_changes(ctx, site, rule, pattern)
    if changes is None:
        message = f"EventBridge rule {rule.name} is missing in {where}, so {effect}; {REDEPLOY}."
    elif changes:
        message = (f"EventBridge rule {rule.name} in {where} differs from the spec: "
                   f"{'; '.join(changes)}, so {effect}; {RESTORE}.")  # fmt: skip
    else:
        return None
    return f"rule {rule.name}", message


def rule_changes(
    ctx: VerifyContext, site: Site, rule: alerts.RulePlan, pattern: str
) -> list[str] | None:
    """How the deployed ``rule`` differs from the plan; None when it is missing."""
    prefix = alerts.names(ctx.spec)["attempts"].rsplit("-", 1)[0] + "-"  # <prefix>-spend-
    listed = site.read(ctx, "events", "ListRules", region=rule.region, NamePrefix=prefix)
    found = next((r for r in listed.get("Rules", []) if r["Name"] == rule.name), None)
    if found is None:
        return None
    changes = []
    if found.get("State") != rule.state:
        changes.append(f"it is {found.get('State')} instead of {rule.state}")
    if json.loads(found.get("EventPattern") or "{}") != json.loads(pattern):
        changes.append(f"its event pattern no longer matches the {rule.kind} corral alerts on")
    targets = site.read(ctx, "events", "ListTargetsByRule", region=rule.region, Rule=rule.name)
    want = alerts.target_request(ctx.spec, site.plan, rule, site.account)
    return changes + target_changes(targets.get("Targets", []), want)


def target_changes(targets: list[dict], want: dict) -> list[str]:
    """How the rule's targets differ from the one corral wires: its ARN, its role and, for the
    gate, the input transformer that writes the message."""
    arn = want["Arn"]
    found = next((t for t in targets if t.get("Arn") == arn), None)
    if found is None:
        return [f"it has no target {arn}"]
    changes = []
    if found.get("RoleArn") != want["RoleArn"]:
        changes.append(f"its target {arn} uses role {found.get('RoleArn') or 'none'} instead "
                       f"of {want['RoleArn']}")  # fmt: skip
    if _transformer(found.get("InputTransformer")) != _transformer(want.get("InputTransformer")):
        what = "writes" if "InputTransformer" in want else "must not rewrite"
        changes.append(f"its target {arn} no longer receives the input corral {what}")
    for other in (t for t in targets if t.get("Arn") != arn):
        changes.append(f"it also sends to {other.get('Arn')}, which corral does not deploy")
    return changes


def _transformer(value: dict | None) -> tuple | None:
    if not value:
        return None
    template = value.get("InputTemplate", "")
    with contextlib.suppress(json.JSONDecodeError):  # a text template is compared as text
        template = json.loads(template)
    return (json.dumps(value.get("InputPathsMap", {}), sort_keys=True),
            json.dumps(template, sort_keys=True))  # fmt: skip


def pass_message(ctx: VerifyContext, site: Site, region: str, count: int, what: str) -> str:
    """The PASS sentence of ``count`` rules of ``site`` in ``region``."""
    home = site.plan.home
    if region == home:
        how = f"start gate {alerts.names(ctx.spec)['gate']}, which notifies {site.topic_arn(ctx)}"
    else:
        how = f"forward to the default event bus of {home}"
    return f"All {count} {what} rules of account {site.account} in {region} are present and {how}."
