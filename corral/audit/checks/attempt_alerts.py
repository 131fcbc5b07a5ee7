"""Denied calls and changes to corral's guardrails are alerted from every region: the attempt
and tamper rules, their targets, and the gate that sends their messages to the topic."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _alerts
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.build import alerts
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="attempt-alerts",
    title="Denied calls and changes to the guardrails are alerted from every region",
    severity="high",
    risk="A leaked key's first calls are denied, and nobody hears of it: without these rules, "
    "their forwarding and the gate, a denied launch or a change to the guardrails is silent "
    "until the bill arrives.",
    remediation="Run `pulumi up --refresh` to recreate the rules, their targets and the "
    "alert gate.",
    actions=(
        "events:ListRules",
        "events:ListTargetsByRule",
        "dynamodb:ListTables",
        "dynamodb:DescribeTable",
    ),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=VERIFY,
    spec_keys=(K.ALERTS,),
)
KINDS = ("attempts", "tamper")


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """Per site and region judged (``--regions``): a finding per problem, or one PASS; at the
    home region, the gate too."""
    yield from _alerts.per_site(ctx, METADATA, _judge)


def _judge(ctx: VerifyContext, site: _alerts.Site) -> Iterator[Finding]:
    if not site.plan.regions:
        return
    planned = [(r, p) for r, p in _alerts.planned_rules(ctx, site) if r.kind in KINDS]
    if ctx.judges(site.plan.home):
        yield from _gate(ctx, site)
    for region in filter(ctx.judges, site.plan.regions):
        here = [(r, p) for r, p in planned if r.region == region]
        problems = [found for r, p in here if (found := _alerts.rule_problem(ctx, site, r, p))]
        for resource, message in problems:
            yield failed(METADATA, site.account, region, resource, message)
        if not problems:
            message = _alerts.pass_message(ctx, site, region, len(here), "attempt and tamper")
            yield passed(METADATA, site.account, region, f"alert rules in {region}", message)


def _gate(ctx: VerifyContext, site: _alerts.Site) -> Iterator[Finding]:
    """The gate's table. The state machine itself is not read: the verifier's policy names
    each action after its boto3 service, and Step Functions' IAM prefix (``states``) is not
    its API's name (``stepfunctions``); the targets above prove every rule starts it with the
    right role and message, identities-trusted proves its role, the tamper rule alerts on any
    change to it (docs/alerts.md)."""
    spec, home, a = ctx.spec, site.plan.home, site.account
    n, where = alerts.names(spec), f"account {site.account} {home}"
    tables = site.read(ctx, "dynamodb", "ListTables", region=home).get("TableNames", [])
    problem = None
    if n["table"] not in tables:
        problem = (f"DynamoDB table {n['table']} is missing in {where}, so the alert gate cannot "
                   f"hold back repeats and sends every alert; {_alerts.REDEPLOY}.")  # fmt: skip
    else:
        table = site.read(ctx, "dynamodb", "DescribeTable", region=home, TableName=n["table"])
        keys = table.get("Table", {}).get("KeySchema", [])
        if keys != alerts.table_request(spec)["KeySchema"]:
            problem = (f"DynamoDB table {n['table']} in {where} has the key {keys} instead of "
                       f"the one the alert gate writes; {_alerts.RESTORE}.")  # fmt: skip
    if problem:
        yield failed(METADATA, a, home, f"table {n['table']}", problem)
        return
    message = (f"Table {n['table']} of alert gate {n['gate']} in {where} is present, so the gate "
               f"sends one message per key and hour to topic {site.topic_arn(ctx)}.")  # fmt: skip
    yield passed(METADATA, a, home, f"table {n['table']}", message)
