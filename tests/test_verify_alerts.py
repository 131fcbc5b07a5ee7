"""The alert checks against in-process moto: attempt-alerts, guardduty-routing and
cloudtrail-logging PASS on what the builders deploy, and FAIL, with whole sentences, when a
rule, its target, the gate's table, a detector, the findings routing, the trail or the CIS
route is missing or changed, as someone in the console would do it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alerts_support import TRAIL, deploy_alerts, start_trail
from moto import mock_aws
from test_verify_support import (
    SPEND,
    account_stack,
    client,
    deploy_account,
    deploy_org,
    deploy_spend,
    load,
    make_account_principals,
    make_org,
    org_stack,
    serve_budget_subscribers,
)

from corral.audit import checks
from corral.audit import findings as F
from corral.audit.aws import Connection
from corral.audit.checks._base import VerifyContext
from corral.audit.verify import run_check
from corral.build import alerts, spend_requests
from corral.build.plan import build_plan

ALERT_CHECKS = ("attempt-alerts", "guardduty-routing", "cloudtrail-logging", "identities-trusted")
REGIONS = ("us-east-1", "eu-west-1", "us-west-2")
HOME = "us-east-1"
LOG_GROUP = "aws-cloudtrail-logs-management"


# --------------------------------------------------------------------------- worlds of their own
# (before the module's world below exists: moto's state is shared while it lives)


def test_guardduty_routing_checks_the_delegated_administrator(tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        org = make_org()
        spec = load(org_stack(tmp_path, org, SPEND))
        deploy_org(spec)
        deploy_spend(spec, regions=["us-east-1", "eu-west-1"])
        made = deploy_alerts(spec, regions=["us-east-1", "eu-west-1"])
        conn = Connection(region=spec.region, max_attempts=2)
        ctx = VerifyContext(spec, build_plan(spec), conn, conn.caller_account(),
                            regions=("us-east-1",))  # fmt: skip
        [check] = [c for c in checks.REGISTRY if c.id == "guardduty-routing"]
        [undelegated] = run_check(check, ctx, ctx.account, None, conn.role_name)
        client("guardduty").enable_organization_admin_account(AdminAccountId=made["account"])
        conn = Connection(region=spec.region, max_attempts=2)
        ctx = VerifyContext(spec, build_plan(spec), conn, conn.caller_account(),
                            regions=("us-east-1",))  # fmt: skip
        [delegated] = run_check(check, ctx, ctx.account, None, conn.role_name)
    assert undelegated.status == F.FAIL
    assert undelegated.message == (
        f"GuardDuty in us-east-1 is not delegated to account {made['account']} for the "
        "organization, so member accounts are not enabled and their findings are not gathered; "
        "run `pulumi up --refresh` from the management account."
    )
    assert delegated.status == F.PASS


def test_cloudtrail_logging_fails_without_a_trail(tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        make_account_principals()
        spec = load(account_stack(tmp_path, extra=SPEND))
        conn = Connection(region=spec.region, max_attempts=2)
        ctx = VerifyContext(spec, build_plan(spec), conn, conn.caller_account())
        [check] = [c for c in checks.REGISTRY if c.id == "cloudtrail-logging"]
        [none] = run_check(check, ctx, ctx.account, None, conn.role_name)
    assert (none.status, none.resource) == (F.FAIL, "cloudtrail")
    assert none.message == (
        f"No multi-Region CloudTrail trail logs the management events of account {ctx.account}, "
        'so EventBridge receives no "AWS API Call via CloudTrail" event and nothing is alerted; '
        "create one (aws cloudtrail create-trail --name management --s3-bucket-name BUCKET "
        "--is-multi-region-trail, then aws cloudtrail start-logging --name management)."
    )


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A standalone account with guardrails, spend detection, the alerts and a trail, in three
    regions, once per module: each test that tampers restores what it changed."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        make_account_principals()
        extra = SPEND + f"  corral:alerts:\n    trailLogGroup: {LOG_GROUP}\n"
        spec = load(account_stack(tmp_path_factory.mktemp("alerts"), extra=extra))
        deploy_account(spec)
        spent = deploy_spend(spec, regions=list(REGIONS))
        made = deploy_alerts(spec, regions=REGIONS)
        group = f"arn:aws:logs:{HOME}:{made['account']}:log-group:{LOG_GROUP}:*"
        client("logs").create_log_group(logGroupName=LOG_GROUP)
        start_trail(HOME, group)
        site = made["site"]
        client("logs").put_metric_filter(**alerts.metric_filter_request(spec, site))
        alarm = alerts.cis_alarm(spec, site)
        client("cloudwatch").put_metric_alarm(**spend_requests.alarm_request(alarm, spent["topic"]))
        yield {"spec": spec, **spent, **made}


def run(spec, *only: str) -> list[F.Finding]:
    """The findings of the alert checks (or of ``only``), judging REGIONS."""
    conn = Connection(region=spec.region, max_attempts=2)
    serve_budget_subscribers(conn.events)
    ctx = VerifyContext(spec, build_plan(spec), conn, conn.caller_account(), regions=REGIONS)
    chosen = [c for c in checks.REGISTRY if c.id in (only or ALERT_CHECKS)]
    return [f for c in chosen for f in run_check(c, ctx, ctx.account, None, conn.role_name)]


def failures(found: list[F.Finding], check: str | None = None) -> list[F.Finding]:
    return [f for f in found if f.status != F.PASS and (check is None or f.check == check)]


# --------------------------------------------------------------------------- attempt-alerts


def test_attempt_alerts_pass_when_everything_is_deployed(deployed: dict) -> None:
    found = run(deployed["spec"])
    assert failures(found) == []
    a, topic = deployed["account"], deployed["topic"]
    rules = [f for f in found if f.resource.startswith("alert rules")]
    by_region = {f.region: f.message for f in rules}
    assert sorted(by_region) == sorted(REGIONS)
    assert by_region["us-west-2"] == (
        f"All 7 attempt and tamper rules of account {a} in us-west-2 are present and forward "
        "to the default event bus of us-east-1."
    )
    assert by_region[HOME] == (
        f"All 7 attempt and tamper rules of account {a} in {HOME} are present and start gate "
        f"corral-alerts-gate, which notifies {topic}."
    )
    [table] = [f for f in found if f.resource == "table corral-alerts-seen"]
    assert table.message == (
        f"Table corral-alerts-seen of alert gate corral-alerts-gate in account {a} {HOME} is "
        f"present, so the gate sends one message per key and hour to topic {topic}."
    )
    trusted = {f.resource for f in found if f.check == "identities-trusted"}
    assert {"role corral-alerts-events", "role corral-alerts-gate"} <= trusted


def test_attempt_alerts_fails_when_a_rule_is_deleted(deployed: dict) -> None:
    events, name = client("events", region="us-west-2"), "corral-spend-attempts-1"
    targets = events.list_targets_by_rule(Rule=name)["Targets"]
    rule = events.describe_rule(Name=name)
    events.remove_targets(Rule=name, Ids=[t["Id"] for t in targets])
    events.delete_rule(Name=name)
    try:
        [missing] = failures(run(deployed["spec"], "attempt-alerts"))
    finally:
        events.put_rule(Name=name, EventPattern=rule["EventPattern"], State=rule["State"],
                        Description=rule["Description"])  # fmt: skip
        events.put_targets(Rule=name, Targets=targets)
    assert (missing.region, missing.resource) == ("us-west-2", f"rule {name}")
    assert missing.message == (
        f"EventBridge rule {name} is missing in account {deployed['account']} us-west-2, so "
        "calls denied there by corral's guardrails reach no one; run `pulumi up --refresh` to "
        "recreate it."
    )


def test_attempt_alerts_fails_when_the_target_or_message_is_changed(deployed: dict) -> None:
    events, name = client("events", region=HOME), "corral-spend-tamper-1"
    [target] = events.list_targets_by_rule(Rule=name)["Targets"]
    changed = {k: v for k, v in target.items() if k != "InputTransformer"}
    changed["RoleArn"] = "arn:aws:iam::123456789012:role/someone-else"
    events.put_targets(Rule=name, Targets=[changed])
    try:
        [rewired] = failures(run(deployed["spec"], "attempt-alerts"))
    finally:
        events.put_targets(Rule=name, Targets=[target])
    gate, role = deployed["gate"], target["RoleArn"]
    assert rewired.message == (
        f"EventBridge rule {name} in account {deployed['account']} {HOME} differs from the "
        f"spec: its target {gate} uses role arn:aws:iam::123456789012:role/someone-else instead "
        f"of {role}; its target {gate} no longer receives the input corral writes, so changes "
        "to corral's guardrails there reach no one; run `pulumi up --refresh` to restore it."
    )


def test_attempt_alerts_fails_when_a_rule_is_disabled_or_its_pattern_narrowed(
    deployed: dict,
) -> None:
    events, name = client("events", region="eu-west-1"), "corral-spend-attempts-5"
    rule = events.describe_rule(Name=name)
    narrowed = json.dumps({"detail-type": ["AWS API Call via CloudTrail"], "source": ["aws.s3"]})
    events.put_rule(Name=name, EventPattern=narrowed, State="DISABLED")
    try:
        [changed] = failures(run(deployed["spec"], "attempt-alerts"))
    finally:
        events.put_rule(Name=name, EventPattern=rule["EventPattern"], State=rule["State"])
    assert changed.message == (
        f"EventBridge rule {name} in account {deployed['account']} eu-west-1 differs from the "
        "spec: it is DISABLED instead of ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS; its "
        "event pattern no longer matches the attempts corral alerts on, so calls denied there "
        "by corral's guardrails reach no one; run `pulumi up --refresh` to restore it."
    )


def test_attempt_alerts_fails_when_the_gate_table_is_deleted(deployed: dict) -> None:
    spec = deployed["spec"]
    dynamodb = client("dynamodb", region=HOME)
    dynamodb.delete_table(TableName="corral-alerts-seen")
    try:
        [gone] = failures(run(spec, "attempt-alerts"))
    finally:
        dynamodb.create_table(**alerts.table_request(spec))
    assert gone.message == (
        f"DynamoDB table corral-alerts-seen is missing in account {deployed['account']} {HOME}, "
        "so the alert gate cannot hold back repeats and sends every alert; run `pulumi up "
        "--refresh` to "
        "recreate it."
    )


# --------------------------------------------------------------------------- guardduty-routing


def test_guardduty_routing_passes_in_every_allowed_region(deployed: dict) -> None:
    found = [f for f in run(deployed["spec"], "guardduty-routing")]
    assert [f.status for f in found] == [F.PASS, F.PASS]
    [home] = [f for f in found if f.region == HOME]
    assert home.message == (
        f"GuardDuty in account {deployed['account']} {HOME} has an enabled detector and routes "
        f"findings of severity 4 or more to topic {deployed['topic']}."
    )


def test_guardduty_routing_fails_without_a_detector(deployed: dict) -> None:
    guardduty = client("guardduty", region="eu-west-1")
    [detector] = guardduty.list_detectors()["DetectorIds"]
    guardduty.delete_detector(DetectorId=detector)
    try:
        [gone] = failures(run(deployed["spec"], "guardduty-routing"))
    finally:
        guardduty.create_detector(**alerts.detector_request())
    assert gone.message == (
        f"GuardDuty has no detector in account {deployed['account']} eu-west-1, so nothing "
        "there watches for crypto-mining or stolen credentials; run `pulumi up --refresh` to "
        "recreate it."
    )


def test_guardduty_routing_fails_when_findings_go_nowhere_or_fewer(deployed: dict) -> None:
    events, name = client("events", region="eu-west-1"), "corral-spend-findings"
    rule = events.describe_rule(Name=name)
    [target] = events.list_targets_by_rule(Rule=name)["Targets"]
    pattern = json.loads(rule["EventPattern"])
    pattern["detail"]["severity"] = [{"numeric": [">=", 9]}]
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.remove_targets(Rule=name, Ids=[target["Id"]])
    try:
        [changed] = failures(run(deployed["spec"], "guardduty-routing"))
    finally:
        events.put_rule(Name=name, EventPattern=rule["EventPattern"])
        events.put_targets(Rule=name, Targets=[target])
    assert changed.message == (
        f"EventBridge rule {name} in account {deployed['account']} eu-west-1 differs from the "
        "spec: its event pattern no longer matches the findings corral alerts on; it has no "
        f"target {target['Arn']}, so GuardDuty findings there reach no one; run `pulumi up "
        "--refresh` to "
        "restore it."
    )


# --------------------------------------------------------------------------- cloudtrail-logging


def test_cloudtrail_logging_passes_with_the_trail_and_the_cis_route(deployed: dict) -> None:
    [found] = run(deployed["spec"], "cloudtrail-logging")
    assert found.status == F.PASS
    assert found.message == (
        f"Trail {TRAIL} logs the management events of every region of account "
        f"{deployed['account']} and delivers them to log group {LOG_GROUP}, counted by alarm "
        "corral-spend-unauthorized-calls, so EventBridge receives denied calls and changes."
    )


def test_cloudtrail_logging_fails_when_the_trail_stops(deployed: dict) -> None:
    cloudtrail = client("cloudtrail")
    cloudtrail.stop_logging(Name=TRAIL)
    try:
        [stopped] = failures(run(deployed["spec"], "cloudtrail-logging"))
    finally:
        cloudtrail.start_logging(Name=TRAIL)
    arn = cloudtrail.get_trail(Name=TRAIL)["Trail"]["TrailARN"]
    assert stopped.message == (
        f"Trail {TRAIL} of account {deployed['account']} is not logging, so EventBridge "
        'receives no "AWS API Call via CloudTrail" event and nothing is alerted; run aws '
        f"cloudtrail start-logging --name {arn}."
    )


def test_cloudtrail_logging_fails_when_the_cis_route_is_broken(deployed: dict) -> None:
    logs, spec = client("logs"), deployed["spec"]
    logs.delete_metric_filter(logGroupName=LOG_GROUP, filterName="corral-unauthorized-calls")
    client("cloudwatch").delete_alarms(AlarmNames=["corral-spend-unauthorized-calls"])
    try:
        found = failures(run(spec, "cloudtrail-logging"))
    finally:
        logs.put_metric_filter(**alerts.metric_filter_request(spec, deployed["site"]))
        alarm = spend_requests.alarm_request(alerts.cis_alarm(spec, deployed["site"]),
                                             deployed["topic"])  # fmt: skip
        client("cloudwatch").put_metric_alarm(**alarm)
    a = deployed["account"]
    assert [f.message for f in found] == [
        f"Metric filter corral-unauthorized-calls on log group {LOG_GROUP} in account {a} "
        f"{HOME} is missing, so denied calls are not counted; run `pulumi up --refresh` to "
        "restore it.",
        f"Alarm corral-spend-unauthorized-calls is missing in account {a} {HOME}, so denied "
        "calls are counted but never alerted; run `pulumi up --refresh` to recreate it.",
    ]
