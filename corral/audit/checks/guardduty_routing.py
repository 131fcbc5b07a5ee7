"""GuardDuty watches every allowed region and its findings reach the topic: an enabled
detector, the findings rule and its target, and in organization mode the delegated
administrator."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _alerts
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="guardduty-routing",
    title="GuardDuty is on in every allowed region and its findings reach the topic",
    severity="high",
    risk="GuardDuty names crypto-mining and stolen credentials within minutes; a region "
    "without a detector, or findings routed nowhere, leaves the incident to the bill.",
    remediation="Run `pulumi up --refresh` to create the detectors, the findings rules and, in "
    "organization mode, the delegated administrator.",
    actions=(
        "guardduty:ListDetectors",
        "guardduty:GetDetector",
        "guardduty:ListOrganizationAdminAccounts",
        "events:ListRules",
        "events:ListTargetsByRule",
    ),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=VERIFY,
    spec_keys=(K.GUARD_DUTY,),
)
ENABLED = "ENABLED"


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """Per GuardDuty site and allowed region judged: a finding per problem, or one PASS."""
    yield from _alerts.per_site(ctx, METADATA, _judge)


def _judge(ctx: VerifyContext, site: _alerts.Site) -> Iterator[Finding]:
    rules = {r.region: (r, p) for r, p in _alerts.planned_rules(ctx, site) if r.kind == "findings"}
    admin = _admin(ctx, site)
    for region in filter(ctx.judges, site.plan.detector_regions):
        problems = _detector_problems(ctx, site, region)
        rule = _alerts.rule_problem(ctx, site, *rules[region])
        problems += [rule[1]] if rule else []
        if admin is not None:
            problems += _admin_problems(ctx, region, admin)
        for message in problems:
            yield failed(METADATA, site.account, region, f"guardduty {region}", message)
        if not problems:
            severity = ctx.spec.alerts.severity
            message = (f"GuardDuty in account {site.account} {region} has an enabled detector "
                       f"and routes findings of severity {severity:g} or more to topic "
                       f"{site.topic_arn(ctx)}.")  # fmt: skip
            yield passed(METADATA, site.account, region, f"guardduty {region}", message)


def _detector_problems(ctx: VerifyContext, site: _alerts.Site, region: str) -> list[str]:
    where = f"account {site.account} {region}"
    ids = site.read(ctx, "guardduty", "ListDetectors", region=region).get("DetectorIds", [])
    if not ids:
        return [f"GuardDuty has no detector in {where}, so nothing there watches for "
                f"crypto-mining or stolen credentials; {_alerts.REDEPLOY}."]  # fmt: skip
    problems = []
    for detector in ids:
        status = site.read(ctx, "guardduty", "GetDetector", region=region, DetectorId=detector)
        if status.get("Status") != ENABLED:
            problems.append(f"GuardDuty detector {detector} in {where} is "
                            f"{status.get('Status')}, so it reports nothing; "
                            f"{_alerts.RESTORE}.")  # fmt: skip
    return problems


def _admin(ctx: VerifyContext, site: _alerts.Site) -> str | None:
    """Organization mode, read from the deploying account: the account GuardDuty should be
    delegated to (None where no delegation is planned)."""
    if ctx.spec.mode != K.ORGANIZATION or not ctx.org_level:
        return None
    wanted = ctx.spec.alerts.guardduty_admin
    return wanted if wanted else (ctx.account if site.read_as is None else None)


def _admin_problems(ctx: VerifyContext, region: str, admin: str) -> list[str]:
    out = ctx.conn.read("guardduty", "ListOrganizationAdminAccounts", region=region)
    admins = {a.get("AdminAccountId"): a.get("AdminStatus") for a in out.get("AdminAccounts", [])}
    if admins.get(admin) == ENABLED:
        return []
    return [f"GuardDuty in {region} is not delegated to account {admin} for the organization, "
            "so member accounts are not enabled and their findings are not gathered; run "
            "`pulumi up --refresh` from the management account."]  # fmt: skip
